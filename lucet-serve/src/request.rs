//! What passes between the server core and a handler, whatever its ABI and
//! engine: the request as the handler gets it, its response, and why it
//! gave none.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use hyper::{HeaderMap, Method, StatusCode, Uri, Version};
use lucet_module::TrapCode;

use crate::body_budget::Held;

/// A request as a handler gets it: headers and the whole body, already read
/// and checked against the route's limits.
#[derive(Debug)]
pub struct GuestRequest {
    /// The server's id for it (in logs and the `x-request-id` header).
    pub id: String,
    /// The method.
    pub method: Method,
    /// The target, as the client sent it.
    pub uri: Uri,
    /// The protocol version.
    pub version: Version,
    /// The headers.
    pub headers: HeaderMap,
    /// The body, or for an ABI that reads it as it arrives, what had
    /// arrived when the handler started (see `body_rest`).
    pub body: Bytes,
    /// The rest of the body, still arriving: taken once, by the ABI that
    /// reads it.
    pub body_rest: std::sync::Mutex<Option<IncomingBody>>,
    /// The client's address.
    pub remote: SocketAddr,
    /// The address the request came in on.
    pub local: SocketAddr,
    /// The part of the path the route matched.
    pub script_name: String,
    /// The rest of the path.
    pub path_info: String,
}

impl GuestRequest {
    /// The rest of the body, still arriving, if there is one and nobody
    /// took it yet.
    pub fn take_body_rest(&self) -> Option<IncomingBody> {
        self.body_rest.lock().ok()?.take()
    }
}

/// A request body still arriving from the client: its chunks in order,
/// through a small bounded channel (the client is held back while the
/// handler does not read), checked against the route's size limit and
/// idle timeout on the way. The channel's end is the body's end.
#[derive(Debug)]
pub struct IncomingBody {
    chunks: tokio::sync::mpsc::Receiver<Result<Bytes, IncomingError>>,
    /// Its share of the server's body budget, given back when both ends
    /// are gone.
    _held: Arc<Held>,
}

/// Why a request body did not arrive whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IncomingError {
    /// It was longer than the route allows.
    #[error("the request body is larger than the route allows")]
    TooLarge,
    /// The client sent nothing for longer than the route's body timeout.
    #[error("the client stopped sending the request body")]
    TimedOut,
    /// The connection failed or the client's framing was wrong.
    #[error("the request body could not be read")]
    Broken,
    /// The server holds as many request body bytes as it may.
    #[error("the server holds as much request body as it may")]
    ServerFull,
}

/// Chunks of a request body held between the client's connection and
/// the handler.
const INCOMING_CHUNKS: usize = 4;

impl IncomingBody {
    /// Reads `body` on the current async runtime as the handler takes it:
    /// at most `limit` bytes in all, each frame within `idle`, each taken
    /// from the server's body budget through `held` (unless `reserved`: the
    /// declared length was taken already).
    pub(crate) fn pump<B>(
        body: B,
        limit: u64,
        idle: std::time::Duration,
        held: Arc<Held>,
        reserved: bool,
    ) -> IncomingBody
    where
        B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Send,
    {
        use http_body_util::BodyExt;
        let (tx, rx) = tokio::sync::mpsc::channel(INCOMING_CHUNKS);
        let pump_held = held.clone();
        tokio::spawn(async move {
            let held = pump_held;
            let mut body = body;
            let mut total: u64 = 0;
            loop {
                let failed = match tokio::time::timeout(idle, body.frame()).await {
                    Ok(None) => return,
                    Ok(Some(Ok(frame))) => {
                        let Ok(data) = frame.into_data() else {
                            // Trailers: not passed on.
                            continue;
                        };
                        total = total.saturating_add(data.len() as u64);
                        if total > limit {
                            IncomingError::TooLarge
                        } else if !reserved && !held.take(data.len() as u64) {
                            IncomingError::ServerFull
                        } else {
                            if !data.is_empty() && tx.send(Ok(data)).await.is_err() {
                                // The handler has gone.
                                return;
                            }
                            continue;
                        }
                    }
                    Ok(Some(Err(_))) => IncomingError::Broken,
                    Err(_) => IncomingError::TimedOut,
                };
                let _ = tx.send(Err(failed)).await;
                return;
            }
        });
        IncomingBody {
            chunks: rx,
            _held: held,
        }
    }

    /// The next chunk: `None` at the end of the body.
    pub fn poll_chunk(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Bytes, IncomingError>>> {
        self.chunks.poll_recv(cx)
    }
}

/// A handler's response, checked: valid status, header names and values.
#[derive(Debug)]
pub struct GuestResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers the handler set.
    pub headers: HeaderMap,
    /// The body.
    pub body: ResponseBody,
}

/// A response's body: whole, or streamed as the handler writes it.
#[derive(Debug)]
pub enum ResponseBody {
    /// All of it.
    Full(Bytes),
    /// Chunks as the handler writes them.
    Stream(BodyStream),
}

impl ResponseBody {
    /// The whole body, if it is not streamed.
    pub fn full(&self) -> Option<&Bytes> {
        match self {
            ResponseBody::Full(b) => Some(b),
            ResponseBody::Stream(_) => None,
        }
    }
}

impl From<Bytes> for ResponseBody {
    fn from(b: Bytes) -> Self {
        ResponseBody::Full(b)
    }
}

/// A streamed response body, as hyper sends it: the chunks its handler
/// writes, through a bounded channel; a stream whose sending end goes away
/// unfinished (the handler abandoned it, failed, or was stopped) ends in an
/// error, so that the client sees the response incomplete.
#[derive(Debug)]
pub struct BodyStream {
    chunks: tokio::sync::mpsc::Receiver<Bytes>,
    finished: Arc<AtomicBool>,
}

/// The sending end of a [`BodyStream`].
#[derive(Debug)]
pub struct BodySender {
    chunks: tokio::sync::mpsc::Sender<Bytes>,
    finished: Arc<AtomicBool>,
}

/// A streamed body ended without being finished.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the handler's streamed response was cut short")]
pub struct StreamCut;

impl BodyStream {
    /// A stream and its sending end, which holds at most `chunks` chunks
    /// the client's connection has not taken yet.
    pub fn channel(chunks: usize) -> (BodySender, BodyStream) {
        let (tx, rx) = tokio::sync::mpsc::channel(chunks);
        let finished = Arc::new(AtomicBool::new(false));
        (
            BodySender {
                chunks: tx,
                finished: finished.clone(),
            },
            BodyStream {
                chunks: rx,
                finished,
            },
        )
    }
}

impl BodySender {
    /// Where chunks go (a full channel makes the writer wait).
    pub fn chunks(&self) -> &tokio::sync::mpsc::Sender<Bytes> {
        &self.chunks
    }

    /// Ends the stream: the client gets a complete response.
    pub fn finish(self) {
        self.finished.store(true, Ordering::Release);
    }
}

impl hyper::body::Body for BodyStream {
    type Data = Bytes;
    type Error = StreamCut;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, StreamCut>>> {
        self.chunks.poll_recv(cx).map(|chunk| match chunk {
            Some(c) => Some(Ok(hyper::body::Frame::data(c))),
            None if self.finished.load(Ordering::Acquire) => None,
            None => Some(Err(StreamCut)),
        })
    }
}

/// Why a handler gave no response.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// It ran past the route's deadline (504).
    #[error("the handler ran past its {0:?} deadline and was stopped")]
    TimedOut(std::time::Duration),
    /// It used up its fuel (500).
    #[error("the handler ran out of fuel")]
    OutOfFuel,
    /// It trapped (500).
    #[error("trap: {code} in {function} at offset {offset:#x}")]
    Trapped {
        /// Why.
        code: TrapCode,
        /// Where (escaped).
        function: String,
        /// Offset in the function's code.
        offset: u32,
    },
    /// It exited with a non-zero status (500).
    #[error("the handler exited with status {0}")]
    Exited(u32),
    /// Its output is not a valid response (500).
    #[error("invalid response: {0}")]
    BadResponse(String),
    /// It wrote more than the route allows (500).
    #[error("the response is larger than the route's limit of {0} bytes")]
    ResponseTooLarge(u64),
    /// It could not run: no instance, an uncaught exception, a host error
    /// (500).
    #[error("{0}")]
    Failed(String),
}

impl HandlerError {
    /// The status the client gets.
    pub fn status(&self) -> StatusCode {
        match self {
            HandlerError::TimedOut(_) => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short name, for the access log and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            HandlerError::TimedOut(_) => "timeout",
            HandlerError::OutOfFuel => "out_of_fuel",
            HandlerError::Trapped { .. } => "trap",
            HandlerError::Exited(_) => "exit",
            HandlerError::BadResponse(_) => "bad_response",
            HandlerError::ResponseTooLarge(_) => "response_too_large",
            HandlerError::Failed(_) => "error",
        }
    }
}
