//! Sending a guest's request to one of its backends, on the async runtime:
//! the request made for the backend (its URL under the backend's, its host
//! the backend's override or the request's own), the response read whole
//! within the backend's timeouts and the instance's body budget, and what
//! went wrong, in the ABI's terms (`send_error_detail`).

use std::error::Error as _;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::header::{HeaderValue, HOST};
use hyper::{Request, Uri};
use hyper_util::client::legacy::connect::HttpInfo;

use super::backend::{Backend, UpstreamBody};
use super::heads::{RequestParts, ResponseParts};
use crate::abi::framing::is_hop_by_hop;

/// A backend's response, read whole.
#[derive(Debug)]
pub(crate) struct BackendResponse {
    pub parts: ResponseParts,
    pub body: Bytes,
    /// The address it came from.
    pub remote: Option<SocketAddr>,
}

/// Why a send failed: the ABI's `send_error_detail_tag`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum SendError {
    DestinationNotFound = 4,
    ConnectionRefused = 7,
    ConnectionTerminated = 8,
    ConnectionTimeout = 9,
    TlsCertificateError = 11,
    HttpIncompleteResponse = 13,
    HttpResponseBodyTooLarge = 15,
    HttpResponseTimeout = 16,
    HttpProtocolError = 19,
    HttpRequestUriInvalid = 21,
    InternalError = 22,
    TlsProtocolError = 24,
}

/// The tag of a send that went well.
pub(crate) const SEND_OK: u32 = 1;

/// The request `backend` gets for the guest's `req`.
fn backend_request(
    backend: &Backend,
    req: RequestParts,
    body: UpstreamBody,
) -> Result<Request<UpstreamBody>, SendError> {
    let base = backend.url.path().trim_end_matches('/');
    let path = req.uri.path_and_query().map_or("/", |p| p.as_str());
    let path = if path.starts_with('/') {
        format!("{base}{path}")
    } else {
        format!("{base}/{path}")
    };
    let mut parts = backend.url.clone().into_parts();
    parts.path_and_query = Some(path.parse().map_err(|_| SendError::HttpRequestUriInvalid)?);
    let uri = Uri::from_parts(parts).map_err(|_| SendError::HttpRequestUriInvalid)?;
    let host = backend
        .override_host
        .clone()
        .or_else(|| req.headers.get(HOST).cloned())
        .or_else(|| {
            req.uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        })
        .or_else(|| {
            backend
                .url
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        });
    let mut headers = req.headers;
    let framing: Vec<_> = headers
        .keys()
        .filter(|n| is_hop_by_hop(n))
        .cloned()
        .collect();
    for name in framing {
        headers.remove(name);
    }
    headers.remove(HOST);
    if let Some(host) = host {
        headers.insert(HOST, host);
    }
    let mut request = Request::new(body);
    *request.method_mut() = req.method;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    Ok(request)
}

/// Sends `req` with `body` to `backend` and reads the response, its body
/// at most `max_body` bytes.
pub(crate) async fn send(
    backend: Arc<Backend>,
    req: RequestParts,
    body: UpstreamBody,
    max_body: u64,
) -> Result<BackendResponse, SendError> {
    let request = backend_request(&backend, req, body)?;
    let response =
        tokio::time::timeout(backend.first_byte_timeout, backend.client.request(request))
            .await
            .map_err(|_| SendError::HttpResponseTimeout)?
            .map_err(|e| classify(&e))?;
    let remote = response
        .extensions()
        .get::<HttpInfo>()
        .map(|i| i.remote_addr());
    let (head, mut incoming) = response.into_parts();
    let mut body = BytesMut::new();
    loop {
        let frame = tokio::time::timeout(backend.between_bytes_timeout, incoming.frame())
            .await
            .map_err(|_| SendError::HttpResponseTimeout)?;
        let Some(frame) = frame else { break };
        let frame = frame.map_err(|e| {
            if e.is_incomplete_message() {
                SendError::HttpIncompleteResponse
            } else {
                SendError::ConnectionTerminated
            }
        })?;
        if let Ok(data) = frame.into_data() {
            if body.len() as u64 + data.len() as u64 > max_body {
                return Err(SendError::HttpResponseBodyTooLarge);
            }
            body.extend_from_slice(&data);
        }
    }
    Ok(BackendResponse {
        parts: ResponseParts {
            status: head.status,
            version: head.version,
            headers: head.headers,
            remote,
        },
        body: body.freeze(),
        remote,
    })
}

/// What a client error means, in the ABI's terms.
fn classify(e: &hyper_util::client::legacy::Error) -> SendError {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => SendError::ConnectionRefused,
                std::io::ErrorKind::TimedOut => SendError::ConnectionTimeout,
                std::io::ErrorKind::InvalidData
                    if io
                        .get_ref()
                        .and_then(|i| i.downcast_ref::<rustls::Error>())
                        .is_some_and(|r| matches!(r, rustls::Error::InvalidCertificate(_))) =>
                {
                    SendError::TlsCertificateError
                }
                std::io::ErrorKind::InvalidData => SendError::TlsProtocolError,
                _ if e.is_connect() => SendError::ConnectionRefused,
                _ => SendError::ConnectionTerminated,
            };
        }
        if let Some(h) = s.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() {
                return SendError::HttpIncompleteResponse;
            }
            if h.is_parse() {
                return SendError::HttpProtocolError;
            }
        }
        if s.to_string().contains("timed out") || s.to_string().contains("timeout") {
            return SendError::ConnectionTimeout;
        }
        source = s.source();
    }
    if e.is_connect() {
        SendError::ConnectionRefused
    } else {
        SendError::InternalError
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::{HeaderMap, Method, Version};

    fn empty() -> UpstreamBody {
        UpstreamBody::Left(http_body_util::Full::new(Bytes::new()))
    }

    fn backend(url: &str, override_host: Option<&str>) -> Backend {
        let tls = super::super::backend::tls_config().unwrap();
        let mut t = toml::Table::new();
        t.insert("url".into(), url.into());
        if let Some(h) = override_host {
            t.insert("override_host".into(), h.into());
        }
        Backend::from_toml(toml::Value::Table(t), &tls).unwrap()
    }

    fn request(uri: &str, host: Option<&str>) -> RequestParts {
        let mut headers = HeaderMap::new();
        if let Some(h) = host {
            headers.insert(HOST, h.parse().unwrap());
        }
        headers.insert("transfer-encoding", "chunked".parse().unwrap());
        headers.insert("x-keep", "1".parse().unwrap());
        RequestParts {
            method: Method::POST,
            uri: uri.parse().unwrap(),
            version: Version::HTTP_11,
            headers,
        }
    }

    #[test]
    fn the_backend_request_goes_under_the_backends_url() {
        let b = backend("http://127.0.0.1:9000/api/", None);
        let r = backend_request(&b, request("http://example.com/x?y=1", None), empty()).unwrap();
        assert_eq!(r.uri(), "http://127.0.0.1:9000/api/x?y=1");
        assert_eq!(r.method(), Method::POST);
        assert_eq!(r.headers()[HOST], "example.com");
        assert_eq!(r.headers()["x-keep"], "1");
        assert!(r.headers().get("transfer-encoding").is_none());
        let r = backend_request(&b, request("/x", Some("h.example")), empty()).unwrap();
        assert_eq!(r.headers()[HOST], "h.example");
        let b = backend("https://origin.example", Some("override.example"));
        let r = backend_request(&b, request("/x", Some("h.example")), empty()).unwrap();
        assert_eq!(r.uri(), "https://origin.example/x");
        assert_eq!(r.headers()[HOST], "override.example");
    }
}
