//! Compute apps served: the test apps of `lucet-serve/tests/fastly` (a Rust
//! app made with the `fastly` crate, a JavaScript one made with
//! `@fastly/js-compute`) under `lucet-serve`, under Viceroy (Fastly's local
//! server, on Wasmtime; a binary the user installs, see the README) and, as
//! the limit, a plain hyper server that answers and proxies the same way
//! without WebAssembly. An origin in this process answers the proxied
//! requests after a delay the path names (`/ms/N`).
//!
//! Each server runs in a process of its own (the lucet-serve and plain ones
//! are this program again, with a hidden subcommand), so that its resident
//! memory can be read apart, and so that 8,000 connections in flight (a
//! client's and a backend's socket on each side) fit every process's
//! descriptor limit.

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

/// The directory of the Compute test apps.
pub fn apps_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../lucet-serve/tests/fastly")
}

/// Raises this process's open-file limit to its hard limit.
pub fn raise_nofile_limit() {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 {
            l.rlim_cur = l.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
}

/// A tokio runtime serving hyper on 127.0.0.1; dropping it stops it.
pub struct Served {
    runtime: Option<tokio::runtime::Runtime>,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(r) = self.runtime.take() {
            r.shutdown_background();
        }
    }
}

type BoxBody = http_body_util::combinators::BoxBody<Bytes, hyper::Error>;

fn full(bytes: impl Into<Bytes>) -> BoxBody {
    Full::new(bytes.into()).map_err(|e| match e {}).boxed()
}

/// Serves `handle` on 127.0.0.1 (`port`, 0 for any) with `threads` threads.
fn serve<F, Fut>(port: u16, threads: usize, handle: F) -> std::io::Result<Served>
where
    F: Fn(Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<BoxBody>> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))?;
    let addr = listener.local_addr()?;
    runtime.spawn(async move {
        let builder = auto::Builder::new(TokioExecutor::new());
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Out of descriptors, most likely: let some close.
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let handle = handle.clone();
            let service = service_fn(move |req| {
                let f = handle(req);
                async move { Ok::<_, Infallible>(f.await) }
            });
            tokio::spawn(
                builder
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned(),
            );
        }
    });
    Ok(Served {
        runtime: Some(runtime),
        addr,
    })
}

/// What the origin answers: `ORIGIN_BODY`, after N ms for `/ms/N`.
pub const ORIGIN_BODY: &[u8] = b"origin says hi\n";

/// The origin: answers `/ms/N` after N milliseconds, anything else at once;
/// every answer `Cache-Control: no-store` (an API's), so that a server
/// with an HTTP cache proxies every request as the others do.
pub fn start_origin() -> std::io::Result<Served> {
    serve(0, 1, |req: Request<hyper::body::Incoming>| {
        let delay = req
            .uri()
            .path()
            .strip_prefix("/ms/")
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        async move {
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            let mut r = Response::new(full(ORIGIN_BODY));
            r.headers_mut().insert(
                hyper::header::CACHE_CONTROL,
                hyper::header::HeaderValue::from_static("no-store"),
            );
            r
        }
    })
}

/// The `fastly.toml` every server is given: the backend `origin`.
pub fn write_fastly_toml(dir: &Path, origin: SocketAddr) -> std::io::Result<PathBuf> {
    let path = dir.join("fastly.toml");
    std::fs::write(
        &path,
        format!(
            "manifest_version = 3\nname = \"bench\"\nlanguage = \"rust\"\n\n\
             [local_server.backends.origin]\nurl = \"http://{origin}/\"\n"
        ),
    )?;
    Ok(path)
}

/// The Rust app's `/hello` answer.
pub const RUST_HELLO: &[u8] = b"hello from rust\n";
/// The JavaScript app's `/hello` answer.
pub const JS_HELLO: &[u8] = b"hello from js\n";

/// The plain server: the Rust app's `/hello`, `/stream?chunks=N` (N KiB)
/// and `/proxy/REST` (GET `/REST` from the origin, its body answered)
/// without WebAssembly. Runs until its standard input closes.
pub fn run_plain_child(origin: SocketAddr, threads: usize) -> Result<()> {
    raise_nofile_limit();
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(usize::MAX)
        .build_http::<Empty<Bytes>>();
    let served = serve(0, threads, move |req: Request<hyper::body::Incoming>| {
        let client = client.clone();
        async move {
            let path = req.uri().path().to_string();
            if path == "/hello" {
                return Response::new(full(RUST_HELLO));
            }
            if path == "/stream" {
                let chunks = req
                    .uri()
                    .query()
                    .and_then(|q| q.strip_prefix("chunks="))
                    .and_then(|n| n.parse::<usize>().ok())
                    .unwrap_or(4);
                let body: Vec<u8> = (0..chunks)
                    .flat_map(|i| std::iter::repeat(b'a' + (i % 26) as u8).take(1024))
                    .collect();
                return Response::new(full(body));
            }
            if let Some(rest) = path.strip_prefix("/proxy") {
                let uri = format!("http://{origin}{rest}");
                let answer = async {
                    let resp = client
                        .get(uri.parse().map_err(|_| ())?)
                        .await
                        .map_err(|_| ())?;
                    let (parts, body) = resp.into_parts();
                    let body = body.collect().await.map_err(|_| ())?.to_bytes();
                    Ok::<_, ()>(Response::from_parts(parts, full(body)))
                };
                return match answer.await {
                    Ok(r) => r,
                    Err(()) => {
                        let mut r = Response::new(full("send failed\n"));
                        *r.status_mut() = hyper::StatusCode::BAD_GATEWAY;
                        r
                    }
                };
            }
            let mut r = Response::new(full(""));
            *r.status_mut() = hyper::StatusCode::NOT_FOUND;
            r
        }
    })?;
    announce_and_wait(served.addr)
}

/// The origin alone, until standard input closes.
pub fn run_origin_child() -> Result<()> {
    raise_nofile_limit();
    let origin = start_origin()?;
    announce_and_wait(origin.addr)
}

/// `lucet-serve` (in this process) serving `app`, a Compute app with its
/// `fastly.toml` or (without one) a handler whose ABI its module tells,
/// until standard input closes.
pub fn run_lucet_child(app: &Path, fastly_toml: Option<&Path>, workers: usize) -> Result<()> {
    raise_nofile_limit();
    let mut c = lucet_serve::Config::single(app.to_path_buf(), Default::default());
    c.listen = "127.0.0.1:0".parse().expect("an address");
    c.access_log = lucet_serve::AccessLog::Off;
    c.server.workers = workers;
    if let Some(fastly_toml) = fastly_toml {
        for route in &mut c.routes {
            route.abi = Some("fastly".into());
            route.fastly_toml = Some(fastly_toml.to_path_buf());
        }
    }
    let server = lucet_serve::Server::start(c)?;
    announce_and_wait(server.addr())
}

fn announce_and_wait(addr: SocketAddr) -> Result<()> {
    println!("{addr}");
    std::io::stdout().flush()?;
    // Until the parent goes (or closes our input).
    let mut sink = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
    Ok(())
}

/// A server in a child process; dropping it stops it.
pub struct ChildServer {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl ChildServer {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// This program again, with `args`, announcing its address on standard
/// output.
pub fn spawn_self(args: &[&str]) -> Result<ChildServer> {
    let exe = std::env::current_exe().context("cannot find this program")?;
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start a server process")?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .context("reading the server's address")?;
    let addr = match line.trim().parse() {
        Ok(a) => a,
        Err(_) => {
            let _ = child.kill();
            bail!("the server process did not start ({args:?})");
        }
    };
    Ok(ChildServer { child, addr })
}

/// Viceroy (`bin`) serving `app` with its `fastly.toml`, once it accepts
/// connections (it compiles the app first).
pub fn spawn_viceroy(bin: &Path, app: &Path, fastly_toml: &Path) -> Result<ChildServer> {
    // A free port (Viceroy takes no port 0 and does not say which).
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let child = Command::new(bin)
        .arg("serve")
        .arg("--addr")
        .arg(addr.to_string())
        .arg("-C")
        .arg(fastly_toml)
        .arg(app)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    once_listening(child, addr, "viceroy")
}

/// `wasmtime serve` (`bin`) serving the component `app`, once it accepts
/// connections (it compiles the component first).
pub fn spawn_wasmtime_serve(bin: &Path, app: &Path) -> Result<ChildServer> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let child = Command::new(bin)
        .arg("serve")
        .arg("--addr")
        .arg(addr.to_string())
        .arg("-Scli")
        .arg(app)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    once_listening(child, addr, "wasmtime serve")
}

/// `child` as a server once it accepts connections on `addr`, within 300 s
/// (peers compile their app first).
fn once_listening(mut child: Child, addr: SocketAddr, name: &str) -> Result<ChildServer> {
    let deadline = Instant::now() + Duration::from_secs(300);
    while TcpStream::connect(addr).is_err() {
        if let Some(status) = child.try_wait()? {
            bail!("{name} exited ({status}) before listening");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("{name} did not listen within 300 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(ChildServer { child, addr })
}

/// The memory of process `pid`, in KiB: its proportional set size (PSS,
/// from `/proc/PID/smaps_rollup`), or its resident set size where that
/// cannot be read. PSS counts a page mapped N times 1/N each: RSS counts
/// it N times, which for a server mapping one image copy-on-write into
/// every slot (or sharing pages with other processes) says more memory
/// than is used.
pub fn memory_kib(pid: u32) -> Option<u64> {
    pss_kib(pid).or_else(|| rss_kib(pid))
}

fn proc_field(pid: u32, file: &str, name: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    let line = text.lines().find(|l| l.starts_with(name))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn pss_kib(pid: u32) -> Option<u64> {
    proc_field(pid, "smaps_rollup", "Pss:")
}

fn rss_kib(pid: u32) -> Option<u64> {
    proc_field(pid, "status", "VmRSS:")
}

/// How often the sampler reads PSS: it walks every page table of the
/// process under its memory map's lock, which, every 10 ms on a server
/// with 8,000 instances, halved the server's throughput.
const PSS_EVERY: Duration = Duration::from_millis(500);

/// Samples a process's memory until stopped and keeps the peak: PSS
/// every [`PSS_EVERY`] (RSS every 10 ms where PSS cannot be read).
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(memory_kib(pid).unwrap_or(0)));
        let thread = {
            let (stop, peak) = (stop.clone(), peak.clone());
            std::thread::spawn(move || {
                let pss = pss_kib(pid).is_some();
                let mut last_pss = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    let kib = if !pss {
                        rss_kib(pid)
                    } else if last_pss.elapsed() >= PSS_EVERY {
                        last_pss = Instant::now();
                        pss_kib(pid)
                    } else {
                        None
                    };
                    if let Some(kib) = kib {
                        peak.fetch_max(kib, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        };
        RssSampler {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    /// Stops, and returns the peak in KiB.
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

/// What a burst measured.
#[derive(Debug, Clone)]
pub struct BurstResult {
    /// Requests answered with 200 and the expected body.
    pub answered: u64,
    /// Requests that failed, timed out or were answered otherwise (503s
    /// among them).
    pub errors: u64,
    /// The failures by kind.
    pub failures: std::collections::BTreeMap<&'static str, u64>,
    /// From the first request sent to the last answer.
    pub elapsed: Duration,
    /// Latency percentiles, in microseconds.
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
}

/// Opens `n` connections to `addr` (all of them first), then sends one
/// `GET path` on each at once and waits for every answer (at most
/// `timeout`); an answer counts if it is a 200 whose body is `expect_len`
/// bytes.
pub fn burst(
    addr: SocketAddr,
    path: &str,
    n: usize,
    expect_len: usize,
    timeout: Duration,
    threads: usize,
) -> BurstResult {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let go = Arc::new(tokio::sync::Notify::new());
        let ready = Arc::new(tokio::sync::Semaphore::new(0));
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let (go, ready, path) = (go.clone(), ready.clone(), path.to_string());
                tokio::spawn(async move {
                    let notified = go.notified();
                    let conn = async {
                        let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
                        let _ = stream.set_nodelay(true);
                        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(
                            stream,
                        ))
                        .await
                        .ok()
                    }
                    .await;
                    ready.add_permits(1);
                    notified.await;
                    let start = Instant::now();
                    let (mut send, conn) = conn.ok_or("connect")?;
                    tokio::spawn(conn);
                    let req = Request::get(path.as_str())
                        .header("host", "bench")
                        .body(Empty::new())
                        .map_err(|_| "request")?;
                    tokio::time::timeout(timeout, async {
                        let resp = send.send_request(req).await.map_err(|_| "send")?;
                        let status = resp.status();
                        let body = resp.into_body().collect().await.map_err(|_| "body")?;
                        if status != 200 {
                            Err(match status.as_u16() {
                                500 => "500",
                                502 => "502",
                                503 => "503",
                                504 => "504",
                                _ => "other status",
                            })
                        } else if body.to_bytes().len() != expect_len {
                            Err("wrong body")
                        } else {
                            Ok((start.elapsed(), Instant::now()))
                        }
                    })
                    .await
                    .map_err(|_| "timeout")?
                })
            })
            .collect();
        // Every connection open (or failed), then all requests at once.
        let _ = ready.acquire_many(n as u32).await;
        let start = Instant::now();
        go.notify_waiters();
        let mut hist = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("histogram");
        let (mut answered, mut errors, mut last) = (0, 0, start);
        let mut failures = std::collections::BTreeMap::new();
        for t in tasks {
            match t.await.unwrap_or(Err("task")) {
                Ok((latency, at)) => {
                    answered += 1;
                    last = last.max(at);
                    let _ = hist.record(latency.as_micros().max(1) as u64);
                }
                Err(why) => {
                    errors += 1;
                    *failures.entry(why).or_insert(0u64) += 1;
                }
            }
        }
        BurstResult {
            answered,
            errors,
            failures,
            elapsed: last - start,
            p50_us: hist.value_at_quantile(0.5) as f64,
            p99_us: hist.value_at_quantile(0.99) as f64,
            p999_us: hist.value_at_quantile(0.999) as f64,
        }
    })
}
