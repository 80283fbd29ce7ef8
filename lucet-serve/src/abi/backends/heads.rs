//! The heads of the requests sent to backends and of their responses.

use std::net::SocketAddr;

use hyper::{HeaderMap, Method, StatusCode, Uri, Version};

/// A request's head.
#[derive(Debug, Clone)]
pub(crate) struct RequestParts {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
}

/// A response's head.
#[derive(Debug, Clone)]
pub(crate) struct ResponseParts {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    /// The backend address it came from, if it came from one.
    pub remote: Option<SocketAddr>,
}

impl Default for ResponseParts {
    fn default() -> Self {
        ResponseParts {
            status: StatusCode::OK,
            version: Version::HTTP_11,
            headers: HeaderMap::new(),
            remote: None,
        }
    }
}
