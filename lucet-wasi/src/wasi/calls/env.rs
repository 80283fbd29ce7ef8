//! Arguments, environment, clocks, randomness and scheduling.

use super::{GuestMemory, WasiCtx};
use crate::wasi::memory::{offset, CHUNK};
use crate::wasi::types::{clockid, Errno, WasiResult};

/// Writes `items` as C strings to `buf` and pointers to them to `ptrs`.
fn write_strings(mem: &mut GuestMemory, items: &[Vec<u8>], ptrs: u32, buf: u32) -> WasiResult {
    // Everything is checked before anything is written.
    let count = u32::try_from(items.len()).map_err(|_| Errno::Fault)?;
    mem.check(ptrs, count.checked_mul(4).ok_or(Errno::Fault)?)?;
    let total: u64 = items.iter().map(|a| a.len() as u64 + 1).sum();
    mem.check(buf, u32::try_from(total).map_err(|_| Errno::Fault)?)?;
    // In bounds, so no address below wraps.
    let mut at = buf;
    for (i, item) in items.iter().enumerate() {
        mem.write_u32(offset(ptrs, i as u32 * 4)?, at)?;
        mem.write(at, item)?;
        let end = offset(at, item.len() as u32)?;
        mem.write(end, &[0])?;
        // The last string may end at the very end of memory.
        at = end.wrapping_add(1);
    }
    Ok(())
}

fn write_sizes(
    mem: &mut GuestMemory,
    items: &[Vec<u8>],
    count_out: u32,
    size_out: u32,
) -> WasiResult {
    let size: usize = items.iter().map(|a| a.len() + 1).sum();
    mem.write_u32(count_out, items.len() as u32)?;
    mem.write_u32(size_out, u32::try_from(size).map_err(|_| Errno::Overflow)?)
}

pub fn args_get(ctx: &mut WasiCtx, mem: &mut GuestMemory, argv: u32, buf: u32) -> WasiResult {
    write_strings(mem, &ctx.args, argv, buf)
}

pub fn args_sizes_get(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    count: u32,
    size: u32,
) -> WasiResult {
    write_sizes(mem, &ctx.args, count, size)
}

pub fn environ_get(ctx: &mut WasiCtx, mem: &mut GuestMemory, environ: u32, buf: u32) -> WasiResult {
    write_strings(mem, &ctx.env, environ, buf)
}

pub fn environ_sizes_get(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    count: u32,
    size: u32,
) -> WasiResult {
    write_sizes(mem, &ctx.env, count, size)
}

fn host_clock(id: u32) -> WasiResult<libc::clockid_t> {
    Ok(match id {
        clockid::REALTIME => libc::CLOCK_REALTIME,
        clockid::MONOTONIC => libc::CLOCK_MONOTONIC,
        clockid::PROCESS_CPUTIME_ID => libc::CLOCK_PROCESS_CPUTIME_ID,
        clockid::THREAD_CPUTIME_ID => libc::CLOCK_THREAD_CPUTIME_ID,
        _ => return Err(Errno::Inval),
    })
}

fn timespec_nanos(ts: libc::timespec) -> u64 {
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// The current time of a WASI clock, in nanoseconds.
pub fn now(id: u32) -> WasiResult<u64> {
    let clock = host_clock(id)?;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-parameter; the clock id is one of ours.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(timespec_nanos(ts))
}

pub fn clock_res_get(_ctx: &mut WasiCtx, mem: &mut GuestMemory, id: u32, out: u32) -> WasiResult {
    let clock = host_clock(id)?;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: as in `now`.
    if unsafe { libc::clock_getres(clock, &mut ts) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    mem.write_u64(out, timespec_nanos(ts).max(1))
}

pub fn clock_time_get(
    _ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    id: u32,
    _precision: u64,
    out: u32,
) -> WasiResult {
    let t = now(id)?;
    mem.write_u64(out, t)
}

/// Fills `buf` with random bytes from the kernel.
pub fn fill_random(buf: &mut [u8]) -> WasiResult {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: `rest` is a valid writable buffer of the given length.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr() as *mut libc::c_void, rest.len(), 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e.into());
        }
        filled += n as usize;
    }
    Ok(())
}

/// Fills the buffer a chunk at a time, returning early (the run then ends)
/// if the run is asked to stop.
pub fn random_get(_ctx: &mut WasiCtx, mem: &mut GuestMemory, buf: u32, len: u32) -> WasiResult {
    mem.check(buf, len)?;
    let mut done: u32 = 0;
    while done < len {
        if mem.interrupted() {
            return Err(Errno::Intr);
        }
        let n = (len - done).min(CHUNK as u32);
        fill_random(mem.slice_mut(offset(buf, done)?, n)?)?;
        done += n;
    }
    Ok(())
}

pub fn sched_yield(_ctx: &mut WasiCtx, _mem: &mut GuestMemory) -> WasiResult {
    std::thread::yield_now();
    Ok(())
}
