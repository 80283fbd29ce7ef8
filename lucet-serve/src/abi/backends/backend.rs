//! A backend: an origin named in an app's `fastly.toml`
//! (`[local_server.backends.NAME]`, with `url`, `override_host` and the
//! timeouts), with its own HTTP client (HTTP/1.1, and HTTP/2 where TLS
//! negotiates it; TLS with the system's roots).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::HeaderValue;
use hyper::Uri;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The timeouts a backend has unless its configuration says otherwise
/// (Fastly's defaults).
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
pub(crate) const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(15);
pub(crate) const BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest timeout a configuration may give.
const MAX_TIMEOUT: Duration = Duration::from_secs(600);

/// A request body sent to a backend: whole, or streamed as the app
/// writes it.
pub(crate) type UpstreamBody = http_body_util::Either<Full<Bytes>, crate::request::BodyStream>;

/// The client a backend sends through.
pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, UpstreamBody>;

/// A client (a connection pool) for HTTP and HTTPS, with `tls` and the
/// connect timeout.
pub(crate) fn client(tls: &Arc<rustls::ClientConfig>, connect_timeout: Duration) -> HttpClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((**tls).clone())
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(https)
}

/// The timeouts a request asks for, each at most what its backend has.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Timeouts {
    pub connect: Option<Duration>,
    pub first_byte: Option<Duration>,
    pub between_bytes: Option<Duration>,
}

/// One backend.
#[derive(Clone)]
pub(crate) struct Backend {
    /// Its scheme and authority, and the path its requests' paths go
    /// under.
    pub url: Uri,
    /// The host its requests are sent with, when set.
    pub override_host: Option<HeaderValue>,
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub between_bytes_timeout: Duration,
    pub client: HttpClient,
    /// Registered by the app while it runs.
    pub dynamic: bool,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend").field("url", &self.url).finish()
    }
}

impl Backend {
    /// Reads a backend's table; the error says what is wrong.
    pub fn from_toml(
        value: toml::Value,
        tls: &Arc<rustls::ClientConfig>,
    ) -> Result<Backend, String> {
        let toml::Value::Table(mut t) = value else {
            return Err("not a table".into());
        };
        let url = match t.remove("url") {
            Some(toml::Value::String(u)) => u,
            _ => return Err("no url (a string)".into()),
        };
        let url: Uri = url
            .parse()
            .map_err(|_| format!("url {}: not a URL", lucet_module::escape_control(&url)))?;
        match url.scheme_str() {
            Some("http" | "https") if url.host().is_some() => {}
            _ => {
                return Err(format!(
                    "url {}: not an http:// or https:// URL with a host",
                    lucet_module::escape_control(&url.to_string())
                ))
            }
        }
        let override_host = match t.remove("override_host") {
            Some(toml::Value::String(h)) => Some(
                HeaderValue::from_str(&h)
                    .map_err(|_| "override_host: not a valid host".to_string())?,
            ),
            Some(_) => return Err("override_host is not a string".into()),
            None => None,
        };
        let mut timeout = |key: &str, default: Duration| -> Result<Duration, String> {
            match t.remove(key) {
                None => Ok(default),
                Some(toml::Value::Integer(ms)) if ms > 0 => {
                    let d = Duration::from_millis(ms as u64);
                    if d > MAX_TIMEOUT {
                        return Err(format!("{key}: more than {} s", MAX_TIMEOUT.as_secs()));
                    }
                    Ok(d)
                }
                Some(_) => Err(format!("{key}: expected a positive number of milliseconds")),
            }
        };
        let connect_timeout = timeout("connect_timeout_ms", CONNECT_TIMEOUT)?;
        let first_byte_timeout = timeout("first_byte_timeout_ms", FIRST_BYTE_TIMEOUT)?;
        let between_bytes_timeout = timeout("between_bytes_timeout_ms", BETWEEN_BYTES_TIMEOUT)?;
        // Keys Viceroy reads that change nothing here.
        for key in ["cert_host", "use_sni", "grpc"] {
            t.remove(key);
        }
        if let Some(k) = t.keys().next() {
            return Err(format!("unknown key {}", lucet_module::escape_control(k)));
        }
        Ok(Backend {
            url,
            override_host,
            connect_timeout,
            first_byte_timeout,
            between_bytes_timeout,
            client: client(tls, connect_timeout),
            dynamic: false,
        })
    }

    /// The same backend, with the shorter of its timeouts and those a
    /// request asks for (the connect timeout is its client's).
    pub fn with_timeouts(&self, asked: Timeouts) -> Backend {
        let shorter = |mine: Duration, asked: Option<Duration>| asked.map_or(mine, |a| a.min(mine));
        Backend {
            first_byte_timeout: shorter(self.first_byte_timeout, asked.first_byte),
            between_bytes_timeout: shorter(self.between_bytes_timeout, asked.between_bytes),
            ..self.clone()
        }
    }

    /// The backend's host.
    pub fn host(&self) -> &str {
        self.url.host().unwrap_or_default()
    }

    /// The backend's port.
    pub fn port(&self) -> u16 {
        self.url
            .port_u16()
            .unwrap_or(if self.is_tls() { 443 } else { 80 })
    }

    /// Whether it is reached over TLS.
    pub fn is_tls(&self) -> bool {
        self.url.scheme_str() == Some("https")
    }
}

/// The TLS configuration every backend's client uses: the system's roots.
pub(crate) fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A certificate the store cannot use is skipped, as browsers do.
        let _ = roots.add(cert);
    }
    // ring, not aws-lc-rs: no C build system beyond what `cc` needs, on
    // every target this builds for. rustls marks ring's provider deprecated
    // because it lacks post-quantum key exchange.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
