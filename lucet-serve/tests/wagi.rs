//! The WAGI handler ABI, end to end: the real server on loopback, the
//! checked-in C and Rust handlers, a real HTTP client.

mod common;

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use hyper::{Method, StatusCode};
use lucet_serve::{RouteLimits, Server};

/// One server for every test here, with a route per handler.
fn server() -> SocketAddr {
    static SERVER: OnceLock<(Server, Scratch)> = OnceLock::new();
    let (server, _) = SERVER.get_or_init(|| {
        logs();
        let www = Scratch::new("www");
        static_files(&www.0);
        let limited = RouteLimits {
            max_request_body: 1000,
            max_headers: 10,
            max_header_bytes: 2000,
            ..RouteLimits::default()
        };
        let small_response = RouteLimits {
            max_response_body: 1000,
            ..RouteLimits::default()
        };
        let small_heap = RouteLimits {
            max_heap_size: 40 << 20,
            ..RouteLimits::default()
        };
        let fuel = RouteLimits {
            fuel: Some(1_000_000),
            ..RouteLimits::default()
        };
        let mut stat = route("/static/...", handler("static"), RouteLimits::default());
        stat.dirs.push(dir(&www.0, "/static", false));
        let mut echo = route("/echo/...", handler("echo"), RouteLimits::default());
        echo.env.push(("GREETING".into(), "hello".into()));
        // A route's environment cannot override the request's variables.
        echo.env.push(("REQUEST_METHOD".into(), "FAKE".into()));
        let routes = vec![
            echo,
            route("/echo/exact", handler("echo"), RouteLimits::default()),
            route("/rust/...", handler("rust_echo"), RouteLimits::default()),
            route("/status", handler("status"), RouteLimits::default()),
            route("/big", handler("big"), RouteLimits::default()),
            route("/big-limited", handler("big"), small_response),
            stat,
            route("/trap", handler("trap"), RouteLimits::default()),
            route("/loop", handler("loop"), quick(300)),
            route("/fuel", handler("loop"), fuel),
            route("/hog", handler("hog"), small_heap),
            route("/garbage", handler("garbage"), RouteLimits::default()),
            route("/stderr", handler("stderr"), RouteLimits::default()),
            route("/limited", handler("echo"), limited),
        ];
        let server = Server::start(config(routes)).expect("the server starts");
        (server, www)
    });
    server.addr()
}

/// `NAME=VALUE` lines of the echo handler's output.
fn var<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
}

#[tokio::test]
async fn the_request_reaches_the_handler_as_cgi() {
    let addr = server();
    let c = client();
    let r = send(
        &c,
        addr,
        Method::POST,
        "/echo/a/b%20c?x=1&y=2",
        &[
            ("content-type", "text/plain"),
            ("x-custom", "one"),
            ("x-custom", "two"),
            ("x_forwarded_for", "spoofed"),
            ("x!odd", "spoofed"),
            ("proxy", "http://evil"),
        ],
        "the body",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "text/plain");
    assert!(r.headers.contains_key("x-request-id"));
    let t = r.text();
    assert_eq!(var(&t, "REQUEST_METHOD"), Some("POST"), "{t}");
    assert_eq!(var(&t, "SCRIPT_NAME"), Some("/echo"));
    assert_eq!(var(&t, "PATH_INFO"), Some("/a/b c"));
    assert_eq!(var(&t, "QUERY_STRING"), Some("x=1&y=2"));
    assert_eq!(var(&t, "CONTENT_TYPE"), Some("text/plain"));
    assert_eq!(var(&t, "CONTENT_LENGTH"), Some("8"));
    assert_eq!(var(&t, "SERVER_NAME"), Some("127.0.0.1"));
    assert_eq!(
        var(&t, "SERVER_PORT"),
        Some(addr.port().to_string().as_str())
    );
    assert_eq!(var(&t, "SERVER_PROTOCOL"), Some("HTTP/1.1"));
    assert_eq!(var(&t, "REMOTE_ADDR"), Some("127.0.0.1"));
    assert_eq!(var(&t, "GATEWAY_INTERFACE"), Some("CGI/1.1"));
    assert_eq!(var(&t, "X_MATCHED_ROUTE"), Some("/echo/..."));
    assert_eq!(
        var(&t, "X_FULL_URL"),
        Some(format!("http://{addr}/echo/a/b%20c?x=1&y=2").as_str())
    );
    assert_eq!(var(&t, "HTTP_X_CUSTOM"), Some("one, two"));
    assert_eq!(var(&t, "HTTP_HOST"), Some(addr.to_string().as_str()));
    // Headers that could pass for others, and httpoxy, are not passed.
    assert!(!t.contains("spoofed") && !t.contains("evil"), "{t}");
    assert!(!t.contains("HTTP_CONTENT_TYPE"), "{t}");
    assert_eq!(var(&t, "argc"), Some("1"));
    assert_eq!(var(&t, "body-length"), Some("8"));
    assert!(t.ends_with("body=the body"), "{t}");
}

#[tokio::test]
async fn the_route_environment_is_there_but_cannot_override_cgi() {
    let c = client();
    let t = get(&c, server(), "/echo/").await.text();
    assert_eq!(var(&t, "REQUEST_METHOD"), Some("GET"), "{t}");
    assert_eq!(var(&t, "GREETING"), Some("hello"), "{t}");
    // The most specific route wins; this one has no environment of its own.
    let t = get(&c, server(), "/echo/exact").await.text();
    assert!(t.lines().any(|l| l == "GREETING"), "{t}");
    assert_eq!(var(&t, "X_MATCHED_ROUTE"), Some("/echo/exact"), "{t}");
    assert_eq!(var(&t, "PATH_INFO"), Some(""), "{t}");
    assert_eq!(var(&t, "SCRIPT_NAME"), Some("/echo/exact"), "{t}");
}

#[tokio::test]
async fn a_query_without_equals_is_argv() {
    let t = get(&client(), server(), "/echo/?one+two%20three")
        .await
        .text();
    assert_eq!(var(&t, "argc"), Some("3"), "{t}");
    assert_eq!(var(&t, "argv[1]"), Some("one"));
    assert_eq!(var(&t, "argv[2]"), Some("two three"));
}

#[tokio::test]
async fn a_rust_handler_works_too() {
    let r = send(
        &client(),
        server(),
        Method::PUT,
        "/rust/p/q?a+b",
        &[],
        "rust body",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["x-handler"], "rust");
    assert_eq!(
        r.text(),
        "method=PUT\npath=/p/q\nquery=a+b\nargs=a,b\nbody=rust body"
    );
}

#[tokio::test]
async fn status_and_headers_come_from_the_handler() {
    let c = client();
    let r = get(&c, server(), "/status").await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.headers["x-handler"], "status");
    assert_eq!(r.headers["content-type"], "application/json");
    let cookies: Vec<_> = r.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert_eq!(r.text(), "{\"created\":true}\n");
    let r = get(&c, server(), "/status?redirect").await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.headers["location"], "/elsewhere");
}

#[tokio::test]
async fn a_1_mib_body_each_way() {
    let c = client();
    let r = get(&c, server(), "/big").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.len(), 1 << 20);
    assert!(r
        .body
        .iter()
        .enumerate()
        .all(|(i, &b)| b == b'a' + (i % 26) as u8));
    let body: Vec<u8> = (0..1 << 20).map(|i| b'0' + (i % 10) as u8).collect();
    let r = send(&c, server(), Method::POST, "/echo/", &[], body.clone()).await;
    let t = r.text();
    assert_eq!(var(&t, "body-length"), Some("1048576"));
    assert!(r.body.ends_with(&body));
}

#[tokio::test]
async fn a_static_file_from_a_read_only_directory() {
    let c = client();
    let r = get(&c, server(), "/static/index.html").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "text/html");
    assert_eq!(r.text(), "<h1>hi</h1>\n");
    let r = get(&c, server(), "/static/data.json").await;
    assert_eq!(r.headers["content-type"], "application/json");
    let r = get(&c, server(), "/static/missing.txt").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = get(&c, server(), "/static/%2e%2e/secret").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

/// Waits for a log line about request `id` (and route `route`) that says
/// `what`; returns it.
async fn logged(id: &str, route: &str, what: &str) -> String {
    let start = Instant::now();
    loop {
        let log = log_text();
        let found = log.lines().find(|l| {
            l.contains(what)
                && l.contains(&format!("request={id}"))
                && l.contains(&format!("route={route}"))
        });
        if let Some(line) = found {
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
async fn a_trap_is_500_and_a_log_line_and_the_server_goes_on() {
    let c = client();
    let r = get(&c, server(), "/trap").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    // The partial output is not sent.
    assert!(!r.text().contains("partial"));
    let line = logged(&id(&r), "/trap", "trap: unreachable").await;
    assert!(line.contains("trap: unreachable in "), "{line}");
    assert!(line.contains("at offset 0x"), "{line}");
    assert_eq!(
        get(&c, server(), "/status").await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn an_infinite_loop_is_stopped_at_the_deadline() {
    let c = client();
    let start = Instant::now();
    let r = get(&c, server(), "/loop").await;
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    logged(&id(&r), "/loop", "the handler ran past its 300ms deadline").await;
    assert_eq!(
        get(&c, server(), "/status").await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn fuel_stops_a_loop() {
    let r = get(&client(), server(), "/fuel").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    logged(&id(&r), "/fuel", "the handler ran out of fuel").await;
}

#[tokio::test]
async fn a_memory_hog_is_bounded_by_its_heap() {
    let c = client();
    let r = get(&c, server(), "/hog").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    logged(&id(&r), "/hog", "trap: unreachable in abort").await;
    // It got to its 40 MiB, and no further.
    logged(&id(&r), "/hog", "hog: allocated 32 MiB").await;
    let log = log_text();
    assert!(!log.contains("hog: allocated 48 MiB"), "{log}");
    assert_eq!(
        get(&c, server(), "/status").await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn garbage_output_is_500_never_a_malformed_response() {
    let c = client();
    for mode in ["noheader", "crlf", "badname", "badstatus"] {
        let r = get(&c, server(), &format!("/garbage?{mode}")).await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{mode}");
        assert!(!r.headers.contains_key("set-cookie"), "{mode}");
        assert!(!r.text().contains("body"), "{mode}");
        logged(&id(&r), "/garbage", "invalid response").await;
    }
}

#[tokio::test]
async fn a_response_over_the_limit_is_500() {
    let c = client();
    let r = get(&c, server(), "/big-limited?bytes=1000").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.len(), 1000);
    let r = get(&c, server(), "/big-limited?bytes=1001").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    logged(
        &id(&r),
        "/big-limited",
        "the response is larger than the route's limit of 1000 bytes",
    )
    .await;
}

#[tokio::test]
async fn standard_error_goes_to_the_log_with_the_request_id() {
    let r = get(&client(), server(), "/stderr").await;
    assert_eq!(r.text(), "ok\n");
    logged(&id(&r), "/stderr", "line one from the handler").await;
    logged(&id(&r), "/stderr", "line two from the handler").await;
}

#[tokio::test]
async fn request_bodies_over_the_limit_are_413() {
    let c = client();
    let r = send(
        &c,
        server(),
        Method::POST,
        "/limited",
        &[],
        vec![b'x'; 1000],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    // Declared too long: refused before reading.
    let r = send(
        &c,
        server(),
        Method::POST,
        "/limited",
        &[],
        vec![b'x'; 1001],
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Chunked, so not declared: refused once past the limit.
    let streaming: hyper_util::client::legacy::Client<_, Chunks> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let body = Chunks((0..20).map(|_| Bytes::from(vec![b'y'; 100])).collect());
    let req = hyper::Request::post(format!("http://{}/limited", server()))
        .body(body)
        .unwrap();
    let resp = streaming.request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// A body of chunks of unknown total length (sent chunked).
struct Chunks(std::collections::VecDeque<Bytes>);

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.0.pop_front().map(|b| Ok(hyper::body::Frame::data(b))))
    }
}

#[tokio::test]
async fn too_many_or_too_large_headers_are_431() {
    let c = client();
    let many: Vec<(String, String)> = (0..11).map(|i| (format!("x-h{i}"), "v".into())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = send(&c, server(), Method::GET, "/limited", &many, Bytes::new()).await;
    assert_eq!(r.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let big = "v".repeat(2001);
    let r = send(
        &c,
        server(),
        Method::GET,
        "/limited",
        &[("x-big", &big)],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let r = send(
        &c,
        server(),
        Method::GET,
        "/limited",
        &[("x-ok", "v")],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn http2_is_served() {
    let r = get(&h2_client(), server(), "/echo/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(var(&r.text(), "SERVER_PROTOCOL"), Some("HTTP/2.0"));
}

#[tokio::test]
async fn unrouted_paths_are_404() {
    let r = get(&client(), server(), "/nothing-here").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_thousand_concurrent_requests_each_get_their_own_answer() {
    let addr = server();
    let c = client();
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move {
                let r = send(
                    &c,
                    addr,
                    Method::POST,
                    &format!("/echo/n{i}?i={i}"),
                    &[],
                    format!("body {i}"),
                )
                .await;
                (i, r)
            })
        })
        .collect();
    for t in tasks {
        let (i, r) = t.await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "request {i}");
        let text = r.text();
        assert_eq!(var(&text, "PATH_INFO"), Some(format!("/n{i}").as_str()));
        assert_eq!(var(&text, "QUERY_STRING"), Some(format!("i={i}").as_str()));
        assert!(
            text.ends_with(&format!("body=body {i}")),
            "request {i}: {text}"
        );
    }
}
