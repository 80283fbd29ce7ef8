//! 8,000 requests in flight at once through a proxying Compute app to an
//! origin that answers after a second: every instance waits on its backend
//! at the same time, suspended, on two workers. The server runs as its own
//! process (it holds 16,000 sockets: one to each client and one to the
//! origin for each); this process is the clients and the origin.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const IN_FLIGHT: usize = 8_000;
const ORIGIN_DELAY: Duration = Duration::from_secs(1);

/// An origin that answers every request after [`ORIGIN_DELAY`] with its
/// path.
async fn origin() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    tokio::time::sleep(ORIGIN_DELAY).await;
                    let body = format!("origin saw {}", req.uri().path());
                    Ok::<_, hyper::Error>(hyper::Response::new(Full::new(Bytes::from(body))))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// The server process, and the address it serves on.
struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(manifest: &Path) -> (ServerProcess, SocketAddr) {
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fastly/rust_app.wasm");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lucet-serve"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--access-log",
            "off",
            "--workers",
            "2",
        ])
        .args([
            "--queue",
            "10000",
            "--max-instances",
            "10000",
            "--timeout",
            "30s",
        ])
        .arg("-C")
        .arg(manifest)
        .arg(&app)
        .env("LUCET_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lucet-serve starts");
    // It says where it serves on standard error.
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut sent = false;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if !sent {
                if let Some(at) = line.find("addr=") {
                    let addr = line[at + 5..].split_whitespace().next().unwrap_or("");
                    if let Ok(addr) = addr.parse::<SocketAddr>() {
                        let _ = tx.send(addr);
                        sent = true;
                    }
                }
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("lucet-serve says where it serves");
    (ServerProcess(child), addr)
}

/// One request on its own connection: the response, read to its end.
async fn request(addr: SocketAddr, i: usize) -> Result<String, String> {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let req = format!("GET /proxy/item/{i} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n");
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .await
        .map_err(|e| format!("read: {e}"))?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_thousand_requests_wait_on_a_slow_origin_at_once() {
    // This process holds a socket per client and per origin connection.
    rlimit::increase_nofile_limit(u64::MAX).expect("the descriptor limit");
    let origin = origin().await;
    let dir = std::env::temp_dir().join(format!("lucet-serve-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = dir.join("fastly.toml");
    std::fs::write(
        &manifest,
        format!("[local_server.backends.origin]\nurl = \"http://{origin}/\"\n"),
    )
    .unwrap();
    let (_server, addr) = start_server(&manifest);
    let started = Instant::now();
    let tasks: Vec<_> = (0..IN_FLIGHT)
        .map(|i| tokio::spawn(async move { (i, request(addr, i).await) }))
        .collect();
    let mut failures = Vec::new();
    for t in tasks {
        let (i, reply) = tokio::time::timeout(Duration::from_secs(120), t)
            .await
            .expect("answered within 2 minutes")
            .unwrap();
        match reply {
            Ok(text)
                if text.starts_with("HTTP/1.1 200")
                    && text.ends_with(&format!("origin saw /item/{i}")) => {}
            Ok(text) => failures.push(format!("{i}: {}", text.lines().next().unwrap_or(""))),
            Err(e) => failures.push(format!("{i}: {e}")),
        }
    }
    let took = started.elapsed();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        failures.is_empty(),
        "{} of {IN_FLIGHT} failed (first: {:?}) in {took:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    // One after another, two workers would have taken 4,000 s.
    eprintln!("{IN_FLIGHT} requests through a 1 s origin in {took:?}");
}
