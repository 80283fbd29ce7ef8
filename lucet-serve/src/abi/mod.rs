//! Handler ABIs: how a request is given to a guest and its response read
//! back. Each is written once, against what an engine can run
//! (`engine.rs`), so that every engine serves every ABI it can run. A
//! route's ABI is named in the configuration, or told by its module's
//! imports.
//!
//! - WAGI (`wagi.rs`, with CGI in `cgi.rs`): a WASI preview1 command.
//! - Fastly's Compute ABI (`fastly/`): a WASI command that also imports the
//!   ABI's host calls, configured by its `fastly.toml`.
//! - `wasi:http` (`wasi_http/`): a `wasi:http/proxy` component.
//!
//! `backends/`: the origins guests may send requests to, for the ABIs that
//! send them. `framing.rs` holds the rule every ABI keeps: the headers that frame a
//! response are the server's. `output.rs`: standard output and error.

mod backends;
mod cgi;
mod fastly;
mod framing;
mod log_file;
mod output;
mod wagi;
mod wasi_http;

use std::sync::Arc;

use crate::config::RouteConfig;
use crate::engine::{Engine, ModuleInterface, Step};
use crate::request::{GuestRequest, HandlerError};
use crate::route::Route;
use crate::run::{Progress, RunContext};
pub(crate) use fastly::GivenBack;

/// A handler ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abi {
    /// CGI over WASI preview1 (`wagi`).
    Wagi,
    /// Fastly's Compute hostcall ABI (`fastly`).
    Fastly,
    /// A `wasi:http/proxy` component (`wasi-http`).
    WasiHttp,
}

/// What an ABI reads from a route's configuration, once per load.
pub(crate) enum AbiConfig {
    Wagi,
    /// The backends its components may send requests to.
    WasiHttp(Arc<backends::Origins>),
    /// The app's `[local_server]` from its `fastly.toml`.
    Fastly(Arc<fastly::LocalServer>),
}

impl AbiConfig {
    /// Hands `request` to an instance of the route that waits for one (a
    /// Compute app's reusable sandbox), to answer through `reply`: where
    /// the request comes back if that instance does not take it. Gives
    /// both back if none waits.
    // The request comes back by value, as it went: boxing it would cost an
    // allocation per request.
    #[allow(clippy::result_large_err)]
    pub(crate) fn offer(
        &self,
        request: GuestRequest,
        reply: Reply,
    ) -> Result<GivenBack, (GuestRequest, Reply)> {
        match self {
            AbiConfig::Wagi | AbiConfig::WasiHttp(_) => Err((request, reply)),
            AbiConfig::Fastly(local) => local.sandboxes.offer(request, reply),
        }
    }
}

/// Where a request's answer goes.
pub(crate) type Reply =
    tokio::sync::oneshot::Sender<Result<crate::request::GuestResponse, HandlerError>>;

/// Makes every ABI's host calls importable by the modules `engine` loads.
pub(crate) fn define_host_calls<E: Engine>(engine: &mut E) {
    engine.define_host_calls(fastly::host_calls());
    engine.define_component_host(wasi_http::interfaces());
}

impl Abi {
    /// Every ABI.
    pub const ALL: [Abi; 3] = [Abi::Wagi, Abi::Fastly, Abi::WasiHttp];

    /// Its name in the configuration and logs.
    pub fn name(self) -> &'static str {
        match self {
            Abi::Wagi => "wagi",
            Abi::Fastly => "fastly",
            Abi::WasiHttp => "wasi-http",
        }
    }

    /// Whether its handlers read the request body as it arrives (the
    /// Compute ABI's body reads wait for it), rather than whole before they
    /// start (WAGI's standard input).
    pub fn reads_body_as_it_arrives(self) -> bool {
        match self {
            Abi::Wagi | Abi::WasiHttp => false,
            Abi::Fastly => true,
        }
    }

    /// The ABI called `name`.
    pub fn from_name(name: &str) -> Option<Abi> {
        Abi::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The ABI a module's imports and exports tell: a module that imports
    /// any of the Compute ABI's modules (`fastly_*`) is a Compute app; one
    /// that imports WASI preview1, or exports `_start`, a WAGI handler.
    pub fn detect(interface: &ModuleInterface) -> Result<Abi, String> {
        if let Some(component) = &interface.component {
            if wasi_http::is_proxy(component) {
                return Ok(Abi::WasiHttp);
            }
            return Err(
                "it is a component, but not a wasi:http/proxy (it exports no \
                 wasi:http/incoming-handler)"
                    .into(),
            );
        }
        if interface
            .imports
            .iter()
            .any(|(m, _)| fastly::is_abi_module(m))
        {
            return Ok(Abi::Fastly);
        }
        if interface.imports_from(wagi::WASI_PREVIEW1) || interface.function("_start").is_some() {
            return Ok(Abi::Wagi);
        }
        Err(format!(
            "its imports and exports match no handler ABI (known: {}; a WAGI handler imports \
             WASI preview1 or exports _start, a Compute app imports fastly_* modules, a wasi-http \
             handler is a wasi:http/proxy component); name one with abi = \"...\" in its route",
            Abi::ALL.map(|a| a.name()).join(", ")
        ))
    }

    /// Whether a module with `interface` can be a handler of this ABI; the
    /// error says what is missing.
    pub fn check(self, interface: &ModuleInterface) -> Result<(), String> {
        match self {
            Abi::Wagi => wagi::check(interface),
            Abi::Fastly => fastly::check(interface),
            Abi::WasiHttp => wasi_http::check(interface),
        }
    }

    /// What this ABI needs of a route's configuration: for Fastly, the
    /// app's `fastly.toml`, if it has one (a WAGI route may not name one);
    /// for `wasi:http`, the backends it names.
    pub(crate) fn configure(self, route: &RouteConfig) -> Result<AbiConfig, String> {
        let compute_only = [
            ("fastly-toml", route.fastly_toml.is_some()),
            ("dynamic-backends", !route.dynamic_backends.is_empty()),
            ("log-files", !route.log_files.is_empty()),
        ];
        match self {
            Abi::Wagi => match compute_only.iter().find(|(_, set)| *set) {
                Some((key, _)) => Err(format!("{key} is for Compute apps, not WAGI handlers")),
                None => Ok(AbiConfig::Wagi),
            },
            // A wasi:http route's backends are configured as a Compute
            // app's are.
            Abi::WasiHttp => match route.log_files.is_empty() {
                false => Err("log-files is for Compute apps, not wasi:http components".into()),
                true => fastly::origins(route).map(|o| AbiConfig::WasiHttp(Arc::new(o))),
            },
            Abi::Fastly => fastly::configure(route).map(AbiConfig::Fastly),
        }
    }

    /// Starts handling `request` on `route` in a fresh instance of
    /// `module`, run by `engine` on `worker`: the response, or the run
    /// suspended until `cx.waker` is woken (then [`resume`](Self::resume)
    /// it).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start<E: Engine>(
        self,
        config: &AbiConfig,
        engine: &E,
        worker: &mut E::Worker,
        module: &E::Module,
        route: &Route,
        request: &GuestRequest,
        cx: RunContext,
    ) -> Progress<E::Suspended> {
        match (self, config) {
            (Abi::Wagi, _) => Progress::Done(wagi::handle(route, request, |command| {
                engine.run_wasi_command(worker, module, command)
            })),
            (Abi::WasiHttp, AbiConfig::WasiHttp(origins)) => {
                match wasi_http::begin(route, request, origins, cx) {
                    Ok(call) => {
                        let step = engine.start_component(worker, module, call);
                        wasi_http_progress(route, request, step)
                    }
                    Err(e) => Progress::Done(Err(e)),
                }
            }
            (Abi::Fastly, AbiConfig::Fastly(local)) => {
                let (command, state) = fastly::begin(route, request, local, cx);
                let step = engine.start_wasi_command_with(worker, module, command, state);
                fastly_progress(route, request, step)
            }
            (Abi::Fastly | Abi::WasiHttp, _) => Progress::Done(Err(HandlerError::Failed(
                "the route's configuration is missing".into(),
            ))),
        }
    }

    /// Continues a run [`start`](Self::start) left suspended.
    pub(crate) fn resume<E: Engine>(
        self,
        engine: &E,
        worker: &mut E::Worker,
        route: &Route,
        request: &GuestRequest,
        run: E::Suspended,
    ) -> Progress<E::Suspended> {
        match self {
            // WAGI's runs never suspend.
            Abi::Wagi => Progress::Done(Err(HandlerError::Failed(
                "a WAGI run cannot be resumed".into(),
            ))),
            Abi::WasiHttp => {
                let step = engine.resume::<lucet_wasi::component::ComponentCtx>(worker, run);
                wasi_http_progress(route, request, step)
            }
            Abi::Fastly => {
                let step = engine.resume::<fastly::FastlyState>(worker, run);
                fastly_progress(route, request, step)
            }
        }
    }
}

fn wasi_http_progress<R>(
    route: &Route,
    request: &GuestRequest,
    step: Step<R, lucet_wasi::component::ComponentCtx>,
) -> Progress<R> {
    match step {
        Step::Ended(result, ctx) => Progress::Done(wasi_http::end(route, request, result, ctx)),
        Step::Suspended(run) => Progress::Suspended(run),
    }
}

fn fastly_progress<R>(
    route: &Route,
    request: &GuestRequest,
    step: Step<R, fastly::FastlyState>,
) -> Progress<R> {
    match step {
        Step::Ended(result, state) => fastly::end(route, request, result, state),
        Step::Suspended(run) => Progress::Suspended(run),
    }
}

#[cfg(test)]
mod tests {
    use lucet_module::{FuncType, ValType};

    use super::*;

    fn interface(imports: &[(&str, &str)], functions: &[(&str, FuncType)]) -> ModuleInterface {
        ModuleInterface {
            imports: imports
                .iter()
                .map(|(m, n)| (m.to_string(), n.to_string()))
                .collect(),
            functions: functions
                .iter()
                .map(|(n, t)| (n.to_string(), t.clone()))
                .collect(),
            component: None,
        }
    }

    #[test]
    fn abis_are_named_and_told_by_imports() {
        assert_eq!(Abi::from_name("wagi"), Some(Abi::Wagi));
        assert_eq!(Abi::from_name("fastly"), Some(Abi::Fastly));
        let compute = interface(
            &[
                ("wasi_snapshot_preview1", "fd_write"),
                ("fastly_http_req", "body_downstream_get"),
            ],
            &[("_start", FuncType::new([], []))],
        );
        assert_eq!(Abi::detect(&compute), Ok(Abi::Fastly));
        assert_eq!(Abi::Fastly.check(&compute), Ok(()));
        assert_eq!(Abi::from_name("WAGI"), None);
        let command = FuncType::new([], []);
        let wasi = interface(
            &[("wasi_snapshot_preview1", "fd_write")],
            &[("_start", command.clone())],
        );
        assert_eq!(Abi::detect(&wasi), Ok(Abi::Wagi));
        assert_eq!(Abi::Wagi.check(&wasi), Ok(()));
        let bare_command = interface(&[], &[("_start", command)]);
        assert_eq!(Abi::detect(&bare_command), Ok(Abi::Wagi));
        let library = interface(&[("env", "f")], &[("f", FuncType::new([], []))]);
        let e = Abi::detect(&library).unwrap_err();
        assert!(
            e.contains("match no handler ABI (known: wagi, fastly"),
            "{e}"
        );
        let wrong_start = interface(&[], &[("_start", FuncType::new([ValType::I32], []))]);
        let e = Abi::Wagi.check(&wrong_start).unwrap_err();
        assert!(
            e.contains("its _start has type (i32) -> (), not [] -> []"),
            "{e}"
        );
        let e = Abi::Wagi.check(&library).unwrap_err();
        assert!(e.contains("exports no _start function"), "{e}");
    }
}
