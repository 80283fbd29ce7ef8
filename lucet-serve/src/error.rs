//! Why the server could not start, load or reload.

/// A start-up, load or reload failure; each is one line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file could not be read or is invalid.
    #[error("{path}: {message}")]
    Config {
        /// The file.
        path: String,
        /// What is wrong, with its line.
        message: String,
    },
    /// A configuration given some other way is invalid.
    #[error("{0}")]
    Invalid(String),
    /// A route's module could not be loaded.
    #[error("route {route}: {message}")]
    Module {
        /// The route.
        route: String,
        /// Why (the module's own names escaped).
        message: String,
    },
    /// A route's directory could not be opened.
    #[error("route {route}: cannot open directory {path}: {source}")]
    Dir {
        /// The route.
        route: String,
        /// The host path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The access log could not be opened.
    #[error("cannot open the access log {path}: {source}")]
    AccessLog {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Threads or the async runtime could not be started.
    #[error("cannot start the server: {0}")]
    Start(std::io::Error),
}
