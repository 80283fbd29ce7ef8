//! The server: listeners, the HTTP side (hyper, on tokio), and the path of
//! a request from its headers to a worker and back.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{oneshot, watch};

use crate::access_log::{AccessLogger, Entry};
use crate::admin::AdminView;
use crate::app::App;
use crate::body_budget::{BodyBudget, Held};
use crate::config::Config;
use crate::connection::{Activity, Body, Tracked, FULL_LOG_INTERVAL};
use crate::engine::Engine;
use crate::lucet_engine::LucetEngine;
use crate::metrics::{Gauges, Metrics};
use crate::request::{
    GuestRequest, GuestResponse, HandlerError, IncomingBody, IncomingError, ResponseBody,
};
use crate::workers::{Job, Workers};
use crate::Error;

/// What every request and the operations side share.
struct State<E: Engine> {
    app: RwLock<Arc<App<E>>>,
    config: Mutex<Config>,
    engine: Arc<E>,
    workers: Workers<E>,
    metrics: Metrics,
    access_log: AccessLogger,
    body_budget: Arc<BodyBudget>,
    response_budget: Arc<BodyBudget>,
    next_id: AtomicU64,
    draining: AtomicBool,
}

impl<E: Engine> State<E> {
    fn app(&self) -> Arc<App<E>> {
        self.app.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn gauges(&self) -> Gauges {
        Gauges {
            queue_depth: self.workers.queued(),
            live_instances: self.workers.live_instances(),
            free_slots: self.workers.free_slots(),
            access_log_dropped: self.access_log.dropped(),
            buffered_body_bytes: self.body_budget.used(),
            buffered_response_bytes: self.response_budget.used(),
        }
    }

    /// Re-reads the configuration (from its file, if it came from one),
    /// loads what changed and swaps it in.
    fn reload(&self) -> Result<Vec<String>, Error> {
        let result = (|| {
            let current = self
                .config
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let mut next = match &current.source {
                Some(path) => Config::from_file(path)?,
                None => current.clone(),
            };
            let mut warnings = Vec::new();
            if next.listen != current.listen || next.admin != current.admin {
                warnings.push("listen and admin addresses change only on restart".to_string());
            }
            if next.server != current.server {
                warnings.push("server-wide settings change only on restart".to_string());
            }
            next.listen = current.listen;
            next.admin = current.admin;
            next.server = current.server.clone();
            next.access_log = current.access_log.clone();
            let old = self.app();
            let (app, load_warnings) = App::load(&next, &*self.engine, Some(&old))?;
            warnings.extend(load_warnings);
            *self.app.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(app);
            *self.config.lock().unwrap_or_else(|p| p.into_inner()) = next;
            Ok(warnings)
        })();
        self.metrics.reload(result.is_ok());
        result
    }
}

/// What the server's handle and the admin listener do with the state,
/// whatever the engine.
trait Control: AdminView {
    fn reload(&self) -> Result<Vec<String>, Error>;
    fn set_draining(&self);
    fn stop_workers(&self);
}

impl<E: Engine> AdminView for State<E> {
    fn metrics_text(&self) -> String {
        self.metrics.render(&self.gauges())
    }

    fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    fn stalled(&self) -> Option<&'static str> {
        if self.access_log.is_stalled() {
            return Some("the access log's writer is blocked");
        }
        if self.workers.is_stalled() {
            return Some("requests are queued and no worker has taken one for a while");
        }
        None
    }
}

impl<E: Engine> Control for State<E> {
    fn reload(&self) -> Result<Vec<String>, Error> {
        State::reload(self)
    }

    fn set_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    fn stop_workers(&self) {
        self.workers.stop();
        // What was logged is written before the server is gone (unless the
        // log's writer is stuck).
        self.access_log.sync(Duration::from_secs(2));
    }
}

/// A running server. Dropping it shuts it down (as [`shutdown`](Self::shutdown)).
pub struct Server {
    runtime: Option<tokio::runtime::Runtime>,
    state: Arc<dyn Control>,
    addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    drained: Option<crossbeam_channel::Receiver<()>>,
    drain_timeout: Duration,
}

impl Server {
    /// Loads every route with Lucet, binds the listeners and starts
    /// serving.
    pub fn start(config: Config) -> Result<Server, Error> {
        Server::start_with(config, LucetEngine::new())
    }

    /// [`start`](Self::start), with `engine` loading and running the
    /// handlers (the host calls of every ABI are defined in it first).
    pub fn start_with<E: Engine>(config: Config, mut engine: E) -> Result<Server, Error> {
        config.validate().map_err(Error::Invalid)?;
        crate::abi::define_host_calls(&mut engine);
        let engine = Arc::new(engine);
        let (app, _) = App::load(&config, &*engine, None)?;
        let access_log = AccessLogger::open(&config.access_log)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("lucet-serve-io")
            .build()
            .map_err(Error::Start)?;
        let workers = Workers::start(
            config.server.workers,
            config.server.queue,
            config.server.max_instances,
            engine.clone(),
            runtime.handle().clone(),
        )
        .map_err(Error::Start)?;
        // Binding registers the sockets with this runtime's reactor.
        let entered = runtime.enter();
        let listener = bind(config.listen)?;
        let admin = config.admin.map(bind).transpose()?;
        drop(entered);
        let addr = listener.local_addr().map_err(Error::Start)?;
        let admin_addr = match &admin {
            Some(l) => Some(l.local_addr().map_err(Error::Start)?),
            None => None,
        };
        let server_limits = config.server.clone();
        let state = Arc::new(State {
            app: RwLock::new(Arc::new(app)),
            config: Mutex::new(config),
            engine,
            workers,
            metrics: Metrics::default(),
            access_log,
            body_budget: BodyBudget::new(server_limits.max_buffered_body),
            response_budget: BodyBudget::new(server_limits.max_buffered_response),
            next_id: AtomicU64::new(first_request_id()),
            draining: AtomicBool::new(false),
        });
        let (stop, stopped) = watch::channel(false);
        let (drained_tx, drained) = crossbeam_channel::bounded(1);
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(server_limits.header_read_timeout)
            .max_headers(server_limits.max_headers)
            .max_buf_size(server_limits.max_head_bytes.max(8192));
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(server_limits.max_streams)
            .max_header_list_size(u32::try_from(server_limits.max_head_bytes).unwrap_or(u32::MAX));
        runtime.spawn(accept_loop(
            listener,
            state.clone(),
            builder,
            stopped.clone(),
            server_limits.clone(),
            drained_tx,
        ));
        if let Some(admin) = admin {
            runtime.spawn(crate::admin::serve(admin, state.clone(), stopped));
        }
        tracing::info!(%addr, admin = ?admin_addr, "serving");
        Ok(Server {
            runtime: Some(runtime),
            state,
            addr,
            admin_addr,
            stop,
            drained: Some(drained),
            drain_timeout: server_limits.drain_timeout,
        })
    }

    /// The address requests are served on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin listener's address, if there is one.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// Reloads the configuration and modules; requests in flight finish on
    /// the old ones. Returns warnings (a module that failed to load and was
    /// kept at its previous version); on an error nothing changed.
    pub fn reload(&self) -> Result<Vec<String>, Error> {
        self.state.reload()
    }

    /// The metrics as `/metrics` shows them.
    pub fn metrics_text(&self) -> String {
        self.state.metrics_text()
    }

    /// Serves until SIGTERM or SIGINT, reloading on SIGHUP; then shuts down.
    pub fn run_until_signalled(mut self) -> std::io::Result<()> {
        let runtime = self.runtime.take().expect("the server is running");
        let state = self.state.clone();
        let result = runtime.block_on(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = signal(SignalKind::terminate())?;
            let mut int = signal(SignalKind::interrupt())?;
            let mut hup = signal(SignalKind::hangup())?;
            loop {
                tokio::select! {
                    _ = term.recv() => break,
                    _ = int.recv() => break,
                    _ = hup.recv() => {
                        tracing::info!("SIGHUP: reloading");
                        let s = state.clone();
                        match tokio::task::spawn_blocking(move || s.reload()).await {
                            Ok(Ok(warnings)) => {
                                for w in warnings {
                                    tracing::warn!("reload: {w}");
                                }
                                tracing::info!("reloaded");
                            }
                            Ok(Err(e)) => tracing::error!("reload failed, nothing changed: {e}"),
                            Err(e) => tracing::error!("reload failed: {e}"),
                        }
                    }
                }
            }
            Ok::<(), std::io::Error>(())
        });
        self.runtime = Some(runtime);
        tracing::info!("shutting down");
        self.shutdown();
        result
    }

    /// Stops accepting, lets requests in flight finish (within the drain
    /// timeout), then stops the workers.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        self.state.set_draining();
        let _ = self.stop.send(true);
        if let Some(drained) = self.drained.take() {
            let _ = drained.recv_timeout(self.drain_timeout + Duration::from_secs(1));
        }
        // Connections still open past the drain are dropped with the
        // runtime; it is not waited for when this runs on another runtime
        // (which may not block).
        if tokio::runtime::Handle::try_current().is_ok() {
            runtime.shutdown_background();
        } else {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
        self.state.stop_workers();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_now();
    }
}

fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    let e = |source| Error::Bind { addr, source };
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(e)?;
    socket.set_reuseaddr(true).map_err(e)?;
    socket.bind(addr).map_err(e)?;
    socket.listen(1024).map_err(e)
}

async fn accept_loop<E: Engine>(
    listener: TcpListener,
    state: Arc<State<E>>,
    builder: auto::Builder<TokioExecutor>,
    mut stop: watch::Receiver<bool>,
    limits: crate::limits::ServerLimits,
    drained: crossbeam_channel::Sender<()>,
) {
    let drain_timeout = limits.drain_timeout;
    let graceful = GracefulShutdown::new();
    let open = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let mut said_full: Option<Instant> = None;
    loop {
        // A connection slot first: past the limit, new connections wait in
        // the listen backlog.
        let say = match said_full {
            None => true,
            Some(t) => t.elapsed() >= FULL_LOG_INTERVAL,
        };
        if open.available_permits() == 0 && say {
            tracing::warn!(
                max_connections = limits.max_connections,
                "connection limit reached: new connections wait until one closes"
            );
            said_full = Some(Instant::now());
        }
        let permit = tokio::select! {
            p = open.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = stop.changed() => break,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, remote) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of descriptors, most likely: give connections
                        // in flight a moment to end.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let Ok(local) = stream.local_addr() else { continue };
                let activity = Arc::new(Activity::default());
                let state = state.clone();
                let seen = activity.clone();
                let service = service_fn(move |req| {
                    let state = state.clone();
                    let busy = seen.begin();
                    async move {
                        // The request is in flight until its response's
                        // body is sent.
                        let (r, held) = handle(state, req, remote, local).await;
                        Ok::<_, Infallible>(r.map(|body| Tracked::new(body, held, busy)))
                    }
                });
                let builder = builder.clone();
                let graceful = graceful.watcher();
                let (first_bytes, idle, unread) =
                    (limits.header_read_timeout, limits.idle_timeout, limits.send_timeout);
                tokio::spawn(async move {
                    let _permit = permit;
                    // A connection that sends nothing is closed.
                    let mut byte = [0u8; 1];
                    match tokio::time::timeout(first_bytes, stream.peek(&mut byte)).await {
                        Ok(Ok(n)) if n > 0 => {}
                        _ => return,
                    }
                    let conn = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                    let conn = graceful.watch(conn);
                    tokio::select! {
                        ended = conn => {
                            if let Err(e) = ended {
                                tracing::debug!(%remote, "connection ended: {e}");
                            }
                        }
                        () = activity.idle_for(idle) => {
                            tracing::debug!(%remote, "idle connection closed");
                        }
                        () = activity.unread_for(unread) => {
                            tracing::info!(%remote, "a client left a response unread for {unread:?}; its connection is closed");
                        }
                    }
                });
            }
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("drained"),
        _ = tokio::time::sleep(drain_timeout) => {
            tracing::warn!("drain timeout ({drain_timeout:?}) passed with requests in flight; closing them");
        }
    }
    let _ = drained.send(());
}

fn full(bytes: Bytes) -> Body {
    http_body_util::Either::Left(Full::new(bytes))
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut r = Response::new(full(Bytes::from(format!("{text}\n"))));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// `plain`, for a request whose body was not read to its end: the
/// connection cannot carry another request, so it is closed.
fn closing(status: StatusCode, text: &str) -> Response<Body> {
    let mut r = plain(status, text);
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// What became of a request, for the access log and metrics.
struct Served {
    response: Response<Body>,
    route: Option<String>,
    outcome: &'static str,
}

/// Serves `req`: the response, and for a body held whole, its share of
/// the server's budget of response bytes held for clients.
async fn handle<E: Engine>(
    state: Arc<State<E>>,
    req: Request<Incoming>,
    remote: SocketAddr,
    local: SocketAddr,
) -> (Response<Body>, Option<Arc<Held>>) {
    let started = Instant::now();
    let id = format!("{:016x}", state.next_id.fetch_add(1, Ordering::Relaxed));
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let mut served = serve(&state, req, remote, local, &id).await;
    let held = match served.response.body() {
        http_body_util::Either::Left(whole) => {
            let held = state.response_budget.hold();
            let size = hyper::body::Body::size_hint(whole).exact().unwrap_or(0);
            if !held.take(size) {
                state.metrics.overloaded();
                tracing::warn!(request = %id, bytes = size, "the server holds as many response bytes for clients as it may (max-buffered-response); 503");
                let mut r = plain(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                served.response = r;
                served.outcome = "response_budget";
            }
            Some(held)
        }
        http_body_util::Either::Right(_) => None,
    };
    let mut response = served.response;
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    let took = started.elapsed();
    let status = response.status().as_u16();
    let route = served.route.as_deref();
    state.metrics.request(route.unwrap_or(""), status, took);
    state.access_log.log(&Entry {
        id: &id,
        method: method.as_str(),
        path: &path,
        route,
        status,
        bytes: response_len(&response),
        duration: took,
        outcome: served.outcome,
    });
    (response, held)
}

/// Where a server's request ids start: a random number, so that two
/// servers (or one restarted) do not give the same ids to different
/// requests in one log.
fn first_request_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// The whole request body, within the route's size limit and body
/// timeout; or the response that refuses it, and the outcome to log.
async fn read_whole_body(
    body: Incoming,
    limits: &crate::limits::RouteLimits,
    held: &Held,
    reserved: bool,
) -> Result<Bytes, (Response<Body>, &'static str)> {
    let limit = limits.max_request_body;
    let read = async {
        let mut body = body;
        let mut all = bytes::BytesMut::new();
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else {
                return Err(IncomingError::Broken);
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if all.len() as u64 + data.len() as u64 > limit {
                return Err(IncomingError::TooLarge);
            }
            if !reserved && !held.take(data.len() as u64) {
                return Err(IncomingError::ServerFull);
            }
            all.extend_from_slice(&data);
        }
        Ok(all.freeze())
    };
    match tokio::time::timeout(limits.body_read_timeout, read).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(IncomingError::TooLarge)) => Err((
            closing(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large"),
            "body_too_large",
        )),
        Ok(Err(IncomingError::ServerFull)) => Err((
            closing(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
            "body_budget",
        )),
        Ok(Err(_)) => Err((plain(StatusCode::BAD_REQUEST, "Bad Request"), "bad_body")),
        Err(_) => Err((
            closing(StatusCode::REQUEST_TIMEOUT, "Request Timeout"),
            "body_timeout",
        )),
    }
}

fn response_len(r: &Response<Body>) -> u64 {
    use hyper::body::Body as _;
    r.body().size_hint().exact().unwrap_or(0)
}

async fn serve<E: Engine>(
    state: &State<E>,
    req: Request<Incoming>,
    remote: SocketAddr,
    local: SocketAddr,
    id: &str,
) -> Served {
    let app = state.app();
    let refused = |status, text: &str, outcome, route: Option<String>| Served {
        response: plain(status, text),
        route,
        outcome,
    };
    let Some((index, script, info)) = app.route_for(req.uri().path()) else {
        return refused(StatusCode::NOT_FOUND, "Not Found", "no_route", None);
    };
    let (script, info) = (script.to_string(), info.to_string());
    let route = app.route(index);
    let pattern = Some(route.pattern.clone());
    let limits = &route.limits;
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len())
        .sum();
    if req.headers().len() > limits.max_headers || header_bytes > limits.max_header_bytes {
        return refused(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Request Header Fields Too Large",
            "headers_too_large",
            pattern,
        );
    }
    let too_large = || closing(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large");
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_request_body) {
        return Served {
            response: too_large(),
            route: pattern,
            outcome: "body_too_large",
        };
    }
    // The body's bytes come out of the server's budget: a declared length
    // at once, an undeclared one as it arrives.
    let held = state.body_budget.hold();
    let reserved = declared.is_some();
    if !held.take(declared.unwrap_or(0)) {
        state.metrics.overloaded();
        tracing::warn!(request = %id, route = %route.pattern, "the server holds as much request body as it may (max-buffered-body); 503");
        let mut r = closing(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return Served {
            response: r,
            route: pattern,
            outcome: "body_budget",
        };
    }
    let (parts, body) = req.into_parts();
    // An ABI that reads the body as it arrives gets it so; the others
    // (WAGI's standard input) get it whole.
    let (body, body_rest) = if app.handler(index).abi.reads_body_as_it_arrives() {
        let rest = (!hyper::body::Body::is_end_stream(&body)).then(|| {
            IncomingBody::pump(
                body,
                limits.max_request_body,
                limits.body_read_timeout,
                held.clone(),
                reserved,
            )
        });
        (Bytes::new(), rest)
    } else {
        match read_whole_body(body, limits, &held, reserved).await {
            Ok(body) => (body, None),
            Err((response, outcome)) => {
                return Served {
                    response,
                    route: pattern,
                    outcome,
                }
            }
        }
    };
    let (reply, answer) = oneshot::channel();
    let request = GuestRequest {
        id: id.to_string(),
        method: parts.method,
        uri: parts.uri,
        version: parts.version,
        headers: parts.headers,
        body,
        body_rest: std::sync::Mutex::new(body_rest),
        remote,
        local,
        script_name: script,
        path_info: info,
    };
    // An instance of the route waiting for a request takes it first; a new
    // one is started only when none does, or when the one it was handed to
    // gives it back untaken.
    let submit = |request, reply| {
        state.workers.submit(Job {
            app: app.clone(),
            route: index,
            request,
            reply,
            body_held: held.clone(),
        })
    };
    let overloaded = || {
        state.metrics.overloaded();
        tracing::warn!(request = %id, route = %route.pattern, "overloaded: every worker busy and the queue full; 503");
        let mut r = plain(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        Served {
            response: r,
            route: pattern.clone(),
            outcome: "overloaded",
        }
    };
    let mut given_back = match app.handler(index).config.offer(request, reply) {
        Ok(given_back) => Some(given_back),
        Err((request, reply)) => {
            if submit(request, reply).is_err() {
                return overloaded();
            }
            None
        }
    };
    let mut answer = answer;
    let answer = loop {
        let Some(back) = given_back.as_mut() else {
            break answer.await;
        };
        tokio::select! {
            answer = &mut answer => break answer,
            back = back => {
                given_back = None;
                if let Ok((request, reply)) = back {
                    if submit(request, reply).is_err() {
                        return overloaded();
                    }
                }
            }
        }
    };
    match answer {
        Ok(Ok(response)) => Served {
            response: respond(response),
            route: pattern,
            outcome: "ok",
        },
        Ok(Err(e)) => {
            match &e {
                HandlerError::TimedOut(_) => state.metrics.timeout(),
                HandlerError::Trapped { code, .. } => state.metrics.trap(&format!("{code:?}")),
                HandlerError::OutOfFuel => state.metrics.trap("OutOfFuel"),
                _ => {}
            }
            tracing::warn!(request = %id, route = %route.pattern, "{e}");
            let status = e.status();
            Served {
                response: plain(status, status.canonical_reason().unwrap_or("Error")),
                route: pattern,
                outcome: e.kind(),
            }
        }
        Err(_) => {
            tracing::error!(request = %id, route = %route.pattern, "the worker dropped the request");
            refused(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
                "error",
                pattern,
            )
        }
    }
}

fn respond(g: GuestResponse) -> Response<Body> {
    let body = match g.body {
        ResponseBody::Full(b) => full(b),
        ResponseBody::Stream(s) => http_body_util::Either::Right(s),
    };
    let mut r = Response::new(body);
    *r.status_mut() = g.status;
    *r.headers_mut() = g.headers;
    r
}
