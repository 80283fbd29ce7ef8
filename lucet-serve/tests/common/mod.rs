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
