//! Operating the server: overload, shutdown, reload, metrics, the access
//! log. Each test has its own server on loopback.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use hyper::StatusCode;
use lucet_serve::{AccessLog, RouteLimits, Server};

/// A WAT handler that sleeps `delay_ms` (in `poll_oneoff`, as a handler
/// waiting on something would) and then answers `text`.
fn slow_handler(delay_ms: u64, text: &str) -> String {
    let response = format!("Content-Type: text/plain\n\n{text}\n");
    let bytes = |v: u64, n: usize| -> String {
        v.to_le_bytes()[..n]
            .iter()
            .map(|b| format!("\\{b:02x}"))
            .collect()
    };
    format!(
        r#"(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; A clock subscription at 0: monotonic clock, relative timeout.
  (data (i32.const 16) "\01\00\00\00")
  (data (i32.const 24) "{timeout}")
  ;; The iovec at 200, the response at 256.
  (data (i32.const 200) "\00\01\00\00{len}")
  (data (i32.const 256) "{body}")
  (func (export "_start")
    (if (i32.ne (i32.const {delay_ms}) (i32.const 0))
      (then (drop (call $poll (i32.const 0) (i32.const 100) (i32.const 1) (i32.const 150)))))
    (drop (call $write (i32.const 1) (i32.const 200) (i32.const 1) (i32.const 160)))))
"#,
        timeout = bytes(delay_ms * 1_000_000, 8),
        len = bytes(response.len() as u64, 4),
        body = response.replace('\n', "\\n"),
    )
}

fn write_handler(path: &Path, delay_ms: u64, text: &str) {
    std::fs::write(path, slow_handler(delay_ms, text)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_503_at_once() {
    let dir = Scratch::new("overload");
    write_handler(&dir.path("slow.wat"), 1000, "slow");
    let mut c = config(vec![route("/...", dir.path("slow.wat"), quick(5000))]);
    c.server.workers = 1;
    c.server.queue = 1;
    let server = Server::start(c).unwrap();
    let addr = server.addr();
    let client = client();
    let request = |client: HttpClient| {
        tokio::spawn(async move {
            let start = Instant::now();
            let r = get(&client, addr, "/").await;
            (r, start.elapsed())
        })
    };
    // The first keeps the one worker busy...
    let mut tasks = vec![request(client.clone())];
    let waited = Instant::now();
    while !server.metrics_text().contains("lucet_live_instances 1\n") {
        assert!(waited.elapsed() < Duration::from_secs(20), "never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // ...the next waits in the queue, and the rest are refused.
    tasks.extend((0..5).map(|_| request(client.clone())));
    let mut ok = 0;
    let mut refused = 0;
    for t in tasks {
        let (r, took) = t.await.unwrap();
        match r.status {
            StatusCode::OK => {
                ok += 1;
                assert!(took >= Duration::from_millis(900), "{took:?}");
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                refused += 1;
                assert_eq!(r.headers["retry-after"], "1");
                assert!(took < Duration::from_millis(900), "not at once: {took:?}");
            }
            s => panic!("unexpected {s}"),
        }
    }
    assert_eq!((ok, refused), (2, 4));
    assert!(server
        .metrics_text()
        .contains(&format!("lucet_overloaded_total {refused}\n")));
    tokio::task::spawn_blocking(move || server.shutdown())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_requests_in_flight_then_refuses_new_ones() {
    let dir = Scratch::new("drain");
    write_handler(&dir.path("slow.wat"), 500, "finished");
    let mut c = config(vec![route("/...", dir.path("slow.wat"), quick(5000))]);
    c.server.workers = 4;
    let server = Server::start(c).unwrap();
    let addr = server.addr();
    let client = client();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { get(&client, addr, "/").await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let start = Instant::now();
    let stopping = tokio::task::spawn_blocking(move || server.shutdown());
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.text(), "finished\n");
    }
    stopping.await.unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_load_fails_no_request() {
    let dir = Scratch::new("reload");
    let module = dir.path("handler.wat");
    write_handler(&module, 0, "version one");
    let config_path = dir.path("lucet-serve.toml");
    std::fs::write(
        &config_path,
        "listen = \"127.0.0.1:0\"\naccess-log = \"off\"\nworkers = 2\n[[route]]\npath = \"/...\"\nmodule = \"handler.wat\"\n",
    )
    .unwrap();
    let server =
        Arc::new(Server::start(lucet_serve::Config::from_file(&config_path).unwrap()).unwrap());
    let addr = server.addr();
    let stop = Arc::new(AtomicBool::new(false));
    let client = client();
    let loaders: Vec<_> = (0..8)
        .map(|_| {
            let (client, stop) = (client.clone(), stop.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let r = get(&client, addr, "/").await;
                    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
                    seen.push(r.text());
                }
                seen
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    write_handler(&module, 0, "version two, longer");
    let s = server.clone();
    let warnings = tokio::task::spawn_blocking(move || s.reload())
        .await
        .unwrap()
        .expect("the reload succeeds");
    assert!(warnings.is_empty(), "{warnings:?}");
    // Every request from now on sees the new module.
    let r = get(&client, addr, "/").await;
    assert_eq!(r.text(), "version two, longer\n");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut one = 0;
    let mut two = 0;
    for l in loaders {
        let seen = l.await.unwrap();
        for t in &seen {
            match t.as_str() {
                "version one\n" => one += 1,
                "version two, longer\n" => two += 1,
                other => panic!("unexpected body {other:?}"),
            }
        }
        assert_eq!(
            seen.last().map(String::as_str),
            Some("version two, longer\n")
        );
    }
    assert!(one > 0 && two > 0, "{one} old, {two} new");

    // A module that no longer loads keeps the one loaded before.
    std::fs::write(&module, "(module (func $broken").unwrap();
    let s = server.clone();
    let warnings = tokio::task::spawn_blocking(move || s.reload())
        .await
        .unwrap()
        .expect("the reload keeps the old module");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].starts_with("route /...: "), "{}", warnings[0]);
    assert!(
        warnings[0].ends_with("keeping the module loaded before"),
        "{}",
        warnings[0]
    );
    assert_eq!(
        get(&client, addr, "/").await.text(),
        "version two, longer\n"
    );

    // A configuration that does not parse changes nothing.
    std::fs::write(&config_path, "[[route]]\npath = \"/...\"\nmodule = \n").unwrap();
    let s = server.clone();
    let e = tokio::task::spawn_blocking(move || s.reload())
        .await
        .unwrap()
        .unwrap_err();
    assert!(e.to_string().contains("lucet-serve.toml: line 3"), "{e}");
    assert_eq!(
        get(&client, addr, "/").await.text(),
        "version two, longer\n"
    );
    let metrics = server.metrics_text();
    assert!(metrics.contains("lucet_reloads_total 2\n"), "{metrics}");
    assert!(
        metrics.contains("lucet_failed_reloads_total 1\n"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_health_on_the_admin_listener() {
    let dir = Scratch::new("metrics");
    write_handler(&dir.path("hello.wat"), 0, "hello");
    let mut c = config(vec![
        route("/hello", dir.path("hello.wat"), RouteLimits::default()),
        route("/trap", handler("trap"), RouteLimits::default()),
        route("/loop", handler("loop"), quick(100)),
    ]);
    c.admin = Some("127.0.0.1:0".parse().unwrap());
    let server = Server::start(c).unwrap();
    let (addr, admin) = (server.addr(), server.admin_addr().unwrap());
    let client = client();
    for _ in 0..7 {
        assert_eq!(get(&client, addr, "/hello").await.status, StatusCode::OK);
    }
    for _ in 0..3 {
        assert_eq!(
            get(&client, addr, "/nowhere").await.status,
            StatusCode::NOT_FOUND
        );
    }
    for _ in 0..2 {
        assert_eq!(
            get(&client, addr, "/trap").await.status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
    assert_eq!(
        get(&client, addr, "/loop").await.status,
        StatusCode::GATEWAY_TIMEOUT
    );
    let r = get(&client, admin, "/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let m = r.text();
    for want in [
        "lucet_requests_total{route=\"/hello\",status=\"200\"} 7\n",
        "lucet_requests_total{route=\"\",status=\"404\"} 3\n",
        "lucet_requests_total{route=\"/trap\",status=\"500\"} 2\n",
        "lucet_requests_total{route=\"/loop\",status=\"504\"} 1\n",
        "lucet_request_duration_seconds_count 13\n",
        "lucet_request_duration_seconds_bucket{le=\"+Inf\"} 13\n",
        "lucet_traps_total{code=\"Unreachable\"} 2\n",
        "lucet_timeouts_total 1\n",
        "lucet_overloaded_total 0\n",
        "lucet_queue_depth 0\n",
        "lucet_live_instances 0\n",
        "lucet_free_slots 10000\n",
    ] {
        assert!(m.contains(want), "missing {want:?} in\n{m}");
    }
    let r = get(&client, admin, "/healthz").await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "ok\n"));
    assert_eq!(
        get(&client, admin, "/other").await.status,
        StatusCode::NOT_FOUND
    );
    tokio::task::spawn_blocking(move || server.shutdown())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_has_a_json_line_per_request() {
    let dir = Scratch::new("access");
    write_handler(&dir.path("hello.wat"), 0, "hello");
    let mut c = config(vec![route(
        "/hello",
        dir.path("hello.wat"),
        RouteLimits::default(),
    )]);
    let log = dir.path("access.log");
    c.access_log = AccessLog::File(log.clone());
    let server = Server::start(c).unwrap();
    let client = client();
    let r = get(&client, server.addr(), "/hello").await;
    let id = r.headers["x-request-id"].to_str().unwrap().to_string();
    get(&client, server.addr(), "/nowhere?q=1").await;
    tokio::task::spawn_blocking(move || server.shutdown())
        .await
        .unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    let first = &lines[0];
    assert_eq!(first["id"], id.as_str());
    assert_eq!(first["method"], "GET");
    assert_eq!(first["path"], "/hello");
    assert_eq!(first["route"], "/hello");
    assert_eq!(first["status"], 200);
    assert_eq!(first["bytes"], 6);
    assert_eq!(first["outcome"], "ok");
    assert!(first["duration_us"].as_u64().is_some());
    assert!(first["time"].as_f64().unwrap() > 1.7e9);
    assert_eq!(lines[1]["status"], 404);
    assert_eq!(lines[1]["route"], serde_json::Value::Null);
    assert_eq!(lines[1]["outcome"], "no_route");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_access_log_holds_no_request_and_health_says_so() {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = Scratch::new("stalled-log");
    write_handler(&dir.path("hello.wat"), 0, "hello");
    let fifo = dir.path("access.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // A reader that never reads: once the pipe's buffer is full, every
    // write to it blocks.
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let mut c = config(vec![route(
        "/hello",
        dir.path("hello.wat"),
        RouteLimits::default(),
    )]);
    c.access_log = AccessLog::File(fifo.clone());
    c.admin = Some("127.0.0.1:0".parse().unwrap());
    let server = Server::start(c).unwrap();
    let (addr, admin) = (server.addr(), server.admin_addr().unwrap());
    let client = client();
    // About 2,000 lines fill the pipe several times over: every request
    // is still answered.
    let all = async {
        for _ in 0..2_000 {
            assert_eq!(get(&client, addr, "/hello").await.status, StatusCode::OK);
        }
    };
    tokio::time::timeout(Duration::from_secs(120), all)
        .await
        .expect("requests are answered while the log is stalled");
    let start = Instant::now();
    loop {
        let r = get(&client, admin, "/healthz").await;
        if r.status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(r.text(), "stalled: the access log's writer is blocked\n");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "health says so");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::task::spawn_blocking(move || server.shutdown())
        .await
        .unwrap();
    drop(reader);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_says_when_no_worker_takes_queued_requests() {
    // Two workers, each held by a handler that loops for 8 s; a third
    // request waits in the queue.
    let mut c = config(vec![route("/loop", handler("loop"), quick(8_000))]);
    c.admin = Some("127.0.0.1:0".parse().unwrap());
    let server = Server::start(c).unwrap();
    let (addr, admin) = (server.addr(), server.admin_addr().unwrap());
    let client = client();
    let held: Vec<_> = (0..3)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { get(&c, addr, "/loop").await.status })
        })
        .collect();
    let start = Instant::now();
    loop {
        let r = get(&client, admin, "/healthz").await;
        if r.status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(
                r.text(),
                "stalled: requests are queued and no worker has taken one for a while\n"
            );
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(7), "health says so");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for h in held {
        assert_eq!(h.await.unwrap(), StatusCode::GATEWAY_TIMEOUT);
    }
    // The queue is empty again: healthy.
    assert_eq!(get(&client, admin, "/healthz").await.status, StatusCode::OK);
    tokio::task::spawn_blocking(move || server.shutdown())
        .await
        .unwrap();
}

/// A hello server with these server-wide connection settings.
fn connection_server(
    dir: &Scratch,
    first_bytes: Duration,
    idle: Duration,
    max_connections: usize,
) -> Server {
    write_handler(&dir.path("hello.wat"), 0, "hello");
    let mut c = config(vec![route(
        "/hello",
        dir.path("hello.wat"),
        RouteLimits::default(),
    )]);
    c.server.header_read_timeout = first_bytes;
    c.server.idle_timeout = idle;
    c.server.max_connections = max_connections;
    Server::start(c).unwrap()
}

/// Reads until the peer closes (`Ok(bytes)`), or `Err` after `within`.
fn read_until_closed(s: &mut std::net::TcpStream, within: Duration) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = within.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(format!("still open; read {got:?}"));
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return Ok(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(got),
            Err(e) => return Err(format!("{e}; read {got:?}")),
        }
    }
}

#[test]
fn connections_that_send_nothing_or_only_say_hello_are_closed() {
    use std::io::Write;
    let dir = Scratch::new("conn-idle");
    let server = connection_server(
        &dir,
        Duration::from_millis(300),
        Duration::from_millis(600),
        100,
    );
    let addr = server.addr();
    // Nothing at all: closed after the first-bytes timeout.
    let mut silent = std::net::TcpStream::connect(addr).unwrap();
    let t = Instant::now();
    read_until_closed(&mut silent, Duration::from_secs(5)).unwrap();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // The HTTP/2 preface and settings, then nothing: closed when idle.
    let mut h2 = std::net::TcpStream::connect(addr).unwrap();
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    h2.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap();
    let t = Instant::now();
    read_until_closed(&mut h2, Duration::from_secs(5)).unwrap();
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // HTTP/1.1 kept alive after a request: closed when idle.
    let mut h1 = std::net::TcpStream::connect(addr).unwrap();
    h1.write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let got = read_until_closed(&mut h1, Duration::from_secs(5)).unwrap();
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
}

#[test]
fn past_the_connection_limit_new_connections_wait_for_a_free_one() {
    use std::io::{Read, Write};
    logs();
    let dir = Scratch::new("conn-limit");
    let server = connection_server(&dir, Duration::from_secs(30), Duration::from_secs(30), 2);
    let addr = server.addr();
    let request = b"GET /hello HTTP/1.1\r\nhost: x\r\n\r\n";
    let answered = |s: &mut std::net::TcpStream, within: Duration| {
        s.set_read_timeout(Some(within)).unwrap();
        let mut buf = [0u8; 64];
        matches!(s.read(&mut buf), Ok(n) if n > 0)
    };
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(request).unwrap();
        assert!(answered(&mut s, Duration::from_secs(5)));
        held.push(s);
    }
    // A third: connected (the backlog), but not served while two are open.
    let mut third = std::net::TcpStream::connect(addr).unwrap();
    third.write_all(request).unwrap();
    assert!(!answered(&mut third, Duration::from_millis(500)), "not yet");
    drop(held.pop());
    assert!(
        answered(&mut third, Duration::from_secs(5)),
        "served once one closed"
    );
    assert!(
        log_text().contains("connection limit reached"),
        "{}",
        log_text()
    );
}

#[test]
fn request_bodies_held_are_bounded_server_wide() {
    use std::io::{Read, Write};
    let dir = Scratch::new("body-budget");
    write_handler(&dir.path("hello.wat"), 0, "hello");
    let mut c = config(vec![route(
        "/hello",
        dir.path("hello.wat"),
        RouteLimits::default(),
    )]);
    c.server.max_buffered_body = 1 << 20;
    let server = Server::start(c).unwrap();
    let addr = server.addr();
    let head = b"POST /hello HTTP/1.1\r\nhost: x\r\ncontent-length: 700000\r\n\r\n";
    let answer = |s: &mut std::net::TcpStream| {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).to_string()
    };
    // The first body (700,000 bytes declared, 1,000 sent) holds its share.
    let mut first = std::net::TcpStream::connect(addr).unwrap();
    first.write_all(head).unwrap();
    first.write_all(&[b'x'; 1000]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // A second would take the server past 1 MiB: refused at once.
    let mut second = std::net::TcpStream::connect(addr).unwrap();
    second.write_all(head).unwrap();
    let t = Instant::now();
    let a = answer(&mut second);
    assert!(a.starts_with("HTTP/1.1 503"), "{a}");
    assert!(t.elapsed() < Duration::from_secs(2));
    // Once the first client goes, its share comes back.
    drop(first);
    let start = Instant::now();
    let mut served = false;
    while start.elapsed() < Duration::from_secs(5) {
        let mut third = std::net::TcpStream::connect(addr).unwrap();
        // While the share is not back yet, the server refuses the body
        // and closes: the write fails, and the loop tries again.
        let sent = third
            .write_all(head)
            .and_then(|()| third.write_all(&vec![b'x'; 700_000]));
        if sent.is_ok() && answer(&mut third).starts_with("HTTP/1.1 200") {
            served = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(served, "the budget came back");
    // The third's share is given back when its run ends.
    let start = Instant::now();
    while !server
        .metrics_text()
        .contains("lucet_buffered_body_bytes 0\n")
    {
        assert!(start.elapsed() < Duration::from_secs(5), "all given back");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn responses_held_for_clients_are_bounded_and_unread_ones_time_out() {
    use std::io::{Read, Write};
    let mut c = config(vec![route("/big", handler("big"), RouteLimits::default())]);
    c.server.max_buffered_response = 20 << 20;
    c.server.send_timeout = Duration::from_secs(1);
    let server = Server::start(c).unwrap();
    let addr = server.addr();
    let ask = |s: &mut std::net::TcpStream| {
        s.write_all(b"GET /big?bytes=16000000 HTTP/1.1\r\nhost: x\r\n\r\n")
            .unwrap();
    };
    // A client that asks for 16 MB and reads nothing: most of it stays
    // held for it.
    let mut unread = std::net::TcpStream::connect(addr).unwrap();
    ask(&mut unread);
    let start = Instant::now();
    while server
        .metrics_text()
        .contains("lucet_buffered_response_bytes 0\n")
    {
        assert!(start.elapsed() < Duration::from_secs(10), "held for it");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Another 16 MB would take the server past 20 MiB: 503.
    let mut second = std::net::TcpStream::connect(addr).unwrap();
    ask(&mut second);
    second
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 32];
    let n = second.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 503"), "{:?}", &buf[..n]);
    // The unread response's connection is closed after the send timeout,
    // and what it held is given back.
    let start = Instant::now();
    while !server
        .metrics_text()
        .contains("lucet_buffered_response_bytes 0\n")
    {
        assert!(start.elapsed() < Duration::from_secs(10), "given back");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut third = std::net::TcpStream::connect(addr).unwrap();
    ask(&mut third);
    let got = read_until_closed_or(&mut third, 16_000_000);
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        &got[..got.len().min(32)]
    );
    drop(unread);
}

/// Reads until `want` bytes of body came (after the head) or the peer
/// closed.
fn read_until_closed_or(s: &mut std::net::TcpStream, want: usize) -> Vec<u8> {
    use std::io::Read;
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let head_end = got.windows(4).position(|w| w == b"\r\n\r\n");
        if head_end.is_some_and(|h| got.len() - h - 4 >= want) {
            return got;
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[test]
fn a_module_that_does_not_load_stops_the_start() {
    let dir = Scratch::new("badmodule");
    std::fs::write(
        dir.path("bad.wat"),
        "(module (func (export \"_start\") (i32.add)))",
    )
    .unwrap();
    std::fs::write(dir.path("lib.wat"), "(module (func (export \"f\")))").unwrap();
    for (file, want) in [
        ("missing.wasm", "route /...: cannot read "),
        ("bad.wat", "route /...: "),
        (
            "lib.wat",
            "lib.wat: its imports and exports match no handler ABI",
        ),
    ] {
        let e = match Server::start(config(vec![route(
            "/...",
            dir.path(file),
            RouteLimits::default(),
        )])) {
            Ok(_) => panic!("{file} started"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains(want), "{file}: {e}");
        assert!(!e.contains('\n'), "{e}");
    }
}

/// Reads what the server sends until it closes the connection (or 10 s).
fn read_to_close(s: &mut std::net::TcpStream) -> String {
    use std::io::Read;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn slow_clients_are_cut_off_without_holding_a_worker() {
    use std::io::Write;
    let dir = Scratch::new("slow-clients");
    write_handler(&dir.path("hello.wat"), 0, "hello");
    let limits = RouteLimits {
        body_read_timeout: Duration::from_millis(200),
        ..RouteLimits::default()
    };
    let mut c = config(vec![route("/...", dir.path("hello.wat"), limits)]);
    c.server.workers = 1;
    c.server.header_read_timeout = Duration::from_millis(300);
    let server = Server::start(c).unwrap();
    let addr = server.addr();

    // Headers that never finish: the connection is closed.
    let start = Instant::now();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    read_to_close(&mut s);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(5),
        "{took:?}"
    );

    // A body that never arrives: 408, and the one worker was never taken.
    let mut slow = std::net::TcpStream::connect(addr).unwrap();
    slow.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten..")
        .unwrap();
    let mut quick = std::net::TcpStream::connect(addr).unwrap();
    quick
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let answer = read_to_close(&mut quick);
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.ends_with("hello\n"), "{answer}");
    let answer = read_to_close(&mut slow);
    assert!(
        answer.starts_with("HTTP/1.1 408 Request Timeout"),
        "{answer}"
    );
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directories_are_read_only_unless_the_route_says_so() {
    // A handler that tries to create /data/new.txt and answers the errno.
    let handler = r#"(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "new.txt")
  (data (i32.const 200) "Content-Type: text/plain\n\nerrno=")
  (func (export "_start") (local $e i32)
    ;; fd 3 is the preopened /data; O_CREAT, rights FD_WRITE.
    (local.set $e (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 7)
      (i32.const 1) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 300)))
    ;; The errno as two digits after "errno=".
    (i32.store8 (i32.const 232) (i32.add (i32.const 48) (i32.div_u (local.get $e) (i32.const 10))))
    (i32.store8 (i32.const 233) (i32.add (i32.const 48) (i32.rem_u (local.get $e) (i32.const 10))))
    (i32.store (i32.const 0) (i32.const 200))
    (i32.store (i32.const 4) (i32.const 34))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#;
    let dir = Scratch::new("readonly");
    std::fs::write(dir.path("h.wat"), handler).unwrap();
    std::fs::create_dir_all(dir.path("ro")).unwrap();
    std::fs::create_dir_all(dir.path("rw")).unwrap();
    let mut ro = route("/ro", dir.path("h.wat"), RouteLimits::default());
    ro.dirs.push(common::dir(&dir.path("ro"), "/data", false));
    let mut rw = route("/rw", dir.path("h.wat"), RouteLimits::default());
    rw.dirs.push(common::dir(&dir.path("rw"), "/data", true));
    let server = Server::start(config(vec![ro, rw])).unwrap();
    let client = client();
    // ENOTCAPABLE (76), and nothing created.
    assert_eq!(get(&client, server.addr(), "/ro").await.text(), "errno=76");
    assert!(!dir.path("ro/new.txt").exists());
    assert_eq!(get(&client, server.addr(), "/rw").await.text(), "errno=00");
    assert!(dir.path("rw/new.txt").exists());
    tokio::task::spawn_blocking(move || server.shutdown())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_with_a_key_serves_only_modules_signed_by_it() {
    let dir = Scratch::new("verify");
    let minisign::KeyPair { pk, sk } = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let other = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let key = dir.path("release.pub");
    std::fs::write(&key, pk.to_box().unwrap().to_string()).unwrap();
    let compiled = lucet_compiler::Compiler::new(Default::default())
        .unwrap()
        .compile(&std::fs::read(handler("status")).unwrap())
        .unwrap();
    let sign_with = |sk: &minisign::SecretKey| {
        compiled
            .to_signed_elf(&|hash| {
                minisign::sign(None, sk, std::io::Cursor::new(hash.0), None, None)
                    .map(|b| b.into_string())
                    .map_err(|e| e.to_string())
            })
            .unwrap()
    };
    std::fs::write(dir.path("signed.lucet"), sign_with(&sk)).unwrap();
    std::fs::write(dir.path("other.lucet"), sign_with(&other.sk)).unwrap();
    std::fs::write(dir.path("unsigned.lucet"), compiled.to_elf().unwrap()).unwrap();

    let verified = |module: std::path::PathBuf| {
        let mut r = route("/...", module, RouteLimits::default());
        r.verify = Some(key.clone());
        config(vec![r])
    };
    for (module, want) in [
        (dir.path("unsigned.lucet"), "module file is not signed"),
        (dir.path("other.lucet"), "it was signed by another key"),
        (handler("status"), "a signed one is required"),
    ] {
        let e = match Server::start(verified(module.clone())) {
            Ok(_) => panic!("{} started", module.display()),
            Err(e) => e.to_string(),
        };
        assert!(e.contains(want), "{}: {e}", module.display());
        assert!(!e.contains('\n'), "{e}");
    }

    let server = Arc::new(Server::start(verified(dir.path("signed.lucet"))).unwrap());
    let r = get(&client(), server.addr(), "/?code=201").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let reload = |server: &Arc<Server>| {
        let s = server.clone();
        tokio::task::spawn_blocking(move || s.reload())
    };

    // The file rewritten in place with bytes of the same length and its
    // modification time set back: the reload still sees the change, and
    // the new bytes, signed by another key, are refused (the module
    // verified before is kept).
    let signed = dir.path("signed.lucet");
    let original = std::fs::read(&signed).unwrap();
    let by_other = std::fs::read(dir.path("other.lucet")).unwrap();
    assert_eq!(original.len(), by_other.len());
    let modified = std::fs::metadata(&signed).unwrap().modified().unwrap();
    let rewrite = |bytes: &[u8]| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&signed)
            .unwrap();
        f.write_all(bytes).unwrap();
        f.set_modified(modified).unwrap();
    };
    rewrite(&by_other);
    let warnings = reload(&server)
        .await
        .unwrap()
        .expect("the old module is kept");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("signed by another key")
            && warnings[0].ends_with("keeping the module loaded before"),
        "{}",
        warnings[0]
    );
    let r = get(&client(), server.addr(), "/?code=201").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());

    // A new key: the module is verified again, and one the new key did
    // not sign is not kept under it.
    rewrite(&original);
    std::fs::write(&key, other.pk.to_box().unwrap().to_string()).unwrap();
    let e = reload(&server).await.unwrap().unwrap_err();
    assert!(e.to_string().contains("signed by another key"), "{e}");
    std::fs::write(dir.path("signed.lucet"), sign_with(&other.sk)).unwrap();
    let warnings = reload(&server)
        .await
        .unwrap()
        .expect("signed by the new key");
    assert!(warnings.is_empty(), "{warnings:?}");
    let r = get(&client(), server.addr(), "/?code=201").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let server = Arc::try_unwrap(server).ok().expect("one handle left");
    tokio::task::spawn_blocking(move || server.shutdown())
        .await
        .unwrap();
}
