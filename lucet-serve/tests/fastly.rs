//! Fastly's Compute ABI, end to end: the real server on loopback, apps
//! built with the `fastly` crate and with `@fastly/js-compute`
//! (`tests/fastly/`), configured by a `fastly.toml`, and a real HTTP
//! client.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use hyper::{Method, StatusCode};
use lucet_serve::{RouteLimits, Server};

fn app(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fastly")
        .join(name)
}

/// A `fastly.toml` with an inline config store, one read from JSON, and the
/// backend `origin` ([`origin`]).
fn manifest(dir: &Path) -> PathBuf {
    std::fs::write(
        dir.join("more.json"),
        r#"{"colour": "blue", "size": "large"}"#,
    )
    .unwrap();
    let path = dir.join("fastly.toml");
    std::fs::write(
        &path,
        r#"
manifest_version = 3
name = "test-app"
language = "rust"

[local_server.config_stores.settings]
format = "inline-toml"
[local_server.config_stores.settings.contents]
greeting = "hello from the store"

[local_server.dictionaries.more]
format = "json"
file = "more.json"

[local_server.backends.origin]
url = "http://ORIGIN/"
"#
        .replace("ORIGIN", &origin().to_string()),
    )
    .unwrap();
    path
}

/// A server for `module` on every path, with the test manifest.
fn start(module: PathBuf, limits: RouteLimits) -> (Server, Scratch) {
    logs();
    let dir = Scratch::new("fastly");
    let mut r = route("/...", module, limits);
    r.fastly_toml = Some(manifest(&dir.0));
    let server = Server::start(config(vec![r])).expect("the server starts");
    (server, dir)
}

/// The Rust app's server, shared by the tests here.
fn rust_app() -> SocketAddr {
    static SERVER: OnceLock<(Server, Scratch)> = OnceLock::new();
    SERVER
        .get_or_init(|| start(app("rust_app.wasm"), RouteLimits::default()))
        .0
        .addr()
}

/// The JavaScript app's server (compiled once: about 11 MB of code).
fn js_app() -> SocketAddr {
    static SERVER: OnceLock<(Server, Scratch)> = OnceLock::new();
    SERVER
        .get_or_init(|| start(app("js_app.wasm"), RouteLimits::default()))
        .0
        .addr()
}

fn id(r: &Reply) -> String {
    r.headers["x-request-id"].to_str().unwrap().to_string()
}

/// Waits for a log line about request `id` that says `what`; returns it.
async fn logged(id: &str, what: &str) -> String {
    let start = Instant::now();
    loop {
        let log = log_text();
        if let Some(line) = log
            .lines()
            .find(|l| l.contains(what) && l.contains(&format!("request={id}")))
        {
            return line.to_string();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "not logged for {id}: {what}\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_rust_app_answers() {
    let r = get(&client(), rust_app(), "/hello").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), "hello from rust\n");
    assert_eq!(r.headers["x-app"], "rust");
    assert_eq!(r.headers["content-type"], "text/plain");
}

#[tokio::test]
async fn the_request_reaches_the_app_whole() {
    for (c, version) in [(client(), "HTTP/1.1"), (h2_client(), "HTTP/2.0")] {
        let r = send(
            &c,
            rust_app(),
            Method::PUT,
            "/echo?a=1&b=two",
            &[("x-test", "first"), ("x-test", "second")],
            Bytes::from_static(b"the body\x00\xff"),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.headers["x-echo"], "1");
        let expected = format!(
            "method=PUT\npath=/echo\nquery=a=1&b=two\nx-test=first,second\nversion={version}\nbody="
        );
        let mut want = expected.into_bytes();
        want.extend_from_slice(b"the body\x00\xff");
        assert_eq!(&r.body[..], &want[..], "{}", r.text());
    }
}

#[tokio::test]
async fn status_and_headers_are_the_apps() {
    let c = client();
    let r = get(&c, rust_app(), "/status?code=418").await;
    assert_eq!(r.status, StatusCode::IM_A_TEAPOT);
    assert_eq!(r.headers["x-status"], "418");
    assert_eq!(r.text(), "status 418\n");
    let r = send(
        &c,
        rust_app(),
        Method::GET,
        "/headers",
        &[("x-a", "1"), ("x-b", "2")],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.headers["x-one"], "1");
    let cookies: Vec<_> = r.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert!(r.headers.get("x-gone").is_none());
    // host, x-a, x-b (the client adds no others to a GET).
    assert_eq!(r.headers["x-request-header-count"], "3");
}

#[tokio::test]
async fn a_streamed_response_arrives_framed_by_the_server() {
    // 4 MiB in 1 KiB writes, through a channel of a few chunks: the app
    // waits for the connection again and again.
    let r = get(&client(), rust_app(), "/stream?chunks=4096").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.len(), 4096 * 1024);
    for (i, chunk) in r.body.chunks(1024).enumerate() {
        assert!(
            chunk.iter().all(|&b| b == b'a' + (i % 26) as u8),
            "chunk {i}"
        );
    }
    // Streamed: the server frames it (chunked), not a length.
    assert!(r.headers.get("content-length").is_none());
    assert_eq!(r.headers["transfer-encoding"], "chunked");
}

#[tokio::test]
async fn a_streamed_response_reaches_the_client_as_it_is_written() {
    use http_body_util::BodyExt;

    logs();
    let (server, _dir) = start(app("stream.wat"), RouteLimits::default());
    let req = hyper::Request::get(format!("http://{}/", server.addr()))
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    let resp = client().request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(&first[..], b"first");
    // The instance is still waiting on its timer: the client has the first
    // chunk before the app has written the second.
    let live = server.metrics_text();
    assert!(live.contains("lucet_live_instances 1\n"), "{live}");
    let rest = body.collect().await.unwrap().to_bytes();
    assert_eq!(&rest[..], b"second");
}

/// Sends the head of a chunked POST and `first` as its first chunk, and
/// nothing more; returns what the server answers within 5 s.
async fn answer_to_a_first_chunk(addr: SocketAddr, first: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{first}\r\n",
        first.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(5);
    while !String::from_utf8_lossy(&got).contains("\r\n\r\n")
        || !(String::from_utf8_lossy(&got).ends_with(first)
            || String::from_utf8_lossy(&got).ends_with("read failed"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn the_app_reads_the_clients_body_as_it_arrives() {
    logs();
    let (server, _dir) = start(app("first_chunk.wat"), RouteLimits::default());
    // The app answers with the first chunk while the rest of the body has
    // not been sent (and never is).
    let answer = answer_to_a_first_chunk(server.addr(), "hello").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(answer.ends_with("\r\n\r\ngot:hello"), "{answer:?}");
}

#[tokio::test]
async fn a_body_past_the_routes_limit_fails_the_apps_read() {
    logs();
    let limits = RouteLimits {
        max_request_body: 4,
        ..RouteLimits::default()
    };
    let (server, _dir) = start(app("first_chunk.wat"), limits);
    let answer = answer_to_a_first_chunk(server.addr(), "hello").await;
    assert!(answer.ends_with("\r\n\r\nread failed"), "{answer:?}");
}

#[tokio::test]
async fn a_streamed_response_over_the_limit_is_cut_short() {
    let limits = RouteLimits {
        max_response_body: 4096,
        ..RouteLimits::default()
    };
    let (server, _dir) = start(app("rust_app.wasm"), limits);
    let req = hyper::Request::get(format!("http://{}/stream?chunks=8", server.addr()))
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    // The head goes out before the body passes the limit, and the body is
    // cut there: the client sees an incomplete response (its head, or not
    // even that if the cut came first), never a complete short one.
    use http_body_util::BodyExt;
    match client().request(req).await {
        Ok(resp) => {
            assert_eq!(resp.status(), StatusCode::OK);
            assert!(resp.into_body().collect().await.is_err());
        }
        Err(e) => assert!(format!("{e:?}").contains("IncompleteMessage"), "{e:?}"),
    }
}

#[tokio::test]
async fn a_response_over_the_routes_limit_is_500() {
    let limits = RouteLimits {
        max_response_body: 4096,
        ..RouteLimits::default()
    };
    let (server, _dir) = start(app("rust_app.wasm"), limits);
    let c = client();
    let r = get(&c, server.addr(), "/echo").await;
    assert_eq!(r.status, StatusCode::OK);
    // A whole response over the limit: 500.
    let r = send(
        &c,
        server.addr(),
        Method::POST,
        "/echo",
        &[],
        vec![b'x'; 5000],
    )
    .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!r.text().contains("xxxx"));
}

#[tokio::test]
async fn log_endpoints_and_standard_streams_go_to_the_log() {
    let r = get(&client(), rust_app(), "/log").await;
    assert_eq!(r.text(), "logged\n");
    let line = logged(&id(&r), "logged from rust").await;
    assert!(line.contains("source=app-log"), "{line}");
    let line = logged(&id(&r), "stdout line").await;
    assert!(line.contains("source=stdout"), "{line}");
    let line = logged(&id(&r), "stderr line").await;
    assert!(line.contains("source=stderr"), "{line}");
    // One write is one record: no empty record after it.
    let log = log_text();
    let records = log
        .lines()
        .filter(|l| l.contains(&format!("request={}", id(&r))) && l.contains("source=app-log"))
        .count();
    assert_eq!(records, 1, "{log}");
}

#[tokio::test]
async fn a_log_endpoint_named_in_log_files_writes_to_its_file() {
    logs();
    let dir = Scratch::new("fastly-log-files");
    let file = dir.path("app.log");
    let mut r = route("/...", app("rust_app.wasm"), RouteLimits::default());
    r.log_files = vec![("app-log".into(), file.clone())];
    let server = Server::start(config(vec![r])).expect("the server starts");
    for _ in 0..3 {
        assert_eq!(
            get(&client(), server.addr(), "/log").await.text(),
            "logged\n"
        );
    }
    // Written by the file's own thread: wait for it.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        if text == "logged from rust\n".repeat(3) {
            break;
        }
        assert!(Instant::now() < deadline, "{text:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Not for a WAGI handler.
    let mut r = route("/...", app("rust_app.wasm"), RouteLimits::default());
    r.abi = Some("wagi".into());
    r.log_files = vec![("app-log".into(), file.clone())];
    let e = Server::start(config(vec![r])).err().expect("refused");
    assert!(
        e.to_string().contains("log-files is for Compute apps"),
        "{e}"
    );
    // Standard output still goes to the server's log.
    let r = get(&client(), server.addr(), "/log").await;
    let line = logged(&id(&r), "stdout line").await;
    assert!(line.contains("source=stdout"), "{line}");
}

#[tokio::test]
async fn config_stores_come_from_fastly_toml() {
    let c = client();
    let r = get(&c, rust_app(), "/config?key=greeting").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), "hello from the store");
    let r = get(&c, rust_app(), "/config?key=absent").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.text(), "no key\n");
}

#[tokio::test]
async fn a_config_store_needs_its_manifest() {
    logs();
    let server = Server::start(config(vec![route(
        "/...",
        app("rust_app.wasm"),
        RouteLimits::default(),
    )]))
    .expect("the server starts without a fastly.toml");
    let r = get(&client(), server.addr(), "/config?key=greeting").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.text(), "no store\n");
}

#[tokio::test]
async fn the_app_knows_its_client_and_its_cpu_time() {
    let c = client();
    let r = get(&c, rust_app(), "/client").await;
    assert_eq!(r.text(), "ip=127.0.0.1\n");
    let r = get(&c, rust_app(), "/runtime").await;
    let ms = r.text();
    let ms = ms.strip_prefix("vcpu_ms=").expect("a cpu time");
    assert!(ms.trim_end().parse::<u64>().is_ok(), "{ms}");
}

#[tokio::test]
async fn a_panicking_app_is_500_and_a_log_line() {
    let c = client();
    let r = get(&c, rust_app(), "/trap").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    logged(&id(&r), "trap requested").await;
    let line = logged(&id(&r), "trap: unreachable").await;
    assert!(line.contains("at offset 0x"), "{line}");
    assert_eq!(get(&c, rust_app(), "/hello").await.status, StatusCode::OK);
}

#[tokio::test]
async fn every_import_of_the_javascript_app_links_and_it_answers() {
    // The server refuses to start with a module whose imports do not all
    // resolve: starting is the check that all 181 link.
    let c = client();
    let r = get(&c, js_app(), "/hello").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), "hello from js\n");
    assert_eq!(r.headers["x-app"], "js");
    let r = send(&c, js_app(), Method::POST, "/echo", &[], "posted").await;
    assert_eq!(r.text(), "method=POST\npath=/echo\nbody=posted");
    let r = get(&c, js_app(), "/config?key=greeting").await;
    assert_eq!(r.text(), "hello from the store");
    let r = get(&c, js_app(), "/nowhere").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn misuse_of_the_abi_gets_statuses_never_a_fault() {
    logs();
    let (server, _dir) = start(app("hostile.wat"), RouteLimits::default());
    let r = get(&client(), server.addr(), "/").await;
    assert_eq!(r.status, StatusCode::OK);
    let b = &r.body;
    assert_eq!(b.len(), 10, "{b:?}");
    assert_eq!(b[0], 2, "a buffer out of bounds is inval");
    assert_eq!(b[1], 6, "a misaligned out-pointer is badalign");
    assert_eq!(b[2], 3, "a handle never opened is badf");
    assert_eq!(b[3], 2, "a header value with a line break is inval");
    assert_eq!(b[4], 13, "bodies past the limit are limitexceeded");
    assert_eq!(b[5], 3, "a closed handle is badf");
    let opened = u32::from_le_bytes(b[6..10].try_into().unwrap());
    // 1024 bodies at once: the downstream body, the report's, and these.
    assert_eq!(opened, 1022);
}

#[tokio::test]
async fn an_app_run_as_wagi_cannot_call_the_abi() {
    logs();
    let mut r = route("/...", app("rust_app.wasm"), RouteLimits::default());
    r.abi = Some("wagi".into());
    let server = Server::start(config(vec![r])).expect("the server starts");
    let reply = get(&client(), server.addr(), "/hello").await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    let line = logged(&id(&reply), "was called by a handler not run under its ABI").await;
    assert!(line.contains("fastly_abi.init"), "{line}");
}

#[test]
fn bad_manifests_and_misplaced_ones_are_one_line_errors() {
    let dir = Scratch::new("fastly-bad");
    let bad = dir.path("fastly.toml");
    std::fs::write(
        &bad,
        "[local_server.config_stores.s]\nformat = \"inline-toml\"\n",
    )
    .unwrap();
    let mut r = route("/...", app("rust_app.wasm"), RouteLimits::default());
    r.fastly_toml = Some(bad.clone());
    let e = Server::start(config(vec![r]))
        .err()
        .expect("refused")
        .to_string();
    assert!(!e.contains('\n'), "{e}");
    assert!(
        e.contains("local_server.config_stores.s: no contents table"),
        "{e}"
    );
    let mut r = route("/...", handler("echo"), RouteLimits::default());
    r.fastly_toml = Some(bad);
    let e = Server::start(config(vec![r]))
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("fastly-toml is for Compute apps"), "{e}");
    let mut r = route("/...", app("rust_app.wasm"), RouteLimits::default());
    r.fastly_toml = Some(dir.path("missing.toml"));
    let e = Server::start(config(vec![r]))
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("missing.toml"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_instances_are_suspended_and_the_workers_run_others() {
    logs();
    let (server, _dir) = start(app("sleep.wat"), RouteLimits::default());
    let addr = server.addr();
    // 400 requests, each waiting 300 ms, on 2 workers: one after another
    // they would take a minute.
    let started = Instant::now();
    let c = client();
    let replies = futures_join_all((0..400).map(|_| {
        let c = c.clone();
        async move { get(&c, addr, "/").await }
    }))
    .await;
    let took = started.elapsed();
    for r in &replies {
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(&r.body[..5], b"slept");
        assert_eq!(
            u32::from_le_bytes(r.body[5..9].try_into().unwrap()),
            u32::MAX
        );
    }
    assert!(took < Duration::from_secs(20), "{took:?}");
    let metrics = server.metrics_text();
    assert!(metrics.contains("lucet_live_instances 0"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_computing_guest_does_not_keep_its_worker_from_others() {
    logs();
    let dir = Scratch::new("fastly-spin");
    let mut spin = route("/spin", app("spin.wat"), RouteLimits::default());
    spin.fastly_toml = Some(manifest(&dir.0));
    let mut sleep = route("/...", app("sleep.wat"), RouteLimits::default());
    sleep.fastly_toml = Some(manifest(&dir.0));
    let server = Server::start(config(vec![spin, sleep])).expect("the server starts");
    let addr = server.addr();
    let c = client();
    // Four guests that compute for 2 s each, on 2 workers: run to their
    // ends, they would keep both workers for 4 s.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    for _ in 0..4 {
        let (c, tx) = (c.clone(), tx.clone());
        tokio::spawn(async move {
            let r = get(&c, addr, "/spin").await;
            assert_eq!((r.status, &r.body[..]), (StatusCode::OK, &b"spun"[..]));
            tx.send("spin").unwrap();
        });
    }
    // Once they all compute, a request that waits 300 ms on a timer is
    // answered before any of them: the computing guests are preempted,
    // and the workers take it meanwhile.
    let started = Instant::now();
    while !server.metrics_text().contains("lucet_live_instances 4") {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the guests never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    {
        let (c, tx) = (c.clone(), tx.clone());
        tokio::spawn(async move {
            let r = get(&c, addr, "/").await;
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(&r.body[..5], b"slept");
            tx.send("sleep").unwrap();
        });
    }
    drop(tx);
    let mut order = Vec::new();
    while let Some(what) = rx.recv().await {
        order.push(what);
    }
    assert_eq!(order, ["sleep", "spin", "spin", "spin", "spin"]);
}

#[tokio::test]
async fn a_waiting_instance_is_stopped_at_its_deadline() {
    logs();
    let (server, _dir) = start(app("sleep.wat"), quick(100));
    let started = Instant::now();
    let r = get(&client(), server.addr(), "/").await;
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT);
    assert!(
        started.elapsed() < Duration::from_millis(290),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn instances_past_the_servers_bound_are_refused_at_once() {
    logs();
    let dir = Scratch::new("fastly-bound");
    // `sleep.wat` waiting 3 s instead of 300 ms: long enough that the first
    // three are surely alive while the others arrive, however loaded the
    // machine is.
    let text = std::fs::read_to_string(app("sleep.wat")).unwrap();
    assert!(text.contains("(i32.const 300)"));
    let long_sleep = dir.path("sleep_3s.wat");
    std::fs::write(
        &long_sleep,
        text.replace("(i32.const 300)", "(i32.const 3000)"),
    )
    .unwrap();
    let mut r = route("/...", long_sleep, RouteLimits::default());
    r.fastly_toml = Some(manifest(&dir.0));
    let mut c = config(vec![r]);
    c.server.max_instances = 3;
    let server = Server::start(c).expect("the server starts");
    let addr = server.addr();
    let client = client();
    let first: Vec<_> = (0..3)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { get(&c, addr, "/").await.status })
        })
        .collect();
    let waited = Instant::now();
    while !server.metrics_text().contains("lucet_live_instances 3\n") {
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "three instances never alive at once"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let refused = futures_join_all((0..3).map(|_| {
        let c = client.clone();
        async move { get(&c, addr, "/").await.status }
    }))
    .await;
    assert_eq!(refused, [StatusCode::SERVICE_UNAVAILABLE; 3]);
    let mut answered = Vec::new();
    for h in first {
        answered.push(h.await.expect("the task ends"));
    }
    assert_eq!(answered, [StatusCode::OK; 3]);
}

/// Runs every future at once; their outputs in order.
async fn futures_join_all<F: std::future::Future + Send + 'static>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("the task ends"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_instance_whose_client_left_is_dropped() {
    logs();
    let (server, _dir) = start(app("sleep.wat"), RouteLimits::default());
    let addr = server.addr();
    let mut conns = Vec::new();
    for _ in 0..20 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut s, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        conns.push(s);
    }
    let live = |server: &Server| {
        let m = server.metrics_text();
        let line = m
            .lines()
            .find(|l| l.starts_with("lucet_live_instances "))
            .unwrap()
            .to_string();
        line["lucet_live_instances ".len()..]
            .parse::<usize>()
            .unwrap()
    };
    let started = Instant::now();
    while live(&server) < 20 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "not all started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The clients go while their instances wait (300 ms each): the
    // instances are dropped then, not when their timers fire.
    drop(conns);
    let gone = Instant::now();
    while live(&server) > 0 {
        assert!(
            gone.elapsed() < Duration::from_millis(200),
            "{} instances still alive",
            live(&server)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(get(&client(), addr, "/").await.status, StatusCode::OK);
}

/// An origin on loopback for the apps' backend `origin`, on a thread of its
/// own (shared by the tests): `/a` answers `A` after 100 ms, `/b` answers
/// `B` at once, `/slow` answers after 2 s, `/counted/TAG` answers after
/// 300 ms with `TAG #N`, `N` counting its requests for `TAG`, `/echo...`
/// answers with what it got (method, path and query, `host`, `x-test`,
/// body).
fn origin() -> SocketAddr {
    static ORIGIN: OnceLock<SocketAddr> = OnceLock::new();
    *ORIGIN.get_or_init(|| origin_server(|req| Box::pin(answer_origin(req))))
}

/// What [`origin`] answers `req`.
async fn answer_origin(req: hyper::Request<Bytes>) -> hyper::Response<http_body_util::Full<Bytes>> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .map(|h| h.to_str().unwrap_or("?").to_string())
    };
    let path = req.uri().path().to_string();
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let text = match path.as_str() {
        "/a" => {
            tokio::time::sleep(Duration::from_millis(100)).await;
            "A".to_string()
        }
        "/b" => "B".to_string(),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            "slow".to_string()
        }
        p if p.starts_with("/counted/") => {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let tag = &p["/counted/".len()..];
            format!("{tag} #{}", count(tag))
        }
        p if p.starts_with("/cc/") => {
            return cache_controlled(
                &p["/cc/".len()..],
                &target,
                header("if-none-match").as_deref(),
            );
        }
        _ => format!(
            "{} {target}\nhost={}\nx-test={}\nbody={}",
            req.method(),
            header("host").unwrap_or_default(),
            header("x-test").unwrap_or_default(),
            String::from_utf8_lossy(req.body())
        ),
    };
    hyper::Response::builder()
        .header("x-origin", "1")
        .body(http_body_util::Full::new(Bytes::from(text)))
        .unwrap()
}

/// How many times the origin was asked for `tag`, this one included.
fn count(tag: &str) -> u32 {
    static COUNTS: std::sync::Mutex<Vec<(String, u32)>> = std::sync::Mutex::new(Vec::new());
    let mut counts = COUNTS.lock().unwrap();
    match counts.iter_mut().find(|(t, _)| t == tag) {
        Some((_, n)) => {
            *n += 1;
            *n
        }
        None => {
            counts.push((tag.to_string(), 1));
            1
        }
    }
}

/// The origin's `/cc/TAG?cc=CACHE_CONTROL&sk=SURROGATE_KEY`: body `TAG #N`
/// (`N` counting its requests for `TAG`) with header `x-count: N`, the
/// `cache-control` and `surrogate-key` asked for, and `etag: "TAG"`; a
/// request with `if-none-match: "TAG"` gets `304` (with `x-count`).
fn cache_controlled(
    tag: &str,
    target: &str,
    if_none_match: Option<&str>,
) -> hyper::Response<http_body_util::Full<Bytes>> {
    let n = count(tag);
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .map(|v| v.replace("%3D", "=").replace("%2C", ","))
    };
    let etag = format!("\"{tag}\"");
    let mut r = hyper::Response::builder()
        .header("x-origin", "1")
        .header("x-count", n.to_string())
        .header("etag", &etag);
    if let Some(cc) = param("cc") {
        r = r.header("cache-control", cc);
    }
    if let Some(sk) = param("sk") {
        r = r.header("surrogate-key", sk);
    }
    if if_none_match == Some(etag.as_str()) {
        return r
            .status(304)
            .body(http_body_util::Full::new(Bytes::new()))
            .unwrap();
    }
    r.body(http_body_util::Full::new(Bytes::from(format!(
        "{tag} #{n}"
    ))))
    .unwrap()
}

/// A server for the Rust app whose backend `origin` is [`origin`], and a
/// backend `closed` on a port nothing listens on.
fn proxy_server(limits: RouteLimits) -> (Server, Scratch) {
    proxy_server_with(app("rust_app.wasm"), limits)
}

fn proxy_server_with(module: PathBuf, limits: RouteLimits) -> (Server, Scratch) {
    logs();
    let dir = Scratch::new("fastly-proxy");
    let closed = closed_addr();
    let path = dir.path("fastly.toml");
    std::fs::write(
        &path,
        format!(
            "[local_server.backends.origin]\nurl = \"http://{}/\"\n\
             first_byte_timeout_ms = 1000\n\
             [local_server.backends.closed]\nurl = \"http://{closed}/\"\n",
            origin()
        ),
    )
    .unwrap();
    let mut r = route("/...", module, limits);
    r.fastly_toml = Some(path);
    let server = Server::start(config(vec![r])).expect("the server starts");
    (server, dir)
}

#[tokio::test]
async fn a_request_is_proxied_to_a_backend_and_back() {
    let (server, _dir) = proxy_server(RouteLimits::default());
    let r = send(
        &client(),
        server.addr(),
        Method::POST,
        "/proxy/echo/x?q=1",
        &[("x-test", "t")],
        "payload",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.headers["x-proxied"], "1");
    assert_eq!(r.headers["x-origin"], "1");
    let text = r.text();
    assert!(text.starts_with("POST /echo/x?q=1\n"), "{text}");
    assert!(text.contains("x-test=t\n"), "{text}");
    assert!(text.ends_with("body=payload"), "{text}");
}

#[tokio::test]
async fn a_request_body_streams_to_a_backend_as_the_app_writes_it() {
    let (server, _dir) = proxy_server_with(app("stream_up.wat"), RouteLimits::default());
    let r = get(&client(), server.addr(), "/").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // Both writes, made after the send, reached the backend.
    assert!(r.text().starts_with("POST /up\n"), "{}", r.text());
    assert!(r.text().ends_with("\nbody=part1,part2"), "{}", r.text());
}

/// The dynamic backend app on a route that allows `allowed`; its answer
/// to a request whose `x-target` is `target`.
async fn dynamic_backend(allowed: &[String], target: &str) -> Reply {
    logs();
    let mut r = route("/...", app("dynamic_backend.wat"), RouteLimits::default());
    r.dynamic_backends = allowed.to_vec();
    let server = Server::start(config(vec![r])).expect("the server starts");
    let req = hyper::Request::get(format!("http://{}/", server.addr()))
        .header("x-target", target)
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    let resp = client().request(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    Reply {
        status,
        headers,
        body,
    }
}

#[tokio::test]
async fn dynamic_backends_reach_only_the_hosts_the_route_allows() {
    let origin = origin().to_string();
    // Allowed by host (any port), and by host and port.
    for allowed in ["127.0.0.1".to_string(), origin.clone()] {
        let r = dynamic_backend(&[allowed], &origin).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert!(r.text().starts_with("GET /dyn-path\n"), "{}", r.text());
    }
    // Another port or host: `inval` (2).
    let other_port = format!("127.0.0.1:{}", origin::port_after(&origin));
    let r = dynamic_backend(&[other_port], &origin).await;
    assert_eq!(r.text(), "register failed: 2");
    let r = dynamic_backend(&["example.com".into()], &origin).await;
    assert_eq!(r.text(), "register failed: 2");
    // A route that allows none: `unsupported` (5).
    let r = dynamic_backend(&[], &origin).await;
    assert_eq!(r.text(), "register failed: 5");
}

mod origin {
    /// A port other than the one in `addr`.
    pub fn port_after(addr: &str) -> u16 {
        let port: u16 = addr.rsplit_once(':').unwrap().1.parse().unwrap();
        port.wrapping_add(1).max(1)
    }
}

#[tokio::test]
async fn requests_sent_at_once_are_awaited_together() {
    let (server, _dir) = proxy_server(RouteLimits::default());
    let r = get(&client(), server.addr(), "/fanout").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.text(), "a=A\nb=B\n");
}

#[tokio::test]
async fn backends_that_fail_are_errors_the_app_sees() {
    let (server, _dir) = proxy_server(RouteLimits::default());
    let c = client();
    let r = get(&c, server.addr(), "/missing-backend").await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.text());
    assert!(r.text().starts_with("send failed: "), "{}", r.text());
    // The origin answers /slow after 2 s; the backend's first-byte timeout
    // is 1 s.
    let r = get(&c, server.addr(), "/proxy/slow").await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.text());
}

#[tokio::test]
async fn the_app_reads_its_backends_configuration() {
    let (server, _dir) = proxy_server(RouteLimits::default());
    let r = get(&client(), server.addr(), "/backend-info").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let text = r.text();
    assert!(text.contains("exists=true\n"), "{text}");
    assert!(text.contains("host=127.0.0.1\n"), "{text}");
    assert!(
        text.contains(&format!("port={}\n", origin().port())),
        "{text}"
    );
    assert!(text.contains("ssl=false\n"), "{text}");
    assert!(text.contains("first_byte_ms=1000\n"), "{text}");
}

#[tokio::test]
async fn a_javascript_app_proxies_and_sleeps() {
    let c = client();
    let r = send(
        &c,
        js_app(),
        Method::POST,
        "/proxy/echo/y?z=2",
        &[("x-test", "js")],
        "from js",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.headers["x-proxied"], "js");
    let text = r.text();
    assert!(text.starts_with("POST /echo/y?z=2\n"), "{text}");
    assert!(text.contains("x-test=js\n"), "{text}");
    assert!(text.ends_with("body=from js"), "{text}");
    // setTimeout suspends the instance on a timer.
    let r = get(&c, js_app(), "/sleep").await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "slept\n"));
}

/// A server for the Rust app with geolocation, device detection, an ACL
/// and a secret store in its `fastly.toml`.
fn lookups_server() -> (Server, Scratch) {
    logs();
    let dir = Scratch::new("fastly-lookups");
    std::fs::write(
        dir.path("acl.json"),
        r#"{"entries": [
            {"prefix": "192.0.2.0/24", "action": "BLOCK"},
            {"prefix": "192.0.2.128/25", "action": "ALLOW"},
            {"prefix": "2001:db8::/32", "action": "BLOCK"}
        ]}"#,
    )
    .unwrap();
    std::fs::write(dir.path("api.key"), "from a file").unwrap();
    let path = dir.path("fastly.toml");
    std::fs::write(
        &path,
        r#"
[local_server.geolocation]
format = "inline-toml"
[local_server.geolocation.addresses."192.0.2.7"]
city = "Lyon"
country_code = "FR"
as_name = "Example AS"
latitude = 45.76

[local_server.device_detection]
format = "inline-toml"
[local_server.device_detection.user_agents."TestPhone/1.0"]
device = { name = "Test Phone", brand = "Example", is_mobile = true }

[local_server.acls]
edge = "acl.json"

[[local_server.secret_stores.keys]]
key = "inline"
data = "s3cret"
[[local_server.secret_stores.keys]]
key = "filed"
file = "api.key"
"#,
    )
    .unwrap();
    let mut r = route("/...", app("rust_app.wasm"), RouteLimits::default());
    r.fastly_toml = Some(path);
    let server = Server::start(config(vec![r])).expect("the server starts");
    (server, dir)
}

#[tokio::test]
async fn lookups_come_from_fastly_toml() {
    let (server, _dir) = lookups_server();
    let addr = server.addr();
    let c = client();
    let text = |r: &Reply| (r.status, r.text());

    let r = get(&c, addr, "/geo?ip=192.0.2.7").await;
    assert_eq!(
        text(&r),
        (
            StatusCode::OK,
            "city=Lyon\ncountry=FR\nas_name=Example AS\nlatitude=45.76\n".into()
        )
    );
    let r = get(&c, addr, "/geo?ip=192.0.2.8").await;
    assert_eq!(text(&r), (StatusCode::NOT_FOUND, "no geo\n".into()));

    let r = get(&c, addr, "/device?ua=TestPhone/1.0").await;
    assert_eq!(
        text(&r),
        (
            StatusCode::OK,
            "name=Test Phone\nbrand=Example\nmobile=true\n".into()
        )
    );
    let r = get(&c, addr, "/device?ua=Other").await;
    assert_eq!(text(&r), (StatusCode::NOT_FOUND, "no device\n".into()));

    // The longest prefix wins.
    let r = get(&c, addr, "/acl?name=edge&ip=192.0.2.200").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.text().contains("prefix=192.0.2.128/25\n"), "{}", r.text());
    assert!(r.text().to_lowercase().contains("allow"), "{}", r.text());
    let r = get(&c, addr, "/acl?name=edge&ip=192.0.2.1").await;
    assert!(r.text().to_lowercase().contains("block"), "{}", r.text());
    let r = get(&c, addr, "/acl?name=edge&ip=198.51.100.1").await;
    assert_eq!(text(&r), (StatusCode::NOT_FOUND, "no match\n".into()));
    let r = get(&c, addr, "/acl?name=other&ip=192.0.2.1").await;
    assert_eq!(text(&r), (StatusCode::NOT_FOUND, "no acl\n".into()));

    let r = get(&c, addr, "/secret?store=keys&key=inline").await;
    assert_eq!(text(&r), (StatusCode::OK, "s3cret".into()));
    let r = get(&c, addr, "/secret?store=keys&key=filed").await;
    assert_eq!(text(&r), (StatusCode::OK, "from a file".into()));
    let r = get(&c, addr, "/secret?store=keys&key=absent").await;
    assert_eq!(text(&r), (StatusCode::NOT_FOUND, "no secret\n".into()));
    let r = get(&c, addr, "/secret?store=nope&key=inline").await;
    assert_eq!(text(&r), (StatusCode::NOT_FOUND, "no store\n".into()));
}

#[tokio::test]
async fn rate_counters_and_penalty_boxes_limit_an_entry() {
    let (server, _dir) = start(app("rust_app.wasm"), RouteLimits::default());
    let addr = server.addr();
    let c = client();
    // 2 per second are allowed: within a burst the entry is soon blocked,
    // and stays so (in the penalty box).
    let mut blocked_at = None;
    for i in 1..=20 {
        let r = get(&c, addr, "/erl?entry=burst").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        if r.text().starts_with("blocked=true\n") {
            assert!(r.text().ends_with("boxed=true\n"), "{}", r.text());
            blocked_at = Some(i);
            break;
        }
        assert!(r.text().contains(&format!("count={i}\n")), "{}", r.text());
    }
    assert!(blocked_at.is_some(), "never blocked");
    let r = get(&c, addr, "/erl?entry=burst").await;
    assert!(r.text().starts_with("blocked=true\n"), "{}", r.text());
    // Another entry is not.
    let r = get(&c, addr, "/erl?entry=other").await;
    assert_eq!(r.text(), "blocked=false\ncount=1\nboxed=false\n");
    // An entry put in the box is blocked at once, and not counted.
    let r = get(&c, addr, "/erl-box?entry=boxed").await;
    assert_eq!(r.text(), "boxed=true\n");
    let r = get(&c, addr, "/erl?entry=boxed").await;
    assert_eq!(r.text(), "blocked=true\ncount=0\nboxed=true\n");
}

#[tokio::test]
async fn a_kv_store_starts_from_fastly_toml_and_keeps_what_the_app_writes() {
    logs();
    let dir = Scratch::new("fastly-kv");
    std::fs::write(
        dir.path("kv.json"),
        r#"{"j": "from json", "m": {"data": "with meta", "metadata": "mm"}}"#,
    )
    .unwrap();
    let path = dir.path("fastly.toml");
    std::fs::write(
        &path,
        r#"
[local_server.kv_stores]
kv = [{ key = "seed", data = "planted", metadata = "seeded" }]
other = { format = "json", file = "kv.json" }
"#,
    )
    .unwrap();
    let mut r = route("/...", app("rust_app.wasm"), RouteLimits::default());
    r.fastly_toml = Some(path);
    let server = Server::start(config(vec![r])).expect("the server starts");
    let (addr, c) = (server.addr(), client());

    let r = get(&c, addr, "/kv?op=get&key=seed").await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "planted"));
    assert_eq!(r.headers["x-metadata"], "seeded");
    let r = get(&c, addr, "/kv?store=other&op=get&key=m").await;
    assert_eq!(
        (r.text().as_str(), r.headers["x-metadata"].to_str().unwrap()),
        ("with meta", "mm")
    );
    let r = get(&c, addr, "/kv?op=get&key=absent").await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (StatusCode::NOT_FOUND, "no key\n")
    );
    let r = get(&c, addr, "/kv?store=nope&op=get&key=seed").await;
    assert_eq!(r.text(), "no store\n");

    // Written by one instance, read by the next.
    let put = |q: &str, body: &'static str| {
        let c = c.clone();
        let q = q.to_string();
        async move {
            send(
                &c,
                addr,
                Method::POST,
                &format!("/kv?op=put&{q}"),
                &[],
                body,
            )
            .await
        }
    };
    assert_eq!(put("key=k&meta=m1", "one").await.text(), "stored\n");
    let r = get(&c, addr, "/kv?op=get&key=k").await;
    assert_eq!(
        (r.text().as_str(), r.headers["x-metadata"].to_str().unwrap()),
        ("one", "m1")
    );
    let generation = r.headers["x-generation"].to_str().unwrap().to_string();
    assert_eq!(put("key=k&mode=append", "+two").await.text(), "stored\n");
    assert_eq!(get(&c, addr, "/kv?op=get&key=k").await.text(), "one+two");
    // Add where the key is, and a stale generation: precondition failed.
    let r = put("key=k&mode=add", "x").await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (StatusCode::PRECONDITION_FAILED, "precondition failed\n")
    );
    let r = put(&format!("key=k&gen={generation}"), "x").await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);

    for k in ["list/a", "list/b", "list/c"] {
        assert_eq!(put(&format!("key={k}"), "v").await.text(), "stored\n");
    }
    let r = get(&c, addr, "/kv?op=list&prefix=list/&limit=2").await;
    let text = r.text();
    let mut lines = text.lines();
    assert_eq!(
        (lines.next(), lines.next()),
        (Some("list/a"), Some("list/b"))
    );
    let cursor = lines
        .next()
        .unwrap()
        .strip_prefix("cursor=")
        .unwrap()
        .to_string();
    assert!(!cursor.is_empty(), "{text}");
    let r = get(
        &c,
        addr,
        &format!("/kv?op=list&prefix=list/&limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(r.text(), "list/c\ncursor=\n");

    assert_eq!(
        get(&c, addr, "/kv?op=delete&key=k").await.text(),
        "deleted\n"
    );
    assert_eq!(
        get(&c, addr, "/kv?op=get&key=k").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&c, addr, "/kv?op=delete&key=k").await.text(),
        "no key\n"
    );
}

#[tokio::test]
async fn a_requests_log_streams_share_one_budget() {
    let limits = RouteLimits {
        max_log_bytes: 100,
        ..RouteLimits::default()
    };
    let (server, _dir) = start(app("rust_app.wasm"), limits);
    // The endpoint's line fits (16 bytes, and 64 for its event); the 20
    // bytes left take neither standard output's line nor standard error's.
    let r = get(&client(), server.addr(), "/log").await;
    assert_eq!(r.text(), "logged\n");
    let id = id(&r);
    logged(&id, "logged from rust").await;
    logged(&id, "more bytes of stderr dropped").await;
    let log = log_text();
    assert!(
        !log.lines()
            .any(|l| l.contains(&format!("request={id}")) && l.contains("stderr line")),
        "{log}"
    );
}

/// A server for the Rust app (with the backend `origin`) whose cache holds
/// `cache_size` bytes.
fn cache_server(cache_size: u64) -> (Server, Scratch) {
    proxy_server(RouteLimits {
        cache_size,
        ..RouteLimits::default()
    })
}

#[tokio::test]
async fn the_simple_cache_keeps_a_value_until_purged_or_expired() {
    let (server, _dir) = cache_server(64 << 20);
    let (c, a) = (client(), server.addr());
    let text = |r: Reply| {
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.text()
    };
    let r = get(&c, a, "/cache/simple?key=k&value=one").await;
    assert_eq!(text(r), "value=one\nfilled=true\n");
    let r = get(&c, a, "/cache/simple?key=k&value=two").await;
    assert_eq!(text(r), "value=one\nfilled=false\n");
    assert_eq!(text(get(&c, a, "/cache/purge?key=k").await), "purged\n");
    let r = get(&c, a, "/cache/simple?key=k&value=two").await;
    assert_eq!(text(r), "value=two\nfilled=true\n");
    // Past its time to live, a value is made again.
    let r = get(&c, a, "/cache/simple?key=short&value=a&ttl=1").await;
    assert_eq!(text(r), "value=a\nfilled=true\n");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = get(&c, a, "/cache/simple?key=short&value=b&ttl=1").await;
    assert_eq!(text(r), "value=b\nfilled=true\n");
}

#[tokio::test]
async fn cached_objects_keep_their_metadata_variants_and_surrogate_keys() {
    let (server, _dir) = cache_server(64 << 20);
    let (c, a) = (client(), server.addr());
    let call = |path: String, lang: &'static str| {
        let c = c.clone();
        async move { send(&c, a, Method::GET, &path, &[("accept-language", lang)], "").await }
    };
    let r = call(
        "/cache/core?op=insert&key=obj&value=hello&meta=m1&skeys=s1,s2&ttl=60&swr=30&vary=accept-language".into(),
        "en",
    )
    .await;
    assert_eq!(r.text(), "stored\n");
    let lookup = "/cache/core?op=lookup&key=obj&vary=accept-language".to_string();
    let r = call(lookup.clone(), "en").await;
    assert_eq!(
        r.text(),
        "stale=false\nhits=1\nmax_age=60\nswr=30\nlength=Some(5)\nmeta=m1\nbody=hello\n"
    );
    // Another language is another variant, not stored.
    let r = call(lookup.clone(), "fr").await;
    assert_eq!(
        (r.status, r.text()),
        (StatusCode::NOT_FOUND, "miss\n".into())
    );
    // A soft purge leaves it usable, stale, for its stale-while-revalidate time.
    let r = call("/cache/core?op=purge&skey=s2&soft=1".into(), "en").await;
    assert_eq!(r.text(), "purged\n");
    let r = call(lookup.clone(), "en").await;
    assert!(r.text().starts_with("stale=true\nhits=2\n"), "{}", r.text());
    // A purge removes it.
    call("/cache/core?op=purge&skey=s1".into(), "en").await;
    assert_eq!(call(lookup, "en").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn concurrent_misses_collapse_onto_one_origin_fetch() {
    let (server, _dir) = cache_server(64 << 20);
    let c = client();
    let a = server.addr();
    let tag = format!("collapse{}", std::process::id());
    let path = format!("/cache/fetch?key={tag}&from=/counted/{tag}");
    let replies: Vec<Reply> = futures_join_all((0..20).map(|_| {
        let (c, path) = (c.clone(), path.clone());
        async move { get(&c, a, &path).await }
    }))
    .await;
    let mut from_origin = 0;
    for r in &replies {
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        // One fetch, whose body every request got.
        assert!(
            r.text().ends_with(&format!("body={tag} #1\n")),
            "{}",
            r.text()
        );
        from_origin += usize::from(r.text().starts_with("source=origin\n"));
    }
    assert_eq!(
        from_origin, 1,
        "one request fetched, the others waited for it"
    );
}

#[tokio::test]
async fn the_cache_holds_no_more_than_its_size() {
    // 256 KiB: one object may take 64 KiB.
    let (server, _dir) = cache_server(256 << 10);
    let (c, a) = (client(), server.addr());
    let r = get(&c, a, "/cache/core?op=insert&key=big&size=70000").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.text());
    assert!(r.text().starts_with("cache failed: "), "{}", r.text());
    assert_eq!(
        get(&c, a, "/cache/core?op=lookup&key=big").await.status,
        StatusCode::NOT_FOUND,
        "a refused object is not left half-written"
    );
    // Six objects of 60,000 bytes: the oldest go to make room.
    for i in 0..6 {
        let r = get(&c, a, &format!("/cache/core?op=insert&key=k{i}&size=60000")).await;
        assert_eq!(r.text(), "stored\n");
    }
    assert_eq!(
        get(&c, a, "/cache/core?op=lookup&key=k0").await.status,
        StatusCode::NOT_FOUND
    );
    let r = get(&c, a, "/cache/core?op=lookup&key=k5").await;
    assert!(r.text().contains("length=Some(60000)"), "{}", r.text());
}

/// The value of metric `name` in `server`'s metrics.
fn metric(server: &Server, name: &str) -> String {
    let text = server.metrics_text();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"));
    line[name.len() + 1..].to_string()
}

#[tokio::test]
async fn a_reusable_sandbox_serves_the_routes_next_requests_in_its_slot() {
    let (server, _dir) = start(app("rust_app.wasm"), RouteLimits::default());
    let (c, a) = (client(), server.addr());
    let r = get(&c, a, "/reuse?n=3").await;
    assert_eq!(r.text(), "reused instance: request 1 of 3, path /reuse\n");
    assert_eq!(
        metric(&server, "lucet_live_instances"),
        "1",
        "it waits, alive"
    );
    // The waiting instance takes the route's next requests, whatever their
    // path (a fresh instance would answer /hello otherwise), each answered
    // as it is sent.
    let r = get(&c, a, "/hello").await;
    assert_eq!(r.text(), "reused instance: request 2 of 3, path /hello\n");
    // What it writes while serving a request is logged as that request's.
    logged(&id(&r), "reused instance serving request 2").await;
    let r = send(&client(), a, Method::POST, "/other", &[], "body").await;
    assert_eq!(r.text(), "reused instance: request 3 of 3, path /other\n");
    logged(&id(&r), "reused instance serving request 3").await;
    // Then it ended: the next request starts a fresh instance.
    let r = get(&c, a, "/hello").await;
    assert_eq!(r.text(), "hello from rust\n");
    let start = Instant::now();
    while metric(&server, "lucet_live_instances") != "0" {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the instance ends"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_sandbox_that_gets_no_request_in_time_ends() {
    let (server, _dir) = start(app("rust_app.wasm"), RouteLimits::default());
    let (c, a) = (client(), server.addr());
    let r = get(&c, a, "/reuse?n=5&wait_ms=100").await;
    assert_eq!(r.text(), "reused instance: request 1 of 5, path /reuse\n");
    let start = Instant::now();
    while metric(&server, "lucet_live_instances") != "0" {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the promise expires and the app ends"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(get(&c, a, "/hello").await.text(), "hello from rust\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_a_sandbox_does_not_take_goes_to_a_fresh_instance() {
    let (server, _dir) = start(app("give_up.wat"), RouteLimits::default());
    let (c, a) = (client(), server.addr());
    // The first answer comes once the instance's promise waits: the
    // second request is handed to it. The instance ends without taking
    // it, by returning (GET) or by abandoning the promise (POST), and a
    // fresh instance answers it.
    for method in [Method::GET, Method::POST] {
        let first = send(&c, a, method.clone(), "/", &[], Bytes::new()).await;
        assert_eq!(
            (first.status, first.text()),
            (StatusCode::OK, "fresh".into())
        );
        let second = send(&c, a, method.clone(), "/", &[], Bytes::new()).await;
        assert_eq!(
            (second.status, second.text()),
            (StatusCode::OK, "fresh".into()),
            "{method}"
        );
        let started = Instant::now();
        while metric(&server, "lucet_live_instances") != "0" {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the instances end"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    assert_eq!(
        metric(
            &server,
            "lucet_requests_total{route=\"/...\",status=\"200\"}"
        ),
        "4"
    );
}

#[tokio::test]
async fn each_request_of_a_sandbox_has_the_routes_whole_time_limit() {
    // A 1 s limit; five requests 300 ms apart take the instance past it,
    // each within it.
    let (server, _dir) = start(app("rust_app.wasm"), quick(1000));
    let (c, a) = (client(), server.addr());
    let r = get(&c, a, "/reuse?n=5").await;
    assert_eq!(r.text(), "reused instance: request 1 of 5, path /reuse\n");
    for k in 2..=5 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let r = get(&c, a, "/next").await;
        assert_eq!(
            r.text(),
            format!("reused instance: request {k} of 5, path /next\n")
        );
    }
}

/// A tag unique to this run of the tests, for the origin's counters.
fn tag(name: &str) -> String {
    format!("{name}{}", std::process::id())
}

#[tokio::test]
async fn the_http_cache_answers_repeated_requests_without_the_backend() {
    let (server, _dir) = cache_server(64 << 20);
    let (c, a) = (client(), server.addr());
    let t = tag("fresh");
    let path = format!("/proxy/cc/{t}?cc=max-age%3D60");
    let first = get(&c, a, &path).await;
    assert_eq!(first.text(), format!("{t} #1"));
    assert_eq!(first.headers["x-cache"], "MISS");
    let second = get(&c, a, &path).await;
    assert_eq!(second.text(), format!("{t} #1"), "from the cache");
    assert_eq!(second.headers["x-cache"], "HIT");
    assert_eq!(second.headers["age"], "0");
    // Not cached: what the origin marks private, and what is not a GET.
    let t = tag("private");
    let path = format!("/proxy/cc/{t}?cc=private");
    assert_eq!(get(&c, a, &path).await.text(), format!("{t} #1"));
    assert_eq!(get(&c, a, &path).await.text(), format!("{t} #2"));
    let t = tag("post");
    let path = format!("/proxy/cc/{t}");
    for n in 1..=2 {
        let r = send(&c, a, Method::POST, &path, &[], "").await;
        assert_eq!(r.text(), format!("{t} #{n}"));
    }
}

#[tokio::test]
async fn a_stale_response_is_revalidated_and_a_purge_empties_the_http_cache() {
    let (server, _dir) = cache_server(64 << 20);
    let (c, a) = (client(), server.addr());
    let t = tag("reval");
    let path = format!("/proxy/cc/{t}?cc=max-age%3D1&sk=key-{t}");
    assert_eq!(get(&c, a, &path).await.text(), format!("{t} #1"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Stale: the origin is asked whether it changed (a 304), and the
    // stored response, refreshed, is the answer.
    let r = get(&c, a, &path).await;
    assert_eq!(r.text(), format!("{t} #1"));
    assert_eq!(r.headers["x-count"], "2", "revalidated with the origin");
    let r = get(&c, a, &path).await;
    assert_eq!(r.headers["x-count"], "2", "fresh again: not asked");
    // A purge by the surrogate key the origin gave removes it.
    let purge = format!("/cache/core?op=purge&skey=key-{t}");
    assert_eq!(get(&c, a, &purge).await.text(), "purged\n");
    let r = get(&c, a, &path).await;
    assert_eq!(r.text(), format!("{t} #3"));
}

#[tokio::test]
async fn concurrent_requests_for_one_url_collapse_onto_one_backend_request() {
    let (server, _dir) = cache_server(64 << 20);
    let c = client();
    let a = server.addr();
    let t = tag("readthrough");
    let path = format!("/proxy/counted/{t}");
    let replies: Vec<Reply> = futures_join_all((0..10).map(|_| {
        let (c, path) = (c.clone(), path.clone());
        async move { get(&c, a, &path).await }
    }))
    .await;
    for r in &replies {
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.text(), format!("{t} #1"));
    }
}

#[tokio::test]
async fn with_no_cache_every_request_goes_to_the_backend() {
    let (server, _dir) = cache_server(0);
    let (c, a) = (client(), server.addr());
    let t = tag("nocache");
    let path = format!("/proxy/cc/{t}?cc=max-age%3D60");
    assert_eq!(get(&c, a, &path).await.text(), format!("{t} #1"));
    assert_eq!(get(&c, a, &path).await.text(), format!("{t} #2"));
}
