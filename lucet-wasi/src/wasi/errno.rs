//! Host errors to WASI errno values.

use std::io;

use super::types::Errno;

/// The WASI errno for a host `errno` value.
pub fn from_raw_os_error(code: i32) -> Option<Errno> {
    Some(match code {
        libc::EPERM => Errno::Perm,
        libc::ENOENT => Errno::Noent,
        libc::ESRCH => Errno::Srch,
        libc::EINTR => Errno::Intr,
        libc::EIO => Errno::Io,
        libc::ENXIO => Errno::Nxio,
        libc::E2BIG => Errno::TooBig,
        libc::ENOEXEC => Errno::Noexec,
        libc::EBADF => Errno::Badf,
        libc::ECHILD => Errno::Child,
        libc::EAGAIN => Errno::Again,
        libc::ENOMEM => Errno::Nomem,
        libc::EACCES => Errno::Acces,
        libc::EFAULT => Errno::Fault,
        libc::EBUSY => Errno::Busy,
        libc::EEXIST => Errno::Exist,
        libc::EXDEV => Errno::Xdev,
        libc::ENODEV => Errno::Nodev,
        libc::ENOTDIR => Errno::Notdir,
        libc::EISDIR => Errno::Isdir,
        libc::EINVAL => Errno::Inval,
        libc::ENFILE => Errno::Nfile,
        libc::EMFILE => Errno::Mfile,
        libc::ENOTTY => Errno::Notty,
        libc::ETXTBSY => Errno::Txtbsy,
        libc::EFBIG => Errno::Fbig,
        libc::ENOSPC => Errno::Nospc,
        libc::ESPIPE => Errno::Spipe,
        libc::EROFS => Errno::Rofs,
        libc::EMLINK => Errno::Mlink,
        libc::EPIPE => Errno::Pipe,
        libc::EDOM => Errno::Dom,
        libc::ERANGE => Errno::Range,
        libc::EDEADLK => Errno::Deadlk,
        libc::ENAMETOOLONG => Errno::Nametoolong,
        libc::ENOLCK => Errno::Nolck,
        libc::ENOSYS => Errno::Nosys,
        libc::ENOTEMPTY => Errno::Notempty,
        libc::ELOOP => Errno::Loop,
        libc::ENOMSG => Errno::Nomsg,
        libc::EIDRM => Errno::Idrm,
        libc::ENOLINK => Errno::Nolink,
        libc::EPROTO => Errno::Proto,
        libc::EMULTIHOP => Errno::Multihop,
        libc::EBADMSG => Errno::Badmsg,
        libc::EOVERFLOW => Errno::Overflow,
        libc::EILSEQ => Errno::Ilseq,
        libc::ENOTSOCK => Errno::Notsock,
        libc::EDESTADDRREQ => Errno::Destaddrreq,
        libc::EMSGSIZE => Errno::Msgsize,
        libc::EPROTOTYPE => Errno::Prototype,
        libc::ENOPROTOOPT => Errno::Noprotoopt,
        libc::EPROTONOSUPPORT => Errno::Protonosupport,
        libc::EOPNOTSUPP => Errno::Notsup,
        libc::EAFNOSUPPORT => Errno::Afnosupport,
        libc::EADDRINUSE => Errno::Addrinuse,
        libc::EADDRNOTAVAIL => Errno::Addrnotavail,
        libc::ENETDOWN => Errno::Netdown,
        libc::ENETUNREACH => Errno::Netunreach,
        libc::ENETRESET => Errno::Netreset,
        libc::ECONNABORTED => Errno::Connaborted,
        libc::ECONNRESET => Errno::Connreset,
        libc::ENOBUFS => Errno::Nobufs,
        libc::EISCONN => Errno::Isconn,
        libc::ENOTCONN => Errno::Notconn,
        libc::ETIMEDOUT => Errno::Timedout,
        libc::ECONNREFUSED => Errno::Connrefused,
        libc::EHOSTUNREACH => Errno::Hostunreach,
        libc::EALREADY => Errno::Already,
        libc::EINPROGRESS => Errno::Inprogress,
        libc::ESTALE => Errno::Stale,
        libc::EDQUOT => Errno::Dquot,
        libc::ECANCELED => Errno::Canceled,
        libc::EOWNERDEAD => Errno::Ownerdead,
        libc::ENOTRECOVERABLE => Errno::Notrecoverable,
        _ => return None,
    })
}

impl From<io::Error> for Errno {
    fn from(e: io::Error) -> Errno {
        if let Some(errno) = e.raw_os_error().and_then(from_raw_os_error) {
            return errno;
        }
        match e.kind() {
            io::ErrorKind::NotFound => Errno::Noent,
            // cap-std's refusal to follow a path out of the sandbox.
            io::ErrorKind::PermissionDenied => Errno::Perm,
            io::ErrorKind::AlreadyExists => Errno::Exist,
            io::ErrorKind::InvalidInput => Errno::Inval,
            io::ErrorKind::WouldBlock => Errno::Again,
            io::ErrorKind::Unsupported => Errno::Notsup,
            _ => Errno::Io,
        }
    }
}
