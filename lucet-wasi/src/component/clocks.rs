//! `wasi:clocks` and `wasi:random`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lucet_runtime::component::Val;

use super::host::{HostError, Interfaces};
use super::io::{pollable_after, pollable_at, with_ctx, MAX_STREAM_CHUNK};
use super::values::u64_arg;

/// Nanoseconds since a fixed moment of this process: the monotonic clock.
fn monotonic_now() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn random_bytes(len: usize) -> Result<Vec<u8>, HostError> {
    let mut buf = vec![0; len];
    getrandom(&mut buf)?;
    Ok(buf)
}

fn getrandom(buf: &mut [u8]) -> Result<(), HostError> {
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: the pointer and length describe the unfilled part of
        // `buf`, which we own.
        let n =
            unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(HostError(format!("random: {e}")));
            }
        } else {
            filled += n as usize;
        }
    }
    Ok(())
}

fn random_u64() -> Result<u64, HostError> {
    let mut b = [0; 8];
    getrandom(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// Adds `wasi:clocks/monotonic-clock`, `wasi:clocks/wall-clock`,
/// `wasi:random/random`, `insecure` and `insecure-seed`.
pub fn add(interfaces: &mut Interfaces) {
    interfaces.func("wasi:clocks/monotonic-clock", "now", |_, _| {
        Ok(Some(Val::U64(monotonic_now())))
    });
    interfaces.func("wasi:clocks/monotonic-clock", "resolution", |_, _| {
        Ok(Some(Val::U64(1)))
    });
    interfaces.func(
        "wasi:clocks/monotonic-clock",
        "subscribe-instant",
        |vmctx, args| {
            let when = u64_arg(args.at(0)?)?;
            let at = epoch() + Duration::from_nanos(when);
            with_ctx(vmctx, |ctx, _| Ok(Some(ctx.push(pollable_at(at))?)))
        },
    );
    interfaces.func(
        "wasi:clocks/monotonic-clock",
        "subscribe-duration",
        |vmctx, args| {
            let d = Duration::from_nanos(u64_arg(args.at(0)?)?);
            with_ctx(vmctx, |ctx, _| Ok(Some(ctx.push(pollable_after(d))?)))
        },
    );
    let datetime =
        |d: Duration| Val::Record(vec![Val::U64(d.as_secs()), Val::U32(d.subsec_nanos())]);
    interfaces.func("wasi:clocks/wall-clock", "now", move |_, _| {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Ok(Some(datetime(since)))
    });
    interfaces.func("wasi:clocks/wall-clock", "resolution", move |_, _| {
        Ok(Some(datetime(Duration::from_nanos(1))))
    });

    for (interface, bytes, number) in [
        ("wasi:random/random", "get-random-bytes", "get-random-u64"),
        (
            "wasi:random/insecure",
            "get-insecure-random-bytes",
            "get-insecure-random-u64",
        ),
    ] {
        interfaces.func(interface, bytes, |_, args| {
            let len = u64_arg(args.at(0)?)?;
            if len > MAX_STREAM_CHUNK {
                return Err(HostError(format!(
                    "{len} random bytes asked at once; at most {MAX_STREAM_CHUNK}"
                )));
            }
            Ok(Some(Val::Bytes(random_bytes(len as usize)?)))
        });
        interfaces.func(interface, number, |_, _| Ok(Some(Val::U64(random_u64()?))));
    }
    interfaces.func("wasi:random/insecure-seed", "insecure-seed", |_, _| {
        Ok(Some(Val::Record(vec![
            Val::U64(random_u64()?),
            Val::U64(random_u64()?),
        ])))
    });
}
