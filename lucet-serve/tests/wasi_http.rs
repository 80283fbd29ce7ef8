//! `wasi:http/proxy` components, end to end: the real server on loopback,
//! the components in `examples/components/` (built with Rust's
//! `wasm32-wasip2` target and with `componentize-js`), a real HTTP client.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;
use hyper::{Method, StatusCode};
use lucet_serve::{Abi, RouteLimits, Server};

fn component(name: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/components")
        .join(format!("{name}.wasm"))
}

/// One server for every test here.
fn server() -> SocketAddr {
    the_server().addr()
}

fn the_server() -> &'static Server {
    &shared().0
}

/// The directory of the server's files (its manifest, the route's
/// directories).
fn the_server_dir() -> &'static Scratch {
    &shared().1
}

fn shared() -> &'static (Server, Scratch) {
    static SERVER: OnceLock<(Server, Scratch)> = OnceLock::new();
    SERVER.get_or_init(|| {
        logs();
        let dir = Scratch::new("wasi-http");
        let manifest = backends_manifest(&dir);
        for sub in ["static", "out"] {
            std::fs::create_dir_all(dir.path(sub)).unwrap();
        }
        std::fs::write(dir.path("static/greeting.txt"), "hello from a file").unwrap();
        std::fs::write(dir.path("secret.txt"), "secret").unwrap();
        let mut files = route("/files/...", component("echo-http"), RouteLimits::default());
        files.dirs = vec![
            common::dir(&dir.path("static"), "/static", false),
            common::dir(&dir.path("out"), "/out", true),
        ];
        let small_response = RouteLimits {
            max_response_body: 10_000,
            ..RouteLimits::default()
        };
        let with_backends = |path: &str, limits: RouteLimits| {
            let mut r = route(path, component("echo-http"), limits);
            r.fastly_toml = Some(manifest.clone());
            r.dynamic_backends = vec!["localhost".into()];
            r
        };
        let routes = vec![
            route(
                "/hello/...",
                component("hello-http"),
                RouteLimits::default(),
            ),
            route("/js/...", component("hello-js"), RouteLimits::default()),
            with_backends("/limited/...", small_response),
            with_backends("/quick/...", quick(300)),
            route(
                "/no-backends/...",
                component("echo-http"),
                RouteLimits::default(),
            ),
            files,
            with_backends("/...", RouteLimits::default()),
        ];
        let server = Server::start(config(routes)).expect("the server starts");
        (server, dir)
    })
}

/// A `fastly.toml` naming two backends: `origin` ([`origin`]), and
/// `closed`, a port nothing listens on.
fn backends_manifest(dir: &Scratch) -> PathBuf {
    let closed = closed_addr();
    let path = dir.path("fastly.toml");
    std::fs::write(
        &path,
        format!(
            "[local_server.backends.origin]\nurl = \"http://{}/\"\n\
             [local_server.backends.closed]\nurl = \"http://{closed}/\"\n",
            origin()
        ),
    )
    .unwrap();
    path
}

/// An origin server of the tests' own: `/hello` answers, with header
/// `x-origin: yes`, the method, path, `x-from` header and body it got;
/// `/slow` answers `slow` after 1.5 s; `/big` answers 50,000 bytes.
fn origin() -> SocketAddr {
    static ORIGIN: OnceLock<SocketAddr> = OnceLock::new();
    *ORIGIN.get_or_init(|| origin_server(|req| Box::pin(answer_origin(req))))
}

/// What [`origin`] answers `req`.
async fn answer_origin(
    req: hyper::Request<bytes::Bytes>,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    let path = req.uri().path().to_string();
    let text = match path.as_str() {
        "/hello" => format!(
            "{} {path} x-from={} {}",
            req.method(),
            req.headers()
                .get("x-from")
                .map(|h| h.to_str().unwrap_or("?").to_string())
                .unwrap_or_default(),
            String::from_utf8_lossy(req.body())
        ),
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            "slow".to_string()
        }
        "/big" => "b".repeat(50_000),
        _ => "?".to_string(),
    };
    let mut response = hyper::Response::new(http_body_util::Full::new(text.into()));
    response
        .headers_mut()
        .insert("x-origin", "yes".parse().unwrap());
    response
}

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

fn id(r: &Reply) -> String {
    r.headers["x-request-id"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn a_rust_hello_component_answers() {
    let c = client();
    let r = get(&c, server(), "/hello/there?x=1").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "text/plain");
    assert_eq!(r.text(), "hello from a component: GET /hello/there?x=1\n");
    let r = send(&c, server(), Method::POST, "/hello/", &[], "ignored").await;
    assert_eq!(r.text(), "hello from a component: POST /hello/\n");
}

#[tokio::test]
async fn a_javascript_component_answers() {
    let c = client();
    let r = get(&c, server(), "/js/a?b=1").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "text/plain");
    assert_eq!(
        r.text(),
        "hello from a JavaScript component: GET /js/a?b=1\n"
    );
    let r = send(&c, server(), Method::DELETE, "/js/", &[], "").await;
    assert_eq!(r.text(), "hello from a JavaScript component: DELETE /js/\n");
}

#[tokio::test]
async fn the_handler_sees_the_request_and_sets_the_response() {
    let r = send(
        &client(),
        server(),
        Method::PUT,
        "/echo",
        &[("x-name", "ann")],
        "the body",
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.headers["x-echo"], "yes");
    let many: Vec<&str> = r
        .headers
        .get_all("x-many")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(many, ["1", "2"]);
    // The request's headers cannot be changed.
    assert_eq!(
        r.text(),
        "method=Method::Put name=ann request-headers=immutable body=the body"
    );
}

#[tokio::test]
async fn framing_headers_and_bad_names_are_refused_to_the_handler() {
    let r = get(&client(), server(), "/forbidden").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.text(),
        "content-length=forbidden connection=forbidden bad-name=invalid-syntax"
    );
}

#[tokio::test]
async fn standard_output_and_error_go_to_the_log() {
    let r = get(&client(), server(), "/stderr").await;
    assert_eq!(r.text(), "logged");
    let line = logged(&id(&r), "a line on standard error").await;
    assert!(line.contains("source=stderr"), "{line}");
    let line = logged(&id(&r), "a line on standard output").await;
    assert!(line.contains("source=stdout"), "{line}");
}

#[tokio::test]
async fn a_handler_sees_its_routes_directories_and_nothing_else() {
    let text = |path: &'static str| async move {
        let r = get(&client(), server(), path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        r.text()
    };
    assert_eq!(
        text("/files/file?/static/greeting.txt").await,
        "hello from a file"
    );
    assert_eq!(
        text("/files/file?/static/../secret.txt").await,
        "PermissionDenied"
    );
    assert_eq!(text("/files/file?/etc/passwd").await, "NotFound");
    // Read-only and writable directories.
    assert_eq!(
        text("/files/write?/static/new.txt").await,
        "ReadOnlyFilesystem"
    );
    assert_eq!(text("/files/write?/out/new.txt").await, "ok");
    let written = the_server_dir().path("out/new.txt");
    assert_eq!(std::fs::read_to_string(written).unwrap(), "written");
}

async fn fetched(path: &str) -> String {
    let r = get(&client(), server(), path).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.text()
}

#[tokio::test]
async fn outgoing_requests_go_to_the_routes_backends() {
    let sent = "status=200 x-origin=yes body=POST /hello x-from=echo ping";
    // By the backend's name, and by its address.
    assert_eq!(fetched("/fetch?http://origin/hello").await, sent);
    let by_address = format!("/fetch?http://{}/hello", origin());
    assert_eq!(fetched(&by_address).await, sent);
    // A host the route allows dynamic backends for.
    let dynamic = format!("/fetch?http://localhost:{}/hello", origin().port());
    assert_eq!(fetched(&dynamic).await, sent);
}

#[tokio::test]
async fn outgoing_requests_elsewhere_are_denied_or_fail() {
    for url in [
        "http://example.com/",
        "https://origin/hello",
        "http://localhost.example/",
    ] {
        assert_eq!(
            fetched(&format!("/fetch?{url}")).await,
            "not sent: ErrorCode::HttpRequestDenied",
            "{url}"
        );
    }
    // A route with no backends sends nowhere.
    assert_eq!(
        fetched("/no-backends/fetch?http://origin/hello").await,
        "not sent: ErrorCode::HttpRequestDenied"
    );
    assert_eq!(
        fetched("/fetch?http://closed/").await,
        "failed: ErrorCode::ConnectionRefused"
    );
    // 50,000 bytes fetched by a handler whose bodies may hold 20,000.
    assert_eq!(
        fetched("/limited/fetch?http://origin/big").await,
        "failed: ErrorCode::HttpResponseBodySize(None)"
    );
    // Waiting for a response past the route's deadline.
    let r = get(&client(), server(), "/quick/fetch?http://origin/slow").await;
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT);
}

#[tokio::test]
async fn a_computing_handler_is_preempted_and_resumed_and_a_runaway_one_stopped() {
    let c = client();
    // 200 ms of computing: preempted at every 10 ms slice, resumed, done.
    let slow = get(&c, server(), "/spin?200");
    // Meanwhile others are served.
    let quick = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let start = Instant::now();
        let r = get(&c, server(), "/hello/").await;
        (r.status, start.elapsed())
    };
    let (slow, (status, took)) = tokio::join!(slow, quick);
    assert_eq!(slow.status, StatusCode::OK);
    assert_eq!(slow.text(), "spun");
    assert_eq!(status, StatusCode::OK);
    assert!(took < Duration::from_secs(5), "{took:?}");
    // A loop that never ends meets its deadline.
    let r = get(&c, server(), "/quick/forever").await;
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT);
    logged(&id(&r), "deadline").await;
}

/// The most instances alive at once while `requests` are answered: each
/// must answer `expected`.
async fn most_alive_while(requests: Vec<&'static str>, expected: &str) -> usize {
    let c = client();
    let count = requests.len();
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|path| {
            let c = c.clone();
            tokio::spawn(async move { get(&c, server(), path).await })
        })
        .collect();
    let start = Instant::now();
    let mut most = 0;
    while start.elapsed() < Duration::from_secs(10) {
        let text = the_server().metrics_text();
        let live = text
            .lines()
            .find_map(|l| l.strip_prefix("lucet_live_instances "))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        most = most.max(live);
        if most >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for task in tasks {
        let r = task.await.expect("the request task");
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.text(), expected);
    }
    most
}

#[tokio::test]
async fn a_waiting_handler_is_suspended_not_holding_its_worker() {
    // More waiting handlers than workers (one per core, here two): each
    // is suspended in its slot while it waits, so all are alive at once.
    let most = most_alive_while(vec!["/sleep?1500"; 6], "slept").await;
    assert!(most >= 6, "at most {most} instances alive at once");
    let most = most_alive_while(
        vec!["/fetch?http://origin/slow"; 6],
        "status=200 x-origin=yes body=slow",
    )
    .await;
    assert!(most >= 6, "at most {most} instances alive at once");
}

#[tokio::test]
async fn a_body_past_the_route_limit_fails_the_response() {
    let c = client();
    // Within the limit, whole.
    let r = get(&c, server(), "/limited/big?9000").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.len(), 9000);
    // Past it: the write fails (the handler logs why) and the response,
    // never finished, is not sent.
    let r = get(&c, server(), "/limited/big?20000").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    logged(&id(&r), "larger than the route's limit of 10000 bytes").await;
}

#[tokio::test]
async fn handlers_that_do_not_answer_properly_get_a_500_and_a_log_line() {
    let c = client();
    for (path, says) in [
        ("/unfinished", "did not finish the response body"),
        ("/nothing", "returned without setting a response"),
        ("/panic", "trap: unreachable"),
    ] {
        let r = get(&c, server(), path).await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        logged(&id(&r), says).await;
    }
    // And the server goes on.
    assert_eq!(get(&c, server(), "/hello/").await.status, StatusCode::OK);
}

#[test]
fn a_component_is_told_by_its_exports() {
    let interface = lucet_serve::ModuleInterface {
        component: Some(lucet_runtime::component::ComponentAbi::default()),
        ..Default::default()
    };
    let e = Abi::detect(&interface).unwrap_err();
    assert!(e.contains("not a wasi:http/proxy"), "{e}");
    assert_eq!(Abi::from_name("wasi-http"), Some(Abi::WasiHttp));
}
