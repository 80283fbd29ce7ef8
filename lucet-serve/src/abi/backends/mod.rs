//! Backends: the origins a route's guests may send requests to, shared by
//! the ABIs that send them (the Compute ABI's `send` calls, `wasi:http`'s
//! `outgoing-handler`). A route names its backends in its app's
//! `fastly.toml` (`[local_server.backends.NAME]`) and the hosts it allows
//! backends to be made for at run time (`dynamic-backends`); a guest
//! reaches these and nothing else.
//!
//! - `backend.rs`: one backend, read from its table, with its client.
//! - `dynamic.rs`: backends made at run time, for the hosts allowed.
//! - `send.rs`: sending a request to a backend and reading its response.
//! - `heads.rs`: the heads of those requests and responses.

mod backend;
mod dynamic;
mod heads;
mod send;

use std::collections::HashMap;
use std::sync::Arc;

pub(crate) use backend::{tls_config, Backend, Timeouts, UpstreamBody};
pub(crate) use dynamic::{DynamicBackend, DynamicBackends, Refused};
pub(crate) use heads::{RequestParts, ResponseParts};
pub(crate) use send::{send, BackendResponse, SendError, SEND_OK};

/// A route's backends: those configured, by name, and the hosts it allows
/// backends to be made for.
#[derive(Debug, Default)]
pub(crate) struct Origins {
    pub named: HashMap<String, Arc<Backend>>,
    pub dynamic: DynamicBackends,
}

impl Origins {
    /// The backend a request to `authority` over `tls` goes to: the one
    /// named so (`http://origin/` goes to backend `origin`, if its URL is
    /// `http:` too), else a configured one whose URL has that scheme, host
    /// and port, else one made for it if the route allows its host.
    /// `None`: the request is not allowed.
    pub fn for_authority(
        &self,
        authority: &str,
        tls: bool,
        timeouts: Timeouts,
    ) -> Option<Arc<Backend>> {
        let found = self.named.get(authority).filter(|b| b.is_tls() == tls);
        let found = found.or_else(|| {
            let default_port = if tls { 443 } else { 80 };
            let (host, port) = match authority.rsplit_once(':') {
                Some((h, p)) => (h, p.parse::<u16>().ok()?),
                None => (authority, default_port),
            };
            self.named.values().find(|b| {
                b.is_tls() == tls && b.host().eq_ignore_ascii_case(host) && b.port() == port
            })
        });
        if let Some(b) = found {
            return Some(match timeouts.first_byte.or(timeouts.between_bytes) {
                None => b.clone(),
                Some(_) => Arc::new(b.with_timeouts(timeouts)),
            });
        }
        let spec = DynamicBackend {
            target: authority.to_string(),
            use_tls: tls,
            override_host: None,
            connect_timeout: timeouts.connect,
            first_byte_timeout: timeouts.first_byte,
            between_bytes_timeout: timeouts.between_bytes,
        };
        self.dynamic.build(&spec).ok().map(Arc::new)
    }
}
