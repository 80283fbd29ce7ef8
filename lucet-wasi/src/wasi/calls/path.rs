//! `path_*`: operations on paths relative to a directory descriptor.
//!
//! Every path goes through cap-std, which resolves it inside the directory
//! and refuses anything that would leave it: `..` above the directory,
//! absolute paths, and symbolic links (followed or not) that point outside.

use std::path::Path;

use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt, OpenOptionsMaybeDirExt};
use cap_std::fs::{Dir, OpenOptions};
use fs_set_times::SystemTimeSpec;

use super::fd::{filestat_of_meta, times};
use super::{GuestMemory, WasiCtx};
use crate::wasi::ctx::Descriptor;
use crate::wasi::types::{fdflags, oflags, rights, Errno, WasiResult, LOOKUP_SYMLINK_FOLLOW};

/// The directory `fd`, for path operations.
fn dir(ctx: &mut WasiCtx, fd: u32) -> WasiResult<&Dir> {
    match ctx.get(fd)? {
        Descriptor::Dir { dir, .. } => Ok(dir),
        _ => Err(Errno::Notdir),
    }
}

fn lookup_follows(flags: u32) -> WasiResult<bool> {
    if flags & !LOOKUP_SYMLINK_FOLLOW != 0 {
        return Err(Errno::Inval);
    }
    Ok(flags & LOOKUP_SYMLINK_FOLLOW != 0)
}

pub fn path_create_directory(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    path: u32,
    len: u32,
) -> WasiResult {
    let path = mem.path(path, len)?;
    Ok(dir(ctx, fd)?.create_dir(path)?)
}

pub fn path_filestat_get(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    flags: u32,
    path: u32,
    len: u32,
    out: u32,
) -> WasiResult {
    let follow = lookup_follows(flags)?;
    let path = mem.path(path, len)?.to_string();
    let d = dir(ctx, fd)?;
    let meta = if follow {
        d.metadata(&path)?
    } else {
        d.symlink_metadata(&path)?
    };
    mem.write(out, &filestat_of_meta(&meta).to_bytes())
}

fn cap_time(t: Option<SystemTimeSpec>) -> Option<cap_fs_ext::SystemTimeSpec> {
    t.map(|t| match t {
        SystemTimeSpec::SymbolicNow => cap_fs_ext::SystemTimeSpec::SymbolicNow,
        SystemTimeSpec::Absolute(t) => {
            cap_fs_ext::SystemTimeSpec::Absolute(cap_std::time::SystemTime::from_std(t))
        }
    })
}

#[allow(clippy::too_many_arguments)]
pub fn path_filestat_set_times(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    flags: u32,
    path: u32,
    len: u32,
    atim: u64,
    mtim: u64,
    fst: u32,
) -> WasiResult {
    let follow = lookup_follows(flags)?;
    let (a, m) = times(atim, mtim, fst)?;
    let path = mem.path(path, len)?;
    let d = dir(ctx, fd)?;
    if follow {
        Ok(d.set_times(path, cap_time(a), cap_time(m))?)
    } else {
        Ok(d.set_symlink_times(path, cap_time(a), cap_time(m))?)
    }
}

#[allow(clippy::too_many_arguments)]
pub fn path_link(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    old_fd: u32,
    old_flags: u32,
    old_path: u32,
    old_len: u32,
    new_fd: u32,
    new_path: u32,
    new_len: u32,
) -> WasiResult {
    if lookup_follows(old_flags)? {
        // linkat with AT_SYMLINK_FOLLOW cannot be confined to the sandbox.
        return Err(Errno::Inval);
    }
    let old_path = mem.path(old_path, old_len)?;
    let new_path = mem.path(new_path, new_len)?;
    let old_dir = dir(ctx, old_fd)?.try_clone()?;
    let new_dir = dir(ctx, new_fd)?;
    Ok(old_dir.hard_link(old_path, new_dir, new_path)?)
}

#[allow(clippy::too_many_arguments)]
pub fn path_open(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    dirflags: u32,
    path: u32,
    len: u32,
    oflags: u32,
    rights_base: u64,
    rights_inheriting: u64,
    fdflags: u32,
    out: u32,
) -> WasiResult {
    let follow = lookup_follows(dirflags)?;
    let oflags = u16::try_from(oflags).map_err(|_| Errno::Inval)?;
    let fdflags = u16::try_from(fdflags).map_err(|_| Errno::Inval)?;
    if oflags & !oflags::ALL != 0 || fdflags & !fdflags::ALL != 0 {
        return Err(Errno::Inval);
    }
    mem.check(out, 4)?;
    let path = mem.path(path, len)?.to_string();
    let (_, parent_inheriting) = ctx.rights(fd)?;
    let d = dir(ctx, fd)?;

    let read = rights_base & rights::FD_READ != 0;
    let write = rights_base & rights::FD_WRITE != 0;
    let mut opts = OpenOptions::new();
    opts.maybe_dir(true);
    if oflags & oflags::CREAT != 0 {
        if oflags & oflags::EXCL != 0 {
            opts.create_new(true);
        } else {
            opts.create(true);
        }
        opts.write(true);
    }
    if oflags & oflags::TRUNC != 0 {
        opts.truncate(true);
    }
    if write {
        opts.write(true);
    }
    if read || !write {
        // The OS needs some access mode; reads are refused later unless the
        // guest asked for them.
        opts.read(true);
    }
    // POSIX allows O_TRUNC with O_APPEND; the host's open refuses the pair,
    // so the file is opened truncated and O_APPEND is set right after.
    let append_after_open = fdflags & fdflags::APPEND != 0 && oflags & oflags::TRUNC != 0;
    if fdflags & fdflags::APPEND != 0 && !append_after_open {
        opts.append(true);
    }
    if fdflags & (fdflags::DSYNC | fdflags::SYNC | fdflags::RSYNC) != 0 {
        return Err(Errno::Notsup);
    }
    if oflags & oflags::DIRECTORY != 0
        && oflags & (oflags::CREAT | oflags::EXCL | oflags::TRUNC) != 0
    {
        return Err(Errno::Inval);
    }
    opts.follow(if follow {
        FollowSymlinks::Yes
    } else {
        FollowSymlinks::No
    });

    let file = d.open_with(&path, &opts)?;
    let is_dir = file.metadata()?.is_dir();
    let descriptor = if is_dir {
        Descriptor::Dir {
            dir: Dir::from_std_file(file.into_std()),
            preopen: None,
        }
    } else if oflags & oflags::DIRECTORY != 0 {
        return Err(Errno::Notdir);
    } else {
        let mut status = 0;
        if fdflags & fdflags::NONBLOCK != 0 {
            status |= libc::O_NONBLOCK;
        }
        if append_after_open {
            status |= libc::O_APPEND;
        }
        if status != 0 {
            add_status_flags(&file, status)?;
        }
        Descriptor::File { file, read, write }
    };
    // What is opened gets the rights asked for, within what the directory
    // passes on and what its kind of descriptor supports.
    let (kind_base, kind_inheriting) = match descriptor {
        Descriptor::Dir { .. } => (rights::DIR_BASE, rights::DIR_INHERITING),
        _ => (rights::FILE_BASE | rights::FD_READ | rights::FD_WRITE, 0),
    };
    let base = rights_base & parent_inheriting & kind_base;
    let inheriting = rights_inheriting & parent_inheriting & kind_inheriting;
    let new_fd = ctx.push(descriptor, base, inheriting)?;
    mem.write_u32(out, new_fd)
}

#[allow(clippy::too_many_arguments)]
pub fn path_readlink(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    path: u32,
    len: u32,
    buf: u32,
    buf_len: u32,
    out: u32,
) -> WasiResult {
    let path = mem.path(path, len)?.to_string();
    // The link's contents, even an absolute path: reading it grants no
    // access (following it is confined like any other path).
    let target = dir(ctx, fd)?.read_link_contents(&path)?;
    use std::os::unix::ffi::OsStrExt;
    let bytes = target.as_os_str().as_bytes();
    // Like readlink(2): silently truncated to the buffer.
    let n = bytes.len().min(buf_len as usize);
    mem.write(buf, &bytes[..n])?;
    mem.write_u32(out, n as u32)
}

pub fn path_remove_directory(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    path: u32,
    len: u32,
) -> WasiResult {
    let path = mem.path(path, len)?;
    Ok(dir(ctx, fd)?.remove_dir(path)?)
}

#[allow(clippy::too_many_arguments)]
pub fn path_rename(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    old_path: u32,
    old_len: u32,
    new_fd: u32,
    new_path: u32,
    new_len: u32,
) -> WasiResult {
    let old_path = mem.path(old_path, old_len)?;
    let new_path = mem.path(new_path, new_len)?;
    let old_dir = dir(ctx, fd)?.try_clone()?;
    let new_dir = dir(ctx, new_fd)?;
    Ok(old_dir.rename(old_path, new_dir, new_path)?)
}

pub fn path_symlink(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    old_path: u32,
    old_len: u32,
    fd: u32,
    new_path: u32,
    new_len: u32,
) -> WasiResult {
    let old_path = mem.path(old_path, old_len)?;
    let new_path = mem.path(new_path, new_len)?;
    if Path::new(old_path).is_absolute() {
        // An absolute target could only ever point outside the sandbox.
        return Err(Errno::Perm);
    }
    Ok(dir(ctx, fd)?.symlink(old_path, new_path)?)
}

pub fn path_unlink_file(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    path: u32,
    len: u32,
) -> WasiResult {
    let path = mem.path(path, len)?;
    Ok(dir(ctx, fd)?.remove_file_or_symlink(path)?)
}

/// Adds `flags` (`O_NONBLOCK`, `O_APPEND`) to an open file's status flags.
fn add_status_flags(file: &cap_std::fs::File, flags: i32) -> WasiResult {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: F_GETFL/F_SETFL on a descriptor we own; no memory is passed.
    let ok = unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        fl >= 0 && libc::fcntl(fd, libc::F_SETFL, fl | flags) >= 0
    };
    if ok {
        Ok(())
    } else {
        Err(Errno::from(std::io::Error::last_os_error()))
    }
}
