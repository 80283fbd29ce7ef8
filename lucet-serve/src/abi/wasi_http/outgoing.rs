//! `wasi:http`'s outgoing side, as far as it goes yet: a handler can make
//! an outgoing request (its head, options and body, as `fetch` in a
//! `componentize-js` app builds them), and `outgoing-handler.handle`
//! denies it (`HTTP-request-denied`): wasi:http components have no
//! backends yet. The responses such a request would bring never exist,
//! so their functions only say so.

use std::sync::{Arc, Mutex};

use lucet_runtime::component::Val;
use lucet_runtime::Vmctx;
use lucet_wasi::component::{
    none, ok_unit, result_err, some, ComponentCtx, HostError, Interfaces, Resource,
};

use super::types::{BodyBuffer, Fields, OutgoingBody};

const TYPES: &str = "wasi:http/types";

/// `error-code.HTTP-request-denied`: its case in `wasi:http/types`'
/// `error-code` (the order is fixed across WASI 0.2).
const HTTP_REQUEST_DENIED: u32 = 15;

/// The most bytes an outgoing request's body may hold (it is never sent;
/// this bounds what the handler can make the host keep).
const MAX_OUTGOING_BODY: u64 = 1 << 20;

fn ctx(vmctx: &mut Vmctx) -> Result<&mut ComponentCtx, HostError> {
    vmctx
        .embed_ctx_mut::<ComponentCtx>()
        .ok_or_else(|| HostError("the instance has no ComponentCtx".into()))
}

/// `outgoing-request`.
struct OutgoingRequest {
    method: Val,
    path_with_query: Val,
    scheme: Val,
    authority: Val,
    headers: Arc<Mutex<super::types::FieldsData>>,
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

fn optional(v: Option<u64>) -> Val {
    match v {
        Some(d) => some(Val::U64(d)),
        None => none(),
    }
}

/// Adds the outgoing side of `wasi:http/types` and
/// `wasi:http/outgoing-handler`.
pub(super) fn add(interfaces: &mut Interfaces) {
    interfaces.func(TYPES, "[constructor]outgoing-request", |vmctx, args| {
        let ctx = ctx(vmctx)?;
        let headers = ctx.take::<Fields>(args.at(0)?)?.0;
        let request = OutgoingRequest {
            method: Val::Variant(0, None),
            path_with_query: none(),
            scheme: none(),
            authority: none(),
            headers,
            body: Arc::new(Mutex::new(BodyBuffer {
                bytes: Vec::new(),
                limit: MAX_OUTGOING_BODY,
                streamed: false,
                finished: false,
            })),
        };
        Ok(Some(ctx.push(request)?))
    });
    type Field = fn(&mut OutgoingRequest) -> &mut Val;
    let fields: [(&str, Field); 4] = [
        ("method", |r| &mut r.method),
        ("path-with-query", |r| &mut r.path_with_query),
        ("scheme", |r| &mut r.scheme),
        ("authority", |r| &mut r.authority),
    ];
    for (name, field) in fields {
        interfaces.func(
            TYPES,
            &format!("[method]outgoing-request.{name}"),
            move |vmctx, args| {
                let request = ctx(vmctx)?.get::<OutgoingRequest>(args.at(0)?)?;
                Ok(Some(field(request).clone()))
            },
        );
        interfaces.func(
            TYPES,
            &format!("[method]outgoing-request.set-{name}"),
            move |vmctx, args| {
                let request = ctx(vmctx)?.get::<OutgoingRequest>(args.at(0)?)?;
                *field(request) = args.at(1)?.clone();
                Ok(Some(ok_unit()))
            },
        );
    }
    interfaces.func(TYPES, "[method]outgoing-request.headers", |vmctx, args| {
        let ctx = ctx(vmctx)?;
        let headers = ctx.get::<OutgoingRequest>(args.at(0)?)?.headers.clone();
        Ok(Some(ctx.push(Fields(headers))?))
    });
    interfaces.func(TYPES, "[method]outgoing-request.body", |vmctx, args| {
        let ctx = ctx(vmctx)?;
        let body = ctx.get::<OutgoingRequest>(args.at(0)?)?.body.clone();
        {
            let mut b = body.lock().unwrap_or_else(|p| p.into_inner());
            if b.streamed {
                return Ok(Some(Val::Variant(1, None)));
            }
            b.streamed = true;
        }
        Ok(Some(lucet_wasi::component::ok(
            ctx.push(OutgoingBody(body))?,
        )))
    });

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

    interfaces.func("wasi:http/outgoing-handler", "handle", |vmctx, args| {
        let ctx = ctx(vmctx)?;
        ctx.take::<OutgoingRequest>(args.at(0)?)?;
        if let Val::Variant(1, Some(options)) = args.at(1)? {
            ctx.take::<RequestOptions>(options)?;
        }
        Ok(Some(result_err(Val::Variant(HTTP_REQUEST_DENIED, None))))
    });
    // What converts an I/O error: none comes from a request here.
    interfaces.func(TYPES, "http-error-code", |_, _| Ok(Some(none())));

    // The response an outgoing request would bring: never made.
    for name in [
        "[method]future-incoming-response.subscribe",
        "[method]future-incoming-response.get",
        "[method]incoming-response.status",
        "[method]incoming-response.headers",
        "[method]incoming-response.consume",
    ] {
        interfaces.func(TYPES, name, |_, _| {
            Err(HostError(
                "no response exists: outgoing requests are denied".into(),
            ))
        });
    }
}
