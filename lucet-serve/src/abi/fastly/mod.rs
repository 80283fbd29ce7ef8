//! Fastly's Compute ABI: apps built with the `fastly` crate,
//! `@fastly/js-compute` or Fastly's Go SDK. Such an app is a WASI command
//! that also imports the ABI's host calls (`fastly_http_req`,
//! `fastly_http_body`, ...): it gets the downstream request through them
//! and sends its response with `fastly_http_resp.send_downstream`. Written
//! once for every engine that can define host calls
//! ([`Engine::define_host_calls`](crate::engine::Engine::define_host_calls)).
//!
//! - `signatures.rs`: every call of the ABI and its core type; all link.
//! - `calls/`: what the implemented calls do; the others are `unsupported`.
//! - `state.rs`: one instance's handles and what it sent (`parts.rs`: the
//!   heads of its requests and responses); `handles.rs`,
//!   `memory.rs`, `status.rs`: handle tables, guest memory, statuses.
//! - `clock.rs`: the thread CPU time that vCPU time is counted in.
//! - `backends.rs`, `upstream.rs`: the app's backends and sending to them.
//! - `files.rs`: bounded reads of the files `fastly.toml` names.
//! - `erl.rs`: rate counters and penalty boxes, in process.
//! - `kv.rs`: KV stores, in process.
//! - `cache/`: the app's cache (core and simple cache API, purges), in
//!   process, bounded in bytes.
//! - `lookups.rs`: geolocation, device detection, ACLs and secret stores
//!   from `fastly.toml`.
//! - `local_server.rs`: the app's `fastly.toml` (`[local_server]`).

mod cache;
mod calls;
mod clock;
mod erl;
mod files;
mod handles;
mod kv;
mod local_server;
mod lookups;
mod memory;
mod parts;
mod sandbox;
mod signatures;
mod state;
mod status;

use std::collections::HashMap;
use std::sync::Arc;

use super::log_file::LogFile;
use crate::config::RouteConfig;
use crate::engine::{HostCall, ModuleInterface, WasiCommand};
use crate::request::{GuestRequest, HandlerError};
use crate::route::Route;
use crate::run::{Progress, RunContext};

pub(crate) use local_server::LocalServer;
use parts::whole_response;
pub(crate) use sandbox::GivenBack;
pub(crate) use state::FastlyState;
use state::{Downstream, InstanceLimits, RequestParts, SentBody};

/// Whether `module` is one of the ABI's import modules.
pub(super) fn is_abi_module(module: &str) -> bool {
    module.starts_with("fastly_")
}

/// Every call of the ABI, for the engine to define.
pub(super) fn host_calls() -> &'static [HostCall<FastlyState>] {
    calls::host_calls()
}

/// Whether the module is a Compute app: a WASI command.
pub(super) fn check(interface: &ModuleInterface) -> Result<(), String> {
    match interface.function("_start") {
        Some(ty) if ty.params.is_empty() && ty.results.is_empty() => Ok(()),
        Some(ty) => Err(format!("its _start has type {ty}, not [] -> []")),
        None => Err("it exports no _start function (a Compute app is a WASI command)".into()),
    }
}

/// Reads the `[local_server]` section of `manifest` (none: an empty one).
pub(super) fn configure(route: &RouteConfig) -> Result<Arc<LocalServer>, String> {
    let dynamic = super::backends::DynamicBackends::new(&route.dynamic_backends)?;
    let mut log_files = HashMap::new();
    for (name, path) in &route.log_files {
        if name.is_empty() || name.len() > state::MAX_ENDPOINT_NAME {
            return Err(format!(
                "log-files: {}: not a log endpoint name",
                lucet_module::escape_control(name)
            ));
        }
        log_files.insert(name.clone(), LogFile::open(path)?);
    }
    let cache = cache::Cache::new(route.limits.cache_size);
    let Some(path) = route.fastly_toml.as_deref() else {
        return Ok(Arc::new(LocalServer {
            dynamic,
            log_files,
            cache,
            ..LocalServer::default()
        }));
    };
    let mut local = LocalServer::read(path)?;
    local.dynamic = dynamic;
    local.log_files = log_files;
    local.cache = cache;
    for section in &local.ignored {
        tracing::warn!(
            manifest = %path.display(),
            "[{section}] is not used by this server yet; ignored"
        );
    }
    Ok(Arc::new(local))
}

/// A `wasi:http` route's backends: those of its `fastly.toml`, if it
/// names one, and the hosts it allows backends to be made for. The
/// manifest's other sections are a Compute app's: each one present is
/// named in a warning.
pub(super) fn origins(route: &RouteConfig) -> Result<super::backends::Origins, String> {
    let dynamic = super::backends::DynamicBackends::new(&route.dynamic_backends)?;
    let Some(path) = route.fastly_toml.as_deref() else {
        return Ok(super::backends::Origins {
            named: HashMap::new(),
            dynamic,
        });
    };
    let local = LocalServer::read(path)?;
    let mut unused = local.ignored.clone();
    for (section, present) in [
        ("config_stores", !local.config_stores.is_empty()),
        ("secret_stores", !local.secret_stores.is_empty()),
        ("acls", !local.acls.is_empty()),
        ("kv_stores", !local.kv_stores.is_empty()),
        ("geolocation", !local.geolocation.is_empty()),
        ("device_detection", !local.device_detection.is_empty()),
    ] {
        if present {
            unused.push(format!("local_server.{section}"));
        }
    }
    for section in unused {
        tracing::warn!(
            manifest = %path.display(),
            "[{section}] is not used by wasi:http components; ignored"
        );
    }
    Ok(super::backends::Origins {
        named: local.backends,
        dynamic,
    })
}

/// The command that runs the app for `request` on `route`, with the app's
/// `local` configuration, and the instance's state.
pub(super) fn begin<'r>(
    route: &'r Route,
    request: &GuestRequest,
    local: &Arc<LocalServer>,
    cx: RunContext,
) -> (WasiCommand<'r>, FastlyState) {
    let limits = &route.limits;
    let instance_limits = InstanceLimits {
        handles: state::MAX_HANDLES,
        headers: state::MAX_HEADERS,
        header_bytes: state::MAX_HEADER_BYTES,
        body_bytes: limits
            .max_request_body
            .saturating_add(limits.max_response_body),
        response_body: limits.max_response_body,
        response_header_bytes: limits.max_response_headers,
        endpoints: state::MAX_ENDPOINTS,
        log_bytes: limits.max_log_bytes,
        timeout: limits.timeout,
    };
    let head = RequestParts::downstream(request);
    let mut state = FastlyState::new(
        instance_limits,
        local.clone(),
        head,
        request.body.clone(),
        Downstream::new(request.remote, request.local, &request.id),
        &route.pattern,
        cx,
    );
    state.set_downstream_rest(request.take_body_rest());
    let stdout = state.log_lines("stdout");
    let stderr = state.log_lines("stderr");
    let mut env = vec![
        ("FASTLY_HOSTNAME".to_string(), "localhost".to_string()),
        ("FASTLY_POP".into(), "LCL".into()),
        ("FASTLY_REGION".into(), "local".into()),
        ("FASTLY_SERVICE_ID".into(), "local".into()),
        ("FASTLY_SERVICE_VERSION".into(), "0".into()),
        ("FASTLY_CACHE_GENERATION".into(), "0".into()),
        ("FASTLY_TRACE_ID".into(), request.id.clone()),
    ];
    env.extend(route.env.iter().cloned());
    let command = WasiCommand {
        args: vec![route.module_name.clone()],
        env,
        stdin: Default::default(),
        stdout: Box::new(stdout),
        stdout_limit: limits.max_log_bytes,
        stderr: Box::new(stderr),
        dirs: &[],
        limits,
    };
    (command, state)
}

/// What a run that ended with `result` (and the instance's `state`, unless
/// no instance could be made) answers: the response it sent whole, or, for
/// one it streamed (whose head went out during the run), how the run
/// ended (a stream it did not finish is cut short, which the client sees).
pub(super) fn end<R>(
    route: &Route,
    request: &GuestRequest,
    result: Result<(), HandlerError>,
    state: Option<FastlyState>,
) -> Progress<R> {
    let limits = &route.limits;
    let sent = state.and_then(|s| {
        let abandoned = s.abandoned;
        s.sent.map(|sent| (sent, abandoned))
    });
    let (sent, abandoned) = match (result, sent) {
        (Err(e), None) => return Progress::Done(Err(e)),
        (Ok(()), None) => {
            return Progress::Done(Err(HandlerError::BadResponse(
                "the app ended without sending a response".into(),
            )))
        }
        (result, Some(sent)) => {
            let (sent, abandoned) = sent;
            match sent.body {
                SentBody::Finished => return Progress::Answered(result),
                SentBody::Streaming => {
                    return Progress::Answered(result.and(Err(HandlerError::BadResponse(
                        if abandoned {
                            "the app abandoned the response it streamed".into()
                        } else {
                            "the app did not finish the response it streamed".into()
                        },
                    ))))
                }
                SentBody::Whole(_) => {
                    // A failure after the response was sent whole is only
                    // logged: the client has its response.
                    if let Err(e) = result {
                        tracing::warn!(request = %request.id, route = %route.pattern, "the app failed after sending its response: {e}");
                    }
                    (sent, abandoned)
                }
            }
        }
    };
    let SentBody::Whole(body) = sent.body else {
        return Progress::Done(Err(HandlerError::Failed("no whole body".into())));
    };
    if abandoned {
        return Progress::Done(Err(HandlerError::BadResponse(
            "the app abandoned its response's body".into(),
        )));
    }
    Progress::Done(whole_response(
        sent.parts,
        body,
        limits.max_response_body,
        limits.max_response_headers,
    ))
}
