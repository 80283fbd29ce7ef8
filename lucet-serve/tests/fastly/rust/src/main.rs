//! Fastly Compute test app for lucet-serve's Fastly ABI support.
//!
//! Built to `../rust_app.wasm` by `../build.sh`; see `../README.md` for what
//! each path answers.

use std::io::Write;
use std::net::IpAddr;
use std::time::Duration;

use fastly::backend::Backend;
use fastly::erl::{CounterDuration, Penaltybox, RateCounter, RateWindow, ERL};
use fastly::http::request::{select, PendingRequest};
use fastly::http::{HeaderValue, StatusCode};
use fastly::kv_store::{InsertMode, KVStore, KVStoreError};
use fastly::{Error, Request, Response};

/// Number of chunks `/stream` writes when the request has no `chunks` parameter.
const DEFAULT_CHUNKS: usize = 4;
/// Size in bytes of each `/stream` chunk.
const CHUNK_LEN: usize = 1024;
/// The backend `/proxy/...`, `/fanout` and `/backend-info` use; it must be
/// configured in the server's fastly.toml (`[local_server.backends.origin]`).
const ORIGIN: &str = "origin";
/// Prefix of the paths `/proxy/<rest>` forwards to `ORIGIN` as `/<rest>`.
const PROXY_PREFIX: &str = "/proxy/";
/// The rate counter `/erl` uses.
const RATE_COUNTER: &str = "rc";
/// The penalty box `/erl` and `/erl-box` use.
const PENALTY_BOX: &str = "pb";
/// `/erl`'s limit, in requests per second over the 1-second window.
const ERL_LIMIT: u32 = 2;
/// How long `/erl` (when over the limit) and `/erl-box` put an entry in the
/// penalty box. The SDK documents 1 minute to 1 hour as the valid span and
/// passes whole seconds (`ttl.as_secs()`) to the host.
const PENALTY_TTL: Duration = Duration::from_secs(2 * 60);
/// The KV store `/kv` opens when the request has no `store` parameter.
const DEFAULT_KV_STORE: &str = "kv";

#[fastly::main]
fn main(mut req: Request) -> Result<Response, Error> {
    if let Some(rest) = req.get_path().strip_prefix(PROXY_PREFIX) {
        let path = format!("/{rest}");
        return Ok(proxy(req, &path));
    }
    match req.get_path() {
        "/hello" => Ok(text(StatusCode::OK, "hello from rust\n").with_header("x-app", "rust")),
        "/echo" => Ok(echo(&mut req)),
        "/status" => Ok(status(&req)),
        "/headers" => Ok(headers(&req)),
        "/stream" => stream(&req),
        "/log" => log(),
        "/config" => Ok(config(&req)),
        "/client" => {
            let ip = match req.get_client_ip_addr() {
                Some(ip) => ip.to_string(),
                None => "none".to_string(),
            };
            Ok(text(StatusCode::OK, format!("ip={ip}\n")))
        }
        "/runtime" => {
            let vcpu_ms = match fastly::compute_runtime::elapsed_vcpu_ms() {
                Ok(ms) => ms.to_string(),
                Err(_) => "unavailable".to_string(),
            };
            Ok(text(StatusCode::OK, format!("vcpu_ms={vcpu_ms}\n")))
        }
        "/fanout" => Ok(fanout()),
        "/missing-backend" => Ok(match Request::get("http://nosuch/").send("nosuch") {
            Ok(_) => text(StatusCode::OK, "unexpected\n"),
            Err(e) => text(StatusCode::BAD_GATEWAY, format!("send failed: {e}\n")),
        }),
        "/backend-info" => Ok(backend_info()),
        "/secret" => Ok(secret(&req)),
        "/geo" => Ok(geo(&req)),
        "/device" => Ok(device(&req)),
        "/acl" => Ok(acl(&req)),
        "/erl" => Ok(erl(&req)),
        "/erl-box" => Ok(erl_box(&req)),
        "/kv" => Ok(kv(&mut req)),
        "/cache/simple" => Ok(cache_simple(&req)),
        "/cache/purge" => Ok(cache_purge(&req)),
        "/cache/core" => Ok(cache_core(&req)),
        "/cache/fetch" => Ok(cache_fetch(&req)),
        "/reuse" => reuse(req),
        "/trap" => panic!("trap requested"),
        _ => Ok(text(StatusCode::NOT_FOUND, "not found\n")),
    }
}

/// A response with the given status, `content-type: text/plain` and body.
fn text(status: StatusCode, body: impl Into<fastly::Body>) -> Response {
    Response::from_status(status)
        .with_header("content-type", "text/plain")
        .with_body(body)
}

/// `/echo`: the request line, query, `x-test` values, HTTP version and body.
fn echo(req: &mut Request) -> Response {
    let mut out = Vec::new();
    out.extend_from_slice(format!("method={}\n", req.get_method_str()).as_bytes());
    out.extend_from_slice(format!("path={}\n", req.get_path()).as_bytes());
    out.extend_from_slice(format!("query={}\n", req.get_query_str().unwrap_or("")).as_bytes());
    out.extend_from_slice(b"x-test=");
    for (i, value) in req.get_header_all("x-test").enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(value.as_bytes());
    }
    out.push(b'\n');
    out.extend_from_slice(format!("version={:?}\n", req.get_version()).as_bytes());
    out.extend_from_slice(b"body=");
    out.extend_from_slice(&req.take_body_bytes());
    text(StatusCode::OK, out).with_header("x-echo", "1")
}

/// `/status?code=N`: answers with status N.
fn status(req: &Request) -> Response {
    let code = req
        .get_query_parameter("code")
        .and_then(|c| c.parse::<u16>().ok())
        .and_then(|c| StatusCode::from_u16(c).ok());
    match code {
        Some(code) => text(code, format!("status {}\n", code.as_u16()))
            .with_header("x-status", code.as_u16().to_string()),
        None => text(StatusCode::BAD_REQUEST, "bad code\n"),
    }
}

/// `/headers`: exercises set, append and remove on response headers.
fn headers(req: &Request) -> Response {
    let mut resp = text(StatusCode::OK, "headers\n");
    resp.set_header("x-one", "1");
    resp.append_header("set-cookie", "a=1");
    resp.append_header("set-cookie", "b=2");
    resp.set_header("x-gone", "x");
    resp.remove_header("x-gone");
    resp.set_header(
        "x-request-header-count",
        req.get_header_names().count().to_string(),
    );
    resp
}

/// `/stream?chunks=N`: streams N chunks of `CHUNK_LEN` bytes, chunk i all
/// `'a' + i % 26`, flushing after each.
///
/// `#[fastly::main]` sends the returned `Response` to the client, and a
/// second client response panics, so once the streamed response is
/// finished the program exits with status 0 instead of returning.
fn stream(req: &Request) -> Result<Response, Error> {
    let chunks = match req.get_query_parameter("chunks") {
        None => DEFAULT_CHUNKS,
        Some(n) => match n.parse::<usize>() {
            Ok(n) => n,
            Err(_) => return Ok(text(StatusCode::BAD_REQUEST, "bad chunks\n")),
        },
    };
    let mut body = Response::new().stream_to_client();
    for i in 0..chunks {
        let chunk = [b'a' + (i % 26) as u8; CHUNK_LEN];
        body.write_all(&chunk)?;
        body.flush()?;
    }
    body.finish()?;
    std::process::exit(0)
}

/// `/log`: one line to the `app-log` endpoint, one to stdout, one to stderr.
fn log() -> Result<Response, Error> {
    let mut endpoint = fastly::log::Endpoint::from_name("app-log");
    writeln!(endpoint, "logged from rust")?;
    println!("stdout line");
    eprintln!("stderr line");
    Ok(text(StatusCode::OK, "logged\n"))
}

/// `/config?key=K`: looks K up in the config store `settings`.
fn config(req: &Request) -> Response {
    let store = match fastly::ConfigStore::try_open("settings") {
        Ok(store) => store,
        Err(_) => return text(StatusCode::NOT_FOUND, "no store\n"),
    };
    let key = match req.get_query_parameter("key") {
        Some(key) if !key.is_empty() => key,
        _ => return text(StatusCode::NOT_FOUND, "no key\n"),
    };
    match store.try_get(key) {
        Ok(Some(value)) => text(StatusCode::OK, value),
        Ok(None) => text(StatusCode::NOT_FOUND, "no key\n"),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("lookup failed: {e}\n")),
    }
}

/// `/proxy/<rest>`: sends the request's method, URL (with its path replaced
/// by `path`, the query string kept), headers and body to `ORIGIN`, and
/// answers with the backend's response plus `x-proxied: 1`.
fn proxy(mut req: Request, path: &str) -> Response {
    // A copy of the method, URL, version and headers; the body is moved over
    // (the downstream body itself is sent, not read into the guest).
    let mut backend_req = req.clone_without_body();
    backend_req.set_path(path);
    backend_req.set_body(req.take_body());
    match backend_req.send(ORIGIN) {
        Ok(resp) => resp.with_header("x-proxied", "1"),
        Err(e) => text(StatusCode::BAD_GATEWAY, format!("send failed: {e}\n")),
    }
}

/// `/fanout`: GETs `/a` and `/b` from `ORIGIN` at once with `send_async`,
/// waits for both with `select`, and answers with both bodies.
fn fanout() -> Response {
    let mut pending: Vec<PendingRequest> = Vec::new();
    for path in ["/a", "/b"] {
        match Request::get(format!("http://{ORIGIN}{path}")).send_async(ORIGIN) {
            Ok(p) => pending.push(p),
            Err(e) => return fanout_failed(e),
        }
    }
    // `select` returns the first request to finish and the others, in no
    // particular order, so the finished one is told by the paths still
    // pending.
    let mut a = None;
    let mut b = None;
    while !pending.is_empty() {
        let before: Vec<String> = pending
            .iter()
            .map(|p| p.sent_req().get_path().to_string())
            .collect();
        let (result, rest) = select(pending);
        pending = rest;
        let resp = match result {
            Ok(resp) => resp,
            Err(e) => return fanout_failed(e),
        };
        let done = before
            .into_iter()
            .find(|path| !pending.iter().any(|p| p.sent_req().get_path() == path));
        let body = resp.into_body_str_lossy();
        match done.as_deref() {
            Some("/a") => a = Some(body),
            Some("/b") => b = Some(body),
            _ => return fanout_failed("select returned an unknown request"),
        }
    }
    text(
        StatusCode::OK,
        format!("a={}\nb={}\n", a.unwrap_or_default(), b.unwrap_or_default()),
    )
}

fn fanout_failed(e: impl std::fmt::Display) -> Response {
    text(StatusCode::BAD_GATEWAY, format!("fanout failed: {e}\n"))
}

/// `/backend-info`: what the host says about the backend `ORIGIN`.
///
/// In fastly 0.13.2 (wasm32-wasip1) `Backend::from_name` only checks the
/// name, and the accessors return plain values, panicking (a trap, since
/// panics abort) if their hostcall fails. So they are called only if
/// `exists()` is true; otherwise each value is `?`.
fn backend_info() -> Response {
    let backend = match Backend::from_name(ORIGIN) {
        Ok(backend) => backend,
        Err(_) => return text(StatusCode::NOT_FOUND, "no backend\n"),
    };
    let exists = backend.exists();
    let value = |f: &dyn Fn(&Backend) -> String| {
        if exists {
            f(&backend)
        } else {
            "?".to_string()
        }
    };
    let host = value(&|b| b.get_host());
    let port = value(&|b| b.get_port().to_string());
    let ssl = value(&|b| b.is_ssl().to_string());
    let connect_ms = value(&|b| b.get_connect_timeout().as_millis().to_string());
    let first_byte_ms = value(&|b| b.get_first_byte_timeout().as_millis().to_string());
    text(
        StatusCode::OK,
        format!(
            "exists={exists}\nhost={host}\nport={port}\nssl={ssl}\n\
             connect_ms={connect_ms}\nfirst_byte_ms={first_byte_ms}\n"
        ),
    )
}

/// The first value of the query parameter `name`, percent-decoded (`+` is a
/// space, as in `application/x-www-form-urlencoded`), or `None` if the query
/// has no such parameter. A parameter without `=` has the value `""`.
///
/// Unlike `Request::get_query_parameter`, which the older paths use and which
/// returns the raw, still percent-encoded value.
fn query_param(req: &Request, name: &str) -> Option<String> {
    req.get_url()
        .query_pairs()
        .find(|(k, _)| &**k == name)
        .map(|(_, v)| v.into_owned())
}

/// A query parameter that is present and not empty.
fn non_empty_param(req: &Request, name: &str) -> Option<String> {
    query_param(req, name).filter(|v| !v.is_empty())
}

/// `/secret?store=S&key=K`: the plaintext of secret K in the secret store S.
///
/// Hostcalls `fastly_secret_store.open`, `.get` and `.plaintext` (through
/// the non-panicking `SecretStore::open`, `try_get` and `try_plaintext`).
fn secret(req: &Request) -> Response {
    let store = match non_empty_param(req, "store") {
        Some(name) => match fastly::SecretStore::open(&name) {
            Ok(store) => store,
            Err(_) => return text(StatusCode::NOT_FOUND, "no store\n"),
        },
        None => return text(StatusCode::NOT_FOUND, "no store\n"),
    };
    let key = match non_empty_param(req, "key") {
        Some(key) => key,
        None => return text(StatusCode::NOT_FOUND, "no secret\n"),
    };
    let secret = match store.try_get(&key) {
        Ok(Some(secret)) => secret,
        Ok(None) => return text(StatusCode::NOT_FOUND, "no secret\n"),
        Err(e) => return secret_failed(e),
    };
    match secret.try_plaintext() {
        Ok(plaintext) => text(StatusCode::OK, plaintext.to_vec()),
        Err(e) => secret_failed(e),
    }
}

fn secret_failed(e: impl std::fmt::Display) -> Response {
    text(StatusCode::INTERNAL_SERVER_ERROR, format!("secret failed: {e}\n"))
}

/// `/geo?ip=A`: geolocation of A, or of the client IP if `ip` is absent
/// (hostcall `fastly_geo.lookup`).
///
/// `geo_lookup` gives `None` if the hostcall fails or its JSON does not parse.
fn geo(req: &Request) -> Response {
    let ip = match query_param(req, "ip") {
        Some(ip) => match ip.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => return text(StatusCode::BAD_REQUEST, "bad ip\n"),
        },
        None => match req.get_client_ip_addr() {
            Some(ip) => ip,
            None => return text(StatusCode::NOT_FOUND, "no geo\n"),
        },
    };
    match fastly::geo::geo_lookup(ip) {
        Some(g) => text(
            StatusCode::OK,
            format!(
                "city={}\ncountry={}\nas_name={}\nlatitude={}\n",
                g.city(),
                g.country_code(),
                g.as_name(),
                g.latitude()
            ),
        ),
        None => text(StatusCode::NOT_FOUND, "no geo\n"),
    }
}

/// `/device?ua=U`: device detection for user agent U, or for the request's
/// `user-agent` header if `ua` is absent (hostcall
/// `fastly_device_detection.lookup`).
///
/// `lookup` gives `None` if the hostcall fails or its JSON does not parse.
fn device(req: &Request) -> Response {
    let ua = match query_param(req, "ua") {
        Some(ua) => ua,
        None => match req.get_header_str_lossy("user-agent") {
            Some(ua) => ua.into_owned(),
            None => return text(StatusCode::NOT_FOUND, "no device\n"),
        },
    };
    match fastly::device_detection::lookup(&ua) {
        Some(d) => {
            let or_unknown = |v: Option<String>| v.unwrap_or_else(|| "?".to_string());
            text(
                StatusCode::OK,
                format!(
                    "name={}\nbrand={}\nmobile={}\n",
                    or_unknown(d.device_name().map(str::to_string)),
                    or_unknown(d.brand().map(str::to_string)),
                    or_unknown(d.is_mobile().map(|m| m.to_string())),
                ),
            )
        }
        None => text(StatusCode::NOT_FOUND, "no device\n"),
    }
}

/// `/acl?name=N&ip=A`: looks A up in the ACL N (hostcalls `fastly_acl.open`
/// and `fastly_acl.lookup`, then `fastly_http_body.read` and `.close` on the
/// body handle holding a match's JSON).
fn acl(req: &Request) -> Response {
    let acl = match non_empty_param(req, "name") {
        Some(name) => match fastly::acl::Acl::open(&name) {
            Ok(acl) => acl,
            Err(_) => return text(StatusCode::NOT_FOUND, "no acl\n"),
        },
        None => return text(StatusCode::NOT_FOUND, "no acl\n"),
    };
    let ip = match query_param(req, "ip").and_then(|ip| ip.parse::<IpAddr>().ok()) {
        Some(ip) => ip,
        None => return text(StatusCode::BAD_REQUEST, "bad ip\n"),
    };
    match acl.try_lookup(ip) {
        Ok(Some(m)) => text(
            StatusCode::OK,
            format!("action={:?}\nprefix={}\n", m.action(), m.prefix()),
        ),
        Ok(None) => text(StatusCode::NOT_FOUND, "no match\n"),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("acl failed: {e}\n"),
        ),
    }
}

/// `/erl?entry=E`: with the rate counter `RATE_COUNTER` and the penalty box
/// `PENALTY_BOX`, `ERL::check_rate(E, 1, OneSec, ERL_LIMIT, PENALTY_TTL)`
/// (hostcall `fastly_erl.check_rate`), then the counter's count for E over
/// 10 seconds (`fastly_erl.ratecounter_lookup_count`) and whether the penalty
/// box has E (`fastly_erl.penaltybox_has`).
///
/// `ERL::open` takes its `RateCounter` and `Penaltybox` by value and gives no
/// access to them, so the lookups use a second `RateCounter` and `Penaltybox`
/// of the same names (opening one only records the name: no hostcall).
fn erl(req: &Request) -> Response {
    let entry = match non_empty_param(req, "entry") {
        Some(entry) => entry,
        None => return text(StatusCode::BAD_REQUEST, "no entry\n"),
    };
    let limiter = ERL::open(
        RateCounter::open(RATE_COUNTER),
        Penaltybox::open(PENALTY_BOX),
    );
    let blocked = match limiter.check_rate(&entry, 1, RateWindow::OneSec, ERL_LIMIT, PENALTY_TTL) {
        Ok(blocked) => blocked,
        Err(e) => return erl_failed(e),
    };
    let counter = RateCounter::open(RATE_COUNTER);
    let count = match counter.lookup_count(&entry, CounterDuration::TenSec) {
        Ok(count) => count,
        Err(e) => return erl_failed(e),
    };
    let penalty_box = Penaltybox::open(PENALTY_BOX);
    let boxed = match penalty_box.has(&entry) {
        Ok(boxed) => boxed,
        Err(e) => return erl_failed(e),
    };
    text(
        StatusCode::OK,
        format!("blocked={blocked}\ncount={count}\nboxed={boxed}\n"),
    )
}

/// `/erl-box?entry=E`: adds E to the penalty box `PENALTY_BOX` for
/// `PENALTY_TTL` (hostcall `fastly_erl.penaltybox_add`), then answers whether
/// the box has E (`fastly_erl.penaltybox_has`).
fn erl_box(req: &Request) -> Response {
    let entry = match non_empty_param(req, "entry") {
        Some(entry) => entry,
        None => return text(StatusCode::BAD_REQUEST, "no entry\n"),
    };
    let penalty_box = Penaltybox::open(PENALTY_BOX);
    if let Err(e) = penalty_box.add(&entry, PENALTY_TTL) {
        return erl_failed(e);
    }
    match penalty_box.has(&entry) {
        Ok(boxed) => text(StatusCode::OK, format!("boxed={boxed}\n")),
        Err(e) => erl_failed(e),
    }
}

fn erl_failed(e: impl std::fmt::Display) -> Response {
    text(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("erl failed: {e}\n"),
    )
}

/// `/kv?store=S&op=OP&...`: one operation on the KV store S (default
/// `DEFAULT_KV_STORE`), opened with `KVStore::open` (hostcall
/// `fastly_kv_store.open`):
///
/// - `op=get&key=K`: `lookup(K)` (`fastly_kv_store.lookup`, then
///   `.lookup_wait_v2`): the value as body (the body handle the host gives,
///   not read into the app), with `x-generation` and `x-metadata`;
/// - `op=put&key=K[&mode=M][&meta=D][&gen=G][&ttl=T]`: `build_insert()` with
///   the request body as the value (`fastly_kv_store.insert`, then
///   `.insert_wait`);
/// - `op=delete&key=K`: `delete(K)` (`fastly_kv_store.delete`, then
///   `.delete_wait`);
/// - `op=list[&prefix=P][&limit=N][&cursor=C]`: the first page of
///   `build_list()` (`fastly_kv_store.list`, then `.list_wait`, whose body
///   of JSON is read with `fastly_http_body.read` and closed).
fn kv(req: &mut Request) -> Response {
    let name = query_param(req, "store").unwrap_or_else(|| DEFAULT_KV_STORE.to_string());
    let store = match KVStore::open(&name) {
        Ok(Some(store)) => store,
        Ok(None) | Err(_) => return text(StatusCode::NOT_FOUND, "no store\n"),
    };
    match query_param(req, "op").as_deref() {
        Some("get") => match non_empty_param(req, "key") {
            Some(key) => kv_get(&store, &key),
            None => kv_bad_request(),
        },
        Some("put") => match non_empty_param(req, "key") {
            Some(key) => kv_put(&store, &key, req),
            None => kv_bad_request(),
        },
        Some("delete") => match non_empty_param(req, "key") {
            Some(key) => kv_delete(&store, &key),
            None => kv_bad_request(),
        },
        Some("list") => kv_list(&store, req),
        _ => kv_bad_request(),
    }
}

/// `/kv?op=get&key=K`.
fn kv_get(store: &KVStore, key: &str) -> Response {
    let mut found = match store.lookup(key) {
        Ok(found) => found,
        Err(KVStoreError::ItemNotFound) => return text(StatusCode::NOT_FOUND, "no key\n"),
        Err(e) => return kv_failed(e),
    };
    let metadata = found
        .metadata()
        .map(|m| String::from_utf8_lossy(&m).into_owned())
        .unwrap_or_default();
    // `with_header` panics on a value that is not a valid header value (a
    // control character other than tab), so that is checked here.
    let metadata = match HeaderValue::from_str(&metadata) {
        Ok(metadata) => metadata,
        Err(_) => return kv_failed("metadata is not a valid header value"),
    };
    text(StatusCode::OK, found.take_body())
        .with_header("x-generation", found.current_generation().to_string())
        .with_header("x-metadata", metadata)
}

/// `/kv?op=put&key=K`: inserts the request body as K's value.
fn kv_put(store: &KVStore, key: &str, req: &mut Request) -> Response {
    let mode = match query_param(req, "mode").as_deref() {
        None | Some("overwrite") => InsertMode::Overwrite,
        Some("add") => InsertMode::Add,
        Some("append") => InsertMode::Append,
        Some("prepend") => InsertMode::Prepend,
        Some(_) => return kv_bad_request(),
    };
    let mut insert = store.build_insert().mode(mode);
    if let Some(meta) = query_param(req, "meta") {
        insert = insert.metadata(&meta);
    }
    if let Some(gen) = query_param(req, "gen") {
        match gen.parse::<u64>() {
            Ok(gen) => insert = insert.if_generation_match(gen),
            Err(_) => return kv_bad_request(),
        }
    }
    if let Some(ttl) = query_param(req, "ttl") {
        // The SDK passes the TTL to the host as a u32 of whole seconds (0 if
        // it does not fit), so a u32 is asked for here.
        match ttl.parse::<u32>() {
            Ok(ttl) => insert = insert.time_to_live(Duration::from_secs(ttl.into())),
            Err(_) => return kv_bad_request(),
        }
    }
    match insert.execute(key, req.take_body()) {
        Ok(()) => text(StatusCode::OK, "stored\n"),
        Err(KVStoreError::ItemPreconditionFailed) => {
            text(StatusCode::PRECONDITION_FAILED, "precondition failed\n")
        }
        Err(e) => kv_failed(e),
    }
}

/// `/kv?op=delete&key=K`.
fn kv_delete(store: &KVStore, key: &str) -> Response {
    match store.delete(key) {
        Ok(()) => text(StatusCode::OK, "deleted\n"),
        Err(KVStoreError::ItemNotFound) => text(StatusCode::NOT_FOUND, "no key\n"),
        Err(e) => kv_failed(e),
    }
}

/// `/kv?op=list`: the keys of the first page, one a line, then the cursor of
/// the next page.
fn kv_list(store: &KVStore, req: &Request) -> Response {
    let mut list = store.build_list();
    if let Some(prefix) = query_param(req, "prefix") {
        list = list.prefix(&prefix);
    }
    if let Some(limit) = query_param(req, "limit") {
        match limit.parse::<u32>() {
            Ok(limit) => list = list.limit(limit),
            Err(_) => return kv_bad_request(),
        }
    }
    if let Some(cursor) = query_param(req, "cursor") {
        list = list.cursor(&cursor);
    }
    let page = match list.execute() {
        Ok(page) => page,
        Err(e) => return kv_failed(e),
    };
    let mut out = String::new();
    for key in page.keys() {
        out.push_str(key);
        out.push('\n');
    }
    out.push_str(&format!("cursor={}\n", page.next_cursor().unwrap_or_default()));
    text(StatusCode::OK, out)
}

fn kv_bad_request() -> Response {
    text(StatusCode::BAD_REQUEST, "bad kv request\n")
}

fn kv_failed(e: impl std::fmt::Display) -> Response {
    text(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("kv failed: {e}\n"),
    )
}

/// A query parameter, percent-decoded (the first of that name).
fn param(req: &Request, name: &str) -> Option<String> {
    let url = req.get_url();
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A query parameter as seconds (`default` if absent or not a number).
fn seconds(req: &Request, name: &str, default: u64) -> Duration {
    Duration::from_secs(
        param(req, name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

/// `/cache/simple?key=K&value=V&ttl=S`: `fastly::cache::simple::get_or_set_with`.
fn cache_simple(req: &Request) -> Response {
    let Some(key) = param(req, "key").filter(|k| !k.is_empty()) else {
        return text(StatusCode::BAD_REQUEST, "no key\n");
    };
    let value = param(req, "value").unwrap_or_else(|| "v".to_string());
    let ttl = seconds(req, "ttl", 60);
    let mut filled = false;
    let got = fastly::cache::simple::get_or_set_with(key, || {
        filled = true;
        Ok(fastly::cache::simple::CacheEntry {
            value: value.into(),
            ttl,
        })
    });
    match got {
        Ok(Some(body)) => text(
            StatusCode::OK,
            format!("value={}\nfilled={filled}\n", body.into_string()),
        ),
        Ok(None) => text(StatusCode::NOT_FOUND, "no value\n"),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cache failed: {e}\n"),
        ),
    }
}

/// `/cache/purge?key=K`: `fastly::cache::simple::purge`.
fn cache_purge(req: &Request) -> Response {
    let Some(key) = param(req, "key").filter(|k| !k.is_empty()) else {
        return text(StatusCode::BAD_REQUEST, "no key\n");
    };
    match fastly::cache::simple::purge(key) {
        Ok(()) => text(StatusCode::OK, "purged\n"),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("purge failed: {e}\n"),
        ),
    }
}

/// `/cache/core?op=OP&key=K...`: the core cache API.
fn cache_core(req: &Request) -> Response {
    use fastly::cache::core;
    use fastly::http::HeaderName;

    let key = param(req, "key").unwrap_or_default();
    // The request header an object varies on, with the value this request has.
    let vary = param(req, "vary").and_then(|v| HeaderName::try_from(v).ok());
    let vary_value = vary
        .as_ref()
        .and_then(|n| req.get_header(n).cloned());
    let failed = |e: &dyn std::fmt::Display| {
        text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cache failed: {e}\n"),
        )
    };
    match param(req, "op").as_deref() {
        Some("insert") => {
            let value = match param(req, "size").and_then(|n| n.parse::<usize>().ok()) {
                Some(n) => vec![b'x'; n],
                None => param(req, "value").unwrap_or_default().into_bytes(),
            };
            let mut insert = core::insert(key.into(), seconds(req, "ttl", 60))
                .stale_while_revalidate(seconds(req, "swr", 0))
                .user_metadata(param(req, "meta").unwrap_or_default().into());
            let skeys = param(req, "skeys").unwrap_or_default();
            if !skeys.is_empty() {
                insert = insert.surrogate_keys(skeys.split(','));
            }
            if let Some(name) = &vary {
                insert = insert.vary_by([name]);
                if let Some(v) = &vary_value {
                    insert = insert.header(name, v);
                }
            }
            let mut body = match insert.execute() {
                Ok(b) => b,
                Err(e) => return failed(&e),
            };
            if let Err(e) = body.write_all(&value) {
                return failed(&e);
            }
            match body.finish() {
                Ok(()) => text(StatusCode::OK, "stored\n"),
                Err(e) => failed(&e),
            }
        }
        Some("lookup") => {
            let mut lookup = core::lookup(key.into());
            if let (Some(name), Some(v)) = (&vary, &vary_value) {
                lookup = lookup.header(name, v);
            }
            match lookup.execute() {
                Ok(Some(found)) => {
                    let body = match found.to_stream() {
                        Ok(b) => b.into_string(),
                        Err(e) => return failed(&e),
                    };
                    text(
                        StatusCode::OK,
                        format!(
                            "stale={}\nhits={}\nmax_age={}\nswr={}\nlength={:?}\nmeta={}\nbody={body}\n",
                            found.is_stale(),
                            found.hits(),
                            found.max_age().as_secs(),
                            found.stale_while_revalidate().as_secs(),
                            found.known_length(),
                            String::from_utf8_lossy(&found.user_metadata()),
                        ),
                    )
                }
                Ok(None) => text(StatusCode::NOT_FOUND, "miss\n"),
                Err(e) => failed(&e),
            }
        }
        Some("purge") => {
            let skey = param(req, "skey").unwrap_or_default();
            let purged = if param(req, "soft").is_some() {
                fastly::http::purge::soft_purge_surrogate_key(&skey)
            } else {
                fastly::http::purge::purge_surrogate_key(&skey)
            };
            match purged {
                Ok(()) => text(StatusCode::OK, "purged\n"),
                Err(e) => failed(&e),
            }
        }
        _ => text(StatusCode::BAD_REQUEST, "bad cache request\n"),
    }
}

/// `/cache/fetch?key=K&from=PATH&ttl=S`: a read-through cache with request
/// collapsing: a transactional lookup of `K`; the one told to insert fetches
/// `PATH` from the backend `origin` and inserts its body, streaming it back.
fn cache_fetch(req: &Request) -> Response {
    use fastly::cache::core::Transaction;

    let key = param(req, "key").unwrap_or_default();
    let from = param(req, "from").unwrap_or_else(|| "/b".to_string());
    let failed = |e: &dyn std::fmt::Display| {
        text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cache failed: {e}\n"),
        )
    };
    let tx = match Transaction::lookup(key.into()).execute() {
        Ok(tx) => tx,
        Err(e) => return failed(&e),
    };
    if !tx.must_insert_or_update() {
        return match tx.found() {
            Some(found) => match found.to_stream() {
                Ok(b) => text(
                    StatusCode::OK,
                    format!("source=cache\nbody={}\n", b.into_string()),
                ),
                Err(e) => failed(&e),
            },
            None => failed(&"neither found nor to insert"),
        };
    }
    let fetched = match Request::get(format!("http://origin{from}")).send(ORIGIN) {
        Ok(resp) => resp.into_body_bytes(),
        Err(e) => return failed(&e),
    };
    let (mut body, found) = match tx.insert(seconds(req, "ttl", 60)).execute_and_stream_back() {
        Ok(pair) => pair,
        Err(e) => return failed(&e),
    };
    if let Err(e) = body.write_all(&fetched).and_then(|()| body.finish()) {
        return failed(&e);
    }
    match found.to_stream() {
        Ok(b) => text(
            StatusCode::OK,
            format!("source=origin\nbody={}\n", b.into_string()),
        ),
        Err(e) => failed(&e),
    }
}

/// `/reuse?n=N&wait_ms=W`: a reusable sandbox. Answers this request and,
/// through `RequestPromise` (`next_request`, promise timeout `W`
/// milliseconds, default 2000), up to `N - 1` (default 3) further requests
/// of whatever path, each with body `reused instance: request K of N, path
/// PATH\n` (`K` counting from 1 in this instance), then exits with status 0;
/// it also exits when no request comes before the promise expires.
fn reuse(first: Request) -> ! {
    use fastly::http::serve::{NextRequestOptions, RequestPromise};

    let n: u32 = param(&first, "n")
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let wait = Duration::from_millis(
        param(&first, "wait_ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000),
    );
    let mut req = first;
    let mut served = 1;
    loop {
        // Standard output of each request is that request's log.
        println!("reused instance serving request {served}");
        let body = format!(
            "reused instance: request {served} of {n}, path {}\n",
            req.get_path()
        );
        text(StatusCode::OK, body).send_to_client();
        if served >= n {
            std::process::exit(0);
        }
        let Ok(promise) = RequestPromise::new(&NextRequestOptions::default().with_timeout(wait))
        else {
            std::process::exit(0);
        };
        match promise.wait() {
            Ok(next) => {
                req = next;
                served += 1;
            }
            Err(_) => std::process::exit(0),
        }
    }
}
