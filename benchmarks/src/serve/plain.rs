//! The limit: a plain hyper server (the same hyper-util builder as
//! `lucet-serve`, on tokio) that answers each route with the handler's
//! bytes, without WebAssembly.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

use super::Handler;

/// A running plain server; dropping it stops it.
pub struct PlainServer {
    runtime: Option<tokio::runtime::Runtime>,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Drop for PlainServer {
    fn drop(&mut self) {
        if let Some(r) = self.runtime.take() {
            r.shutdown_background();
        }
    }
}

/// Starts it on 127.0.0.1, port 0.
pub fn start(handlers: &[Handler]) -> std::io::Result<PlainServer> {
    let routes: Arc<Vec<(String, &'static str, Bytes)>> = Arc::new(
        handlers
            .iter()
            .map(|h| {
                (
                    h.path.to_string(),
                    h.content_type,
                    Bytes::from(h.body.clone()),
                )
            })
            .collect(),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    runtime.spawn(async move {
        let builder = auto::Builder::new(TokioExecutor::new());
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let routes = routes.clone();
            let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                let found = routes.iter().find(|(p, ..)| p == req.uri().path()).cloned();
                async move {
                    let r = match found {
                        Some((_, ct, body)) => Response::builder()
                            .header("content-type", ct)
                            .body(Full::new(body)),
                        None => Response::builder()
                            .status(404)
                            .body(Full::new(Bytes::new())),
                    };
                    Ok::<_, Infallible>(r.expect("a response"))
                }
            });
            let conn = builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            tokio::spawn(conn);
        }
    });
    Ok(PlainServer {
        runtime: Some(runtime),
        addr,
    })
}
