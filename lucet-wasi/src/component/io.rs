//! `wasi:io`: errors, pollables and streams, over the program's stdio
//! (the descriptors of its `WasiCtx`). Blocking calls wait through the
//! run's `Interrupt`, so a deadline or kill ends them.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::{Duration, Instant};

use lucet_runtime::component::Val;
use lucet_runtime::{Interrupt, Vmctx, Wait};

use super::ctx::{ComponentCtx, Resource};
use super::host::{HostError, HostResult, Interfaces};
use super::values::{ok, ok_unit, result_err, u64_arg};
use crate::{Descriptor, Stream, WasiCtx};

/// The most bytes one `read` or `check-write` offers at once.
pub const MAX_STREAM_CHUNK: u64 = 1 << 20;

/// `wasi:io/error.error`: what went wrong with a stream.
pub struct IoError(pub String);

impl Resource for IoError {
    const INTERFACE: &'static str = "wasi:io/error";
    const NAME: &'static str = "error";
}

/// What a pollable waits for.
#[derive(Debug, Clone)]
pub enum Readiness {
    /// Nothing: it is ready.
    Now,
    /// A host descriptor ready for `events`.
    Fd { fd: RawFd, events: libc::c_short },
    /// A moment.
    At(Instant),
    /// Something the embedder makes ready later, from any thread (an HTTP
    /// response arriving).
    Signal(Arc<Signal>),
}

/// A readiness set once, from any thread, that wakes who waits for it.
#[derive(Debug, Default)]
pub struct Signal {
    set: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Signal {
    pub fn new() -> Arc<Signal> {
        Arc::new(Signal::default())
    }

    /// Makes it ready, and wakes the waker registered last.
    pub fn set(&self) {
        self.set.store(true, Ordering::Release);
        let waker = self.waker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    pub fn is_set(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }

    /// Has `waker` woken when it is set; whether it is set already.
    pub fn wake_on_set(&self, waker: &Waker) -> bool {
        *self.waker.lock().unwrap_or_else(|p| p.into_inner()) = Some(waker.clone());
        self.is_set()
    }
}

/// `wasi:io/poll.pollable`.
pub struct Pollable(pub Readiness);

impl Resource for Pollable {
    const INTERFACE: &'static str = "wasi:io/poll";
    const NAME: &'static str = "pollable";
}

/// Why a stream operation failed.
#[derive(Debug)]
pub enum StreamError {
    /// The stream is closed (an input stream at its end).
    Closed,
    /// The last operation failed: why.
    Failed(String),
}

/// A stream of the embedder's own that the guest reads (an HTTP request's
/// body). Its bytes are at hand: a read never waits.
pub trait HostInputStream: Send {
    /// At most `len` bytes; `Err(Closed)` at the end.
    fn read(&mut self, len: usize) -> Result<Vec<u8>, StreamError>;
}

/// A stream of the embedder's own that the guest writes (an HTTP
/// response's body). A write never waits.
pub trait HostOutputStream: Send {
    /// How many bytes the next write may take.
    fn check_write(&mut self) -> Result<u64, StreamError>;
    /// Takes `bytes` (at most what `check_write` said).
    fn write(&mut self, bytes: &[u8]) -> Result<(), StreamError>;
    /// Flushes what was written.
    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }
}

/// `wasi:io/streams.input-stream`.
pub enum InputStream {
    /// A descriptor of the program's `WasiCtx` (stdin).
    Fd { fd: u32, closed: bool },
    /// One of the embedder's.
    Host(Box<dyn HostInputStream>),
}

impl InputStream {
    /// Descriptor `fd` of the program's `WasiCtx`.
    pub fn fd(fd: u32) -> InputStream {
        InputStream::Fd { fd, closed: false }
    }
}

impl Resource for InputStream {
    const INTERFACE: &'static str = "wasi:io/streams";
    const NAME: &'static str = "input-stream";
}

/// `wasi:io/streams.output-stream`.
pub enum OutputStream {
    /// A descriptor of the program's `WasiCtx` (stdout, stderr).
    Fd(u32),
    /// One of the embedder's.
    Host(Box<dyn HostOutputStream>),
}

impl Resource for OutputStream {
    const INTERFACE: &'static str = "wasi:io/streams";
    const NAME: &'static str = "output-stream";
}

/// Runs `f` with the instance's context and its run's interrupt.
pub(crate) fn with_ctx<R>(
    vmctx: &mut Vmctx,
    f: impl FnOnce(&mut ComponentCtx, Interrupt<'_>) -> Result<R, HostError>,
) -> Result<R, HostError> {
    let (_, ctx, interrupt) = vmctx.memory_embed_ctx_and_interrupt_mut::<ComponentCtx>();
    let ctx = ctx.ok_or_else(|| {
        HostError("the instance has no ComponentCtx in its embedder context".into())
    })?;
    f(ctx, interrupt)
}

/// The run was asked to stop while a call waited: the host function
/// returns, and the run ends as its kill switch says.
fn interrupted() -> HostError {
    HostError("interrupted while waiting".into())
}

/// Waits until `fd` is ready for `events`, or the run is asked to stop.
fn wait_for(interrupt: Interrupt<'_>, fd: RawFd, events: libc::c_short) -> Result<(), HostError> {
    let mut fds = [libc::pollfd {
        fd,
        events,
        revents: 0,
    }];
    match interrupt.poll(&mut fds, None) {
        Ok(Wait::Interrupted) => Err(interrupted()),
        _ => Ok(()),
    }
}

/// Whether `fd` is ready for `events` now.
fn ready_now(fd: RawFd, events: libc::c_short) -> bool {
    let mut fds = [libc::pollfd {
        fd,
        events,
        revents: 0,
    }];
    // SAFETY: `fds` is a valid array of one; a zero timeout never blocks.
    unsafe { libc::poll(fds.as_mut_ptr(), 1, 0) > 0 }
}

fn with_host_fd<R>(fd: RawFd, f: impl FnOnce(&mut std::fs::File) -> R) -> R {
    // SAFETY: the descriptor stays open for the call (the process's stdio,
    // or owned by a descriptor the context holds); ManuallyDrop keeps it
    // from being closed here.
    let mut file = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
    f(&mut file)
}

/// The host descriptor behind a stream, for waiting on.
fn raw_fd(wasi: &mut WasiCtx, fd: u32) -> Option<RawFd> {
    match wasi.get(fd).ok()? {
        Descriptor::Stream(Stream::Inherit(raw)) => Some(*raw),
        Descriptor::Stream(Stream::Owned(owned)) => Some(owned.as_raw_fd()),
        _ => None,
    }
}

/// Writes all of `bytes` to descriptor `fd` of the program.
fn write_all(
    wasi: &mut WasiCtx,
    fd: u32,
    bytes: &[u8],
    interrupt: Interrupt<'_>,
) -> Result<(), io::Error> {
    let closed = || io::Error::from(io::ErrorKind::BrokenPipe);
    match wasi.get(fd).map_err(|_| closed())? {
        Descriptor::Stream(Stream::Inherit(raw)) => write_host(*raw, bytes, interrupt),
        Descriptor::Stream(Stream::Owned(owned)) => write_host(owned.as_raw_fd(), bytes, interrupt),
        Descriptor::Stream(Stream::Writer(w)) => {
            w.write_all(bytes)?;
            w.flush()
        }
        Descriptor::Stream(Stream::Null) => Ok(()),
        Descriptor::File {
            file, write: true, ..
        } => {
            let mut f: &cap_std::fs::File = file;
            f.write_all(bytes)
        }
        _ => Err(closed()),
    }
}

fn write_host(raw: RawFd, mut bytes: &[u8], interrupt: Interrupt<'_>) -> Result<(), io::Error> {
    while !bytes.is_empty() {
        if !ready_now(raw, libc::POLLOUT) {
            wait_for(interrupt, raw, libc::POLLOUT)
                .map_err(|_| io::Error::from(io::ErrorKind::Interrupted))?;
        }
        match with_host_fd(raw, |f| f.write(bytes)) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads at most `len` bytes from descriptor `fd` of the program; waits
/// for some when `blocking`. `None`: end of stream.
fn read_some(
    wasi: &mut WasiCtx,
    fd: u32,
    len: usize,
    blocking: bool,
    interrupt: Interrupt<'_>,
) -> Result<Option<Vec<u8>>, io::Error> {
    let mut buf = vec![0; len];
    let n = match wasi
        .get(fd)
        .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?
    {
        Descriptor::Stream(Stream::Inherit(raw)) => read_host(*raw, &mut buf, blocking, interrupt)?,
        Descriptor::Stream(Stream::Owned(owned)) => {
            read_host(owned.as_raw_fd(), &mut buf, blocking, interrupt)?
        }
        Descriptor::Stream(Stream::Reader(r)) => Some(r.read(&mut buf)?),
        Descriptor::Stream(Stream::Null) => Some(0),
        Descriptor::File {
            file, read: true, ..
        } => {
            let mut f: &cap_std::fs::File = file;
            Some(f.read(&mut buf)?)
        }
        _ => return Err(io::ErrorKind::BrokenPipe.into()),
    };
    Ok(match n {
        // Not ready, and not waiting.
        None => Some(Vec::new()),
        Some(0) if len > 0 => None,
        Some(n) => {
            buf.truncate(n);
            Some(buf)
        }
    })
}

/// One read of a host descriptor: `None` when it is not ready and the
/// read does not wait.
fn read_host(
    raw: RawFd,
    buf: &mut [u8],
    blocking: bool,
    interrupt: Interrupt<'_>,
) -> Result<Option<usize>, io::Error> {
    loop {
        if !ready_now(raw, libc::POLLIN) {
            if !blocking {
                return Ok(None);
            }
            wait_for(interrupt, raw, libc::POLLIN)
                .map_err(|_| io::Error::from(io::ErrorKind::Interrupted))?;
        }
        match with_host_fd(raw, |f| f.read(buf)) {
            Ok(n) => return Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && !blocking => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

/// `err(stream-error)`: `closed`, or `last-operation-failed` with an
/// error resource saying why.
fn stream_error(ctx: &mut ComponentCtx, e: StreamError) -> HostResult {
    let error = match e {
        StreamError::Closed => Val::Variant(1, None),
        StreamError::Failed(why) => Val::Variant(0, Some(Box::new(ctx.push(IoError(why))?))),
    };
    Ok(Some(result_err(error)))
}

/// Waits until `pollable` is ready, or the run is asked to stop.
fn block_on(readiness: Readiness, interrupt: Interrupt<'_>) -> Result<(), HostError> {
    match readiness {
        Readiness::Now => Ok(()),
        Readiness::Fd { fd, events } => wait_for(interrupt, fd, events),
        Readiness::At(t) => {
            let now = Instant::now();
            if t > now {
                if let Ok(Wait::Interrupted) = interrupt.sleep(t - now) {
                    return Err(interrupted());
                }
            }
            Ok(())
        }
        Readiness::Signal(s) => {
            while !s.is_set() {
                if let Ok(Wait::Interrupted) = interrupt.sleep(SIGNAL_CHECK) {
                    return Err(interrupted());
                }
            }
            Ok(())
        }
    }
}

/// How often a thread that blocks checks a [`Signal`] (the embedder's
/// own waits suspend instead).
const SIGNAL_CHECK: Duration = Duration::from_millis(1);

impl Readiness {
    /// Whether what it waits for is there now.
    pub fn is_ready(&self) -> bool {
        match self {
            Readiness::Now => true,
            Readiness::Fd { fd, events } => ready_now(*fd, *events),
            Readiness::At(t) => Instant::now() >= *t,
            Readiness::Signal(s) => s.is_set(),
        }
    }
}

/// `poll`'s answer: the indices of the ready ones (empty: none is).
pub fn ready_indices(readiness: &[Readiness]) -> Vec<Val> {
    readiness
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_ready())
        .map(|(i, _)| Val::U32(i as u32))
        .collect()
}

/// The most pollables one `poll` takes.
pub const MAX_POLLABLES: usize = 4096;

/// `poll`: waits until one of the pollables is ready; their indices.
fn poll(ctx: &mut ComponentCtx, interrupt: Interrupt<'_>, list: &Val) -> HostResult {
    let Val::List(handles) = list else {
        return Err(HostError("poll takes a list".into()));
    };
    if handles.is_empty() {
        return Err(HostError("poll of no pollable".into()));
    }
    if handles.len() > MAX_POLLABLES {
        return Err(HostError(format!(
            "poll of {} pollables; at most {MAX_POLLABLES}",
            handles.len()
        )));
    }
    let mut readiness = Vec::with_capacity(handles.len());
    for h in handles {
        readiness.push(ctx.get::<Pollable>(h)?.0.clone());
    }
    loop {
        let ready = ready_indices(&readiness);
        if !ready.is_empty() {
            return Ok(Some(Val::List(ready)));
        }
        // Wait for the first descriptor or the earliest moment.
        let mut fds: Vec<libc::pollfd> = readiness
            .iter()
            .filter_map(|r| match r {
                Readiness::Fd { fd, events } => Some(libc::pollfd {
                    fd: *fd,
                    events: *events,
                    revents: 0,
                }),
                _ => None,
            })
            .collect();
        let timeout = readiness
            .iter()
            .filter_map(|r| match r {
                Readiness::At(t) => Some(t.saturating_duration_since(Instant::now())),
                Readiness::Signal(_) => Some(SIGNAL_CHECK),
                _ => None,
            })
            .min();
        if let Ok(Wait::Interrupted) = interrupt.poll(&mut fds, timeout) {
            return Err(interrupted());
        }
    }
}

/// The pollable of a stream on descriptor `fd`, waiting for `events`.
fn stream_pollable(wasi: &mut WasiCtx, fd: u32, events: libc::c_short) -> Pollable {
    Pollable(match raw_fd(wasi, fd) {
        Some(fd) => Readiness::Fd { fd, events },
        None => Readiness::Now,
    })
}

/// Adds `wasi:io/error`, `wasi:io/poll` and `wasi:io/streams`.
pub fn add(interfaces: &mut Interfaces) {
    interfaces.func(
        "wasi:io/error",
        "[method]error.to-debug-string",
        |vmctx, args| {
            with_ctx(vmctx, |ctx, _| {
                let text = ctx.get::<IoError>(args.at(0)?)?.0.clone();
                Ok(Some(Val::String(text)))
            })
        },
    );

    interfaces.func("wasi:io/poll", "[method]pollable.ready", |vmctx, args| {
        with_ctx(vmctx, |ctx, _| {
            Ok(Some(Val::Bool(
                ctx.get::<Pollable>(args.at(0)?)?.0.is_ready(),
            )))
        })
    });
    interfaces.func("wasi:io/poll", "[method]pollable.block", |vmctx, args| {
        with_ctx(vmctx, |ctx, interrupt| {
            let readiness = ctx.get::<Pollable>(args.at(0)?)?.0.clone();
            block_on(readiness, interrupt)?;
            Ok(None)
        })
    });
    interfaces.func("wasi:io/poll", "poll", |vmctx, args| {
        with_ctx(vmctx, |ctx, interrupt| poll(ctx, interrupt, args.at(0)?))
    });

    // Input streams.
    for (name, blocking) in [
        ("[method]input-stream.read", false),
        ("[method]input-stream.blocking-read", true),
        ("[method]input-stream.skip", false),
        ("[method]input-stream.blocking-skip", true),
    ] {
        let skip = name.contains("skip");
        interfaces.func("wasi:io/streams", name, move |vmctx, args| {
            let len = u64_arg(args.at(1)?)?.min(MAX_STREAM_CHUNK) as usize;
            with_ctx(vmctx, |ctx, interrupt| {
                match read_stream(ctx, args.at(0)?, len, blocking, interrupt)? {
                    Ok(bytes) if skip => Ok(Some(ok(Val::U64(bytes.len() as u64)))),
                    Ok(bytes) => Ok(Some(ok(Val::Bytes(bytes)))),
                    Err(e) => stream_error(ctx, e),
                }
            })
        });
    }
    interfaces.func(
        "wasi:io/streams",
        "[method]input-stream.subscribe",
        |vmctx, args| {
            with_ctx(vmctx, |ctx, _| {
                let pollable = match ctx.get::<InputStream>(args.at(0)?)? {
                    InputStream::Fd { fd, .. } => {
                        let fd = *fd;
                        stream_pollable(&mut ctx.wasi, fd, libc::POLLIN)
                    }
                    InputStream::Host(_) => Pollable(Readiness::Now),
                };
                Ok(Some(ctx.push(pollable)?))
            })
        },
    );

    // Output streams: writes complete before they return, so a stream is
    // always ready for the next.
    interfaces.func(
        "wasi:io/streams",
        "[method]output-stream.check-write",
        |vmctx, args| {
            with_ctx(vmctx, |ctx, _| {
                let allowed = match ctx.get::<OutputStream>(args.at(0)?)? {
                    OutputStream::Fd(_) => Ok(MAX_STREAM_CHUNK),
                    OutputStream::Host(s) => s.check_write(),
                };
                match allowed {
                    Ok(n) => Ok(Some(ok(Val::U64(n)))),
                    Err(e) => stream_error(ctx, e),
                }
            })
        },
    );
    for name in [
        "[method]output-stream.write",
        "[method]output-stream.blocking-write-and-flush",
    ] {
        interfaces.func("wasi:io/streams", name, |vmctx, args| {
            let Val::Bytes(bytes) = args.at(1)? else {
                return Err(HostError("write takes bytes".into()));
            };
            with_ctx(vmctx, |ctx, interrupt| {
                match write_stream(ctx, args.at(0)?, bytes, interrupt)? {
                    Ok(()) => Ok(Some(ok_unit())),
                    Err(e) => stream_error(ctx, e),
                }
            })
        });
    }
    for name in [
        "[method]output-stream.write-zeroes",
        "[method]output-stream.blocking-write-zeroes-and-flush",
    ] {
        interfaces.func("wasi:io/streams", name, |vmctx, args| {
            let len = u64_arg(args.at(1)?)?;
            if len > MAX_STREAM_CHUNK {
                return Err(HostError(format!(
                    "{len} zeroes written at once; check-write allows {MAX_STREAM_CHUNK}"
                )));
            }
            with_ctx(vmctx, |ctx, interrupt| {
                match write_stream(ctx, args.at(0)?, &vec![0; len as usize], interrupt)? {
                    Ok(()) => Ok(Some(ok_unit())),
                    Err(e) => stream_error(ctx, e),
                }
            })
        });
    }
    for name in [
        "[method]output-stream.flush",
        "[method]output-stream.blocking-flush",
    ] {
        interfaces.func("wasi:io/streams", name, |vmctx, args| {
            with_ctx(vmctx, |ctx, _| {
                let flushed = match ctx.get::<OutputStream>(args.at(0)?)? {
                    OutputStream::Fd(_) => Ok(()),
                    OutputStream::Host(s) => s.flush(),
                };
                match flushed {
                    Ok(()) => Ok(Some(ok_unit())),
                    Err(e) => stream_error(ctx, e),
                }
            })
        });
    }
    interfaces.func(
        "wasi:io/streams",
        "[method]output-stream.subscribe",
        |vmctx, args| {
            with_ctx(vmctx, |ctx, _| {
                let pollable = match ctx.get::<OutputStream>(args.at(0)?)? {
                    OutputStream::Fd(fd) => {
                        let fd = *fd;
                        stream_pollable(&mut ctx.wasi, fd, libc::POLLOUT)
                    }
                    OutputStream::Host(_) => Pollable(Readiness::Now),
                };
                Ok(Some(ctx.push(pollable)?))
            })
        },
    );
    for (name, blocking) in [
        ("[method]output-stream.splice", false),
        ("[method]output-stream.blocking-splice", true),
    ] {
        interfaces.func("wasi:io/streams", name, move |vmctx, args| {
            let len = u64_arg(args.at(2)?)?.min(MAX_STREAM_CHUNK) as usize;
            with_ctx(vmctx, |ctx, interrupt| {
                ctx.get::<OutputStream>(args.at(0)?)?;
                let bytes = match read_stream(ctx, args.at(1)?, len, blocking, interrupt)? {
                    Ok(bytes) => bytes,
                    Err(e) => return stream_error(ctx, e),
                };
                match write_stream(ctx, args.at(0)?, &bytes, interrupt)? {
                    Ok(()) => Ok(Some(ok(Val::U64(bytes.len() as u64)))),
                    Err(e) => stream_error(ctx, e),
                }
            })
        });
    }
}

/// Reads at most `len` bytes from the input stream `handle` names (waiting
/// for some when `blocking`, on a descriptor). The outer error ends the
/// run; the inner one is the stream's.
fn read_stream(
    ctx: &mut ComponentCtx,
    handle: &Val,
    len: usize,
    blocking: bool,
    interrupt: Interrupt<'_>,
) -> Result<Result<Vec<u8>, StreamError>, HostError> {
    let (fd, closed) = match ctx.get::<InputStream>(handle)? {
        InputStream::Host(s) => return Ok(s.read(len)),
        InputStream::Fd { fd, closed } => (*fd, *closed),
    };
    if closed {
        return Ok(Err(StreamError::Closed));
    }
    Ok(
        match read_some(&mut ctx.wasi, fd, len, blocking, interrupt) {
            Ok(Some(bytes)) => Ok(bytes),
            Ok(None) => {
                if let InputStream::Fd { closed, .. } = ctx.get::<InputStream>(handle)? {
                    *closed = true;
                }
                Err(StreamError::Closed)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(interrupted()),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(StreamError::Closed),
            Err(e) => Err(StreamError::Failed(e.to_string())),
        },
    )
}

/// Writes `bytes` to the output stream `handle` names.
fn write_stream(
    ctx: &mut ComponentCtx,
    handle: &Val,
    bytes: &[u8],
    interrupt: Interrupt<'_>,
) -> Result<Result<(), StreamError>, HostError> {
    let fd = match ctx.get::<OutputStream>(handle)? {
        OutputStream::Host(s) => return Ok(s.write(bytes)),
        OutputStream::Fd(fd) => *fd,
    };
    Ok(match write_all(&mut ctx.wasi, fd, bytes, interrupt) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(interrupted()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(StreamError::Closed),
        Err(e) => Err(StreamError::Failed(e.to_string())),
    })
}

/// A pollable ready at `when`.
pub(crate) fn pollable_at(when: Instant) -> Pollable {
    Pollable(Readiness::At(when))
}

/// A pollable ready after `d`.
pub(crate) fn pollable_after(d: Duration) -> Pollable {
    match Instant::now().checked_add(d) {
        Some(t) => pollable_at(t),
        // Never, as far as any run lasts.
        None => pollable_at(Instant::now() + Duration::from_secs(100 * 365 * 86_400)),
    }
}
