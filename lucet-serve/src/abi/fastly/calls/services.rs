//! The ABI's own handshake, logging endpoints, config stores (and
//! dictionaries, the same thing by an older name), and what the runtime
//! tells of the run.

use super::super::clock::thread_cpu_time;
use super::super::local_server::MAX_STORE_KEY;
use super::super::memory::Memory;
use super::super::state::FastlyState;
use super::super::status::{CallResult, Status};
use super::args::Args;

/// `(abi_version)`: the SDK's handshake; version 1 is the only one.
pub(super) fn abi_init(_: &mut FastlyState, _: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    if a.u64(0) != 1 {
        return Err(Status::Inval);
    }
    Ok(())
}

/// `(name, name_len, endpoint_out)`.
pub(super) fn log_endpoint_get(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let name = m.str(a.u32(0), a.u32(1))?.to_string();
    m.check_u32(a.u32(2))?;
    let h = s.endpoint(&name)?;
    m.write_u32(a.u32(2), h)
}

/// `(h, msg, msg_len, nwritten_out)`: one log record.
pub(super) fn log_write(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let (h, msg, len, nwritten) = (a.u32(0), a.u32(1), a.u32(2), a.u32(3));
    m.write_u32(nwritten, 0)?;
    let bytes = m.bytes(msg, len)?;
    s.log(h, bytes)?;
    m.write_u32(nwritten, len)
}

/// `(name, name_len, store_out)`: `badf` for a store the app's
/// `fastly.toml` does not define.
pub(super) fn store_open(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let name = m.str(a.u32(0), a.u32(1))?;
    let store = s
        .local
        .config_stores
        .get(name)
        .cloned()
        .ok_or(Status::Badf)?;
    m.check_u32(a.u32(2))?;
    let h = s.stores.insert(store)?;
    m.write_u32(a.u32(2), h)
}

/// `(h, key, key_len, value, value_max_len, nwritten_out)`.
pub(super) fn store_get(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let store = s.stores.get(a.u32(0))?.clone();
    if a.u32(2) as usize > MAX_STORE_KEY {
        return Err(Status::Inval);
    }
    let key = m.str(a.u32(1), a.u32(2))?;
    let value = store.get(key).ok_or(Status::None)?;
    m.write_value(a.u32(3), a.u32(4), value.as_bytes(), a.u32(5))
}

/// `(ms_out)`: a `u64`, the CPU time this run has used.
pub(super) fn vcpu_ms(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let used = thread_cpu_time().saturating_sub(s.cpu_at_start);
    m.write_u64(a.u32(0), used.as_millis() as u64)
}

/// `(mib_out)`: the guest's memory, in MiB rounded up.
pub(super) fn heap_mib(_: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let mib = (m.0.len() as u64).div_ceil(1 << 20);
    m.write_u32(a.u32(0), u32::try_from(mib).unwrap_or(u32::MAX))
}

/// `(enabled_out)`: services Fastly runs beside an app, which are not
/// here.
pub(super) fn no_service(_: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    m.write_u32(a.u32(0), 0)
}
