//! WAGI: CGI/1.1 over WASI preview1. The request's meta-variables are the
//! environment, the query string gives argv, the body is standard input;
//! standard output is the response (a CGI header block, a blank line, the
//! body) and standard error goes to the log.

use std::io::Cursor;

use lucet_runtime::Finished;
use lucet_wasi::{Stream, WasiCtxBuilder};

use super::output::{Capture, LogLines};
use super::{Guest, GuestRequest, GuestResponse, HandlerAbi, HandlerError};
use crate::app::Route;
use crate::wagi::{argv, cgi_variables, parse_response};

/// The WAGI handler ABI: any WASI command is a handler.
pub struct Wagi;

impl HandlerAbi for Wagi {
    fn name(&self) -> &'static str {
        "wagi"
    }

    fn check(&self, module: &lucet_runtime::Module) -> Result<(), String> {
        match module.export_func_type("_start") {
            Some(ty) if ty.params.is_empty() && ty.results.is_empty() => Ok(()),
            Some(ty) => Err(format!("its _start has type {ty}, not [] -> []")),
            None => Err("it exports no _start function (a WAGI handler is a WASI command)".into()),
        }
    }

    fn handle(
        &self,
        route: &Route,
        request: &GuestRequest,
        guest: Guest<'_>,
    ) -> Result<GuestResponse, HandlerError> {
        let limits = &route.limits;
        let capacity = usize::try_from(limits.max_response_body)
            .unwrap_or(usize::MAX)
            .saturating_add(limits.max_response_headers);
        let stdout = Capture::new(capacity);
        let stderr = LogLines::new(&request.id, &route.pattern, limits.max_log_bytes);
        let mut ctx = WasiCtxBuilder::new()
            .args(argv(&route.module_name, request.uri.query().unwrap_or("")))
            .stdin(Stream::Reader(Box::new(Cursor::new(request.body.clone()))))
            .stdout(Stream::Writer(Box::new(stdout.clone())))
            .stderr(Stream::Writer(Box::new(stderr)));
        // The request's variables come last: the route's cannot override
        // them.
        ctx = ctx.envs(
            route
                .env
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .chain(
                    cgi_variables(&route.pattern, request)
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str())),
                ),
        );
        for d in &route.dirs {
            let dir = d
                .dir
                .try_clone()
                .map_err(|e| HandlerError::Failed(format!("cannot share {}: {e}", d.guest)))?;
            ctx = ctx.preopened(dir, d.guest.clone(), d.access);
        }
        let Finished { outcome, instance } = guest.with_embed_ctx(ctx.build()).run("_start", &[]);
        // The slot goes back (and standard error is flushed to the log)
        // before the response is put together.
        drop(instance);
        if let Some(e) = HandlerError::from_outcome(outcome, limits.timeout) {
            return Err(e);
        }
        let mut out = stdout.lock();
        if out.overflowed {
            return Err(HandlerError::ResponseTooLarge(limits.max_response_body));
        }
        parse_response(
            std::mem::take(&mut out.bytes),
            limits.max_response_headers,
            limits.max_response_body,
        )
    }
}
