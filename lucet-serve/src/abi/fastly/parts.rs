//! The heads of the requests and responses an instance holds, and the
//! checks a response sent whole passes before it goes to the client.

use std::net::SocketAddr;

use bytes::Bytes;
use hyper::header::HOST;
use hyper::http::uri::{Authority, Scheme};
use hyper::{HeaderMap, Uri};

use super::super::backends::{RequestParts, ResponseParts};
use super::super::framing::head_bytes;
use crate::request::{GuestRequest, GuestResponse, HandlerError};

impl RequestParts {
    /// The head of a request from the client, its URL made absolute.
    pub fn downstream(request: &GuestRequest) -> RequestParts {
        RequestParts {
            method: request.method.clone(),
            uri: absolute_uri(&request.uri, &request.headers, request.local),
            version: request.version,
            headers: request.headers.clone(),
        }
    }
}

/// A response sent whole, as the client gets it: refused past the route's
/// body limit (`max_body`) or header limit (`max_head` bytes).
pub(crate) fn whole_response(
    parts: ResponseParts,
    body: Bytes,
    max_body: u64,
    max_head: usize,
) -> Result<GuestResponse, HandlerError> {
    if body.len() as u64 > max_body {
        return Err(HandlerError::ResponseTooLarge(max_body));
    }
    if head_bytes(&parts.headers) > max_head {
        return Err(HandlerError::BadResponse(format!(
            "its headers are larger than the route's limit of {max_head} bytes"
        )));
    }
    Ok(GuestResponse {
        status: parts.status,
        headers: parts.headers,
        body: body.into(),
    })
}

/// The request's URL as the app sees it: absolute, its host from the
/// request (or the address it came in on).
fn absolute_uri(uri: &Uri, headers: &HeaderMap, local: SocketAddr) -> Uri {
    if uri.scheme().is_some() && uri.authority().is_some() {
        return uri.clone();
    }
    let authority = uri
        .authority()
        .cloned()
        .or_else(|| {
            headers
                .get(HOST)
                .and_then(|h| Authority::try_from(h.as_bytes()).ok())
        })
        .or_else(|| Authority::try_from(local.to_string()).ok());
    let mut parts = uri.clone().into_parts();
    parts.scheme = Some(Scheme::HTTP);
    parts.authority = authority;
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(hyper::http::uri::PathAndQuery::from_static("/"));
    }
    Uri::from_parts(parts).unwrap_or_else(|_| uri.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_is_absolute() {
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let mut h = HeaderMap::new();
        let uri = Uri::from_static("/a/b?c=d");
        assert_eq!(
            absolute_uri(&uri, &h, local).to_string(),
            "http://127.0.0.1:8080/a/b?c=d"
        );
        h.insert(HOST, "example.com".parse().unwrap());
        assert_eq!(
            absolute_uri(&uri, &h, local).to_string(),
            "http://example.com/a/b?c=d"
        );
        h.insert(HOST, "bad host/".parse().unwrap());
        assert_eq!(
            absolute_uri(&uri, &h, local).to_string(),
            "http://127.0.0.1:8080/a/b?c=d"
        );
        let full = Uri::from_static("http://h2.example/x");
        assert_eq!(absolute_uri(&full, &h, local), full);
    }
}
