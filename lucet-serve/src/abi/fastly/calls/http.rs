//! Requests and responses: making them, their heads, and sending a response
//! downstream. Framing headers (`Content-Length`, `Transfer-Encoding`) and
//! the other hop-by-hop headers a guest sets never reach the client: the
//! server frames the response.

use hyper::{Method, StatusCode, Uri, Version};

use super::super::memory::Memory;
use super::super::state::{
    FastlyState, RequestParts, ResponseParts, Sent, SentBody, STREAM_CHUNKS,
};
use super::super::status::{CallResult, Status};
use super::args::Args;
use super::headers;
use crate::request::{BodyStream, GuestResponse, ResponseBody};

/// The ABI's `http_version`.
fn version_code(v: Version) -> u32 {
    match v {
        Version::HTTP_09 => 0,
        Version::HTTP_10 => 1,
        Version::HTTP_2 => 3,
        Version::HTTP_3 => 4,
        _ => 2,
    }
}

fn version_of(code: u32) -> CallResult<Version> {
    Ok(match code {
        0 => Version::HTTP_09,
        1 => Version::HTTP_10,
        2 => Version::HTTP_11,
        3 => Version::HTTP_2,
        4 => Version::HTTP_3,
        _ => return Err(Status::Inval),
    })
}

/// `(req_handle_out, body_handle_out)`.
pub(super) fn body_downstream_get(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    m.write_u32(a.u32(0), s.downstream.request)?;
    m.write_u32(a.u32(1), s.downstream.body)
}

pub(super) fn req_new(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    m.check_u32(a.u32(0))?;
    let h = s.requests.insert(RequestParts {
        method: Method::GET,
        uri: Uri::from_static("/"),
        version: Version::HTTP_11,
        headers: Default::default(),
    })?;
    m.write_u32(a.u32(0), h)
}

pub(super) fn req_close(s: &mut FastlyState, _: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    s.requests.remove(a.u32(0)).map(drop)
}

pub(super) fn req_header_names_get(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    headers::names_get(&s.requests.get(a.u32(0))?.headers, m, a)
}

pub(super) fn req_header_value_get(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    headers::value_get(&s.requests.get(a.u32(0))?.headers, m, a)
}

pub(super) fn req_header_values_get(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    headers::values_get(&s.requests.get(a.u32(0))?.headers, m, a)
}

pub(super) fn req_header_values_set(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let r = s.requests.get_mut(a.u32(0))?;
    headers::values_set(&mut r.headers, &s.limits, m, a)
}

pub(super) fn req_header_insert(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let r = s.requests.get_mut(a.u32(0))?;
    headers::insert(&mut r.headers, &s.limits, m, a)
}

pub(super) fn req_header_append(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let r = s.requests.get_mut(a.u32(0))?;
    headers::append(&mut r.headers, &s.limits, m, a)
}

pub(super) fn req_header_remove(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    headers::remove(&mut s.requests.get_mut(a.u32(0))?.headers, m, a)
}

/// `(h, buf, buf_len, nwritten_out)`.
pub(super) fn req_method_get(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let method = s.requests.get(a.u32(0))?.method.clone();
    m.write_value(a.u32(1), a.u32(2), method.as_str().as_bytes(), a.u32(3))
}

/// `(h, method, method_len)`.
pub(super) fn req_method_set(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let method = Method::from_bytes(m.bytes(a.u32(1), a.u32(2))?).map_err(|_| Status::Inval)?;
    s.requests.get_mut(a.u32(0))?.method = method;
    Ok(())
}

pub(super) fn req_uri_get(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let uri = s.requests.get(a.u32(0))?.uri.to_string();
    m.write_value(a.u32(1), a.u32(2), uri.as_bytes(), a.u32(3))
}

pub(super) fn req_uri_set(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let uri = Uri::try_from(m.bytes(a.u32(1), a.u32(2))?).map_err(|_| Status::Inval)?;
    s.requests.get_mut(a.u32(0))?.uri = uri;
    Ok(())
}

/// `(h, version_out)`.
pub(super) fn req_version_get(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let v = s.requests.get(a.u32(0))?.version;
    m.write_u32(a.u32(1), version_code(v))
}

pub(super) fn req_version_set(s: &mut FastlyState, _: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let v = version_of(a.u32(1))?;
    s.requests.get_mut(a.u32(0))?.version = v;
    Ok(())
}

/// `(h, mode)`: 0 automatic, 1 manual. Framing is always the server's; the
/// mode is checked and kept for nothing.
pub(super) fn req_framing_headers_mode_set(
    s: &mut FastlyState,
    _: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    s.requests.get(a.u32(0))?;
    if a.u32(1) > 1 {
        return Err(Status::Inval);
    }
    Ok(())
}

/// `(h, encodings)`: which encodings of a backend's response to decompress.
/// Checked; there are no backend responses yet to apply it to.
pub(super) fn req_auto_decompress_response_set(
    s: &mut FastlyState,
    _: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    s.requests.get(a.u32(0))?;
    // One flag is defined: gzip.
    if a.u32(1) & !1 != 0 {
        return Err(Status::Inval);
    }
    Ok(())
}

/// Cache overrides of a request to a backend: checked; there is no cache
/// yet that they would change.
pub(super) fn req_cache_override_set(
    s: &mut FastlyState,
    _: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    s.requests.get(a.u32(0)).map(drop)
}

pub(super) fn resp_new(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    m.check_u32(a.u32(0))?;
    let h = s.responses.insert(ResponseParts::default())?;
    m.write_u32(a.u32(0), h)
}

pub(super) fn resp_close(s: &mut FastlyState, _: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    s.responses.remove(a.u32(0)).map(drop)
}

pub(super) fn resp_header_names_get(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    headers::names_get(&s.responses.get(a.u32(0))?.headers, m, a)
}

pub(super) fn resp_header_value_get(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    headers::value_get(&s.responses.get(a.u32(0))?.headers, m, a)
}

pub(super) fn resp_header_values_get(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    headers::values_get(&s.responses.get(a.u32(0))?.headers, m, a)
}

pub(super) fn resp_header_values_set(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let r = s.responses.get_mut(a.u32(0))?;
    headers::values_set(&mut r.headers, &s.limits, m, a)
}

pub(super) fn resp_header_insert(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let r = s.responses.get_mut(a.u32(0))?;
    headers::insert(&mut r.headers, &s.limits, m, a)
}

pub(super) fn resp_header_append(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let r = s.responses.get_mut(a.u32(0))?;
    headers::append(&mut r.headers, &s.limits, m, a)
}

pub(super) fn resp_header_remove(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    headers::remove(&mut s.responses.get_mut(a.u32(0))?.headers, m, a)
}

pub(super) fn resp_version_get(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let v = s.responses.get(a.u32(0))?.version;
    m.write_u32(a.u32(1), version_code(v))
}

pub(super) fn resp_version_set(
    s: &mut FastlyState,
    _: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let v = version_of(a.u32(1))?;
    s.responses.get_mut(a.u32(0))?.version = v;
    Ok(())
}

/// `(h, status_out)`: a `u16`.
pub(super) fn resp_status_get(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let status = s.responses.get(a.u32(0))?.status;
    m.write_u16(a.u32(1), status.as_u16())
}

/// `(h, status)`: 100 to 999.
pub(super) fn resp_status_set(s: &mut FastlyState, _: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let code = u16::try_from(a.u32(1)).map_err(|_| Status::Inval)?;
    let status = StatusCode::from_u16(code).map_err(|_| Status::Inval)?;
    s.responses.get_mut(a.u32(0))?.status = status;
    Ok(())
}

/// `(h, body, streaming)`: sends response `h` with body `body` to the
/// client, once. Both handles are closed, except a streamed body, which the
/// guest goes on writing and closes to finish the response.
pub(super) fn resp_send_downstream(
    s: &mut FastlyState,
    _: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let (h, b, streaming) = (a.u32(0), a.u32(1), a.u32(2));
    if streaming > 1 {
        return Err(Status::Inval);
    }
    s.responses.get(h)?;
    if s.body(b)?.stream.is_some() {
        // Streamed to a backend already.
        return Err(Status::Badf);
    }
    if s.sent.is_some() {
        return Err(Status::Httpuser);
    }
    let status = s.responses.get(h)?.status;
    if status.is_informational() {
        return Err(Status::Httpuser);
    }
    let mut parts = s.responses.remove(h)?;
    let framing: Vec<_> = parts
        .headers
        .keys()
        .filter(|name| crate::abi::framing::is_hop_by_hop(name))
        .cloned()
        .collect();
    for name in framing {
        parts.headers.remove(name);
    }
    let body = if streaming == 1 {
        // The head goes to the client now; the body follows as the app
        // writes it.
        if crate::abi::framing::head_bytes(&parts.headers) > s.limits.response_header_bytes {
            return Err(Status::Httpheadtoolarge);
        }
        let (sender, stream) = BodyStream::channel(STREAM_CHUNKS);
        s.start_streaming(b, sender)?;
        s.run.responder.send(Ok(GuestResponse {
            status: parts.status,
            headers: parts.headers.clone(),
            body: ResponseBody::Stream(stream),
        }));
        SentBody::Streaming
    } else {
        SentBody::Whole(s.send_body(b)?)
    };
    s.sent = Some(Sent { parts, body });
    Ok(())
}

/// `(h, mode)`: framing is always the server's (see the module's header).
pub(super) fn resp_framing_headers_mode_set(
    s: &mut FastlyState,
    _: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    s.responses.get(a.u32(0))?;
    if a.u32(1) > 1 {
        return Err(Status::Inval);
    }
    Ok(())
}

/// `(h, mode)`: 0 automatic, 1 no keep-alive. Keep-alive is the server's.
pub(super) fn resp_http_keepalive_mode_set(
    s: &mut FastlyState,
    _: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    s.responses.get(a.u32(0))?;
    if a.u32(1) > 1 {
        return Err(Status::Inval);
    }
    Ok(())
}

/// `(h, addr_octets_out, nwritten_out)`: the backend address a response
/// came from; `none` for one the guest made.
pub(super) fn resp_dest_ip(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let remote = s.responses.get(a.u32(0))?.remote.ok_or(Status::None)?;
    let octets: Vec<u8> = match remote.ip() {
        std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
        std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    m.write(a.u32(1), &octets)?;
    m.write_u32(a.u32(2), octets.len() as u32)
}

/// `(h, port_out)`: a `u16`.
pub(super) fn resp_dest_port(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let remote = s.responses.get(a.u32(0))?.remote.ok_or(Status::None)?;
    m.write_u16(a.u32(1), remote.port())
}
