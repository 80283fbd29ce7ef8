//! The headers a handler may not set, whatever its ABI: they describe the
//! connection or the framing of the message, which the server owns.

use hyper::header::HeaderName;

/// Headers a handler may not set: they describe the connection or the
/// framing, which the server owns.
pub(super) fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "upgrade"
            | "te"
            | "trailer"
            | "content-length"
    )
}

/// The size of a response head, as a route's `max-response-headers`
/// counts it.
pub(super) fn head_bytes(headers: &hyper::HeaderMap) -> usize {
    headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum()
}
