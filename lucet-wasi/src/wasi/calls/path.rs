//! `path_*`: operations on paths relative to a directory descriptor.
//!
//! Every path goes through cap-std, which resolves it inside the directory
//! and refuses anything that would leave it: `..` above the directory,
//! absolute paths, and symbolic links (followed or not) that point outside.
//!
//! Every call also needs rights on its directory descriptor (`ENOTCAPABLE`
//! without them), as WASI preview1 says: a read-only preopened directory
//! lacks those that change the file system.

use std::path::Path;

use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt, OpenOptionsMaybeDirExt};
use cap_std::fs::{Dir, OpenOptions};

use super::fd::{cap_time, filestat_of_meta, times};
use super::{GuestMemory, WasiCtx};
use crate::wasi::ctx::Descriptor;
use crate::wasi::types::{fdflags, oflags, rights, Errno, WasiResult, LOOKUP_SYMLINK_FOLLOW};

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
    Ok(ctx
        .dir_with(fd, rights::PATH_CREATE_DIRECTORY)?
        .create_dir(path)?)
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
    let d = ctx.dir_with(fd, rights::PATH_FILESTAT_GET)?;
    let meta = if follow {
        d.metadata(&path)?
    } else {
        d.symlink_metadata(&path)?
    };
    mem.write(out, &filestat_of_meta(&meta).to_bytes())
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
    let d = ctx.dir_with(fd, rights::PATH_FILESTAT_SET_TIMES)?;
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
    let old_dir = ctx
        .dir_with(old_fd, rights::PATH_LINK_SOURCE)?
        .try_clone()?;
    let new_dir = ctx.dir_with(new_fd, rights::PATH_LINK_TARGET)?;
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
    let d = ctx.dir_with(fd, path_open_dir_rights(oflags))?;
    if may_write(rights_base, oflags, fdflags) && parent_inheriting & rights::FD_WRITE == 0 {
        // Refused before anything is opened, created or truncated.
        return Err(Errno::Notcapable);
    }
    if fdflags & (fdflags::DSYNC | fdflags::SYNC | fdflags::RSYNC) != 0 {
        return Err(Errno::Notsup);
    }
    if oflags & oflags::DIRECTORY != 0
        && oflags & (oflags::CREAT | oflags::EXCL | oflags::TRUNC) != 0
    {
        return Err(Errno::Inval);
    }

    // The host file is opened for what the guest will be allowed to do.
    let granted = rights_base & parent_inheriting;
    let opts = open_options(
        oflags,
        granted & rights::FD_READ != 0,
        granted & rights::FD_WRITE != 0,
        follow,
    );
    let file = d.open_with(&path, &opts)?;
    let is_dir = file.metadata()?.is_dir();
    if !is_dir && oflags & oflags::DIRECTORY != 0 {
        return Err(Errno::Notdir);
    }
    let (base, inheriting) =
        opened_rights(is_dir, rights_base, rights_inheriting, parent_inheriting);
    let descriptor = if is_dir {
        Descriptor::Dir {
            dir: Dir::from_std_file(file.into_std()),
            preopen: None,
        }
    } else {
        let status = status_flags(fdflags);
        if status != 0 {
            add_status_flags(&file, status)?;
        }
        Descriptor::File {
            file,
            read: base & rights::FD_READ != 0,
            write: base & rights::FD_WRITE != 0,
        }
    };
    let new_fd = ctx.push(descriptor, base, inheriting)?;
    mem.write_u32(out, new_fd)
}

/// The rights `path_open` needs on its directory: `PATH_OPEN`, and those
/// to create (`O_CREAT`) and to truncate (`O_TRUNC`) files.
fn path_open_dir_rights(oflags: u16) -> u64 {
    let mut needed = rights::PATH_OPEN;
    if oflags & oflags::CREAT != 0 {
        needed |= rights::PATH_CREATE_FILE;
    }
    if oflags & oflags::TRUNC != 0 {
        needed |= rights::PATH_FILESTAT_SET_SIZE;
    }
    needed
}

/// Whether a `path_open` writes the file or lets it be written: it asks
/// for `FD_WRITE`, creates, truncates or appends. The directory must pass
/// `FD_WRITE` on for any of these.
fn may_write(rights_base: u64, oflags: u16, fdflags: u16) -> bool {
    rights_base & rights::FD_WRITE != 0
        || oflags & (oflags::CREAT | oflags::TRUNC) != 0
        || fdflags & fdflags::APPEND != 0
}

/// The host open options of a `path_open` whose descriptor may `read` and
/// `write` the file.
pub(crate) fn open_options(oflags: u16, read: bool, write: bool, follow: bool) -> OpenOptions {
    let mut opts = OpenOptions::new();
    opts.maybe_dir(true);
    if oflags & oflags::CREAT != 0 {
        if oflags & oflags::EXCL != 0 {
            opts.create_new(true);
        } else {
            opts.create(true);
        }
    }
    let truncate = oflags & oflags::TRUNC != 0;
    opts.truncate(truncate);
    // The host creates and truncates only through a writable descriptor;
    // the guest's descriptor still writes only if `write`.
    opts.write(write || truncate || oflags & oflags::CREAT != 0);
    // The OS needs some access mode; reads are refused later unless the
    // guest may read.
    opts.read(read || !write);
    opts.follow(if follow {
        FollowSymlinks::Yes
    } else {
        FollowSymlinks::No
    });
    opts
}

/// The rights of what `path_open` opened: those asked for, within what the
/// directory passes on and what the kind of descriptor supports.
fn opened_rights(
    is_dir: bool,
    rights_base: u64,
    rights_inheriting: u64,
    parent_inheriting: u64,
) -> (u64, u64) {
    let (kind_base, kind_inheriting) = if is_dir {
        (rights::DIR_BASE, rights::DIR_INHERITING)
    } else {
        (rights::FILE_BASE | rights::FD_READ | rights::FD_WRITE, 0)
    };
    (
        rights_base & parent_inheriting & kind_base,
        rights_inheriting & parent_inheriting & kind_inheriting,
    )
}

/// The host status flags (`O_NONBLOCK`, `O_APPEND`) of `fdflags`, set on
/// the file once it is open: the host's open refuses `O_APPEND` with
/// `O_TRUNC` (which POSIX allows), and as a flag of its own it needs no
/// writable descriptor (writes still need `FD_WRITE`).
fn status_flags(fdflags: u16) -> i32 {
    let mut status = 0;
    if fdflags & fdflags::NONBLOCK != 0 {
        status |= libc::O_NONBLOCK;
    }
    if fdflags & fdflags::APPEND != 0 {
        status |= libc::O_APPEND;
    }
    status
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
    let target = ctx
        .dir_with(fd, rights::PATH_READLINK)?
        .read_link_contents(&path)?;
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
    Ok(ctx
        .dir_with(fd, rights::PATH_REMOVE_DIRECTORY)?
        .remove_dir(path)?)
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
    let old_dir = ctx.dir_with(fd, rights::PATH_RENAME_SOURCE)?.try_clone()?;
    let new_dir = ctx.dir_with(new_fd, rights::PATH_RENAME_TARGET)?;
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
    Ok(ctx
        .dir_with(fd, rights::PATH_SYMLINK)?
        .symlink(old_path, new_path)?)
}

pub fn path_unlink_file(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    path: u32,
    len: u32,
) -> WasiResult {
    let path = mem.path(path, len)?;
    Ok(ctx
        .dir_with(fd, rights::PATH_UNLINK_FILE)?
        .remove_file_or_symlink(path)?)
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
