//! `wasi:http/proxy` components (what `cargo build --target wasm32-wasip2`
//! with the `wasip2` crate's `http::proxy::export!`, `componentize-js`
//! and the other WASI 0.2 toolchains make): each request is a call of the
//! component's `wasi:http/incoming-handler` export in a fresh instance,
//! with the request and a `response-outparam` as resources of that
//! instance; what the handler sets through the outparam is the response.
//!
//! The request's body is read whole before the handler starts (as
//! WAGI's), and the response's body is held whole up to the route's limit
//! until the handler returns; `types.rs` holds what the handler sees of
//! both. Its outgoing requests go to the route's backends (`outgoing.rs`),
//! and its waits suspend it (`wait.rs`). It sees the route's directories
//! through `wasi:filesystem`, as a WAGI handler sees them. All the bodies one handler
//! writes and fetches hold at most twice the route's response body limit
//! together. Standard output and error go to the log, as a Compute app's
//! do.

mod outgoing;
mod types;
mod wait;

use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};

use lucet_runtime::component::ComponentAbi;
use lucet_wasi::component::{ComponentCtx, Interfaces};
use lucet_wasi::{DirAccess, WasiCtxBuilder};

use super::backends::Origins;
use super::framing::head_bytes;
use super::output::LogLines;
use crate::engine::{ComponentCall, ModuleInterface};
use crate::request::{GuestRequest, GuestResponse, HandlerError};
use crate::route::Route;
use crate::run::RunContext;
use types::{
    Answer, FieldsData, HttpLimits, IncomingRequest, ResponseOutparam, BODY_ROOM_FACTOR,
    MAX_FIELD_BYTES,
};

/// Whether `export` is a proxy's entry: `wasi:http/incoming-handler`'s
/// `handle`, of WASI 0.2.
fn is_entry(export: &str) -> bool {
    export
        .strip_prefix("wasi:http/incoming-handler@0.2.")
        .is_some_and(|rest| rest.ends_with("#handle"))
}

/// Whether a component is a `wasi:http/proxy`.
pub(super) fn is_proxy(abi: &ComponentAbi) -> bool {
    abi.lifts.iter().any(|l| is_entry(&l.export))
}

/// Whether the module is a proxy component.
pub(super) fn check(interface: &ModuleInterface) -> Result<(), String> {
    match &interface.component {
        Some(abi) if is_proxy(abi) => Ok(()),
        Some(_) => Err(
            "the component exports no wasi:http/incoming-handler (it is not a wasi:http/proxy)"
                .into(),
        ),
        None => Err("it is a core module, not a wasi:http/proxy component".into()),
    }
}

/// The interfaces a proxy may import: WASI 0.2's `wasi:io`, `wasi:clocks`,
/// `wasi:random`, `wasi:cli`, and `wasi:http/types`.
pub(super) fn interfaces() -> Interfaces {
    let mut interfaces = lucet_wasi::component::interfaces();
    types::add(&mut interfaces);
    outgoing::add(&mut interfaces);
    wait::add(&mut interfaces);
    interfaces
}

/// The call that handles `request` on `route`: the incoming handler's
/// export, with the request and its `response-outparam` as resources of
/// a fresh instance's context.
pub(super) fn begin<'r>(
    route: &'r Route,
    request: &GuestRequest,
    origins: &Arc<Origins>,
    cx: RunContext,
) -> Result<ComponentCall<'r>, HandlerError> {
    let limits = &route.limits;
    let log_room = Arc::new(AtomicUsize::new(limits.max_log_bytes));
    let log = |source: &str| {
        LogLines::sharing(&request.id, &route.pattern, log_room.clone()).labelled(source)
    };
    let mut wasi = WasiCtxBuilder::new()
        .arg(&route.module_name)
        .envs(route.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(lucet_wasi::Stream::Writer(Box::new(log("stdout"))))
        .stderr(lucet_wasi::Stream::Writer(Box::new(log("stderr"))));
    // The route's directories, as a WAGI handler gets them.
    for d in &route.dirs {
        let dir = d
            .dir
            .try_clone()
            .map_err(|e| HandlerError::Failed(format!("cannot share {}: {e}", d.guest)))?;
        let access = match d.writable {
            true => DirAccess::ReadWrite,
            false => DirAccess::ReadOnly,
        };
        wasi = wasi.preopened(dir, d.guest.clone(), access);
    }
    let wasi = wasi.build();
    let mut ctx = ComponentCtx::new(wasi);
    let field_room = Arc::new(AtomicUsize::new(MAX_FIELD_BYTES));
    let answer = Arc::new(Mutex::new(None));
    ctx.set_extension(HttpLimits {
        response_body: limits.max_response_body,
        field_room: field_room.clone(),
        body_room: Arc::new(AtomicU64::new(
            limits.max_response_body.saturating_mul(BODY_ROOM_FACTOR),
        )),
        origins: origins.clone(),
        in_flight: Arc::new(AtomicUsize::new(0)),
        answer: answer.clone(),
        waker: cx.waker,
        io: cx.io,
    });
    let authority = request.uri.authority().map(|a| a.to_string()).or_else(|| {
        request
            .headers
            .get(hyper::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
    });
    let incoming = IncomingRequest {
        method: request.method.clone(),
        path_with_query: request.uri.path_and_query().map(|p| p.to_string()),
        authority,
        headers: Arc::new(Mutex::new(FieldsData::immutable(
            &request.headers,
            field_room,
        ))),
        body: Some(request.body.clone()),
    };
    let args = match (ctx.push(incoming), ctx.push(ResponseOutparam(answer))) {
        (Ok(r), Ok(o)) => vec![r, o],
        _ => {
            return Err(HandlerError::Failed(
                "cannot make the request's handles".into(),
            ))
        }
    };
    Ok(ComponentCall {
        entry: is_entry,
        args,
        ctx,
        limits,
    })
}

/// What a run that ended with `result` (and the instance's context,
/// unless no instance could be made) answers: the response the handler
/// set through its outparam.
pub(super) fn end(
    route: &Route,
    request: &GuestRequest,
    result: Result<(), HandlerError>,
    ctx: Option<ComponentCtx>,
) -> Result<GuestResponse, HandlerError> {
    let limits = &route.limits;
    let Some(mut ctx) = ctx else {
        return result.and(Err(HandlerError::Failed("no instance ran".into())));
    };
    let answer = match ctx.extension_mut::<HttpLimits>() {
        Some(http) => http.answer.clone(),
        None => return Err(HandlerError::Failed("the run lost its state".into())),
    };
    // The instance's resources go first: a body stream still open holds
    // the answer's body.
    drop(ctx);
    let answer = answer.lock().unwrap_or_else(|p| p.into_inner()).take();
    match (answer, result) {
        (None, Err(e)) => Err(e),
        (None, Ok(())) => Err(HandlerError::BadResponse(
            "the handler returned without setting a response".into(),
        )),
        (Some(Answer::Error(code)), _) => Err(HandlerError::BadResponse(format!(
            "the handler answered with an error: {}",
            lucet_module::escape_control(&code)
        ))),
        (Some(Answer::Response(response)), result) => {
            if let Err(e) = result {
                // The response was set; whether its body is whole says
                // whether it can be sent.
                tracing::warn!(request = %request.id, route = %route.pattern, "the handler failed after setting its response: {e}");
            }
            let body = response.body.lock().unwrap_or_else(|p| p.into_inner());
            if body.streamed && !body.finished {
                return Err(HandlerError::BadResponse(
                    "the handler did not finish the response body".into(),
                ));
            }
            let headers = response
                .headers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .header_map();
            if head_bytes(&headers) > limits.max_response_headers {
                return Err(HandlerError::BadResponse(format!(
                    "its headers are larger than the route's limit of {} bytes",
                    limits.max_response_headers
                )));
            }
            Ok(GuestResponse {
                status: response.status,
                headers,
                body: bytes::Bytes::copy_from_slice(&body.bytes).into(),
            })
        }
    }
}
