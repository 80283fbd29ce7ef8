//! WAGI: CGI/1.1 over WASI preview1, so that any WASI command is a
//! handler. The request's meta-variables are the environment, the query
//! string gives argv, the body is standard input; standard output is the
//! response (a CGI header block, a blank line, the body) and standard error
//! goes to the log. Written once for every engine: it asks the engine to run
//! a [`WasiCommand`].

use crate::engine::{ModuleInterface, WasiCommand};
use crate::request::{GuestRequest, GuestResponse, HandlerError};
use crate::route::Route;

use super::cgi::{argv, cgi_variables, parse_response};
use super::output::{Capture, LogLines};

/// The import module of WASI preview1, which WAGI handlers use.
pub(super) const WASI_PREVIEW1: &str = "wasi_snapshot_preview1";

/// Whether the module is a WASI command, as a WAGI handler must be.
pub(super) fn check(interface: &ModuleInterface) -> Result<(), String> {
    match interface.function("_start") {
        Some(ty) if ty.params.is_empty() && ty.results.is_empty() => Ok(()),
        Some(ty) => Err(format!("its _start has type {ty}, not [] -> []")),
        None => Err("it exports no _start function (a WAGI handler is a WASI command)".into()),
    }
}

/// Handles `request` on `route`: `run` runs the WASI command in a fresh
/// instance of the route's module.
pub(super) fn handle(
    route: &Route,
    request: &GuestRequest,
    run: impl FnOnce(WasiCommand<'_>) -> Result<(), HandlerError>,
) -> Result<GuestResponse, HandlerError> {
    let limits = &route.limits;
    let capacity = usize::try_from(limits.max_response_body)
        .unwrap_or(usize::MAX)
        .saturating_add(limits.max_response_headers);
    let stdout = Capture::new(capacity);
    let stderr = LogLines::new(&request.id, &route.pattern, limits.max_log_bytes);
    // The request's variables come last: the route's cannot override them.
    let mut env = route.env.clone();
    env.extend(cgi_variables(&route.pattern, request));
    run(WasiCommand {
        args: argv(&route.module_name, request.uri.query().unwrap_or("")),
        env,
        stdin: request.body.clone(),
        stdout: Box::new(stdout.clone()),
        stdout_limit: capacity,
        stderr: Box::new(stderr),
        dirs: &route.dirs,
        limits,
    })?;
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
