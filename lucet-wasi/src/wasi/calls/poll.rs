//! `poll_oneoff`: waiting for clocks and for descriptors to become ready.

use std::os::fd::RawFd;

use super::env::now;
use super::fd::fstat;
use super::{GuestMemory, WasiCtx};
use crate::wasi::ctx::{Descriptor, Stream};
use crate::wasi::memory::offset;
use crate::wasi::types::{
    clockid, eventtype, filetype, size, Errno, WasiResult, EVENT_FD_READWRITE_HANGUP,
    SUBSCRIPTION_CLOCK_ABSTIME,
};

/// One event to report.
struct Event {
    userdata: u64,
    error: Errno,
    kind: u8,
    nbytes: u64,
    flags: u16,
}

impl Event {
    fn bytes(&self) -> [u8; size::EVENT as usize] {
        let mut b = [0u8; size::EVENT as usize];
        b[0..8].copy_from_slice(&self.userdata.to_le_bytes());
        b[8..10].copy_from_slice(&(self.error as u16).to_le_bytes());
        b[10] = self.kind;
        b[16..24].copy_from_slice(&self.nbytes.to_le_bytes());
        b[24..26].copy_from_slice(&self.flags.to_le_bytes());
        b
    }
}

/// A descriptor to wait on with poll(2).
struct Waiting {
    userdata: u64,
    kind: u8,
    fd: RawFd,
}

/// Bytes ready to read on a host descriptor.
fn readable_bytes(fd: RawFd) -> u64 {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes an int to `n`.
    if unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) } == 0 {
        n.max(0) as u64
    } else {
        0
    }
}

/// Most subscriptions one `poll_oneoff` takes (the host keeps a little
/// state for each); more is `EINVAL`.
pub const MAX_SUBSCRIPTIONS: u32 = 4096;

pub fn poll_oneoff(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    subs: u32,
    events: u32,
    nsubs: u32,
    out: u32,
) -> WasiResult {
    if nsubs == 0 || nsubs > MAX_SUBSCRIPTIONS {
        return Err(Errno::Inval);
    }
    let sub_bytes = nsubs.checked_mul(size::SUBSCRIPTION).ok_or(Errno::Fault)?;
    mem.slice(subs, sub_bytes)?;
    let event_bytes = nsubs.checked_mul(size::EVENT).ok_or(Errno::Fault)?;
    mem.slice(events, event_bytes)?;

    let mono_now = now(clockid::MONOTONIC)?;
    let mut ready: Vec<Event> = Vec::new();
    let mut waiting: Vec<Waiting> = Vec::new();
    // (deadline on the monotonic clock, userdata)
    let mut clocks: Vec<(u64, u64)> = Vec::new();

    for i in 0..nsubs {
        let at = offset(subs, i * size::SUBSCRIPTION)?;
        let userdata = mem.read_u64(at)?;
        let tag = mem.slice(offset(at, 8)?, 1)?[0];
        match tag {
            eventtype::CLOCK => {
                let id = mem.read_u32(offset(at, 16)?)?;
                let timeout = mem.read_u64(offset(at, 24)?)?;
                let flags = mem.read_u16(offset(at, 40)?)?;
                let abs = flags & SUBSCRIPTION_CLOCK_ABSTIME != 0;
                let deadline = match (id, abs) {
                    (clockid::MONOTONIC, true) => timeout,
                    (clockid::REALTIME, true) => {
                        let real = now(clockid::REALTIME)?;
                        mono_now.saturating_add(timeout.saturating_sub(real))
                    }
                    (clockid::MONOTONIC | clockid::REALTIME, false) => {
                        mono_now.saturating_add(timeout)
                    }
                    _ => {
                        ready.push(Event {
                            userdata,
                            error: Errno::Inval,
                            kind: eventtype::CLOCK,
                            nbytes: 0,
                            flags: 0,
                        });
                        continue;
                    }
                };
                clocks.push((deadline, userdata));
            }
            eventtype::FD_READ | eventtype::FD_WRITE => {
                let fd = mem.read_u32(offset(at, 16)?)?;
                let event = |error, nbytes| Event {
                    userdata,
                    error,
                    kind: tag,
                    nbytes,
                    flags: 0,
                };
                match ctx.get(fd) {
                    Err(e) => ready.push(event(e, 0)),
                    Ok(Descriptor::Dir { .. }) => ready.push(event(Errno::Badf, 0)),
                    Ok(Descriptor::File { file, .. }) => {
                        use std::os::fd::AsRawFd;
                        let raw = file.as_raw_fd();
                        let stat = fstat(raw)?;
                        if stat.filetype == filetype::REGULAR_FILE {
                            // Regular files are always ready.
                            let nbytes = if tag == eventtype::FD_READ {
                                use std::io::Seek;
                                let pos = file.stream_position().unwrap_or(0);
                                stat.size.saturating_sub(pos)
                            } else {
                                0
                            };
                            ready.push(event(Errno::Success, nbytes));
                        } else {
                            waiting.push(Waiting {
                                userdata,
                                kind: tag,
                                fd: raw,
                            });
                        }
                    }
                    Ok(Descriptor::Stream(s)) => {
                        let raw = match s {
                            Stream::Inherit(f) => Some(*f),
                            Stream::Owned(f) => {
                                use std::os::fd::AsRawFd;
                                Some(f.as_raw_fd())
                            }
                            _ => None,
                        };
                        match raw {
                            Some(fd) => waiting.push(Waiting {
                                userdata,
                                kind: tag,
                                fd,
                            }),
                            // In-process streams never block.
                            None => ready.push(event(Errno::Success, 0)),
                        }
                    }
                }
            }
            _ => return Err(Errno::Inval),
        }
    }

    let mut pollfds: Vec<libc::pollfd> = waiting
        .iter()
        .map(|w| libc::pollfd {
            fd: w.fd,
            events: if w.kind == eventtype::FD_READ {
                libc::POLLIN
            } else {
                libc::POLLOUT
            },
            revents: 0,
        })
        .collect();

    // Wait: not at all if something is ready already; else until the
    // earliest clock (or forever when only descriptors are watched), or
    // until the run is asked to stop (EINTR; the run then ends).
    let timeout = if !ready.is_empty() {
        Some(std::time::Duration::ZERO)
    } else {
        match clocks.iter().map(|(d, _)| *d).min() {
            Some(deadline) => {
                let now = now(clockid::MONOTONIC)?;
                Some(std::time::Duration::from_nanos(
                    deadline.saturating_sub(now),
                ))
            }
            None => None,
        }
    };
    mem.wait(&mut pollfds, timeout)?;

    for (p, w) in pollfds.iter().zip(&waiting) {
        if p.revents == 0 {
            continue;
        }
        let mut flags = 0;
        if p.revents & libc::POLLHUP != 0 {
            flags |= EVENT_FD_READWRITE_HANGUP;
        }
        let error = if p.revents & libc::POLLNVAL != 0 {
            Errno::Badf
        } else {
            Errno::Success
        };
        ready.push(Event {
            userdata: w.userdata,
            error,
            kind: w.kind,
            nbytes: if w.kind == eventtype::FD_READ {
                readable_bytes(w.fd)
            } else {
                0
            },
            flags,
        });
    }
    let after = now(clockid::MONOTONIC)?;
    for (deadline, userdata) in clocks {
        if deadline <= after {
            ready.push(Event {
                userdata,
                error: Errno::Success,
                kind: eventtype::CLOCK,
                nbytes: 0,
                flags: 0,
            });
        }
    }
    for (i, e) in ready.iter().enumerate() {
        mem.write(offset(events, i as u32 * size::EVENT)?, &e.bytes())?;
    }
    mem.write_u32(out, ready.len() as u32)
}
