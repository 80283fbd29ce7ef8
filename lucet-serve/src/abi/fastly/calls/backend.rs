//! Sending to backends without waiting (`send_async`, polling a pending
//! request), and what the app may ask of its backends
//! (`fastly_backend`). The calls that wait are in `wait.rs`.

use super::super::super::backends::{SendError, SEND_OK};
use super::super::memory::Memory;
use super::super::state::{FastlyState, INVALID_HANDLE};
use super::super::status::{CallResult, Status};
use super::args::Args;

/// Size of the ABI's `send_error_detail`.
const DETAIL_SIZE: u32 = 20;

/// Writes a `send_error_detail` at `ptr` with `tag` and no optional field
/// set (its mask cleared).
pub(super) fn write_detail(m: &mut Memory<'_>, ptr: u32, tag: u32) -> CallResult {
    m.check_u32(ptr)?;
    m.bytes_mut(ptr, DETAIL_SIZE)?;
    m.write_u32(ptr, tag)?;
    m.write_u32(ptr + 4, 0)
}

/// The `send_error_detail` tag of a finished request's outcome.
pub(super) fn detail_tag<T>(outcome: &Result<T, SendError>) -> u32 {
    match outcome {
        Ok(_) => SEND_OK,
        Err(e) => *e as u32,
    }
}

/// The name at arguments `i`, `i + 1`.
pub(super) fn backend_name<'m>(m: &'m Memory<'_>, a: &Args<'_>, i: usize) -> CallResult<&'m str> {
    m.str(a.u32(i), a.u32(i + 1))
}

/// `(h, body, backend, backend_len, pending_out)`.
pub(super) fn send_async(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    start(s, m, a, a.u32(4), false)
}

/// `(h, body, backend, backend_len, pending_out)`: the body stays open,
/// and goes to the backend as the app writes it.
pub(super) fn send_async_streaming(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    start(s, m, a, a.u32(4), true)
}

/// `(h, body, backend, backend_len, streaming, pending_out)`.
pub(super) fn send_async_v2(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    match a.u32(4) {
        0 => start(s, m, a, a.u32(5), false),
        1 => start(s, m, a, a.u32(5), true),
        _ => Err(Status::Inval),
    }
}

fn start(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
    out: u32,
    streaming: bool,
) -> CallResult {
    m.check_u32(out)?;
    let name = backend_name(m, a, 2)?.to_string();
    let h = if streaming {
        s.send_async_streaming(a.u32(0), a.u32(1), &name)
    } else {
        s.send_async(a.u32(0), a.u32(1), &name)
    };
    m.write_u32(out, h.map_err(|(status, _)| status)?)
}

/// Writes a finished request's outcome: `done`, then the response and
/// body handles (invalid ones for a failure), at the three pointers.
fn write_outcome(
    m: &mut Memory<'_>,
    outcome: Option<Result<(u32, u32), SendError>>,
    (done, resp, body): (u32, u32, u32),
) -> CallResult {
    let (is_done, r, b) = match outcome {
        None => (0, INVALID_HANDLE, INVALID_HANDLE),
        Some(Ok((r, b))) => (1, r, b),
        Some(Err(_)) => (1, INVALID_HANDLE, INVALID_HANDLE),
    };
    m.write_u32(done, is_done)?;
    m.write_u32(resp, r)?;
    m.write_u32(body, b)
}

/// `(h, done_out, resp_out, body_out)`: the response if it is in.
pub(super) fn pending_req_poll(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    poll(s, m, a.u32(0), None, (a.u32(1), a.u32(2), a.u32(3)))
}

/// `(h, error_detail, done_out, resp_out, body_out)`.
pub(super) fn pending_req_poll_v2(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    poll(
        s,
        m,
        a.u32(0),
        Some(a.u32(1)),
        (a.u32(2), a.u32(3), a.u32(4)),
    )
}

fn poll(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    h: u32,
    detail: Option<u32>,
    outs: (u32, u32, u32),
) -> CallResult {
    for p in [outs.0, outs.1, outs.2] {
        m.check_u32(p)?;
    }
    if !s.pending_mut(h)?.is_done() {
        return write_outcome(m, None, outs);
    }
    let outcome = s.take_response(h)?;
    if let Some(d) = detail {
        write_detail(m, d, detail_tag(&outcome))?;
    }
    match outcome {
        Ok(_) => write_outcome(m, Some(outcome), outs),
        // A failed request: done, and the failure as the status.
        Err(_) => Err(Status::Error),
    }
}

/// The backend named by arguments 0 and 1.
fn backend<'s>(
    s: &'s FastlyState,
    m: &Memory<'_>,
    a: &Args<'_>,
) -> CallResult<&'s super::super::super::backends::Backend> {
    let name = backend_name(m, a, 0)?;
    s.backend(name).map(|b| &**b).ok_or(Status::Inval)
}

/// `(name, name_len, exists_out)`.
pub(super) fn exists(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let name = backend_name(m, a, 0)?;
    let exists = s.backend(name).is_some();
    m.write_u32(a.u32(2), u32::from(exists))
}

/// `(name, name_len, health_out)`: no health checks run here: unknown (0).
pub(super) fn is_healthy(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    backend(s, m, a)?;
    m.write_u32(a.u32(2), 0)
}

/// `(name, name_len, dynamic_out)`.
pub(super) fn is_dynamic(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let dynamic = backend(s, m, a)?.dynamic;
    m.write_u32(a.u32(2), u32::from(dynamic))
}

/// Most dynamic backends one instance may register.
const MAX_DYNAMIC_BACKENDS: usize = 64;
/// Longest backend name.
const MAX_BACKEND_NAME: usize = 255;

/// `backend_config_options` bits.
mod option {
    pub const HOST_OVERRIDE: u32 = 1 << 1;
    pub const CONNECT_TIMEOUT: u32 = 1 << 2;
    pub const FIRST_BYTE_TIMEOUT: u32 = 1 << 3;
    pub const BETWEEN_BYTES_TIMEOUT: u32 = 1 << 4;
    pub const USE_SSL: u32 = 1 << 5;
    pub const SSL_MIN_VERSION: u32 = 1 << 6;
    pub const SSL_MAX_VERSION: u32 = 1 << 7;
    pub const CERT_HOSTNAME: u32 = 1 << 8;
    pub const SNI_HOSTNAME: u32 = 1 << 11;
    pub const DONT_POOL: u32 = 1 << 12;
    pub const KEEPALIVE: u32 = 1 << 15;
    pub const POOLING_LIMITS: u32 = 1 << 16;
    pub const PREFER_IPV4: u32 = 1 << 17;
    /// What is built, or changes nothing here (TLS versions: rustls
    /// speaks 1.2 and 1.3; connection pooling and keep-alive tuning). Not
    /// built: a CA certificate (bit 9), ciphers (10), a client
    /// certificate (13), gRPC (14), health checks (18).
    pub const KNOWN: u32 = HOST_OVERRIDE
        | CONNECT_TIMEOUT
        | FIRST_BYTE_TIMEOUT
        | BETWEEN_BYTES_TIMEOUT
        | USE_SSL
        | SSL_MIN_VERSION
        | SSL_MAX_VERSION
        | CERT_HOSTNAME
        | SNI_HOSTNAME
        | DONT_POOL
        | KEEPALIVE
        | POOLING_LIMITS
        | PREFER_IPV4;
}

/// `(name, name_len, target, target_len, options, config)`: registers a
/// backend for the rest of the request, to a host the route allows
/// (`unsupported` when it allows none, `inval` for another; `error` for a
/// name in use). Certificate and SNI host names must be the target's host
/// (what is checked anyway).
pub(super) fn register_dynamic_backend(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    use super::super::super::backends::{DynamicBackend, Refused};
    use std::time::Duration;
    let name = m.str(a.u32(0), a.u32(1))?.to_string();
    let target = m.str(a.u32(2), a.u32(3))?.to_string();
    let (mask, config) = (a.u32(4), a.u32(5));
    if name.is_empty() || name.len() > MAX_BACKEND_NAME {
        return Err(Status::Inval);
    }
    if !s.local.dynamic.any_allowed() {
        return Err(Status::Unsupported);
    }
    if s.backend(&name).is_some() {
        return Err(Status::Error);
    }
    if s.dynamic_backends.len() >= MAX_DYNAMIC_BACKENDS {
        return Err(Status::Limitexceeded);
    }
    // Bit 0 is reserved; the options not built, and unknown bits, are
    // refused.
    if mask & !(option::KNOWN | 1) != 0 {
        return Err(Status::Inval);
    }
    // The record: 27 fields of 4 bytes.
    if mask != 0 {
        m.bytes(config, 108)?;
    }
    let field = |m: &mut Memory<'_>, offset: u32| m.read_u32(config + offset);
    let text = |m: &mut Memory<'_>, offset: u32| -> CallResult<String> {
        let (ptr, len) = (field(m, offset)?, field(m, offset + 4)?);
        Ok(m.str(ptr, len)?.to_string())
    };
    let timeout = |m: &mut Memory<'_>, bit: u32, offset: u32| -> CallResult<Option<Duration>> {
        if mask & bit == 0 {
            return Ok(None);
        }
        match field(m, offset)? {
            0 => Err(Status::Inval),
            ms => Ok(Some(Duration::from_millis(u64::from(ms)))),
        }
    };
    let override_host = match mask & option::HOST_OVERRIDE {
        0 => None,
        _ => Some(hyper::header::HeaderValue::from_str(&text(m, 0)?).map_err(|_| Status::Inval)?),
    };
    let host = target
        .rsplit_once(':')
        .map_or(target.as_str(), |(h, _)| h)
        .to_ascii_lowercase();
    for (bit, offset) in [(option::CERT_HOSTNAME, 28), (option::SNI_HOSTNAME, 52)] {
        if mask & bit != 0 && text(m, offset)?.to_ascii_lowercase() != host {
            return Err(Status::Inval);
        }
    }
    let spec = DynamicBackend {
        target,
        use_tls: mask & option::USE_SSL != 0,
        override_host,
        connect_timeout: timeout(m, option::CONNECT_TIMEOUT, 8)?,
        first_byte_timeout: timeout(m, option::FIRST_BYTE_TIMEOUT, 12)?,
        between_bytes_timeout: timeout(m, option::BETWEEN_BYTES_TIMEOUT, 16)?,
    };
    let backend = s.local.dynamic.build(&spec).map_err(|e| match e {
        Refused::BadTarget | Refused::NotAllowed => Status::Inval,
        Refused::Tls => Status::Error,
    })?;
    s.dynamic_backends
        .insert(name, std::sync::Arc::new(backend));
    Ok(())
}

/// `(name, name_len, value, max, nwritten_out)`.
pub(super) fn get_host(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let host = backend(s, m, a)?.host().to_string();
    m.write_value(a.u32(2), a.u32(3), host.as_bytes(), a.u32(4))
}

pub(super) fn get_override_host(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let host = backend(s, m, a)?
        .override_host
        .clone()
        .ok_or(Status::None)?;
    m.write_value(a.u32(2), a.u32(3), host.as_bytes(), a.u32(4))
}

/// `(name, name_len, port_out)`: a `u16`.
pub(super) fn get_port(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let port = backend(s, m, a)?.port();
    m.write_u16(a.u32(2), port)
}

fn ms(d: std::time::Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

pub(super) fn get_connect_timeout_ms(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let t = backend(s, m, a)?.connect_timeout;
    m.write_u32(a.u32(2), ms(t))
}

pub(super) fn get_first_byte_timeout_ms(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let t = backend(s, m, a)?.first_byte_timeout;
    m.write_u32(a.u32(2), ms(t))
}

pub(super) fn get_between_bytes_timeout_ms(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let t = backend(s, m, a)?.between_bytes_timeout;
    m.write_u32(a.u32(2), ms(t))
}

/// `(name, name_len, ssl_out)`.
pub(super) fn is_ssl(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let tls = backend(s, m, a)?.is_tls();
    m.write_u32(a.u32(2), u32::from(tls))
}

/// `(name, name_len, version_out)`: TLS 1.2 (2) at least, TLS 1.3 (3) at
/// most; `none` for a backend without TLS.
pub(super) fn get_ssl_min_version(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    if !backend(s, m, a)?.is_tls() {
        return Err(Status::None);
    }
    m.write_u32(a.u32(2), 2)
}

pub(super) fn get_ssl_max_version(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    if !backend(s, m, a)?.is_tls() {
        return Err(Status::None);
    }
    m.write_u32(a.u32(2), 3)
}
