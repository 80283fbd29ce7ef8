//! `wasi:filesystem`, in the same sandbox as preview1's: the program's
//! preopened directories (`wasi:filesystem/preopens`), every path resolved
//! by cap-std inside its directory (no `..` above it, no absolute path, no
//! symbolic link out of it), and a read-only directory lets nothing be
//! created, changed or removed in it or through what is opened from it.
//!
//! A `descriptor` owns its host directory or file; dropping it closes it.
//! Reads and writes through streams are of the file at an offset, never
//! waiting (files are always ready).

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use cap_fs_ext::{DirExt, FileTypeExt};
use cap_std::fs::{Dir, File, Metadata, MetadataExt, ReadDir};
use fs_set_times::{SetTimes, SystemTimeSpec};
use lucet_runtime::component::Val;
use system_interface::fs::FileIoExt;

use super::ctx::{ComponentCtx, Resource};
use super::host::{HostError, HostResult, Interfaces};
use super::io::{
    with_ctx, HostInputStream, HostOutputStream, InputStream, OutputStream, StreamError,
    MAX_STREAM_CHUNK,
};
use super::values::{none, ok, ok_unit, result_err, some, u64_arg};
use crate::wasi::calls::fd::cap_time;
use crate::wasi::calls::path::open_options;

const TYPES: &str = "wasi:filesystem/types";

/// An open directory or file of the program's.
pub struct FsDescriptor {
    kind: Kind,
    _open: OpenFile,
    /// Its `descriptor-flags`: read, write; for a directory, `mutate`
    /// (whether what is in it may be changed, and files opened through
    /// it written).
    read: bool,
    write: bool,
    mutate: bool,
}

/// What a call does with a file.
#[derive(Clone, Copy)]
enum Access {
    Read,
    Write,
}

enum Kind {
    Dir(Dir),
    File(File),
}

impl Resource for FsDescriptor {
    const INTERFACE: &'static str = TYPES;
    const NAME: &'static str = "descriptor";
}

/// `directory-entry-stream`: a directory's entries, read as asked for.
struct DirectoryEntries {
    entries: ReadDir,
    _open: OpenFile,
}

/// How many descriptors and directory streams an instance has open: at
/// most its `WasiCtx`'s open-file limit, as a preview1 program.
#[derive(Default)]
struct OpenFiles(Arc<AtomicUsize>);

/// One of an instance's open files, counted until dropped.
struct OpenFile(Arc<AtomicUsize>);

impl Drop for OpenFile {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A place for one more open file, if the instance is below its limit.
fn open_file(ctx: &mut ComponentCtx) -> FsResult<OpenFile> {
    let limit = ctx.wasi.open_file_limit();
    if ctx.extension_mut::<OpenFiles>().is_none() {
        ctx.set_extension(OpenFiles::default());
    }
    let count = match ctx.extension_mut::<OpenFiles>() {
        Some(open) => open.0.clone(),
        None => return Err(INSUFFICIENT_MEMORY),
    };
    count
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
            (n < limit).then_some(n + 1)
        })
        .map_err(|_| INSUFFICIENT_MEMORY)?;
    Ok(OpenFile(count))
}

impl Resource for DirectoryEntries {
    const INTERFACE: &'static str = TYPES;
    const NAME: &'static str = "directory-entry-stream";
}

/// A failure, as its `error-code` case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Code(u32);

const ACCESS: Code = Code(0);
const BAD_DESCRIPTOR: Code = Code(3);
const INVALID: Code = Code(12);
const IO: Code = Code(13);
const IS_DIRECTORY: Code = Code(14);
const NOT_DIRECTORY: Code = Code(24);
const ILLEGAL_BYTE_SEQUENCE: Code = Code(9);
/// What running out of open files is (0.2 has no code of its own for it).
const INSUFFICIENT_MEMORY: Code = Code(22);
const NOT_PERMITTED: Code = Code(31);
const READ_ONLY: Code = Code(33);

impl From<io::Error> for Code {
    fn from(e: io::Error) -> Code {
        let by_errno = e.raw_os_error().and_then(|n| {
            Some(Code(match n {
                libc::EACCES => 0,
                libc::EAGAIN => 1,
                libc::EALREADY => 2,
                libc::EBADF => 3,
                libc::EBUSY => 4,
                libc::EDEADLK => 5,
                libc::EDQUOT => 6,
                libc::EEXIST => 7,
                libc::EFBIG => 8,
                libc::EILSEQ => 9,
                libc::EINPROGRESS => 10,
                libc::EINTR => 11,
                libc::EINVAL => 12,
                libc::EIO => 13,
                libc::EISDIR => 14,
                libc::ELOOP => 15,
                libc::EMLINK => 16,
                libc::EMSGSIZE => 17,
                libc::ENAMETOOLONG => 18,
                libc::ENODEV => 19,
                libc::ENOENT => 20,
                libc::ENOLCK => 21,
                libc::ENOMEM => 22,
                libc::ENOSPC => 23,
                libc::ENOTDIR => 24,
                libc::ENOTEMPTY => 25,
                libc::ENOTRECOVERABLE => 26,
                libc::ENOTSUP => 27,
                libc::ENOTTY => 28,
                libc::ENXIO => 29,
                libc::EOVERFLOW => 30,
                libc::EPERM => 31,
                libc::EPIPE => 32,
                libc::EROFS => 33,
                libc::ESPIPE => 34,
                libc::ETXTBSY => 35,
                libc::EXDEV => 36,
                _ => return None,
            }))
        });
        by_errno.unwrap_or(match e.kind() {
            io::ErrorKind::NotFound => Code(20),
            // cap-std's refusal of a path that leaves the directory.
            io::ErrorKind::PermissionDenied => NOT_PERMITTED,
            io::ErrorKind::AlreadyExists => Code(7),
            io::ErrorKind::InvalidInput => INVALID,
            _ => IO,
        })
    }
}

type FsResult<T> = Result<T, Code>;

/// The `result<T, error-code>` of `r`.
fn answer(r: FsResult<Val>) -> HostResult {
    Ok(Some(match r {
        Ok(v) => ok(v),
        Err(Code(c)) => result_err(Val::Variant(c, None)),
    }))
}

/// The `result<_, error-code>` of `r`.
fn answer_unit(r: FsResult<()>) -> HostResult {
    Ok(Some(match r {
        Ok(()) => ok_unit(),
        Err(Code(c)) => result_err(Val::Variant(c, None)),
    }))
}

impl FsDescriptor {
    fn dir(&self) -> FsResult<&Dir> {
        match &self.kind {
            Kind::Dir(d) => Ok(d),
            Kind::File(_) => Err(NOT_DIRECTORY),
        }
    }

    /// Its directory, if what is in it may be changed.
    fn dir_to_change(&self) -> FsResult<&Dir> {
        let d = self.dir()?;
        if !self.mutate {
            return Err(READ_ONLY);
        }
        Ok(d)
    }

    fn file(&self) -> FsResult<&File> {
        match &self.kind {
            Kind::File(f) => Ok(f),
            Kind::Dir(_) => Err(IS_DIRECTORY),
        }
    }

    /// Its file, if it was opened for `access`.
    fn file_for(&self, access: Access) -> FsResult<&File> {
        let f = self.file()?;
        let allowed = match access {
            Access::Read => self.read,
            Access::Write => self.write,
        };
        if !allowed {
            return Err(BAD_DESCRIPTOR);
        }
        Ok(f)
    }

    fn metadata(&self) -> io::Result<Metadata> {
        match &self.kind {
            Kind::Dir(d) => d.dir_metadata(),
            Kind::File(f) => f.metadata(),
        }
    }
}

/// A file read as a stream, from an offset.
struct FileReader {
    file: File,
    offset: u64,
}

impl HostInputStream for FileReader {
    fn read(&mut self, len: usize) -> Result<Vec<u8>, StreamError> {
        let mut buf = vec![0; len.min(MAX_STREAM_CHUNK as usize)];
        let n = self
            .file
            .read_at(&mut buf, self.offset)
            .map_err(|e| StreamError::Failed(e.to_string()))?;
        if n == 0 && !buf.is_empty() {
            return Err(StreamError::Closed);
        }
        buf.truncate(n);
        self.offset += n as u64;
        Ok(buf)
    }
}

/// A file written as a stream, from an offset or at its end.
struct FileWriter {
    file: File,
    /// `None`: each write goes at the end.
    offset: Option<u64>,
}

impl HostOutputStream for FileWriter {
    fn check_write(&mut self) -> Result<u64, StreamError> {
        Ok(MAX_STREAM_CHUNK)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), StreamError> {
        let failed = |e: io::Error| StreamError::Failed(e.to_string());
        let at = match self.offset {
            Some(o) => o,
            None => self.file.metadata().map_err(failed)?.len(),
        };
        self.file.write_all_at(bytes, at).map_err(failed)?;
        if let Some(o) = &mut self.offset {
            *o += bytes.len() as u64;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }
}

/// `descriptor-type` of a file type.
fn type_of(ft: cap_std::fs::FileType) -> u32 {
    if ft.is_dir() {
        3
    } else if ft.is_file() {
        6
    } else if ft.is_symlink() {
        5
    } else if ft.is_block_device() {
        1
    } else if ft.is_char_device() {
        2
    } else if ft.is_fifo() {
        4
    } else if ft.is_socket() {
        7
    } else {
        0
    }
}

fn datetime(secs: i64, nanos: i64) -> Val {
    some(Val::Record(vec![
        Val::U64(secs.max(0) as u64),
        Val::U32(nanos.clamp(0, 999_999_999) as u32),
    ]))
}

/// `descriptor-stat` of `m`.
fn stat(m: &Metadata) -> Val {
    Val::Record(vec![
        Val::Variant(type_of(m.file_type()), None),
        Val::U64(MetadataExt::nlink(m)),
        Val::U64(m.len()),
        datetime(m.atime(), m.atime_nsec()),
        datetime(m.mtime(), m.mtime_nsec()),
        datetime(m.ctime(), m.ctime_nsec()),
    ])
}

/// `metadata-hash-value` of `m`: its device and inode, which name it.
fn metadata_hash(m: &Metadata) -> Val {
    Val::Record(vec![
        Val::U64(MetadataExt::ino(m)),
        Val::U64(MetadataExt::dev(m)),
    ])
}

/// The metadata of `path` under `d`'s directory, following a symbolic
/// link there if `follow`.
fn metadata_at(d: &FsDescriptor, follow: bool, path: &str) -> FsResult<Metadata> {
    let dir = d.dir()?;
    Ok(if follow {
        dir.metadata(path)?
    } else {
        dir.symlink_metadata(path)?
    })
}

/// A flags argument, as its booleans.
fn flags(v: &Val) -> Result<&[bool], HostError> {
    match v {
        Val::Flags(f) => Ok(f),
        _ => Err(HostError("expected flags".into())),
    }
}

fn flag(f: &[bool], i: usize) -> bool {
    f.get(i).copied().unwrap_or(false)
}

fn string(v: &Val) -> Result<&str, HostError> {
    match v {
        Val::String(s) => Ok(s),
        _ => Err(HostError("expected a string".into())),
    }
}

/// A `new-timestamp` argument.
fn new_timestamp(v: &Val) -> Result<Option<SystemTimeSpec>, HostError> {
    match v {
        Val::Variant(0, None) => Ok(None),
        Val::Variant(1, None) => Ok(Some(SystemTimeSpec::SymbolicNow)),
        Val::Variant(2, Some(t)) => match &**t {
            Val::Record(f) => match (f.first(), f.get(1)) {
                (Some(Val::U64(s)), Some(Val::U32(n))) => {
                    let d = std::time::Duration::new(*s, (*n).min(999_999_999));
                    let t = std::time::UNIX_EPOCH
                        .checked_add(d)
                        .ok_or_else(|| HostError("a time past what the host keeps".into()))?;
                    Ok(Some(SystemTimeSpec::Absolute(t)))
                }
                _ => Err(HostError("expected a datetime".into())),
            },
            _ => Err(HostError("expected a datetime".into())),
        },
        _ => Err(HostError("expected a new-timestamp".into())),
    }
}

/// Runs `f` with the descriptor `args.at(0)` names.
fn with_descriptor(
    vmctx: &mut lucet_runtime::Vmctx,
    handle: &Val,
    f: impl FnOnce(&mut FsDescriptor) -> HostResult,
) -> HostResult {
    with_ctx(vmctx, |ctx, _| f(ctx.get::<FsDescriptor>(handle)?))
}

/// A second descriptor's directory, for calls that name two.
fn other_dir(
    ctx: &mut ComponentCtx,
    handle: &Val,
    change: bool,
) -> Result<FsResult<Dir>, HostError> {
    let d = ctx.get::<FsDescriptor>(handle)?;
    let dir = if change { d.dir_to_change() } else { d.dir() };
    Ok(dir.and_then(|d| d.try_clone().map_err(Code::from)))
}

/// Opens `path` under `d` as `open-at` asks.
fn open_at(
    d: &FsDescriptor,
    slot: OpenFile,
    path_flags: &[bool],
    path: &str,
    open: &[bool],
    wanted: &[bool],
) -> FsResult<FsDescriptor> {
    let dir = d.dir()?;
    let follow = flag(path_flags, 0);
    let (create, directory, exclusive, truncate) =
        (flag(open, 0), flag(open, 1), flag(open, 2), flag(open, 3));
    let (read, write, mutate) = (flag(wanted, 0), flag(wanted, 1), flag(wanted, 5));
    // The sync flags ask for what the host does not promise.
    if flag(wanted, 2) || flag(wanted, 3) || flag(wanted, 4) {
        return Err(Code(27));
    }
    if directory && (create || exclusive || truncate) {
        return Err(INVALID);
    }
    if (write || create || truncate || mutate) && !d.mutate {
        return Err(READ_ONLY);
    }
    let mut oflags = 0u16;
    for (on, bit) in [(create, 1), (directory, 2), (exclusive, 4), (truncate, 8)] {
        if on {
            oflags |= bit;
        }
    }
    let file = dir.open_with(path, &open_options(oflags, read, write, follow))?;
    let is_dir = file.metadata()?.is_dir();
    if directory && !is_dir {
        return Err(NOT_DIRECTORY);
    }
    if is_dir {
        if write {
            return Err(IS_DIRECTORY);
        }
        return Ok(FsDescriptor {
            kind: Kind::Dir(Dir::from_std_file(file.into_std())),
            _open: slot,
            read,
            write: false,
            mutate: mutate && d.mutate,
        });
    }
    Ok(FsDescriptor {
        kind: Kind::File(file),
        _open: slot,
        read,
        write,
        mutate: false,
    })
}

/// Adds `wasi:filesystem/preopens` and `wasi:filesystem/types`.
pub fn add(interfaces: &mut Interfaces) {
    interfaces.func("wasi:filesystem/preopens", "get-directories", |vmctx, _| {
        with_ctx(vmctx, |ctx, _| {
            let dirs = ctx
                .wasi
                .preopened_dirs()
                .map_err(|e| HostError(format!("a preopened directory: {e}")))?;
            let mut list = Vec::with_capacity(dirs.len());
            for (guest, dir, writable) in dirs {
                let Ok(slot) = open_file(ctx) else {
                    return Err(HostError(
                        "too many open files for the preopened directories".into(),
                    ));
                };
                let handle = ctx.push(FsDescriptor {
                    kind: Kind::Dir(dir),
                    _open: slot,
                    read: true,
                    write: false,
                    mutate: writable,
                })?;
                list.push(Val::Record(vec![handle, Val::String(guest)]));
            }
            Ok(Some(Val::List(list)))
        })
    });
    add_file_calls(interfaces);
    add_path_calls(interfaces);
    add_directory_calls(interfaces);
    // Stream errors here carry no filesystem code.
    interfaces.func(TYPES, "filesystem-error-code", |_, _| Ok(Some(none())));
}

fn add_file_calls(interfaces: &mut Interfaces) {
    let method = |name: &str| format!("[method]descriptor.{name}");
    interfaces.func(TYPES, &method("read-via-stream"), |vmctx, args| {
        let offset = u64_arg(args.at(1)?)?;
        with_ctx(vmctx, |ctx, _| {
            let file = ctx
                .get::<FsDescriptor>(args.at(0)?)?
                .file_for(Access::Read)
                .and_then(|f| f.try_clone().map_err(Code::from));
            match file {
                Ok(file) => {
                    let stream = InputStream::Host(Box::new(FileReader { file, offset }));
                    answer(Ok(ctx.push(stream)?))
                }
                Err(c) => answer(Err(c)),
            }
        })
    });
    for (name, append) in [("write-via-stream", false), ("append-via-stream", true)] {
        interfaces.func(TYPES, &method(name), move |vmctx, args| {
            let offset = if append {
                None
            } else {
                Some(u64_arg(args.at(1)?)?)
            };
            with_ctx(vmctx, |ctx, _| {
                let file = ctx
                    .get::<FsDescriptor>(args.at(0)?)?
                    .file_for(Access::Write)
                    .and_then(|f| f.try_clone().map_err(Code::from));
                match file {
                    Ok(file) => {
                        let stream = OutputStream::Host(Box::new(FileWriter { file, offset }));
                        answer(Ok(ctx.push(stream)?))
                    }
                    Err(c) => answer(Err(c)),
                }
            })
        });
    }
    interfaces.func(TYPES, &method("advise"), |vmctx, args| {
        // Advice is a hint: taken for a file, and ignored.
        with_descriptor(vmctx, args.at(0)?, |d| answer_unit(d.file().map(drop)))
    });
    for (name, data_only) in [("sync-data", true), ("sync", false)] {
        interfaces.func(TYPES, &method(name), move |vmctx, args| {
            with_descriptor(vmctx, args.at(0)?, |d| {
                answer_unit(match &d.kind {
                    Kind::File(f) if data_only => f.sync_data().map_err(Code::from),
                    Kind::File(f) => f.sync_all().map_err(Code::from),
                    // A directory's entries are synced with it.
                    Kind::Dir(dir) => dir.open(".").and_then(|f| f.sync_all()).map_err(Code::from),
                })
            })
        });
    }
    interfaces.func(TYPES, &method("get-flags"), |vmctx, args| {
        with_descriptor(vmctx, args.at(0)?, |d| {
            answer(Ok(Val::Flags(vec![
                d.read, d.write, false, false, false, d.mutate,
            ])))
        })
    });
    interfaces.func(TYPES, &method("get-type"), |vmctx, args| {
        with_descriptor(vmctx, args.at(0)?, |d| {
            answer(
                d.metadata()
                    .map_err(Code::from)
                    .map(|m| Val::Variant(type_of(m.file_type()), None)),
            )
        })
    });
    interfaces.func(TYPES, &method("set-size"), |vmctx, args| {
        let size = u64_arg(args.at(1)?)?;
        with_descriptor(vmctx, args.at(0)?, |d| {
            answer_unit(
                d.file_for(Access::Write)
                    .and_then(|f| f.set_len(size).map_err(Code::from)),
            )
        })
    });
    interfaces.func(TYPES, &method("set-times"), |vmctx, args| {
        let (a, m) = (new_timestamp(args.at(1)?)?, new_timestamp(args.at(2)?)?);
        with_descriptor(vmctx, args.at(0)?, |d| {
            answer_unit(match &d.kind {
                Kind::File(f) if d.write => SetTimes::set_times(f, a, m).map_err(Code::from),
                Kind::Dir(dir) if d.mutate => {
                    DirExt::set_times(dir, ".", cap_time(a), cap_time(m)).map_err(Code::from)
                }
                _ => Err(NOT_PERMITTED),
            })
        })
    });
    interfaces.func(TYPES, &method("read"), |vmctx, args| {
        let (len, offset) = (u64_arg(args.at(1)?)?, u64_arg(args.at(2)?)?);
        with_descriptor(vmctx, args.at(0)?, |d| {
            answer(d.file_for(Access::Read).and_then(|f| {
                let mut buf = vec![0; len.min(MAX_STREAM_CHUNK) as usize];
                let n = f.read_at(&mut buf, offset)?;
                buf.truncate(n);
                let end = n == 0 && len > 0;
                Ok(Val::Record(vec![Val::Bytes(buf), Val::Bool(end)]))
            }))
        })
    });
    interfaces.func(TYPES, &method("write"), |vmctx, args| {
        let Val::Bytes(bytes) = args.at(1)? else {
            return Err(HostError("expected a list<u8>".into()));
        };
        let offset = u64_arg(args.at(2)?)?;
        with_descriptor(vmctx, args.at(0)?, |d| {
            answer(d.file_for(Access::Write).and_then(|f| {
                f.write_all_at(bytes, offset)?;
                Ok(Val::U64(bytes.len() as u64))
            }))
        })
    });
    interfaces.func(TYPES, &method("stat"), |vmctx, args| {
        with_descriptor(vmctx, args.at(0)?, |d| {
            answer(d.metadata().map(|m| stat(&m)).map_err(Code::from))
        })
    });
    interfaces.func(TYPES, &method("metadata-hash"), |vmctx, args| {
        with_descriptor(vmctx, args.at(0)?, |d| {
            answer(d.metadata().map(|m| metadata_hash(&m)).map_err(Code::from))
        })
    });
    interfaces.func(TYPES, &method("is-same-object"), |vmctx, args| {
        with_ctx(vmctx, |ctx, _| {
            let id = |m: io::Result<Metadata>| {
                m.ok().map(|m| (MetadataExt::dev(&m), MetadataExt::ino(&m)))
            };
            let a = id(ctx.get::<FsDescriptor>(args.at(0)?)?.metadata());
            let b = id(ctx.get::<FsDescriptor>(args.at(1)?)?.metadata());
            Ok(Some(Val::Bool(a.is_some() && a == b)))
        })
    });
}

fn add_path_calls(interfaces: &mut Interfaces) {
    let method = |name: &str| format!("[method]descriptor.{name}");
    interfaces.func(TYPES, &method("open-at"), |vmctx, args| {
        let path_flags = flags(args.at(1)?)?;
        let path = string(args.at(2)?)?;
        let (open, wanted) = (flags(args.at(3)?)?, flags(args.at(4)?)?);
        with_ctx(vmctx, |ctx, _| {
            let slot = match open_file(ctx) {
                Ok(s) => s,
                Err(c) => return answer(Err(c)),
            };
            let d = ctx.get::<FsDescriptor>(args.at(0)?)?;
            match open_at(d, slot, path_flags, path, open, wanted) {
                Ok(opened) => answer(Ok(ctx.push(opened)?)),
                Err(c) => answer(Err(c)),
            }
        })
    });
    interfaces.func(TYPES, &method("stat-at"), |vmctx, args| {
        let follow = flag(flags(args.at(1)?)?, 0);
        let path = string(args.at(2)?)?;
        with_descriptor(vmctx, args.at(0)?, |d| {
            answer(metadata_at(d, follow, path).map(|m| stat(&m)))
        })
    });
    interfaces.func(TYPES, &method("metadata-hash-at"), |vmctx, args| {
        let follow = flag(flags(args.at(1)?)?, 0);
        let path = string(args.at(2)?)?;
        with_descriptor(vmctx, args.at(0)?, |d| {
            answer(metadata_at(d, follow, path).map(|m| metadata_hash(&m)))
        })
    });
    interfaces.func(TYPES, &method("set-times-at"), |vmctx, args| {
        let follow = flag(flags(args.at(1)?)?, 0);
        let path = string(args.at(2)?)?;
        let (a, m) = (new_timestamp(args.at(3)?)?, new_timestamp(args.at(4)?)?);
        with_descriptor(vmctx, args.at(0)?, |d| {
            answer_unit(d.dir_to_change().and_then(|dir| {
                if follow {
                    DirExt::set_times(dir, path, cap_time(a), cap_time(m))?;
                } else {
                    dir.set_symlink_times(path, cap_time(a), cap_time(m))?;
                }
                Ok(())
            }))
        })
    });
    type PathCall = fn(&Dir, &str) -> io::Result<()>;
    let one_path: [(&str, PathCall); 3] = [
        ("create-directory-at", |d, p| d.create_dir(p)),
        ("remove-directory-at", |d, p| d.remove_dir(p)),
        ("unlink-file-at", |d, p| d.remove_file_or_symlink(p)),
    ];
    for (name, call) in one_path {
        interfaces.func(TYPES, &method(name), move |vmctx, args| {
            let path = string(args.at(1)?)?;
            with_descriptor(vmctx, args.at(0)?, |d| {
                answer_unit(d.dir_to_change().and_then(|dir| Ok(call(dir, path)?)))
            })
        });
    }
    interfaces.func(TYPES, &method("readlink-at"), |vmctx, args| {
        let path = string(args.at(1)?)?;
        with_descriptor(vmctx, args.at(0)?, |d| {
            answer(d.dir().and_then(|dir| {
                // The link's contents, even an absolute path: reading it
                // grants nothing (following it is confined).
                let target = dir.read_link_contents(path)?;
                let text = std::str::from_utf8(target.as_os_str().as_bytes())
                    .map_err(|_| ILLEGAL_BYTE_SEQUENCE)?;
                Ok(Val::String(text.to_string()))
            }))
        })
    });
    interfaces.func(TYPES, &method("symlink-at"), |vmctx, args| {
        let (target, path) = (string(args.at(1)?)?, string(args.at(2)?)?);
        with_descriptor(vmctx, args.at(0)?, |d| {
            answer_unit(d.dir_to_change().and_then(|dir| {
                if std::path::Path::new(target).is_absolute() {
                    // It could only ever point outside the sandbox.
                    return Err(NOT_PERMITTED);
                }
                Ok(dir.symlink(target, path)?)
            }))
        })
    });
    interfaces.func(TYPES, &method("link-at"), |vmctx, args| {
        let follow = flag(flags(args.at(1)?)?, 0);
        let (old, new) = (string(args.at(2)?)?, string(args.at(4)?)?);
        with_ctx(vmctx, |ctx, _| {
            if follow {
                // linkat following a link cannot be confined.
                return answer_unit(Err(INVALID));
            }
            let target = match other_dir(ctx, args.at(3)?, true)? {
                Ok(t) => t,
                Err(c) => return answer_unit(Err(c)),
            };
            let d = ctx.get::<FsDescriptor>(args.at(0)?)?;
            answer_unit(
                d.dir_to_change()
                    .and_then(|dir| Ok(dir.hard_link(old, &target, new)?)),
            )
        })
    });
    interfaces.func(TYPES, &method("rename-at"), |vmctx, args| {
        let (old, new) = (string(args.at(1)?)?, string(args.at(3)?)?);
        with_ctx(vmctx, |ctx, _| {
            let target = match other_dir(ctx, args.at(2)?, true)? {
                Ok(t) => t,
                Err(c) => return answer_unit(Err(c)),
            };
            let d = ctx.get::<FsDescriptor>(args.at(0)?)?;
            answer_unit(
                d.dir_to_change()
                    .and_then(|dir| Ok(dir.rename(old, &target, new)?)),
            )
        })
    });
}

fn add_directory_calls(interfaces: &mut Interfaces) {
    interfaces.func(TYPES, "[method]descriptor.read-directory", |vmctx, args| {
        with_ctx(vmctx, |ctx, _| {
            let slot = match open_file(ctx) {
                Ok(s) => s,
                Err(c) => return answer(Err(c)),
            };
            let d = ctx.get::<FsDescriptor>(args.at(0)?)?;
            let entries = d.dir().and_then(|dir| {
                if !d.read {
                    return Err(ACCESS);
                }
                Ok(dir.entries()?)
            });
            match entries {
                Ok(e) => answer(Ok(ctx.push(DirectoryEntries {
                    entries: e,
                    _open: slot,
                })?)),
                Err(c) => answer(Err(c)),
            }
        })
    });
    interfaces.func(
        TYPES,
        "[method]directory-entry-stream.read-directory-entry",
        |vmctx, args| {
            with_ctx(vmctx, |ctx, _| {
                let entries = ctx.get::<DirectoryEntries>(args.at(0)?)?;
                let next = match entries.entries.next() {
                    None => Ok(none()),
                    Some(entry) => entry
                        .and_then(|e| {
                            let t = type_of(e.file_type()?);
                            let name = e.file_name();
                            Ok(match std::str::from_utf8(name.as_bytes()) {
                                Ok(n) => Ok(some(Val::Record(vec![
                                    Val::Variant(t, None),
                                    Val::String(n.to_string()),
                                ]))),
                                Err(_) => Err(ILLEGAL_BYTE_SEQUENCE),
                            })
                        })
                        .map_err(Code::from)
                        .and_then(|r| r),
                };
                answer(next)
            })
        },
    );
}
