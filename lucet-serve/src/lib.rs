//! `lucet-serve`: an HTTP server that handles every request in a fresh
//! Lucet instance.
//!
//! Requests are read on tokio (hyper: HTTP/1.1 with keep-alive, HTTP/2),
//! checked against their route's limits, then run on a fixed set of worker
//! threads that own the instance slots. The server core knows requests,
//! responses, routes, limits, workers and engines ([`Engine`]; Lucet's is
//! [`LucetEngine`]); each route's handler ABI ([`Abi`]: WAGI, CGI over
//! WASI, so that any WASI command is a handler) is named in the
//! configuration or told by its module's imports.
//!
//! ```no_run
//! use lucet_serve::{Config, RouteLimits, Server};
//!
//! let mut config = Config::single("examples/hello.wat".into(), RouteLimits::default());
//! config.listen = "127.0.0.1:0".parse().unwrap();
//! let server = Server::start(config)?;
//! println!("serving on {}", server.addr());
//! server.run_until_signalled()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod abi;
mod access_log;
mod admin;
mod app;
mod body_budget;
mod config;
mod connection;
mod engine;
mod error;
mod limits;
mod line_writer;
mod lucet_engine;
mod metrics;
mod request;
mod route;
mod run;
mod server;
mod workers;

pub use abi::Abi;
pub use access_log::AccessLog;
pub use config::{Config, DirConfig, RouteConfig, RoutePath, DEFAULT_LISTEN};
pub use engine::{
    ComponentCall, Engine, GuestCx, HostCall, LoadSpec, ModuleInterface, Step, Stopped, WasiCommand,
};
pub use error::Error;
pub use limits::{RouteLimits, ServerLimits};
pub use lucet_engine::{LucetEngine, LucetWorker};
pub use request::{
    BodySender, BodyStream, GuestRequest, GuestResponse, HandlerError, IncomingBody, IncomingError,
    ResponseBody, StreamCut,
};
pub use route::OpenDir;
pub use server::Server;
