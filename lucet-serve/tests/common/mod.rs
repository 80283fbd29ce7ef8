//! What the server tests share: handler paths, a scratch directory, a
//! server on loopback, and a real HTTP client.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use lucet_serve::{AccessLog, Config, DirConfig, RouteConfig, RouteLimits, RoutePath};

/// A checked-in handler.
pub fn handler(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/handlers")
        .join(format!("{name}.wasm"))
}

/// A directory removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "lucet-serve-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A route on `path` (`/x` or `/x/...`).
pub fn route(path: &str, module: PathBuf, limits: RouteLimits) -> RouteConfig {
    RouteConfig {
        fastly_toml: None,
        dynamic_backends: Vec::new(),
        log_files: Vec::new(),
        path: RoutePath::parse(path).unwrap(),
        module,
        verify: None,
        abi: None,
        limits,
        env: Vec::new(),
        dirs: Vec::new(),
    }
}

/// A configuration on 127.0.0.1, port 0, with these routes.
pub fn config(routes: Vec<RouteConfig>) -> Config {
    let mut c = Config::single(PathBuf::new(), RouteLimits::default());
    c.listen = "127.0.0.1:0".parse().unwrap();
    c.routes = routes;
    c.access_log = AccessLog::Off;
    c.server.workers = 2;
    c.server.queue = 2048;
    c
}

/// Log lines the server wrote (through `tracing`), for every test of this
/// binary.
pub fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || LogWriter(writer.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buf
    })
}

/// The log so far, as text.
pub fn log_text() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap()).into_owned()
}

pub struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The files the shared server's `/static` route serves.
pub fn static_files(dir: &Path) {
    std::fs::write(dir.join("index.html"), "<h1>hi</h1>\n").unwrap();
    std::fs::write(dir.join("data.json"), "{\"a\":1}\n").unwrap();
}

/// A response, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub fn h2_client() -> HttpClient {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

/// Sends a request and reads the whole response, within 30 seconds.
pub async fn send(
    client: &HttpClient,
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Reply {
    let mut b = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b.body(Full::new(body.into())).unwrap();
    let fut = async {
        let resp = client.request(req).await.expect("the request is answered");
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.expect("the body is read").to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    };
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .expect("an answer within 30 s")
}

pub async fn get(client: &HttpClient, addr: SocketAddr, path: &str) -> Reply {
    send(client, addr, Method::GET, path, &[], Bytes::new()).await
}

/// A directory route entry.
pub fn dir(host: &Path, guest: &str, writable: bool) -> DirConfig {
    DirConfig {
        host: host.to_path_buf(),
        guest: guest.into(),
        writable,
    }
}

/// The limits with a short deadline.
pub fn quick(timeout_ms: u64) -> RouteLimits {
    RouteLimits {
        timeout: Duration::from_millis(timeout_ms),
        ..RouteLimits::default()
    }
}

/// What an origin of the tests answers one request with.
pub type Answer =
    std::pin::Pin<Box<dyn std::future::Future<Output = hyper::Response<Full<Bytes>>> + Send>>;

/// An origin server on loopback (HTTP/1.1 and HTTP/2), on a thread and
/// runtime of its own, that answers each request, its body read whole,
/// with what `answer` makes of it.
pub fn origin_server(answer: fn(Request<Bytes>) -> Answer) -> SocketAddr {
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    let service =
                        service_fn(move |req: Request<hyper::body::Incoming>| async move {
                            let (head, body) = req.into_parts();
                            let body = body.collect().await?.to_bytes();
                            Ok::<_, hyper::Error>(answer(Request::from_parts(head, body)).await)
                        });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    rx.recv().unwrap()
}

/// An address on loopback that nothing listens on (a port just freed).
pub fn closed_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}
