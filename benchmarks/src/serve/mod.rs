//! `lucet-bench serve`: HTTP serving, measured with a load generator of our
//! own ([`load`]) against `lucet-serve` (Lucet's engine), the same server
//! with Wasmtime as the engine (`wasmtime`, behind `peer-wasmtime`), and a
//! plain hyper server that answers the same bytes without WebAssembly
//! ([`plain`]): the limit.

pub mod component_rows;
pub mod compute;
pub mod compute_rows;
pub mod load;
pub mod plain;
#[cfg(feature = "peer-wasmtime")]
pub mod wasmtime;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use lucet_serve::{AccessLog, Config, RouteLimits, Server};

/// A handler, as served by every server in the comparison.
pub struct Handler {
    /// Its name in the report.
    pub name: &'static str,
    /// The route it is served on.
    pub path: &'static str,
    /// Its source.
    pub wat: String,
    /// The body every response must have (the plain server's answer).
    pub body: Vec<u8>,
    /// Its content type.
    pub content_type: &'static str,
}

/// The hello handler of `examples/` and one that writes 64 KiB.
pub fn handlers() -> Vec<Handler> {
    let hello = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello.wat"),
    )
    .expect("examples/hello.wat");
    vec![
        Handler {
            name: "hello",
            path: "/hello",
            wat: hello,
            body: b"Hello from Lucet!\n".to_vec(),
            content_type: "text/plain",
        },
        Handler {
            name: "64 KiB",
            path: "/64k",
            wat: SIXTY_FOUR_KIB.to_string(),
            body: vec![b'x'; 64 << 10],
            content_type: "application/octet-stream",
        },
    ]
}

/// A WAGI handler that writes a 64 KiB body: its header block, then 64 KiB
/// of `x` filled in at each request, written as a correct program writes
/// (a write may take fewer bytes than it was given).
const SIXTY_FOUR_KIB: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  ;; The header block (40 bytes) ends where the body starts, at 65536.
  (data (i32.const 65496) "Content-Type: application/octet-stream\n\n")
  (func (export "_start")
    (local $at i32) (local $left i32)
    (memory.fill (i32.const 65536) (i32.const 0x78) (i32.const 65536))
    (local.set $at (i32.const 65496))
    (local.set $left (i32.const 65576))
    (loop $more
      ;; One iovec at 0, the count written at 8.
      (i32.store (i32.const 0) (local.get $at))
      (i32.store (i32.const 4) (local.get $left))
      (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))
        (then (unreachable)))
      (local.set $at (i32.add (local.get $at) (i32.load (i32.const 8))))
      (local.set $left (i32.sub (local.get $left) (i32.load (i32.const 8))))
      (br_if $more (local.get $left)))))
"#;

/// The handlers written out as files, for the servers to load.
pub fn write_handlers(dir: &Path, handlers: &[Handler]) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    handlers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let path = dir.join(format!("handler{i}.wat"));
            std::fs::write(&path, &h.wat)?;
            Ok(path)
        })
        .collect()
}

/// The server configuration every engine is started with: a route per
/// handler, default limits, no access log, `workers` worker threads.
pub fn config(handlers: &[Handler], files: &[PathBuf], workers: usize) -> Config {
    let mut c = Config::single(PathBuf::new(), RouteLimits::default());
    c.listen = "127.0.0.1:0".parse().expect("an address");
    c.access_log = AccessLog::Off;
    c.server.workers = workers;
    c.server.queue = 64 * workers;
    c.routes = handlers
        .iter()
        .zip(files)
        .map(|(h, f)| lucet_serve::RouteConfig {
            path: lucet_serve::RoutePath::parse(h.path).expect("a route"),
            module: f.clone(),
            verify: None,
            abi: None,
            fastly_toml: None,
            dynamic_backends: Vec::new(),
            log_files: Vec::new(),
            limits: RouteLimits::default(),
            env: Vec::new(),
            dirs: Vec::new(),
        })
        .collect();
    c
}

/// `lucet-serve` with Lucet's engine.
pub fn start_lucet(config: Config) -> anyhow::Result<(Server, SocketAddr)> {
    let server = Server::start(config)?;
    let addr = server.addr();
    Ok((server, addr))
}

/// An engine without WebAssembly: each route's "command" writes its
/// handler's answer as a CGI response, which WAGI reads back as it reads a
/// guest's. Behind `lucet-serve` it measures what the server itself costs
/// (HTTP, the queue, the hand-off to a worker and back, CGI) apart from any
/// engine.
pub struct NoWasm {
    /// Each handler file, with what its route answers.
    pub answers: Vec<(PathBuf, &'static str, bytes::Bytes)>,
}

/// What a route of [`NoWasm`] answers: its CGI output.
pub struct Answer {
    cgi: Vec<u8>,
}

impl lucet_serve::Engine for NoWasm {
    type Module = Answer;
    type Worker = ();
    // Runs here never suspend.
    type Suspended = std::convert::Infallible;

    fn deadline(&self, run: &Self::Suspended) -> std::time::Instant {
        match *run {}
    }

    fn load(&self, path: &Path, spec: &lucet_serve::LoadSpec<'_>) -> Result<Answer, String> {
        if spec.verify.is_some() {
            return Err("this engine does not verify signatures".into());
        }
        let (_, content_type, body) = self
            .answers
            .iter()
            .find(|(p, ..)| p == path)
            .ok_or_else(|| format!("no answer for {}", path.display()))?;
        let mut cgi = format!("content-type: {content_type}\n\n").into_bytes();
        cgi.extend_from_slice(body);
        Ok(Answer { cgi })
    }

    fn interface(&self, _module: &Answer) -> lucet_serve::ModuleInterface {
        lucet_serve::ModuleInterface {
            imports: Vec::new(),
            functions: vec![("_start".into(), lucet_runtime::FuncType::new([], []))],
            component: None,
        }
    }

    fn new_worker(&self) {}

    fn run_wasi_command(
        &self,
        _worker: &mut (),
        module: &Answer,
        mut command: lucet_serve::WasiCommand<'_>,
    ) -> Result<(), lucet_serve::HandlerError> {
        command
            .stdout
            .write_all(&module.cgi)
            .map_err(|e| lucet_serve::HandlerError::Failed(e.to_string()))
    }
}
