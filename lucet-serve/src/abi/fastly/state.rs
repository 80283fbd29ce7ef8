//! What one request's instance holds through the Compute ABI: its open
//! requests, responses, bodies, log endpoints and stores, the downstream
//! request it was started for, and the response it sent. Everything it can
//! make the host hold is bounded here: handles per kind, header counts and
//! sizes, body bytes.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use hyper::header::{HeaderName, HeaderValue};
use hyper::HeaderMap;

use super::super::backends::{self as upstream, Backend, BackendResponse, SendError, UpstreamBody};
pub(crate) use super::super::backends::{RequestParts, ResponseParts};
use super::cache::{CacheWriter, CachedReader, Found, Obligation, Transaction};
use super::handles::Table;
use super::kv::{Item, KvError, KvStore};
use super::local_server::{ConfigStore, LocalServer};
use super::lookups::Acl;
use super::parts::whole_response;
use super::sandbox::{NextRequest, PromiseHandle};
use super::status::{CallResult, Status};
use crate::abi::output::{request_label, LogLines, RequestLabel};
use crate::request::{BodySender, BodyStream, IncomingBody};
use crate::run::RunContext;

/// How much one instance may hold, besides what its route's limits say.
pub(crate) struct InstanceLimits {
    /// Open handles of each kind.
    pub handles: usize,
    /// Headers in one request or response.
    pub headers: usize,
    /// Bytes of one request's or response's headers, names and values.
    pub header_bytes: usize,
    /// Body bytes held by the host for the instance, all bodies together.
    pub body_bytes: u64,
    /// Largest response body sent downstream (whole or streamed).
    pub response_body: u64,
    /// Bytes of a response head sent downstream.
    pub response_header_bytes: usize,
    /// Log endpoints open at once.
    pub endpoints: usize,
    /// Bytes logged per stream (standard output, standard error, each
    /// endpoint).
    pub log_bytes: usize,
    /// The route's time limit for a request.
    pub timeout: std::time::Duration,
}

/// Most handles of one kind an instance may hold open at once.
pub(crate) const MAX_HANDLES: usize = 1024;
/// Most log endpoints an instance may open.
pub(crate) const MAX_ENDPOINTS: usize = 64;
/// Longest log endpoint name.
pub(crate) const MAX_ENDPOINT_NAME: usize = 255;
/// Most headers in one message the guest builds.
pub(crate) const MAX_HEADERS: usize = 1000;
/// Most bytes of one message's headers the guest builds.
pub(crate) const MAX_HEADER_BYTES: usize = 96 << 10;

/// A body the host holds: chunks in order, and trailers.
#[derive(Debug, Default)]
pub(crate) struct Body {
    chunks: VecDeque<Bytes>,
    len: u64,
    pub trailers: HeaderMap,
    /// The response it belongs to was sent with `streaming`: it is the
    /// downstream response's body, its writes go to the client (waiting
    /// while the connection is behind), and it is finished when closed.
    pub stream: Option<Streamed>,
    /// Where the rest of it is still coming from (the client, or a cached
    /// object being written): reads wait for it; whatever uses the body
    /// whole waits for all of it.
    pub source: Option<Source>,
}

/// Where the rest of a body still arriving comes from.
#[derive(Debug)]
pub(crate) enum Source {
    /// The downstream request's body.
    Client(IncomingBody),
    /// A cached object's body.
    Cache(CachedReader),
}

impl Source {
    /// The next chunk: `None` at the end, an error if it broke off.
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, ()>>> {
        match self {
            Source::Client(b) => b.poll_chunk(cx).map(|c| c.map(|r| r.map_err(drop))),
            Source::Cache(r) => r.poll_chunk(cx),
        }
    }
}

/// Where a streamed body's writes go.
#[derive(Debug)]
pub(crate) enum Sink {
    /// Through a bounded channel, to the client or a backend.
    Channel(BodySender),
    /// Into the cache.
    Cache(CacheWriter),
}

/// A body whose writes go on as they are made.
#[derive(Debug)]
pub(crate) struct Streamed {
    pub sink: Sink,
    /// Bytes sent so far.
    pub sent: u64,
    /// Most bytes it may send.
    pub limit: u64,
    /// Whose body it is.
    pub to: StreamedTo,
}

/// Whose body a streamed body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamedTo {
    /// The response to the client.
    Client,
    /// A request to a backend (`send_async_streaming`).
    Backend,
    /// An object being stored in the cache.
    Cache,
}

impl Body {
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Takes the first chunk held, if any.
    pub fn pop(&mut self) -> Option<Bytes> {
        let c = self.chunks.pop_front()?;
        self.len -= c.len() as u64;
        Some(c)
    }

    /// Takes up to `max` bytes from the front.
    fn take(&mut self, max: usize) -> Bytes {
        let Some(front) = self.chunks.front_mut() else {
            return Bytes::new();
        };
        let out = if front.len() <= max {
            self.chunks.pop_front().unwrap_or_default()
        } else {
            front.split_to(max)
        };
        self.len -= out.len() as u64;
        out
    }

    fn push_back(&mut self, b: Bytes) {
        self.len += b.len() as u64;
        if !b.is_empty() {
            self.chunks.push_back(b);
        }
    }

    fn push_front(&mut self, b: Bytes) {
        self.len += b.len() as u64;
        if !b.is_empty() {
            self.chunks.push_front(b);
        }
    }

    /// Everything, in one piece.
    fn into_bytes(self) -> Bytes {
        match self.chunks.len() {
            0 => Bytes::new(),
            1 => self.chunks.into_iter().next().unwrap_or_default(),
            _ => {
                let mut all = BytesMut::with_capacity(self.len as usize);
                for c in self.chunks {
                    all.extend_from_slice(&c);
                }
                all.freeze()
            }
        }
    }
}

/// What an async item handle names: a body, or a request sent to a
/// backend whose response is awaited.
#[derive(Debug)]
pub(crate) enum AsyncItem {
    Body(Body),
    Pending(PendingRequest),
    /// A KV store operation, done when it was started.
    Kv(KvOutcome),
    /// A cache lookup (or replace), done.
    Cache(CacheHandle),
    /// A transactional cache lookup that may wait for another's insert.
    CacheBusy(CacheBusy),
    /// A promise of the route's next request (`next_request`).
    Promise(PromiseHandle),
    /// An HTTP cache lookup (`fastly_http_cache`).
    HttpCache(Box<HttpCacheHandle>),
}

/// An HTTP cache lookup: resolved at once, or (a transactional one) when
/// no other transaction of the key holds the obligation to fill it.
#[derive(Debug)]
pub(crate) struct HttpCacheHandle {
    /// The request looked up (its headers select variants; it is the
    /// model of the request that fills the cache).
    pub request: RequestParts,
    /// The transactional lookup, until resolved.
    pub pending: Option<CacheBusy>,
    pub key: Bytes,
    /// A usable response (fresh or stale), or a record that responses for
    /// the request are not cacheable.
    pub found: Option<Found>,
    /// This handle is to insert or update the response.
    pub obligation: Option<Obligation>,
    /// A stored response, not usable, that this handle may revalidate.
    pub stored: Option<Arc<super::cache::Object>>,
    /// That response is usable if revalidating fails (stale-if-error).
    pub usable_if_error: bool,
}

impl HttpCacheHandle {
    /// Whether the lookup is resolved; registers `cx`'s waker if not.
    pub fn poll_resolved(
        &mut self,
        cache: &Arc<super::cache::Cache>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        let Some(busy) = self.pending.as_mut() else {
            return Poll::Ready(());
        };
        if busy.poll_done(cache, cx).is_pending() {
            return Poll::Pending;
        }
        if let Some(t) = self.pending.take().and_then(|b| b.done) {
            self.found = t.found;
            self.obligation = t.obligation;
            self.stored = t.stored;
            self.usable_if_error = t.usable_if_error;
        }
        Poll::Ready(())
    }
}

/// A cache lookup's outcome, as a cache handle (or a replace handle)
/// names it.
#[derive(Debug)]
pub(crate) struct CacheHandle {
    pub key: Bytes,
    /// The headers of the request it was made for (what an object stored
    /// through it varies on).
    pub headers: HeaderMap,
    pub found: Option<Found>,
    /// This handle is to insert or update the object.
    pub obligation: Option<Obligation>,
    /// A replace handle (`replace`), not a lookup's.
    pub replace: bool,
}

/// A transactional lookup not resolved yet.
#[derive(Debug)]
pub(crate) struct CacheBusy {
    pub key: Bytes,
    pub headers: HeaderMap,
    pub transaction: u64,
    pub done: Option<Transaction>,
}

impl CacheBusy {
    /// Whether it is resolved; registers `cx`'s waker if not.
    pub fn poll_done(
        &mut self,
        cache: &Arc<super::cache::Cache>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        if self.done.is_some() {
            return Poll::Ready(());
        }
        match cache.poll_transaction(&self.key, &self.headers, self.transaction, cx) {
            Poll::Ready(t) => {
                self.done = Some(t);
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Its outcome as a cache handle (it must be resolved).
    pub fn into_handle(self) -> CacheHandle {
        let (found, obligation) = match self.done {
            Some(t) => (t.found, t.obligation),
            None => (None, None),
        };
        CacheHandle {
            key: self.key,
            headers: self.headers,
            found,
            obligation,
            replace: false,
        }
    }
}

/// The outcome of a KV store operation, to be taken by its `_wait` call.
#[derive(Debug)]
pub(crate) enum KvOutcome {
    Lookup(Result<Item, KvError>),
    Done(Result<(), KvError>),
    /// A page of keys, as JSON.
    List(Result<Bytes, KvError>),
}

/// The outcome of a request sent to a backend.
pub(crate) type Sent2Backend = Result<BackendResponse, SendError>;

/// A request sent to a backend, its response still awaited. Dropping it
/// (the instance ended) stops the send.
#[derive(Debug)]
pub(crate) struct PendingRequest {
    rx: tokio::sync::oneshot::Receiver<Sent2Backend>,
    task: tokio::task::AbortHandle,
    done: Option<Sent2Backend>,
}

impl PendingRequest {
    /// Whether the outcome is in; registers `cx`'s waker if not.
    pub fn poll_done(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.done.is_some() {
            return Poll::Ready(());
        }
        match Pin::new(&mut self.rx).poll(cx) {
            Poll::Ready(r) => {
                self.done = Some(r.unwrap_or(Err(SendError::InternalError)));
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Whether the outcome is in, without waiting.
    pub fn is_done(&mut self) -> bool {
        use tokio::sync::oneshot::error::TryRecvError;
        if self.done.is_some() {
            return true;
        }
        match self.rx.try_recv() {
            Ok(r) => self.done = Some(r),
            Err(TryRecvError::Empty) => return false,
            Err(TryRecvError::Closed) => self.done = Some(Err(SendError::InternalError)),
        }
        true
    }
}

impl Drop for PendingRequest {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The handle values the ABI writes for "no response".
pub(crate) const INVALID_HANDLE: u32 = u32::MAX - 1;

/// A log endpoint the guest opened.
pub(crate) struct Endpoint {
    pub lines: LogLines,
}

/// The response the guest sent downstream.
pub(crate) struct Sent {
    pub parts: ResponseParts,
    pub body: SentBody,
}

/// The body of the response sent downstream.
pub(crate) enum SentBody {
    /// All of it, to send when the run ends.
    Whole(Bytes),
    /// Streamed: the response has gone out, its body is written as the
    /// app writes it.
    Streaming,
    /// Streamed, and finished.
    Finished,
}

/// Chunks a streamed body holds that the client's connection has not
/// taken yet.
pub(crate) const STREAM_CHUNKS: usize = 8;
/// The most one write to a streamed body takes (the guest writes the rest
/// in further calls, as `write` allows).
pub(crate) const STREAM_CHUNK: u32 = 64 << 10;

/// The request the instance was started for.
pub(crate) struct Downstream {
    /// Its handles, as `body_downstream_get` gives them.
    pub request: u32,
    pub body: u32,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub id: String,
    /// Its header names as the client sent them, in order.
    pub original_header_names: Vec<HeaderName>,
}

impl Downstream {
    /// The request from `client` to `server` with the server's `id` (its
    /// handles and header names are filled in by [`FastlyState::new`]).
    pub fn new(client: SocketAddr, server: SocketAddr, id: &str) -> Downstream {
        Downstream {
            request: 0,
            body: 0,
            client,
            server,
            id: id.to_string(),
            original_header_names: Vec::new(),
        }
    }
}

/// One instance's state.
pub(crate) struct FastlyState {
    pub limits: InstanceLimits,
    pub requests: Table<RequestParts>,
    pub responses: Table<ResponseParts>,
    pub items: Table<AsyncItem>,
    pub endpoints: Table<Endpoint>,
    pub stores: Table<Arc<ConfigStore>>,
    pub acls: Table<Arc<Acl>>,
    pub secret_stores: Table<Arc<HashMap<String, Bytes>>>,
    pub secrets: Table<Bytes>,
    pub kv_stores: Table<Arc<KvStore>>,
    /// Dynamic backends the app registered, by name.
    pub dynamic_backends: HashMap<String, Arc<Backend>>,
    pub local: Arc<LocalServer>,
    pub downstream: Downstream,
    pub sent: Option<Sent>,
    /// The body of the response being streamed was abandoned.
    pub abandoned: bool,
    /// A promise of the next request is open (`next_request`; one at a
    /// time).
    pub promise_open: bool,
    /// Body bytes held, all bodies together (a sent response's included).
    body_bytes: u64,
    /// The worker thread's CPU time when the run began.
    pub cpu_at_start: std::time::Duration,
    /// The run's waker, and the async runtime.
    pub run: RunContext,
    /// Bytes the request may still log, all its streams together.
    log_room: Arc<std::sync::atomic::AtomicUsize>,
    /// The id of the request served now, which its log lines carry.
    request_id: RequestLabel,
    route: String,
}

impl FastlyState {
    /// The state of an instance started for a request (`head` and
    /// `body`, from `downstream`) on the route `route`.
    pub fn new(
        limits: InstanceLimits,
        local: Arc<LocalServer>,
        head: RequestParts,
        body: Bytes,
        mut downstream: Downstream,
        route: &str,
        cx: RunContext,
    ) -> FastlyState {
        downstream.original_header_names = head.headers.keys().cloned().collect();
        let mut requests = Table::new(limits.handles);
        let mut items = Table::new(limits.handles);
        let mut downstream_body = Body::default();
        let body_bytes = body.len() as u64;
        downstream_body.push_back(body);
        // Fresh tables: neither insert can fail.
        downstream.request = requests.insert(head).unwrap_or(0);
        downstream.body = items.insert(AsyncItem::Body(downstream_body)).unwrap_or(0);
        FastlyState {
            requests,
            responses: Table::new(limits.handles),
            items,
            endpoints: Table::new(limits.endpoints),
            stores: Table::new(limits.handles),
            acls: Table::new(limits.handles),
            secret_stores: Table::new(limits.handles),
            secrets: Table::new(limits.handles),
            kv_stores: Table::new(limits.handles),
            dynamic_backends: HashMap::new(),
            local,
            request_id: request_label(&downstream.id),
            downstream,
            sent: None,
            abandoned: false,
            promise_open: false,
            body_bytes,
            cpu_at_start: super::clock::thread_cpu_time(),
            route: route.to_string(),
            log_room: Arc::new(std::sync::atomic::AtomicUsize::new(limits.log_bytes)),
            limits,
            run: cx,
        }
    }

    /// The backend named `name`: configured, or registered by the app.
    pub fn backend(&self, name: &str) -> Option<&Arc<Backend>> {
        self.local
            .backends
            .get(name)
            .or_else(|| self.dynamic_backends.get(name))
    }

    pub fn body(&self, h: u32) -> CallResult<&Body> {
        match self.items.get(h)? {
            AsyncItem::Body(b) => Ok(b),
            _ => Err(Status::Badf),
        }
    }

    pub fn body_mut(&mut self, h: u32) -> CallResult<&mut Body> {
        match self.items.get_mut(h)? {
            AsyncItem::Body(b) => Ok(b),
            _ => Err(Status::Badf),
        }
    }

    pub fn pending_mut(&mut self, h: u32) -> CallResult<&mut PendingRequest> {
        match self.items.get_mut(h)? {
            AsyncItem::Pending(p) => Ok(p),
            _ => Err(Status::Badf),
        }
    }

    /// Whether async item `h` is ready: a body always is, a pending
    /// request once its response (or failure) is in.
    pub fn is_ready(&mut self, h: u32) -> CallResult<bool> {
        match self.items.get_mut(h)? {
            AsyncItem::Body(b) if b.source.is_some() && b.len == 0 => {
                let waker = self.run.waker.clone();
                match self.poll_fill(h, &mut Context::from_waker(&waker)) {
                    Poll::Pending => Ok(false),
                    // A failed body is ready: reading it tells the error.
                    Poll::Ready(_) => Ok(true),
                }
            }
            AsyncItem::Body(_) | AsyncItem::Kv(_) | AsyncItem::Cache(_) => Ok(true),
            AsyncItem::Pending(p) => Ok(p.is_done()),
            AsyncItem::CacheBusy(b) => {
                let waker = self.run.waker.clone();
                let cache = self.local.cache.clone();
                Ok(b.poll_done(&cache, &mut Context::from_waker(&waker))
                    .is_ready())
            }
            AsyncItem::HttpCache(c) => {
                let waker = self.run.waker.clone();
                let cache = self.local.cache.clone();
                Ok(c.poll_resolved(&cache, &mut Context::from_waker(&waker))
                    .is_ready())
            }
            AsyncItem::Promise(p) => {
                let waker = self.run.waker.clone();
                Ok(p.promise
                    .poll_ready(&mut Context::from_waker(&waker))
                    .is_ready())
            }
        }
    }

    /// Sends request `req` with body `body` (both closed) to the backend
    /// named `backend`, on the async runtime: the pending request's handle.
    /// `inval` (and `destination_not_found`) for a backend the app's
    /// configuration does not have.
    pub fn send_async(&mut self, req: u32, body: u32, backend: &str) -> Result<u32, (Status, u32)> {
        self.send_to_backend(req, body, backend, false)
    }

    /// As [`Self::send_async`], but body `body` stays open: what it holds
    /// and what the app writes to it afterwards go to the backend as they
    /// come (the app waiting while the backend is behind), until the app
    /// closes it (abandoning it cuts the request short).
    pub fn send_async_streaming(
        &mut self,
        req: u32,
        body: u32,
        backend: &str,
    ) -> Result<u32, (Status, u32)> {
        self.send_to_backend(req, body, backend, true)
    }

    fn send_to_backend(
        &mut self,
        req: u32,
        body: u32,
        backend: &str,
        streaming: bool,
    ) -> Result<u32, (Status, u32)> {
        let Some(b) = self.backend(backend).cloned() else {
            return Err((Status::Inval, SendError::DestinationNotFound as u32));
        };
        let internal = |s: Status| (s, SendError::InternalError as u32);
        self.requests.get(req).map_err(internal)?;
        if self.body(body).map_err(internal)?.stream.is_some() {
            // Already streamed somewhere.
            return Err(internal(Status::Badf));
        }
        if self.items.is_full() {
            return Err(internal(Status::Limitexceeded));
        }
        let parts = self.requests.remove(req).map_err(internal)?;
        let upstream_body = if streaming {
            let (sender, stream) = BodyStream::channel(STREAM_CHUNKS);
            let limit = self.limits.body_bytes;
            self.body_mut(body).map_err(internal)?.stream = Some(Streamed {
                sink: Sink::Channel(sender),
                sent: 0,
                limit,
                to: StreamedTo::Backend,
            });
            UpstreamBody::Right(stream)
        } else {
            let bytes = self.take_body_bytes(body).map_err(internal)?;
            UpstreamBody::Left(http_body_util::Full::new(bytes))
        };
        let max_body = self.limits.body_bytes.saturating_sub(self.body_bytes);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let waker = self.run.waker.clone();
        let task = self.run.io.spawn(async move {
            let outcome = upstream::send(b, parts, upstream_body, max_body).await;
            let _ = tx.send(outcome);
            // The guest may be waiting on something else that includes
            // this request: wake it in any case.
            waker.wake();
        });
        let pending = PendingRequest {
            rx,
            task: task.abort_handle(),
            done: None,
        };
        self.items
            .insert(AsyncItem::Pending(pending))
            .map_err(internal)
    }

    /// Takes the outcome of pending request `h` (closing it), which must be
    /// in: the handles of the response and its body, or the tag of the
    /// failure.
    pub fn take_response(&mut self, h: u32) -> CallResult<Result<(u32, u32), SendError>> {
        let p = self.pending_mut(h)?;
        if !p.is_done() {
            return Err(Status::Again);
        }
        let AsyncItem::Pending(mut p) = self.items.remove(h)? else {
            return Err(Status::Badf);
        };
        let outcome = p.done.take().unwrap_or(Err(SendError::InternalError));
        let response = match outcome {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        let len = response.body.len() as u64;
        if self.body_bytes + len > self.limits.body_bytes {
            return Ok(Err(SendError::HttpResponseBodyTooLarge));
        }
        let mut body = Body::default();
        body.push_back(response.body);
        let mut parts = response.parts;
        parts.remote = response.remote;
        let resp = self.responses.insert(parts)?;
        let body = match self.items.insert(AsyncItem::Body(body)) {
            Ok(b) => b,
            Err(e) => {
                let _ = self.responses.remove(resp);
                return Err(e);
            }
        };
        self.body_bytes += len;
        Ok(Ok((resp, body)))
    }

    /// A new, empty body.
    pub fn new_body(&mut self) -> CallResult<u32> {
        self.items.insert(AsyncItem::Body(Body::default()))
    }

    /// Appends (or, with `front`, prepends) `bytes` to body `h`, within the
    /// instance's budget of held body bytes.
    pub fn write_body(&mut self, h: u32, bytes: &[u8], front: bool) -> CallResult {
        let n = bytes.len() as u64;
        if self.body_bytes + n > self.limits.body_bytes {
            return Err(Status::Limitexceeded);
        }
        let body = self.body_mut(h)?;
        let chunk = Bytes::copy_from_slice(bytes);
        if front {
            body.push_front(chunk);
        } else {
            body.push_back(chunk);
        }
        self.body_bytes += n;
        Ok(())
    }

    /// Takes up to `max` bytes from the front of body `h`.
    /// Takes the next chunk of body `h` that is still arriving, if one is
    /// there: `Ready(Ok(()))` when a chunk was taken or the body is
    /// complete, `Pending` (with `cx`'s waker registered) until then. A
    /// body that failed to arrive is `error`, once; after that it ends
    /// where it broke off.
    fn pull(&mut self, h: u32, cx: &mut Context<'_>) -> Poll<CallResult> {
        let room = self.limits.body_bytes.saturating_sub(self.body_bytes);
        let body = match self.body_mut(h) {
            Ok(b) => b,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let Some(source) = body.source.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        match source.poll_chunk(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                body.source = None;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Some(Err(_))) => {
                body.source = None;
                Poll::Ready(Err(Status::Error))
            }
            Poll::Ready(Some(Ok(chunk))) => {
                let n = chunk.len() as u64;
                // A client's body is bounded by the route's request body
                // limit on the way in; a cached one by the budget here.
                if matches!(body.source, Some(Source::Cache(_))) && n > room {
                    body.source = None;
                    return Poll::Ready(Err(Status::Limitexceeded));
                }
                body.push_back(chunk);
                self.body_bytes += n;
                Poll::Ready(Ok(()))
            }
        }
    }

    /// Whether body `h` has bytes to read or is complete (see
    /// [`Self::pull`]).
    pub fn poll_fill(&mut self, h: u32, cx: &mut Context<'_>) -> Poll<CallResult> {
        match self.body(h) {
            Ok(b) if b.len > 0 || b.source.is_none() => Poll::Ready(Ok(())),
            Ok(_) => self.pull(h, cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// Takes all of body `h` that is still arriving; `Pending` until it
    /// has.
    pub fn poll_complete(&mut self, h: u32, cx: &mut Context<'_>) -> Poll<CallResult> {
        while self.is_arriving(h) {
            match self.pull(h, cx) {
                Poll::Ready(Ok(())) => {}
                other => return other,
            }
        }
        Poll::Ready(Ok(()))
    }

    /// The rest of the downstream request's body, still arriving.
    pub fn set_downstream_rest(&mut self, rest: Option<IncomingBody>) {
        let h = self.downstream.body;
        if let Ok(b) = self.body_mut(h) {
            b.source = rest.map(Source::Client);
        }
    }

    /// Whether body `h` is still arriving.
    pub fn is_arriving(&self, h: u32) -> bool {
        self.body(h).is_ok_and(|b| b.source.is_some())
    }

    pub fn read_body(&mut self, h: u32, max: usize) -> CallResult<Bytes> {
        let out = self.body_mut(h)?.take(max);
        self.body_bytes -= out.len() as u64;
        Ok(out)
    }

    /// Moves all of body `src` to the end of body `dest`, closing `src`.
    pub fn append_body(&mut self, dest: u32, src: u32) -> CallResult {
        if dest == src || !self.items.contains(dest) {
            return Err(Status::Badf);
        }
        let src_body = self.take_body(src)?;
        let n = src_body.len;
        let trailers = src_body.trailers.clone();
        let bytes = src_body.into_bytes();
        // The bytes were held already: the budget does not change.
        self.body_bytes += n;
        let d = self.body_mut(dest)?;
        d.push_back(bytes);
        d.trailers.extend(trailers);
        Ok(())
    }

    /// Takes the first chunk body `h` holds; its bytes leave the budget.
    pub fn pop_body(&mut self, h: u32) -> CallResult<Option<Bytes>> {
        let c = self.body_mut(h)?.pop();
        if let Some(c) = &c {
            self.body_bytes -= c.len() as u64;
        }
        Ok(c)
    }

    /// Closes body `h`, giving it back; its bytes leave the budget.
    pub fn take_body(&mut self, h: u32) -> CallResult<Body> {
        self.body(h)?;
        let AsyncItem::Body(b) = self.items.remove(h)? else {
            return Err(Status::Badf);
        };
        self.body_bytes -= b.len;
        Ok(b)
    }

    /// The whole of body `h`, closing it.
    pub fn take_body_bytes(&mut self, h: u32) -> CallResult<Bytes> {
        Ok(self.take_body(h)?.into_bytes())
    }

    /// Closes body `h`, keeping its bytes as the sent response's whole body
    /// (still counted against the budget).
    pub fn send_body(&mut self, h: u32) -> CallResult<Bytes> {
        let bytes = self.take_body_bytes(h)?;
        self.body_bytes += bytes.len() as u64;
        Ok(bytes)
    }

    /// Finishes the streamed body `h`, closing it: a response or request
    /// is complete, a cached object stored whole (or, if it is not the
    /// length the app declared, failed: `error`).
    pub fn finish_streaming(&mut self, h: u32) -> CallResult {
        let mut body = self.take_body(h)?;
        let Some(stream) = body.stream.take() else {
            return Ok(());
        };
        match stream.sink {
            Sink::Channel(sender) => sender.finish(),
            Sink::Cache(writer) => writer.finish()?,
        }
        if stream.to == StreamedTo::Client {
            if let Some(sent) = self.sent.as_mut() {
                sent.body = SentBody::Finished;
            }
        }
        Ok(())
    }

    /// A new body whose writes go into the cache through `writer`.
    pub fn new_cache_body(&mut self, writer: CacheWriter) -> CallResult<u32> {
        let body = Body {
            stream: Some(Streamed {
                sink: Sink::Cache(writer),
                sent: 0,
                limit: u64::MAX,
                to: StreamedTo::Cache,
            }),
            ..Body::default()
        };
        self.items.insert(AsyncItem::Body(body))
    }

    /// A new body reading `reader` (a cached object) as it is written.
    pub fn new_cached_body(&mut self, reader: CachedReader) -> CallResult<u32> {
        let body = Body {
            source: Some(Source::Cache(reader)),
            ..Body::default()
        };
        self.items.insert(AsyncItem::Body(body))
    }

    /// HTTP cache handle `h`, resolved (`again` if its lookup still
    /// waits: wait for it with `get_state` or `select` first).
    pub fn http_cache(&mut self, h: u32) -> CallResult<&mut HttpCacheHandle> {
        let waker = self.run.waker.clone();
        let cache = self.local.cache.clone();
        match self.items.get_mut(h)? {
            AsyncItem::HttpCache(c) => {
                if c.poll_resolved(&cache, &mut Context::from_waker(&waker))
                    .is_pending()
                {
                    return Err(Status::Again);
                }
                Ok(&mut **c)
            }
            _ => Err(Status::Badf),
        }
    }

    pub fn cache_handle(&self, h: u32) -> CallResult<&CacheHandle> {
        match self.items.get(h)? {
            AsyncItem::Cache(c) => Ok(c),
            _ => Err(Status::Badf),
        }
    }

    pub fn cache_handle_mut(&mut self, h: u32) -> CallResult<&mut CacheHandle> {
        match self.items.get_mut(h)? {
            AsyncItem::Cache(c) => Ok(c),
            _ => Err(Status::Badf),
        }
    }

    /// Makes body `h` the streamed body of a response whose head has gone
    /// to the client. What it holds already is sent first, by the next
    /// write or its close.
    pub fn start_streaming(&mut self, h: u32, sender: BodySender) -> CallResult {
        let limit = self.limits.response_body;
        self.body_mut(h)?.stream = Some(Streamed {
            sink: Sink::Channel(sender),
            sent: 0,
            limit,
            to: StreamedTo::Client,
        });
        Ok(())
    }

    /// Answers the current request now with the response the app sent
    /// whole (a reused instance does so before it waits for its next
    /// request, instead of when it ends).
    pub fn answer_now(&mut self) {
        let Some(sent) = self.sent.as_mut() else {
            return;
        };
        let SentBody::Whole(body) = std::mem::replace(&mut sent.body, SentBody::Finished) else {
            return;
        };
        let answer = if self.abandoned {
            Err(crate::request::HandlerError::BadResponse(
                "the app abandoned its response's body".into(),
            ))
        } else {
            whole_response(
                sent.parts.clone(),
                body,
                self.limits.response_body,
                self.limits.response_header_bytes,
            )
        };
        self.run.responder.send(answer);
    }

    /// Whether the current request is answered: whole, or by a stream the
    /// app has finished.
    pub fn is_answered(&self) -> bool {
        matches!(
            self.sent.as_ref().map(|s| &s.body),
            Some(SentBody::Finished)
        )
    }

    /// Makes `next` the request the instance serves: its client gets what
    /// the app sends from now on; the route's time and fuel limits and the
    /// log budget start again. Its request and body handles. An instance
    /// that cannot take it (its handle tables full) leaves it to a fresh
    /// instance.
    pub fn take_next(&mut self, next: NextRequest) -> CallResult<(u32, u32)> {
        if self.items.is_full() || self.requests.is_full() || !self.run.responder.has_answered() {
            // Dropped untaken, it goes back to the server.
            drop(next);
            return Err(Status::Limitexceeded);
        }
        let (request, reply) = next.take();
        if !self.run.responder.rearm(reply) {
            return Err(Status::Error);
        }
        let head = RequestParts::downstream(&request);
        let mut downstream = Downstream::new(request.remote, request.local, &request.id);
        downstream.original_header_names = head.headers.keys().cloned().collect();
        let mut body = Body::default();
        let held = request.body.len() as u64;
        body.push_back(request.body.clone());
        body.source = request.take_body_rest().map(Source::Client);
        downstream.request = self.requests.insert(head)?;
        downstream.body = self.items.insert(AsyncItem::Body(body))?;
        self.body_bytes += held;
        // Lines written from now on, to any stream, are this request's.
        *self.request_id.lock().unwrap_or_else(|e| e.into_inner()) = request.id.clone();
        self.downstream = downstream;
        self.sent = None;
        self.abandoned = false;
        self.cpu_at_start = super::clock::thread_cpu_time();
        self.log_room
            .store(self.limits.log_bytes, std::sync::atomic::Ordering::Relaxed);
        self.run.renewal.request();
        Ok((self.downstream.request, self.downstream.body))
    }

    /// Log lines for `source` of this request, within its log budget,
    /// which standard output, standard error and every endpoint share.
    pub fn log_lines(&self, source: &str) -> LogLines {
        LogLines::labelled_by(self.request_id.clone(), &self.route, self.log_room.clone())
            .labelled(source)
    }

    /// Opens the log endpoint `name` (or gives the handle it has).
    pub fn endpoint(&mut self, name: &str) -> CallResult<u32> {
        if name.is_empty() || name.len() > MAX_ENDPOINT_NAME {
            return Err(Status::Inval);
        }
        let lines = self.log_lines(name);
        let lines = match self.local.log_files.get(name) {
            Some(file) => lines.into_file(file.clone()),
            None => lines,
        };
        self.endpoints.insert(Endpoint { lines })
    }

    /// Writes one log record to endpoint `h` (a record that ends its own
    /// line is not given another).
    pub fn log(&mut self, h: u32, msg: &[u8]) -> CallResult {
        let e = self.endpoints.get_mut(h)?;
        let _ = e.lines.write_all(msg);
        if !msg.ends_with(b"\n") {
            let _ = e.lines.write_all(b"\n");
        }
        Ok(())
    }
}

/// Checks a header name and value the guest gave.
pub(crate) fn header(name: &[u8], value: &[u8]) -> CallResult<(HeaderName, HeaderValue)> {
    let name = HeaderName::from_bytes(name).map_err(|_| Status::Inval)?;
    let value = HeaderValue::from_bytes(value).map_err(|_| Status::Inval)?;
    Ok((name, value))
}

/// Whether `headers` may take one more header of `extra` bytes.
pub(crate) fn room_for(headers: &HeaderMap, extra: usize, limits: &InstanceLimits) -> CallResult {
    if headers.len() >= limits.headers {
        return Err(Status::Limitexceeded);
    }
    let bytes: usize = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len())
        .sum();
    if bytes + extra > limits.header_bytes {
        return Err(Status::Limitexceeded);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::{Method, Uri, Version};

    struct NoWake;

    impl std::task::Wake for NoWake {
        fn wake(self: Arc<Self>) {}
    }

    fn state(body: &'static [u8]) -> FastlyState {
        let limits = InstanceLimits {
            handles: 4,
            headers: 4,
            header_bytes: 64,
            body_bytes: 16,
            response_body: 16,
            response_header_bytes: 64,
            endpoints: 2,
            log_bytes: 1024,
            timeout: std::time::Duration::from_secs(1),
        };
        let head = RequestParts {
            method: Method::GET,
            uri: Uri::from_static("http://h/"),
            version: Version::HTTP_11,
            headers: HeaderMap::new(),
        };
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let io = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let cx = RunContext {
            waker: std::task::Waker::from(Arc::new(NoWake)),
            io: io.handle().clone(),
            responder: crate::run::Responder::new(tokio::sync::oneshot::channel().0),
            renewal: crate::run::Renewal::default(),
        };
        FastlyState::new(
            limits,
            Arc::default(),
            head,
            Bytes::from_static(body),
            Downstream::new(addr, addr, "1"),
            "/",
            cx,
        )
    }

    #[test]
    fn bodies_hold_no_more_than_the_budget() {
        let mut s = state(b"0123456789");
        let b = s.downstream.body;
        let n = s.new_body().unwrap();
        assert_eq!(s.write_body(n, b"abcdef", false), Ok(()));
        // 10 + 6 held: one more byte is refused.
        assert_eq!(s.write_body(n, b"x", false), Err(Status::Limitexceeded));
        assert_eq!(&s.read_body(b, 4).unwrap()[..], b"0123");
        assert_eq!(s.write_body(n, b"xy", true), Ok(()));
        s.append_body(n, b).unwrap();
        assert_eq!(s.body(b).err(), Some(Status::Badf));
        assert_eq!(&s.take_body_bytes(n).unwrap()[..], b"xyabcdef456789");
        assert_eq!(s.body_bytes, 0);
        assert_eq!(s.append_body(n, n), Err(Status::Badf));
    }

    #[test]
    fn header_room_is_bounded() {
        let s = state(b"");
        let mut h = HeaderMap::new();
        for i in 0..4 {
            room_for(&h, 2, &s.limits).unwrap();
            h.append(HeaderName::from_static("x"), HeaderValue::from(i));
        }
        assert_eq!(room_for(&h, 2, &s.limits), Err(Status::Limitexceeded));
        assert_eq!(header(b"bad name", b"v").err(), Some(Status::Inval));
        assert_eq!(header(b"x", b"a\nb").err(), Some(Status::Inval));
    }
}
