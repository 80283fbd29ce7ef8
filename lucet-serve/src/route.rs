//! A route as requests see it: what it matches, its limits, and what its
//! handler is given besides the request (environment, directories).

use cap_std::fs::Dir;

use crate::config::RoutePath;
use crate::limits::RouteLimits;

/// A route, ready to serve.
pub struct Route {
    /// What it matches.
    pub path: RoutePath,
    /// `path` as written in the configuration (`X_MATCHED_ROUTE`, logs,
    /// metrics).
    pub pattern: String,
    /// The module's file name (the handler's argv\[0\]).
    pub module_name: String,
    /// Its limits.
    pub limits: RouteLimits,
    /// Environment variables besides the ones its ABI sets.
    pub env: Vec<(String, String)>,
    /// Directories, opened once.
    pub dirs: Vec<OpenDir>,
}

/// A host directory opened for a route.
pub struct OpenDir {
    /// The directory (a capability: nothing outside it is reachable).
    pub dir: Dir,
    /// Its path in the guest.
    pub guest: String,
    /// Whether the handler may create, change or delete what is in it.
    pub writable: bool,
}
