//! Dynamic backends: backends an app registers while it runs
//! (`register_dynamic_backend`), only to the hosts its route allows
//! (`dynamic-backends`), each for the rest of the request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use hyper::header::HeaderValue;
use hyper::Uri;

use super::backend::{self as backends, Backend, HttpClient};

/// A host a route allows dynamic backends for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// This host, any port.
    Host(String),
    /// This host and port.
    HostPort(String, u16),
    /// Any host under this domain (`*.example.com`: `a.example.com`,
    /// `a.b.example.com`, not `example.com`), any port.
    Under(String),
}

impl HostPattern {
    fn parse(text: &str) -> Result<HostPattern, String> {
        let bad = || {
            format!(
                "dynamic backend host {}: expected HOST, HOST:PORT or *.DOMAIN",
                lucet_module::escape_control(text)
            )
        };
        let lower = text.to_ascii_lowercase();
        if let Some(domain) = lower.strip_prefix("*.") {
            if !is_host(domain) {
                return Err(bad());
            }
            return Ok(HostPattern::Under(domain.to_string()));
        }
        match lower.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => {
                let port = port.parse::<u16>().map_err(|_| bad())?;
                if !is_host(host) || port == 0 {
                    return Err(bad());
                }
                Ok(HostPattern::HostPort(host.to_string(), port))
            }
            Some(_) => Err(bad()),
            None if is_host(&lower) => Ok(HostPattern::Host(lower)),
            None => Err(bad()),
        }
    }

    fn allows(&self, host: &str, port: u16) -> bool {
        match self {
            HostPattern::Host(h) => h == host,
            HostPattern::HostPort(h, p) => h == host && *p == port,
            HostPattern::Under(d) => host
                .strip_suffix(d.as_str())
                .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.')),
        }
    }
}

/// A host name or IPv4 address as a URL may carry it: letters, digits,
/// `-` and `.`, not empty, at most 253 bytes.
fn is_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && !h.starts_with('.')
        && !h.ends_with('.')
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Most clients (connection pools) kept for dynamic backends; past it, a
/// registration gets a client of its own.
const MAX_CLIENTS: usize = 256;

/// What an app's route allows, and the connection pools of the backends
/// registered so far (shared by the app's instances, so that a backend
/// registered by every request reuses its connections).
#[derive(Default)]
pub(crate) struct DynamicBackends {
    allowed: Vec<HostPattern>,
    clients: Mutex<HashMap<(bool, Duration), HttpClient>>,
}

impl std::fmt::Debug for DynamicBackends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamicBackends")
            .field("allowed", &self.allowed)
            .finish()
    }
}

/// What an app asks for a dynamic backend (the options it may set that
/// are built).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DynamicBackend {
    /// `host` or `host:port`.
    pub target: String,
    pub use_tls: bool,
    pub override_host: Option<HeaderValue>,
    pub connect_timeout: Option<Duration>,
    pub first_byte_timeout: Option<Duration>,
    pub between_bytes_timeout: Option<Duration>,
}

/// Why a registration is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The target is not a host or host and port.
    BadTarget,
    /// The route does not allow it.
    NotAllowed,
    /// The TLS configuration cannot be built.
    Tls,
}

impl DynamicBackends {
    /// The hosts `patterns` allow; the error is one line.
    pub fn new(patterns: &[String]) -> Result<DynamicBackends, String> {
        Ok(DynamicBackends {
            allowed: patterns
                .iter()
                .map(|p| HostPattern::parse(p))
                .collect::<Result<_, _>>()?,
            clients: Mutex::default(),
        })
    }

    /// Whether the route allows any.
    pub fn any_allowed(&self) -> bool {
        !self.allowed.is_empty()
    }

    /// The backend `spec` describes, if the route allows its host.
    pub fn build(&self, spec: &DynamicBackend) -> Result<Backend, Refused> {
        let default_port = if spec.use_tls { 443 } else { 80 };
        let (host, port) = match spec.target.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| Refused::BadTarget)?),
            None => (spec.target.as_str(), default_port),
        };
        let host = host.to_ascii_lowercase();
        if !is_host(&host) || port == 0 {
            return Err(Refused::BadTarget);
        }
        if !self.allowed.iter().any(|p| p.allows(&host, port)) {
            return Err(Refused::NotAllowed);
        }
        let scheme = if spec.use_tls { "https" } else { "http" };
        let url: Uri = format!("{scheme}://{host}:{port}/")
            .parse()
            .map_err(|_| Refused::BadTarget)?;
        let connect_timeout = spec.connect_timeout.unwrap_or(backends::CONNECT_TIMEOUT);
        let client = self.client(spec.use_tls, connect_timeout)?;
        Ok(Backend {
            url,
            override_host: spec.override_host.clone(),
            connect_timeout,
            first_byte_timeout: spec
                .first_byte_timeout
                .unwrap_or(backends::FIRST_BYTE_TIMEOUT),
            between_bytes_timeout: spec
                .between_bytes_timeout
                .unwrap_or(backends::BETWEEN_BYTES_TIMEOUT),
            client,
            dynamic: true,
        })
    }

    /// A client for backends with this TLS setting and connect timeout:
    /// one shared pool for each.
    fn client(&self, tls: bool, connect_timeout: Duration) -> Result<HttpClient, Refused> {
        let key = (tls, connect_timeout);
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let tls_config = backends::tls_config().map_err(|_| Refused::Tls)?;
        let client = backends::client(&tls_config, connect_timeout);
        if clients.len() < MAX_CLIENTS {
            clients.insert(key, client.clone());
        }
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(target: &str) -> DynamicBackend {
        DynamicBackend {
            target: target.into(),
            use_tls: false,
            override_host: None,
            connect_timeout: None,
            first_byte_timeout: None,
            between_bytes_timeout: None,
        }
    }

    #[test]
    fn only_the_hosts_a_route_names_are_allowed() {
        let d = DynamicBackends::new(&[
            "api.example.com".into(),
            "127.0.0.1:8080".into(),
            "*.cdn.example".into(),
        ])
        .unwrap();
        for ok in [
            "api.example.com",
            "API.example.com:9000",
            "127.0.0.1:8080",
            "a.cdn.example",
            "a.b.cdn.example:443",
        ] {
            assert!(d.build(&spec(ok)).is_ok(), "{ok}");
        }
        for (no, why) in [
            ("example.com", Refused::NotAllowed),
            ("127.0.0.1:8081", Refused::NotAllowed),
            ("127.0.0.1", Refused::NotAllowed),
            ("cdn.example", Refused::NotAllowed),
            ("xcdn.example", Refused::NotAllowed),
            ("api.example.com.evil", Refused::NotAllowed),
            ("api.example.com:x", Refused::BadTarget),
            ("api.example.com:0", Refused::BadTarget),
            ("user@api.example.com", Refused::BadTarget),
            ("api.example.com/path", Refused::BadTarget),
            ("", Refused::BadTarget),
        ] {
            assert_eq!(d.build(&spec(no)).map(|_| ()), Err(why), "{no}");
        }
        let none = DynamicBackends::new(&[]).unwrap();
        assert!(!none.any_allowed());
        assert_eq!(
            none.build(&spec("api.example.com")).map(|_| ()),
            Err(Refused::NotAllowed)
        );
    }

    #[test]
    fn bad_patterns_are_one_line_errors() {
        for bad in ["", "*.", "a:b", "a b", "*.x:80:1", "[::1]:80", "h:0"] {
            let e = DynamicBackends::new(&[bad.into()]).unwrap_err();
            assert!(e.starts_with("dynamic backend host"), "{e}");
            assert_eq!(e.lines().count(), 1);
        }
    }
}
