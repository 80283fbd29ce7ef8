//! `wasi:http/types` for a proxy's incoming side: the request it handles
//! (head and a body held whole), and the response it gives through its
//! `response-outparam` (head, and a body written through an output
//! stream, held whole up to the route's limit).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{HeaderMap, Method, StatusCode};
use lucet_runtime::component::Val;
use lucet_runtime::Vmctx;
use lucet_wasi::component::{
    none, ok, ok_unit, result_err, some, ComponentCtx, HostError, HostInputStream,
    HostOutputStream, InputStream, Interfaces, OutputStream, Pollable, Readiness, Resource,
    StreamError,
};

use crate::abi::framing::is_hop_by_hop;

const TYPES: &str = "wasi:http/types";

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Header bytes one request's handler may hold in all its fields
/// together: names and values as they are set, never given back.
pub(super) const MAX_FIELD_BYTES: usize = 1 << 20;

/// What a set of fields holds.
pub(super) struct FieldsData {
    pub entries: Vec<(HeaderName, HeaderValue)>,
    mutable: bool,
    /// Header bytes the request's handler may still add.
    room: Arc<AtomicUsize>,
}

/// `fields`: headers or trailers. A response's headers are shared with
/// the response.
pub(super) struct Fields(pub Arc<Mutex<FieldsData>>);

impl Resource for Fields {
    const INTERFACE: &'static str = TYPES;
    const NAME: &'static str = "fields";
}

/// `header-error`.
enum HeaderError {
    InvalidSyntax,
    Forbidden,
    Immutable,
}

fn header_error(e: HeaderError) -> Val {
    result_err(Val::Variant(e as u32, None))
}

impl FieldsData {
    pub fn new(room: Arc<AtomicUsize>) -> FieldsData {
        FieldsData {
            entries: Vec::new(),
            mutable: true,
            room,
        }
    }

    pub fn immutable(headers: &HeaderMap, room: Arc<AtomicUsize>) -> FieldsData {
        FieldsData {
            entries: headers
                .iter()
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect(),
            mutable: false,
            room,
        }
    }

    fn take_room(&self, bytes: usize) -> Result<(), HostError> {
        self.room
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(bytes)
            })
            .map(drop)
            .map_err(|_| {
                HostError(format!(
                    "the handler's headers are larger than {MAX_FIELD_BYTES} bytes"
                ))
            })
    }

    /// The headers, as a response carries them.
    pub fn header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (n, v) in &self.entries {
            map.append(n.clone(), v.clone());
        }
        map
    }
}

/// A field name and value the guest gave: checked, or why not.
fn field(
    name: &Val,
    value: Option<&Val>,
) -> Result<(HeaderName, Option<HeaderValue>), HeaderError> {
    let Val::String(name) = name else {
        return Err(HeaderError::InvalidSyntax);
    };
    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| HeaderError::InvalidSyntax)?;
    if is_hop_by_hop(&name) {
        return Err(HeaderError::Forbidden);
    }
    let value = match value {
        Some(Val::Bytes(b)) => {
            Some(HeaderValue::from_bytes(b).map_err(|_| HeaderError::InvalidSyntax)?)
        }
        Some(_) => return Err(HeaderError::InvalidSyntax),
        None => None,
    };
    Ok((name, value))
}

fn values(list: &Val) -> Vec<&Val> {
    match list {
        Val::List(items) => items.iter().collect(),
        _ => Vec::new(),
    }
}

/// The request a proxy handles: its head, and its body held whole.
pub(super) struct IncomingRequest {
    pub method: Method,
    pub path_with_query: Option<String>,
    pub authority: Option<String>,
    pub headers: Arc<Mutex<FieldsData>>,
    pub body: Option<Bytes>,
}

impl Resource for IncomingRequest {
    const INTERFACE: &'static str = TYPES;
    const NAME: &'static str = "incoming-request";
}

/// `incoming-body`: the body of the request, or of a response to an
/// outgoing request, held whole.
pub(super) struct IncomingBody(pub Option<Bytes>);

impl Resource for IncomingBody {
    const INTERFACE: &'static str = TYPES;
    const NAME: &'static str = "incoming-body";
}

/// A body held whole, read as a stream.
struct WholeBody(Bytes);

impl HostInputStream for WholeBody {
    fn read(&mut self, len: usize) -> Result<Vec<u8>, StreamError> {
        if self.0.is_empty() {
            return Err(StreamError::Closed);
        }
        let n = len.min(self.0.len());
        Ok(self.0.split_to(n).to_vec())
    }
}

/// `future-trailers`: the request has none.
struct FutureTrailers;

impl Resource for FutureTrailers {
    const INTERFACE: &'static str = TYPES;
    const NAME: &'static str = "future-trailers";
}

/// A body the handler writes (its response's, or an outgoing request's),
/// held whole up to a limit.
pub(super) struct BodyBuffer {
    pub bytes: Vec<u8>,
    pub limit: u64,
    /// What all the bodies the handler writes or fetches may still take.
    pub room: Arc<AtomicU64>,
    /// Whether the guest has asked for the stream (at most once).
    pub streamed: bool,
    /// Whether `outgoing-body.finish` was called.
    pub finished: bool,
    /// Whether its `outgoing-body` was dropped unfinished.
    pub abandoned: bool,
    /// Told when it is finished (or abandoned: dropped), for a request
    /// sent before its body was whole.
    pub on_finish: Option<tokio::sync::oneshot::Sender<()>>,
}

impl BodyBuffer {
    pub fn new(limit: u64, room: Arc<AtomicU64>) -> BodyBuffer {
        BodyBuffer {
            bytes: Vec::new(),
            limit,
            room,
            streamed: false,
            finished: false,
            abandoned: false,
            on_finish: None,
        }
    }
}

/// Takes `bytes` from `room`, a budget of body bytes.
pub(super) fn charge(room: &AtomicU64, bytes: u64) -> bool {
    room.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
        left.checked_sub(bytes)
    })
    .is_ok()
}

/// What a response's body stream writes into.
struct BodyWriter(Arc<Mutex<BodyBuffer>>);

/// The most one write of a response body takes.
const MAX_BODY_WRITE: u64 = 1 << 20;

impl HostOutputStream for BodyWriter {
    fn check_write(&mut self) -> Result<u64, StreamError> {
        let body = lock(&self.0);
        if body.finished {
            return Err(StreamError::Closed);
        }
        let room = body
            .limit
            .saturating_sub(body.bytes.len() as u64)
            .min(body.room.load(Ordering::Relaxed));
        // A body at its limit still takes one more byte, so that the
        // write which passes the limit fails and says so.
        Ok(room.clamp(1, MAX_BODY_WRITE))
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), StreamError> {
        let mut body = lock(&self.0);
        if body.finished {
            return Err(StreamError::Closed);
        }
        if body.bytes.len() as u64 + bytes.len() as u64 > body.limit {
            return Err(StreamError::Failed(format!(
                "the body is larger than the route's limit of {} bytes",
                body.limit
            )));
        }
        if !charge(&body.room, bytes.len() as u64) {
            return Err(StreamError::Failed(
                "the handler's bodies together are larger than its route allows".into(),
            ));
        }
        body.bytes.extend_from_slice(bytes);
        Ok(())
    }
}

/// `outgoing-response`.
pub(super) struct OutgoingResponse {
    pub status: StatusCode,
    pub headers: Arc<Mutex<FieldsData>>,
    pub body: Arc<Mutex<BodyBuffer>>,
}

impl Resource for OutgoingResponse {
    const INTERFACE: &'static str = TYPES;
    const NAME: &'static str = "outgoing-response";
}

/// `outgoing-body`.
pub(super) struct OutgoingBody(pub Arc<Mutex<BodyBuffer>>);

impl Drop for OutgoingBody {
    fn drop(&mut self) {
        let mut body = lock(&self.0);
        if !body.finished {
            body.abandoned = true;
            // A request waiting for it learns it never will be whole.
            body.on_finish = None;
        }
    }
}

impl Resource for OutgoingBody {
    const INTERFACE: &'static str = TYPES;
    const NAME: &'static str = "outgoing-body";
}

/// What the handler answered through its `response-outparam`.
pub(super) enum Answer {
    Response(OutgoingResponse),
    /// An `error-code`, as its debug text.
    Error(String),
}

/// `response-outparam`: where the answer goes, shared with the ABI.
pub(super) struct ResponseOutparam(pub Arc<Mutex<Option<Answer>>>);

impl Resource for ResponseOutparam {
    const INTERFACE: &'static str = TYPES;
    const NAME: &'static str = "response-outparam";
}

/// How many times the route's response body limit all the bodies one
/// handler writes and fetches may hold together: enough to fetch a body as
/// large as a response and answer with it.
pub(super) const BODY_ROOM_FACTOR: u64 = 2;

/// The per-request settings the functions need, kept in the instance's
/// context beside its resources.
pub(super) struct HttpLimits {
    pub response_body: u64,
    pub field_room: Arc<AtomicUsize>,
    /// What the bodies the handler writes and fetches may still hold.
    pub body_room: Arc<AtomicU64>,
    /// Where its outgoing requests may go.
    pub origins: Arc<crate::abi::backends::Origins>,
    /// Its outgoing requests whose `future-incoming-response`s it still
    /// holds.
    pub in_flight: Arc<AtomicUsize>,
    /// Where the handler's answer goes (its outparam holds it too).
    pub answer: Arc<Mutex<Option<Answer>>>,
    /// Wakes the run when what it waits for is ready.
    pub waker: std::task::Waker,
    /// The async runtime, for the timers of its waits.
    pub io: tokio::runtime::Handle,
}

pub(super) fn http_limits(ctx: &mut ComponentCtx) -> Result<&mut HttpLimits, HostError> {
    ctx.extension_mut::<HttpLimits>()
        .ok_or_else(|| HostError("the instance was not started by the wasi:http ABI".into()))
}

pub(super) fn ctx(vmctx: &mut Vmctx) -> Result<&mut ComponentCtx, HostError> {
    vmctx
        .embed_ctx_mut::<ComponentCtx>()
        .ok_or_else(|| HostError("the instance has no ComponentCtx".into()))
}

/// `method`'s cases without payload, in order; `other(string)` follows.
const METHODS: [Method; 9] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::CONNECT,
    Method::OPTIONS,
    Method::TRACE,
    Method::PATCH,
];

pub(super) fn method_val(m: &Method) -> Val {
    match METHODS.iter().position(|k| k == m) {
        Some(i) => Val::Variant(i as u32, None),
        None => Val::Variant(
            METHODS.len() as u32,
            Some(Box::new(Val::String(m.as_str().to_string()))),
        ),
    }
}

/// The method a `method` value names, if it is a valid one.
pub(super) fn method_from_val(v: &Val) -> Option<Method> {
    match v {
        Val::Variant(i, None) => METHODS.get(*i as usize).cloned(),
        Val::Variant(i, Some(name)) if *i as usize == METHODS.len() => match &**name {
            Val::String(name) => Method::from_bytes(name.as_bytes()).ok(),
            _ => None,
        },
        _ => None,
    }
}

fn fields_handle(ctx: &mut ComponentCtx, data: Arc<Mutex<FieldsData>>) -> Result<Val, HostError> {
    ctx.push(Fields(data))
}

/// Adds the functions of `wasi:http/types` a proxy's incoming side uses.
pub(super) fn add(interfaces: &mut Interfaces) {
    interfaces.func(TYPES, "[constructor]fields", |vmctx, _| {
        let ctx = ctx(vmctx)?;
        let room = http_limits(ctx)?.field_room.clone();
        Ok(Some(fields_handle(
            ctx,
            Arc::new(Mutex::new(FieldsData::new(room))),
        )?))
    });
    interfaces.func(TYPES, "[static]fields.from-list", |vmctx, args| {
        let ctx = ctx(vmctx)?;
        let room = http_limits(ctx)?.field_room.clone();
        let mut data = FieldsData::new(room);
        for entry in values(args.at(0)?) {
            let Val::Record(pair) = entry else {
                return Ok(Some(header_error(HeaderError::InvalidSyntax)));
            };
            match field(&pair[0], pair.get(1)) {
                Ok((name, Some(value))) => {
                    data.take_room(name.as_str().len() + value.len())?;
                    data.entries.push((name, value));
                }
                Ok(_) => return Ok(Some(header_error(HeaderError::InvalidSyntax))),
                Err(e) => return Ok(Some(header_error(e))),
            }
        }
        Ok(Some(ok(fields_handle(ctx, Arc::new(Mutex::new(data)))?)))
    });
    interfaces.func(TYPES, "[method]fields.get", |vmctx, args| {
        let fields = ctx(vmctx)?.get::<Fields>(args.at(0)?)?.0.clone();
        let found = match field(args.at(1)?, None) {
            Ok((name, _)) => lock(&fields)
                .entries
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, v)| Val::Bytes(v.as_bytes().to_vec()))
                .collect(),
            Err(_) => Vec::new(),
        };
        Ok(Some(Val::List(found)))
    });
    interfaces.func(TYPES, "[method]fields.has", |vmctx, args| {
        let fields = ctx(vmctx)?.get::<Fields>(args.at(0)?)?.0.clone();
        let has = match field(args.at(1)?, None) {
            Ok((name, _)) => lock(&fields).entries.iter().any(|(n, _)| *n == name),
            Err(_) => false,
        };
        Ok(Some(Val::Bool(has)))
    });
    interfaces.func(TYPES, "[method]fields.set", |vmctx, args| {
        let fields = ctx(vmctx)?.get::<Fields>(args.at(0)?)?.0.clone();
        let mut data = lock(&fields);
        if !data.mutable {
            return Ok(Some(header_error(HeaderError::Immutable)));
        }
        let name = match field(args.at(1)?, None) {
            Ok((name, _)) => name,
            Err(e) => return Ok(Some(header_error(e))),
        };
        let mut new = Vec::new();
        for v in values(args.at(2)?) {
            match field(args.at(1)?, Some(v)) {
                Ok((_, Some(value))) => new.push(value),
                Ok(_) => return Ok(Some(header_error(HeaderError::InvalidSyntax))),
                Err(e) => return Ok(Some(header_error(e))),
            }
        }
        data.take_room(new.iter().map(|v| name.as_str().len() + v.len()).sum())?;
        data.entries.retain(|(n, _)| *n != name);
        data.entries
            .extend(new.into_iter().map(|v| (name.clone(), v)));
        Ok(Some(ok_unit()))
    });
    interfaces.func(TYPES, "[method]fields.delete", |vmctx, args| {
        let fields = ctx(vmctx)?.get::<Fields>(args.at(0)?)?.0.clone();
        let mut data = lock(&fields);
        if !data.mutable {
            return Ok(Some(header_error(HeaderError::Immutable)));
        }
        match field(args.at(1)?, None) {
            Ok((name, _)) => {
                data.entries.retain(|(n, _)| *n != name);
                Ok(Some(ok_unit()))
            }
            Err(e) => Ok(Some(header_error(e))),
        }
    });
    interfaces.func(TYPES, "[method]fields.append", |vmctx, args| {
        let fields = ctx(vmctx)?.get::<Fields>(args.at(0)?)?.0.clone();
        let mut data = lock(&fields);
        if !data.mutable {
            return Ok(Some(header_error(HeaderError::Immutable)));
        }
        match field(args.at(1)?, Some(args.at(2)?)) {
            Ok((name, Some(value))) => {
                data.take_room(name.as_str().len() + value.len())?;
                data.entries.push((name, value));
                Ok(Some(ok_unit()))
            }
            Ok(_) => Ok(Some(header_error(HeaderError::InvalidSyntax))),
            Err(e) => Ok(Some(header_error(e))),
        }
    });
    interfaces.func(TYPES, "[method]fields.entries", |vmctx, args| {
        let fields = ctx(vmctx)?.get::<Fields>(args.at(0)?)?.0.clone();
        let entries = lock(&fields)
            .entries
            .iter()
            .map(|(n, v)| {
                Val::Record(vec![
                    Val::String(n.as_str().to_string()),
                    Val::Bytes(v.as_bytes().to_vec()),
                ])
            })
            .collect();
        Ok(Some(Val::List(entries)))
    });
    interfaces.func(TYPES, "[method]fields.clone", |vmctx, args| {
        let ctx = ctx(vmctx)?;
        let fields = ctx.get::<Fields>(args.at(0)?)?.0.clone();
        let copy = {
            let data = lock(&fields);
            data.take_room(
                data.entries
                    .iter()
                    .map(|(n, v)| n.as_str().len() + v.len())
                    .sum(),
            )?;
            FieldsData {
                entries: data.entries.clone(),
                mutable: true,
                room: data.room.clone(),
            }
        };
        Ok(Some(fields_handle(ctx, Arc::new(Mutex::new(copy)))?))
    });

    // The incoming request.
    interfaces.func(TYPES, "[method]incoming-request.method", |vmctx, args| {
        let request = ctx(vmctx)?.get::<IncomingRequest>(args.at(0)?)?;
        Ok(Some(method_val(&request.method)))
    });
    interfaces.func(
        TYPES,
        "[method]incoming-request.path-with-query",
        |vmctx, args| {
            let request = ctx(vmctx)?.get::<IncomingRequest>(args.at(0)?)?;
            Ok(Some(match &request.path_with_query {
                Some(p) => some(Val::String(p.clone())),
                None => none(),
            }))
        },
    );
    interfaces.func(TYPES, "[method]incoming-request.scheme", |vmctx, args| {
        ctx(vmctx)?.get::<IncomingRequest>(args.at(0)?)?;
        // Served over plain HTTP.
        Ok(Some(some(Val::Variant(0, None))))
    });
    interfaces.func(
        TYPES,
        "[method]incoming-request.authority",
        |vmctx, args| {
            let request = ctx(vmctx)?.get::<IncomingRequest>(args.at(0)?)?;
            Ok(Some(match &request.authority {
                Some(a) => some(Val::String(a.clone())),
                None => none(),
            }))
        },
    );
    interfaces.func(TYPES, "[method]incoming-request.headers", |vmctx, args| {
        let ctx = ctx(vmctx)?;
        let headers = ctx.get::<IncomingRequest>(args.at(0)?)?.headers.clone();
        Ok(Some(fields_handle(ctx, headers)?))
    });
    interfaces.func(TYPES, "[method]incoming-request.consume", |vmctx, args| {
        let ctx = ctx(vmctx)?;
        // The body can be taken once.
        match ctx.get::<IncomingRequest>(args.at(0)?)?.body.take() {
            Some(body) => Ok(Some(ok(ctx.push(IncomingBody(Some(body)))?))),
            None => Ok(Some(result_err_unit())),
        }
    });
    interfaces.func(TYPES, "[method]incoming-body.stream", |vmctx, args| {
        let ctx = ctx(vmctx)?;
        match ctx.get::<IncomingBody>(args.at(0)?)?.0.take() {
            Some(body) => {
                let stream = InputStream::Host(Box::new(WholeBody(body)));
                Ok(Some(ok(ctx.push(stream)?)))
            }
            None => Ok(Some(result_err_unit())),
        }
    });
    interfaces.func(TYPES, "[static]incoming-body.finish", |vmctx, args| {
        let ctx = ctx(vmctx)?;
        ctx.take::<IncomingBody>(args.at(0)?)?;
        Ok(Some(ctx.push(FutureTrailers)?))
    });
    interfaces.func(TYPES, "[method]future-trailers.subscribe", |vmctx, args| {
        let ctx = ctx(vmctx)?;
        ctx.get::<FutureTrailers>(args.at(0)?)?;
        Ok(Some(ctx.push(Pollable(Readiness::Now))?))
    });
    interfaces.func(TYPES, "[method]future-trailers.get", |vmctx, args| {
        ctx(vmctx)?.get::<FutureTrailers>(args.at(0)?)?;
        // Ready, no error, no trailers.
        Ok(Some(some(ok(ok(none())))))
    });

    // The response.
    interfaces.func(TYPES, "[constructor]outgoing-response", |vmctx, args| {
        let ctx = ctx(vmctx)?;
        let headers = ctx.take::<Fields>(args.at(0)?)?.0;
        let http = http_limits(ctx)?;
        let body = BodyBuffer::new(http.response_body, http.body_room.clone());
        let response = OutgoingResponse {
            status: StatusCode::OK,
            headers,
            body: Arc::new(Mutex::new(body)),
        };
        Ok(Some(ctx.push(response)?))
    });
    interfaces.func(
        TYPES,
        "[method]outgoing-response.status-code",
        |vmctx, args| {
            let response = ctx(vmctx)?.get::<OutgoingResponse>(args.at(0)?)?;
            Ok(Some(Val::U16(response.status.as_u16())))
        },
    );
    interfaces.func(
        TYPES,
        "[method]outgoing-response.set-status-code",
        |vmctx, args| {
            let response = ctx(vmctx)?.get::<OutgoingResponse>(args.at(0)?)?;
            let Val::U16(code) = args.at(1)? else {
                return Err(HostError("expected a u16".into()));
            };
            match StatusCode::from_u16(*code) {
                Ok(s) if s.as_u16() >= 200 => {
                    response.status = s;
                    Ok(Some(ok_unit()))
                }
                _ => Ok(Some(result_err_unit())),
            }
        },
    );
    interfaces.func(TYPES, "[method]outgoing-response.headers", |vmctx, args| {
        let ctx = ctx(vmctx)?;
        let headers = ctx.get::<OutgoingResponse>(args.at(0)?)?.headers.clone();
        Ok(Some(fields_handle(ctx, headers)?))
    });
    interfaces.func(TYPES, "[method]outgoing-response.body", |vmctx, args| {
        let ctx = ctx(vmctx)?;
        let body = ctx.get::<OutgoingResponse>(args.at(0)?)?.body.clone();
        {
            let mut b = lock(&body);
            if b.streamed {
                return Ok(Some(result_err_unit()));
            }
            b.streamed = true;
        }
        Ok(Some(ok(ctx.push(OutgoingBody(body))?)))
    });
    interfaces.func(TYPES, "[method]outgoing-body.write", |vmctx, args| {
        let ctx = ctx(vmctx)?;
        let body = ctx.get::<OutgoingBody>(args.at(0)?)?.0.clone();
        let stream = OutputStream::Host(Box::new(BodyWriter(body)));
        Ok(Some(ok(ctx.push(stream)?)))
    });
    interfaces.func(TYPES, "[static]outgoing-body.finish", |vmctx, args| {
        let ctx = ctx(vmctx)?;
        let body = ctx.take::<OutgoingBody>(args.at(0)?)?;
        if let Val::Variant(1, Some(trailers)) = args.at(1)? {
            // Trailers are not sent (HTTP/1.1 responses here carry none).
            ctx.take::<Fields>(trailers)?;
        }
        let told = {
            let mut b = lock(&body.0);
            b.finished = true;
            b.on_finish.take()
        };
        if let Some(tx) = told {
            let _ = tx.send(());
        }
        Ok(Some(ok_unit()))
    });
    interfaces.func(TYPES, "[static]response-outparam.set", |vmctx, args| {
        let ctx = ctx(vmctx)?;
        let outparam = ctx.take::<ResponseOutparam>(args.at(0)?)?;
        let answer = match args.at(1)? {
            Val::Variant(0, Some(response)) => {
                Answer::Response(ctx.take::<OutgoingResponse>(response)?)
            }
            Val::Variant(_, error) => Answer::Error(format!("{error:?}")),
            _ => return Err(HostError("expected a result".into())),
        };
        let mut slot = lock(&outparam.0);
        if slot.is_some() {
            return Err(HostError("the response was set already".into()));
        }
        *slot = Some(answer);
        Ok(None)
    });
}

/// `err` of a `result<T>` without error payload.
pub(super) fn result_err_unit() -> Val {
    Val::Variant(1, None)
}
