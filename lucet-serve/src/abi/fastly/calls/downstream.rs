//! What the ABI tells of the downstream request: the client's and the
//! server's addresses, the request's id, its header names as sent. The
//! calls of the `fastly_http_req` module ask of the request the instance
//! was started for; those of `fastly_http_downstream` name a request
//! handle, which must be that request's. What only Fastly's network knows
//! (TLS details of a plain-text connection, fingerprints, bot names, VPN
//! and proxy data, visit counts) is `none`, which the SDKs read as "not
//! known" (they fail on any other error), and the flags of detection that
//! runs on every request (bots, attacks) are 0.

use std::net::IpAddr;

use super::super::memory::Memory;
use super::super::state::FastlyState;
use super::super::status::{CallResult, Status};
use super::args::Args;

/// `a[i]` names the downstream request (or `badf`).
fn is_downstream(s: &FastlyState, a: &Args<'_>, i: usize) -> CallResult {
    let h = a.u32(i);
    if h == s.downstream.request {
        Ok(())
    } else if s.requests.contains(h) {
        // A request the guest made: it has no client.
        Err(Status::None)
    } else {
        Err(Status::Badf)
    }
}

fn write_ip(ip: IpAddr, m: &mut Memory<'_>, out: u32, nwritten: u32) -> CallResult {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => m.write(out, &v4.octets())?,
        IpAddr::V6(v6) => m.write(out, &v6.octets())?,
    }
    m.write_u32(nwritten, if ip.is_ipv4() { 4 } else { 16 })
}

/// `(addr_octets_out, nwritten_out)`.
pub(super) fn client_ip_addr(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    write_ip(s.downstream.client.ip(), m, a.u32(0), a.u32(1))
}

pub(super) fn server_ip_addr(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    write_ip(s.downstream.server.ip(), m, a.u32(0), a.u32(1))
}

/// `(out, max, nwritten_out)`.
pub(super) fn client_request_id(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    m.write_value(a.u32(0), a.u32(1), s.downstream.id.as_bytes(), a.u32(2))
}

/// `(buf, buf_len, cursor, ending_cursor_out, nwritten_out)`.
pub(super) fn original_header_names(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let names = s
        .downstream
        .original_header_names
        .iter()
        .map(|n| n.as_str().as_bytes());
    m.write_values(names, 0, (a.u32(0), a.u32(1)), a.u32(2), a.u32(3), a.u32(4))
}

/// `(count_out)`.
pub(super) fn original_header_count(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let n = s.downstream.original_header_names.len() as u32;
    m.write_u32(a.u32(0), n)
}

/// A detection flag (`(flag_out)`): no detection runs here, so 0.
pub(super) fn no_flag(_: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    m.write_u32(a.u32(0), 0)
}

/// What only Fastly's network knows.
pub(super) fn absent(_: &mut FastlyState, _: &mut Memory<'_>, _: &Args<'_>) -> CallResult {
    Err(Status::None)
}

/// The same calls, with a request handle first.
fn shifted<'a>(a: &'a Args<'a>) -> Args<'a> {
    Args(&a.0[1..])
}

pub(super) fn req_client_ip_addr(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    is_downstream(s, a, 0)?;
    client_ip_addr(s, m, &shifted(a))
}

pub(super) fn req_server_ip_addr(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    is_downstream(s, a, 0)?;
    server_ip_addr(s, m, &shifted(a))
}

pub(super) fn req_client_request_id(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    is_downstream(s, a, 0)?;
    client_request_id(s, m, &shifted(a))
}

pub(super) fn req_original_header_names(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    is_downstream(s, a, 0)?;
    original_header_names(s, m, &shifted(a))
}

pub(super) fn req_original_header_count(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    is_downstream(s, a, 0)?;
    original_header_count(s, m, &shifted(a))
}

pub(super) fn req_no_flag(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    is_downstream(s, a, 0)?;
    no_flag(s, m, &shifted(a))
}

pub(super) fn req_absent(s: &mut FastlyState, _: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    is_downstream(s, a, 0)?;
    Err(Status::None)
}
