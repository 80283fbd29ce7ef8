//! `lucet-serve`: an HTTP server that handles every request in a fresh
//! Lucet instance.
//!
//! Requests are read on tokio (hyper: HTTP/1.1 with keep-alive, HTTP/2),
//! checked against their route's limits, then run on a fixed set of worker
//! threads that own the instance slots; the handler ABI is WAGI (CGI over
//! WASI), so any WASI command is a handler.
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
mod config;
mod engine;
mod error;
mod limits;
mod metrics;
mod server;
pub mod wagi;
mod workers;

pub use abi::{Guest, GuestRequest, GuestResponse, HandlerAbi, HandlerError, Wagi};
pub use access_log::AccessLog;
pub use app::{OpenDir, Route};
pub use config::{Config, DirConfig, RouteConfig, RoutePath, DEFAULT_LISTEN};
pub use engine::{Engine, LoadSpec, LoadedModule, LucetEngine};
pub use error::Error;
pub use limits::{RouteLimits, ServerLimits};
pub use server::Server;
