//! `wasi:http`'s outgoing side: a handler makes a request (its head,
//! options and body) and `outgoing-handler.handle` sends it, on the async
//! runtime, to one of the route's backends (`../backends/`): the backend
//! named by the request's authority, one whose URL has its scheme, host
//! and port, or one made for a host the route's `dynamic-backends` allow.
//! Any other request is denied (`HTTP-request-denied`). The request's body
//! is sent whole once the handler finishes it; the response comes back
//! whole (its body counted against the handler's body budget), and a
//! handler waiting for it is suspended until it is in.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::http::uri::{Authority, PathAndQuery};
use hyper::{Method, Uri, Version};
use lucet_runtime::component::Val;
use lucet_wasi::component::{
    none, ok, ok_unit, result_err, some, HostError, Interfaces, Pollable, Readiness, Resource,
    Signal,
};

use super::types::{
    charge, ctx, http_limits, lock, method_from_val, method_val, result_err_unit, BodyBuffer,
    Fields, FieldsData, IncomingBody, OutgoingBody,
};
use crate::abi::backends::{self, Backend, RequestParts, SendError, Timeouts, UpstreamBody};

const TYPES: &str = "wasi:http/types";

/// The most outgoing requests one handler may have at once (a request
/// counts until its `future-incoming-response` is dropped).
const MAX_IN_FLIGHT: usize = 32;

/// An `error-code`: its case in `wasi:http/types` (the order is fixed
/// across WASI 0.2), with the payload where the case has one.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ErrorCode {
    DestinationNotFound,
    ConnectionRefused,
    ConnectionTerminated,
    ConnectionTimeout,
    ConnectionLimitReached,
    TlsProtocolError,
    TlsCertificateError,
    RequestDenied,
    RequestUriInvalid,
    ResponseIncomplete,
    ResponseBodySize,
    ResponseTimeout,
    ProtocolError,
    Internal(String),
}

impl ErrorCode {
    fn val(&self) -> Val {
        let case = |c: u32| Val::Variant(c, None);
        match self {
            ErrorCode::DestinationNotFound => case(2),
            ErrorCode::ConnectionRefused => case(6),
            ErrorCode::ConnectionTerminated => case(7),
            ErrorCode::ConnectionTimeout => case(8),
            ErrorCode::ConnectionLimitReached => case(11),
            ErrorCode::TlsProtocolError => case(12),
            ErrorCode::TlsCertificateError => case(13),
            ErrorCode::RequestDenied => case(15),
            ErrorCode::RequestUriInvalid => case(19),
            ErrorCode::ResponseIncomplete => case(25),
            ErrorCode::ResponseBodySize => Val::Variant(28, Some(Box::new(none()))),
            ErrorCode::ResponseTimeout => case(33),
            ErrorCode::ProtocolError => case(35),
            ErrorCode::Internal(why) => {
                Val::Variant(38, Some(Box::new(some(Val::String(why.clone())))))
            }
        }
    }
}

impl From<SendError> for ErrorCode {
    fn from(e: SendError) -> ErrorCode {
        match e {
            SendError::DestinationNotFound => ErrorCode::DestinationNotFound,
            SendError::ConnectionRefused => ErrorCode::ConnectionRefused,
            SendError::ConnectionTerminated => ErrorCode::ConnectionTerminated,
            SendError::ConnectionTimeout => ErrorCode::ConnectionTimeout,
            SendError::TlsCertificateError => ErrorCode::TlsCertificateError,
            SendError::TlsProtocolError => ErrorCode::TlsProtocolError,
            SendError::HttpIncompleteResponse => ErrorCode::ResponseIncomplete,
            SendError::HttpResponseBodyTooLarge => ErrorCode::ResponseBodySize,
            SendError::HttpResponseTimeout => ErrorCode::ResponseTimeout,
            SendError::HttpProtocolError => ErrorCode::ProtocolError,
            SendError::HttpRequestUriInvalid => ErrorCode::RequestUriInvalid,
            SendError::InternalError => ErrorCode::Internal("the request failed".into()),
        }
    }
}

/// `outgoing-request`: what the handler has set, each checked as it is
/// set.
struct OutgoingRequest {
    method: Method,
    path_with_query: Option<PathAndQuery>,
    /// `None`: HTTPS.
    scheme: Option<bool>,
    authority: Option<Authority>,
    headers: Arc<Mutex<FieldsData>>,
    body: Arc<Mutex<BodyBuffer>>,
}

impl Resource for OutgoingRequest {
    const INTERFACE: &'static str = TYPES;
    const NAME: &'static str = "outgoing-request";
}

/// `request-options`: timeouts, as the handler sets them.
#[derive(Default)]
struct RequestOptions {
    timeouts: [Option<u64>; 3],
}

impl Resource for RequestOptions {
    const INTERFACE: &'static str = TYPES;
    const NAME: &'static str = "request-options";
}

impl RequestOptions {
    fn timeouts(&self) -> Timeouts {
        let [connect, first_byte, between_bytes] =
            self.timeouts.map(|t| t.map(Duration::from_nanos));
        Timeouts {
            connect,
            first_byte,
            between_bytes,
        }
    }
}

/// A response to an outgoing request, read whole.
struct Fetched {
    status: u16,
    headers: hyper::HeaderMap,
    body: Bytes,
}

/// `future-incoming-response`: the outcome of a request being sent,
/// there once its signal is set. Dropping it stops the send.
struct FutureIncomingResponse {
    signal: Arc<Signal>,
    outcome: Arc<Mutex<Option<Result<Fetched, ErrorCode>>>>,
    taken: bool,
    task: tokio::task::AbortHandle,
    in_flight: Arc<AtomicUsize>,
}

impl Resource for FutureIncomingResponse {
    const INTERFACE: &'static str = TYPES;
    const NAME: &'static str = "future-incoming-response";
}

impl Drop for FutureIncomingResponse {
    fn drop(&mut self) {
        self.task.abort();
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `incoming-response`.
struct IncomingResponse {
    status: u16,
    headers: Arc<Mutex<FieldsData>>,
    body: Option<Bytes>,
}

impl Resource for IncomingResponse {
    const INTERFACE: &'static str = TYPES;
    const NAME: &'static str = "incoming-response";
}

/// The body of a request being sent: whole now, or once the handler
/// finishes it.
enum PendingBody {
    Now(Bytes),
    Later(tokio::sync::oneshot::Receiver<()>, Arc<Mutex<BodyBuffer>>),
}

impl PendingBody {
    /// The body of `buffer` as it is when its request is sent.
    fn of(buffer: &Arc<Mutex<BodyBuffer>>) -> Result<PendingBody, ErrorCode> {
        let mut b = lock(buffer);
        if !b.streamed || b.finished {
            return Ok(PendingBody::Now(std::mem::take(&mut b.bytes).into()));
        }
        if b.abandoned {
            return Err(unfinished());
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        b.on_finish = Some(tx);
        Ok(PendingBody::Later(rx, buffer.clone()))
    }

    async fn whole(self) -> Result<Bytes, ErrorCode> {
        match self {
            PendingBody::Now(bytes) => Ok(bytes),
            PendingBody::Later(finished, buffer) => {
                finished.await.map_err(|_| unfinished())?;
                Ok(std::mem::take(&mut lock(&buffer).bytes).into())
            }
        }
    }
}

fn unfinished() -> ErrorCode {
    ErrorCode::Internal("the request's body was dropped before it was finished".into())
}

/// The head of `request` and the backend it goes to.
fn route_request(
    request: &OutgoingRequest,
    origins: &backends::Origins,
    timeouts: Timeouts,
) -> Result<(Arc<Backend>, RequestParts), ErrorCode> {
    let authority = request
        .authority
        .as_ref()
        .ok_or(ErrorCode::RequestUriInvalid)?;
    let tls = request.scheme.unwrap_or(true);
    let backend = origins
        .for_authority(authority.as_str(), tls, timeouts)
        .ok_or(ErrorCode::RequestDenied)?;
    let path = request
        .path_with_query
        .clone()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let uri = Uri::builder()
        .scheme(if tls { "https" } else { "http" })
        .authority(authority.clone())
        .path_and_query(path)
        .build()
        .map_err(|_| ErrorCode::RequestUriInvalid)?;
    let parts = RequestParts {
        method: request.method.clone(),
        uri,
        version: Version::HTTP_11,
        headers: lock(&request.headers).header_map(),
    };
    Ok((backend, parts))
}

/// Sends `parts` with `body` to `backend`; the response, its body charged
/// to `room`.
async fn fetch(
    backend: Arc<Backend>,
    parts: RequestParts,
    body: PendingBody,
    room: Arc<AtomicU64>,
) -> Result<Fetched, ErrorCode> {
    let body = body.whole().await?;
    let max_body = room.load(Ordering::Relaxed);
    let response = backends::send(
        backend,
        parts,
        UpstreamBody::Left(Full::new(body)),
        max_body,
    )
    .await
    .map_err(ErrorCode::from)?;
    if !charge(&room, response.body.len() as u64) {
        return Err(ErrorCode::ResponseBodySize);
    }
    Ok(Fetched {
        status: response.parts.status.as_u16(),
        headers: response.parts.headers,
        body: response.body,
    })
}

fn optional(v: Option<u64>) -> Val {
    match v {
        Some(d) => some(Val::U64(d)),
        None => none(),
    }
}

/// The string an `option<string>` argument holds.
fn optional_string(v: &Val) -> Result<Option<&str>, HostError> {
    match v {
        Val::Variant(0, None) => Ok(None),
        Val::Variant(1, Some(s)) => match &**s {
            Val::String(s) => Ok(Some(s)),
            _ => Err(HostError("expected an option<string>".into())),
        },
        _ => Err(HostError("expected an option<string>".into())),
    }
}

/// Adds the outgoing side of `wasi:http/types` and
/// `wasi:http/outgoing-handler`.
pub(super) fn add(interfaces: &mut Interfaces) {
    add_request(interfaces);
    add_options(interfaces);
    add_response(interfaces);
    interfaces.func("wasi:http/outgoing-handler", "handle", |vmctx, args| {
        let ctx = ctx(vmctx)?;
        let request = ctx.take::<OutgoingRequest>(args.at(0)?)?;
        let mut timeouts = Timeouts::default();
        if let Val::Variant(1, Some(options)) = args.at(1)? {
            timeouts = ctx.take::<RequestOptions>(options)?.timeouts();
        }
        let http = http_limits(ctx)?;
        let sent = route_request(&request, &http.origins, timeouts).and_then(|(b, parts)| {
            let body = PendingBody::of(&request.body)?;
            if http.in_flight.fetch_add(1, Ordering::Relaxed) >= MAX_IN_FLIGHT {
                http.in_flight.fetch_sub(1, Ordering::Relaxed);
                return Err(ErrorCode::ConnectionLimitReached);
            }
            let signal = Signal::new();
            let outcome = Arc::new(Mutex::new(None));
            let (set, slot, room) = (signal.clone(), outcome.clone(), http.body_room.clone());
            let task = http.io.spawn(async move {
                let fetched = fetch(b, parts, body, room).await;
                *lock(&slot) = Some(fetched);
                set.set();
            });
            Ok(FutureIncomingResponse {
                signal,
                outcome,
                taken: false,
                task: task.abort_handle(),
                in_flight: http.in_flight.clone(),
            })
        });
        Ok(Some(match sent {
            Ok(future) => ok(ctx.push(future)?),
            Err(code) => result_err(code.val()),
        }))
    });
    // What converts a stream's error: none here comes from HTTP.
    interfaces.func(TYPES, "http-error-code", |_, _| Ok(Some(none())));
}

fn add_request(interfaces: &mut Interfaces) {
    interfaces.func(TYPES, "[constructor]outgoing-request", |vmctx, args| {
        let ctx = ctx(vmctx)?;
        let headers = ctx.take::<Fields>(args.at(0)?)?.0;
        let http = http_limits(ctx)?;
        // A request's body may be as large as one response's.
        let body = BodyBuffer::new(http.response_body, http.body_room.clone());
        let request = OutgoingRequest {
            method: Method::GET,
            path_with_query: None,
            scheme: None,
            authority: None,
            headers,
            body: Arc::new(Mutex::new(body)),
        };
        Ok(Some(ctx.push(request)?))
    });
    interfaces.func(TYPES, "[method]outgoing-request.method", |vmctx, args| {
        let request = ctx(vmctx)?.get::<OutgoingRequest>(args.at(0)?)?;
        Ok(Some(method_val(&request.method)))
    });
    interfaces.func(
        TYPES,
        "[method]outgoing-request.set-method",
        |vmctx, args| {
            let request = ctx(vmctx)?.get::<OutgoingRequest>(args.at(0)?)?;
            Ok(Some(match method_from_val(args.at(1)?) {
                Some(m) => {
                    request.method = m;
                    ok_unit()
                }
                None => result_err_unit(),
            }))
        },
    );
    interfaces.func(
        TYPES,
        "[method]outgoing-request.path-with-query",
        |vmctx, args| {
            let request = ctx(vmctx)?.get::<OutgoingRequest>(args.at(0)?)?;
            Ok(Some(match &request.path_with_query {
                Some(p) => some(Val::String(p.to_string())),
                None => none(),
            }))
        },
    );
    interfaces.func(
        TYPES,
        "[method]outgoing-request.set-path-with-query",
        |vmctx, args| {
            let request = ctx(vmctx)?.get::<OutgoingRequest>(args.at(0)?)?;
            let path = match optional_string(args.at(1)?)? {
                None => None,
                Some(p) if p.starts_with('/') => match PathAndQuery::try_from(p) {
                    Ok(p) => Some(p),
                    Err(_) => return Ok(Some(result_err_unit())),
                },
                Some(_) => return Ok(Some(result_err_unit())),
            };
            request.path_with_query = path;
            Ok(Some(ok_unit()))
        },
    );
    interfaces.func(TYPES, "[method]outgoing-request.scheme", |vmctx, args| {
        let request = ctx(vmctx)?.get::<OutgoingRequest>(args.at(0)?)?;
        Ok(Some(match request.scheme {
            None => none(),
            Some(tls) => some(Val::Variant(u32::from(tls), None)),
        }))
    });
    interfaces.func(
        TYPES,
        "[method]outgoing-request.set-scheme",
        |vmctx, args| {
            let request = ctx(vmctx)?.get::<OutgoingRequest>(args.at(0)?)?;
            request.scheme = match args.at(1)? {
                Val::Variant(0, None) => None,
                Val::Variant(1, Some(scheme)) => match &**scheme {
                    Val::Variant(0, None) => Some(false),
                    Val::Variant(1, None) => Some(true),
                    // Schemes other than HTTP and HTTPS are not sent.
                    _ => return Ok(Some(result_err_unit())),
                },
                _ => return Err(HostError("expected an option<scheme>".into())),
            };
            Ok(Some(ok_unit()))
        },
    );
    interfaces.func(
        TYPES,
        "[method]outgoing-request.authority",
        |vmctx, args| {
            let request = ctx(vmctx)?.get::<OutgoingRequest>(args.at(0)?)?;
            Ok(Some(match &request.authority {
                Some(a) => some(Val::String(a.to_string())),
                None => none(),
            }))
        },
    );
    interfaces.func(
        TYPES,
        "[method]outgoing-request.set-authority",
        |vmctx, args| {
            let request = ctx(vmctx)?.get::<OutgoingRequest>(args.at(0)?)?;
            let authority = match optional_string(args.at(1)?)? {
                None => None,
                // No user information: an authority is a host and port.
                Some(a) if !a.contains('@') => match Authority::try_from(a) {
                    Ok(a) => Some(a),
                    Err(_) => return Ok(Some(result_err_unit())),
                },
                Some(_) => return Ok(Some(result_err_unit())),
            };
            request.authority = authority;
            Ok(Some(ok_unit()))
        },
    );
    interfaces.func(TYPES, "[method]outgoing-request.headers", |vmctx, args| {
        let ctx = ctx(vmctx)?;
        let headers = ctx.get::<OutgoingRequest>(args.at(0)?)?.headers.clone();
        Ok(Some(ctx.push(Fields(headers))?))
    });
    interfaces.func(TYPES, "[method]outgoing-request.body", |vmctx, args| {
        let ctx = ctx(vmctx)?;
        let body = ctx.get::<OutgoingRequest>(args.at(0)?)?.body.clone();
        {
            let mut b = lock(&body);
            if b.streamed {
                return Ok(Some(result_err_unit()));
            }
            b.streamed = true;
        }
        Ok(Some(ok(ctx.push(OutgoingBody(body))?)))
    });
}

fn add_options(interfaces: &mut Interfaces) {
    interfaces.func(TYPES, "[constructor]request-options", |vmctx, _| {
        Ok(Some(ctx(vmctx)?.push(RequestOptions::default())?))
    });
    for (i, name) in [
        "connect-timeout",
        "first-byte-timeout",
        "between-bytes-timeout",
    ]
    .into_iter()
    .enumerate()
    {
        interfaces.func(
            TYPES,
            &format!("[method]request-options.{name}"),
            move |vmctx, args| {
                let options = ctx(vmctx)?.get::<RequestOptions>(args.at(0)?)?;
                Ok(Some(optional(options.timeouts[i])))
            },
        );
        interfaces.func(
            TYPES,
            &format!("[method]request-options.set-{name}"),
            move |vmctx, args| {
                let options = ctx(vmctx)?.get::<RequestOptions>(args.at(0)?)?;
                options.timeouts[i] = match args.at(1)? {
                    Val::Variant(1, Some(d)) => match **d {
                        Val::U64(d) => Some(d),
                        _ => return Err(HostError("expected a duration".into())),
                    },
                    _ => None,
                };
                Ok(Some(ok_unit()))
            },
        );
    }
}

fn add_response(interfaces: &mut Interfaces) {
    interfaces.func(
        TYPES,
        "[method]future-incoming-response.subscribe",
        |vmctx, args| {
            let ctx = ctx(vmctx)?;
            let signal = ctx
                .get::<FutureIncomingResponse>(args.at(0)?)?
                .signal
                .clone();
            Ok(Some(ctx.push(Pollable(Readiness::Signal(signal)))?))
        },
    );
    interfaces.func(
        TYPES,
        "[method]future-incoming-response.get",
        |vmctx, args| {
            let ctx = ctx(vmctx)?;
            let future = ctx.get::<FutureIncomingResponse>(args.at(0)?)?;
            if !future.signal.is_set() {
                return Ok(Some(none()));
            }
            if future.taken {
                // Ready, and taken before.
                return Ok(Some(some(result_err_unit())));
            }
            future.taken = true;
            let outcome = lock(&future.outcome)
                .take()
                .unwrap_or_else(|| Err(ErrorCode::Internal("no outcome".into())));
            let inner = match outcome {
                Ok(fetched) => {
                    let room = http_limits(ctx)?.field_room.clone();
                    let response = IncomingResponse {
                        status: fetched.status,
                        headers: Arc::new(Mutex::new(FieldsData::immutable(
                            &fetched.headers,
                            room,
                        ))),
                        body: Some(fetched.body),
                    };
                    ok(ctx.push(response)?)
                }
                Err(code) => result_err(code.val()),
            };
            Ok(Some(some(ok(inner))))
        },
    );
    interfaces.func(TYPES, "[method]incoming-response.status", |vmctx, args| {
        let response = ctx(vmctx)?.get::<IncomingResponse>(args.at(0)?)?;
        Ok(Some(Val::U16(response.status)))
    });
    interfaces.func(TYPES, "[method]incoming-response.headers", |vmctx, args| {
        let ctx = ctx(vmctx)?;
        let headers = ctx.get::<IncomingResponse>(args.at(0)?)?.headers.clone();
        Ok(Some(ctx.push(Fields(headers))?))
    });
    interfaces.func(TYPES, "[method]incoming-response.consume", |vmctx, args| {
        let ctx = ctx(vmctx)?;
        match ctx.get::<IncomingResponse>(args.at(0)?)?.body.take() {
            Some(body) => Ok(Some(ok(ctx.push(IncomingBody(Some(body)))?))),
            None => Ok(Some(result_err_unit())),
        }
    });
}
