//! Geolocation, device detection, ACLs and secret stores: lookups in what
//! the app's `fastly.toml` gives. What it does not give is `none`.

use std::net::IpAddr;

use bytes::Bytes;

use super::super::lookups::MAX_SECRET;
use super::super::memory::Memory;
use super::super::state::FastlyState;
use super::super::status::{CallResult, Status};
use super::args::Args;

/// The address of 4 or 16 bytes at arguments `i`, `i + 1`.
fn ip_at(m: &Memory<'_>, a: &Args<'_>, i: usize) -> CallResult<IpAddr> {
    let b = m.bytes(a.u32(i), a.u32(i + 1))?;
    if let Ok(v4) = <[u8; 4]>::try_from(b) {
        return Ok(IpAddr::from(v4));
    }
    if let Ok(v6) = <[u8; 16]>::try_from(b) {
        return Ok(IpAddr::from(v6));
    }
    Err(Status::Inval)
}

/// `(addr, addr_len, buf, buf_len, nwritten_out)`: the address's data, as
/// JSON.
pub(super) fn geo_lookup(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let ip = ip_at(m, a, 0)?;
    let data = s.local.geolocation.lookup(ip).ok_or(Status::None)?.clone();
    m.write_value(a.u32(2), a.u32(3), &data, a.u32(4))
}

/// Longest user agent looked up.
const MAX_USER_AGENT: u32 = 8 << 10;

/// `(ua, ua_len, buf, buf_len, nwritten_out)`: the user agent's data, as
/// JSON.
pub(super) fn device_lookup(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    if a.u32(1) > MAX_USER_AGENT {
        return Err(Status::Inval);
    }
    let ua = m.str(a.u32(0), a.u32(1))?;
    let data = s
        .local
        .device_detection
        .lookup(ua)
        .ok_or(Status::None)?
        .clone();
    m.write_value(a.u32(2), a.u32(3), &data, a.u32(4))
}

/// `(name, name_len, acl_out)`.
pub(super) fn acl_open(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let name = m.str(a.u32(0), a.u32(1))?;
    let acl = s.local.acls.get(name).cloned().ok_or(Status::None)?;
    m.check_u32(a.u32(2))?;
    let h = s.acls.insert(acl)?;
    m.write_u32(a.u32(2), h)
}

/// The ABI's `acl_error`.
const ACL_OK: u32 = 1;
const ACL_NO_CONTENT: u32 = 2;

/// `(acl, ip, ip_len, body_out, acl_error_out)`: the longest matching
/// prefix, as a JSON body (`{"prefix": ..., "action": ...}`), or
/// `no_content`.
pub(super) fn acl_lookup(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let acl = s.acls.get(a.u32(0))?.clone();
    let ip = ip_at(m, a, 1)?;
    let (body_out, error_out) = (a.u32(3), a.u32(4));
    m.check_u32(body_out)?;
    m.check_u32(error_out)?;
    match acl.lookup(ip) {
        Some(json) => {
            let h = s.new_body()?;
            s.write_body(h, &json, false)?;
            m.write_u32(body_out, h)?;
            m.write_u32(error_out, ACL_OK)
        }
        None => m.write_u32(error_out, ACL_NO_CONTENT),
    }
}

/// `(name, name_len, store_out)`.
pub(super) fn secret_store_open(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let name = m.str(a.u32(0), a.u32(1))?;
    let store = s
        .local
        .secret_stores
        .get(name)
        .cloned()
        .ok_or(Status::None)?;
    m.check_u32(a.u32(2))?;
    let h = s.secret_stores.insert(store)?;
    m.write_u32(a.u32(2), h)
}

/// `(store, key, key_len, secret_out)`.
pub(super) fn secret_get(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let store = s.secret_stores.get(a.u32(0))?.clone();
    let key = m.str(a.u32(1), a.u32(2))?;
    let secret = store.get(key).cloned().ok_or(Status::None)?;
    m.check_u32(a.u32(3))?;
    let h = s.secrets.insert(secret)?;
    m.write_u32(a.u32(3), h)
}

/// `(secret, buf, buf_len, nwritten_out)`.
pub(super) fn secret_plaintext(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let secret = s.secrets.get(a.u32(0))?.clone();
    m.write_value(a.u32(1), a.u32(2), &secret, a.u32(3))
}

/// `(buf, buf_len, secret_out)`: a secret made from bytes the app has.
pub(super) fn secret_from_bytes(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    if a.u32(1) as usize > MAX_SECRET {
        return Err(Status::Inval);
    }
    let secret = Bytes::copy_from_slice(m.bytes(a.u32(0), a.u32(1))?);
    m.check_u32(a.u32(2))?;
    let h = s.secrets.insert(secret)?;
    m.write_u32(a.u32(2), h)
}
