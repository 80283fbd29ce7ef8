//! The admin listener: `/metrics` (Prometheus text format) and `/healthz`.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What the admin listener shows of the server.
pub(crate) trait AdminView: Send + Sync + 'static {
    /// The metrics, in the Prometheus text format.
    fn metrics_text(&self) -> String;
    /// Whether the server is draining (then `/healthz` says so).
    fn is_draining(&self) -> bool;
    /// Why the server is stalled, if it is (then `/healthz` is 503 and
    /// says why).
    fn stalled(&self) -> Option<&'static str>;
}

fn answer(state: &dyn AdminView, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => (
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            state.metrics_text(),
        ),
        (&Method::GET, "/healthz") if state.is_draining() => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain; charset=utf-8",
            "draining\n".to_string(),
        ),
        (&Method::GET, "/healthz") => match state.stalled() {
            Some(why) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain; charset=utf-8",
                format!("stalled: {why}\n"),
            ),
            None => (StatusCode::OK, "text/plain; charset=utf-8", "ok\n".into()),
        },
        (_, "/metrics" | "/healthz") => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "Method Not Allowed\n".into(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "Not Found\n".into(),
        ),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// Serves the admin endpoints until `stop`.
pub(crate) async fn serve(
    listener: TcpListener,
    state: Arc<dyn AdminView>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let state = state.clone();
                let service = service_fn(move |req| {
                    let r = answer(&*state, &req);
                    async move { Ok::<_, Infallible>(r) }
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(std::time::Duration::from_secs(10))
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            _ = stop.changed() => return,
        }
    }
}
