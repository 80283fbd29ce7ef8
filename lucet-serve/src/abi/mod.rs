//! Handler ABIs: how a request is given to a guest and its response read
//! back. The server core knows only [`HandlerAbi`]; WAGI (CGI over WASI) is
//! the first implementation.

mod output;
mod wagi;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use hyper::{HeaderMap, Method, StatusCode, Uri, Version};
use lucet_runtime::{Finished, Outcome, RunPolicy, Watchdog};
use lucet_runtime::{InstanceBuilder, TrapCode, Val};

use crate::app::Route;

pub use self::wagi::Wagi;

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
    /// The body.
    pub body: Bytes,
    /// The client's address.
    pub remote: SocketAddr,
    /// The address the request came in on.
    pub local: SocketAddr,
    /// The part of the path the route matched.
    pub script_name: String,
    /// The rest of the path.
    pub path_info: String,
}

/// A handler's response, checked: valid status, header names and values.
#[derive(Debug)]
pub struct GuestResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers the handler set.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
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

    /// The end of a run that gave no response, as an error; `None` for a
    /// run that returned or exited with status 0.
    pub fn from_outcome(outcome: Outcome, limit: std::time::Duration) -> Option<HandlerError> {
        let escape = |s: &str| lucet_module::escape_control(s);
        Some(match outcome {
            Outcome::Returned(_) | Outcome::Exited(0) => return None,
            Outcome::Exited(code) => HandlerError::Exited(code),
            Outcome::TimedOut => HandlerError::TimedOut(limit),
            Outcome::OutOfFuel => HandlerError::OutOfFuel,
            Outcome::Trapped {
                code,
                function,
                offset,
            } => HandlerError::Trapped {
                code,
                function: escape(&function),
                offset,
            },
            Outcome::Yielded => HandlerError::Failed("the handler yielded".into()),
            Outcome::Failed(e) => HandlerError::Failed(escape(&e.to_string())),
        })
    }
}

/// One fresh instance of the route's module, ready to run under the route's
/// policy; an ABI adds its embedder context and runs it.
pub struct Guest<'a> {
    pub(crate) builder: InstanceBuilder<'a>,
    pub(crate) policy: RunPolicy,
    pub(crate) watchdog: &'a Watchdog,
}

impl Guest<'_> {
    /// Adds a value to the instance's embedder context.
    pub fn with_embed_ctx<T: std::any::Any + Send>(mut self, value: T) -> Self {
        self.builder = self.builder.with_embed_ctx(value);
        self
    }

    /// Creates the instance and runs `entry(params)` under the deadline and
    /// fuel.
    pub fn run(self, entry: &str, params: &[Val]) -> Finished {
        self.policy.run(self.builder, entry, params, self.watchdog)
    }
}

/// A way of handing a request to a guest. Implementations run on the
/// server's worker threads, one request at a time per thread.
pub trait HandlerAbi: Send + Sync + 'static {
    /// Its name in the configuration and logs.
    fn name(&self) -> &'static str;

    /// Whether `module` can be a handler of this ABI (the exports it
    /// needs); the error says what is missing.
    fn check(&self, module: &lucet_runtime::Module) -> Result<(), String>;

    /// Handles one request in `guest`, a fresh instance of the route's
    /// module.
    fn handle(
        &self,
        route: &Route,
        request: &GuestRequest,
        guest: Guest<'_>,
    ) -> Result<GuestResponse, HandlerError>;
}

/// The ABI named in a configuration.
pub fn by_name(name: &str) -> Option<Arc<dyn HandlerAbi>> {
    match name {
        "wagi" => Some(Arc::new(Wagi)),
        _ => None,
    }
}
