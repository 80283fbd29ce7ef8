/*
 * errname.h -- shared by files.c and sandbox.c (not a program of its own).
 *
 * errname(e) returns the symbolic name of a WASI errno value ("ENOENT",
 * "ENOTCAPABLE", ...), so that programs can print errors in a form that
 * does not depend on libc's strerror wording.
 */
#ifndef LUCET_WASI_TEST_ERRNAME_H
#define LUCET_WASI_TEST_ERRNAME_H

#include <errno.h>
#include <stdio.h>

static const char *errname(int e) {
    static char unknown[32];
    switch (e) {
#define N(x) case x: return #x;
    N(E2BIG) N(EACCES) N(EADDRINUSE) N(EADDRNOTAVAIL) N(EAFNOSUPPORT)
    N(EAGAIN) N(EALREADY) N(EBADF) N(EBADMSG) N(EBUSY) N(ECANCELED)
    N(ECHILD) N(ECONNABORTED) N(ECONNREFUSED) N(ECONNRESET) N(EDEADLK)
    N(EDESTADDRREQ) N(EDOM) N(EDQUOT) N(EEXIST) N(EFAULT) N(EFBIG)
    N(EHOSTUNREACH) N(EIDRM) N(EILSEQ) N(EINPROGRESS) N(EINTR) N(EINVAL)
    N(EIO) N(EISCONN) N(EISDIR) N(ELOOP) N(EMFILE) N(EMLINK) N(EMSGSIZE)
    N(EMULTIHOP) N(ENAMETOOLONG) N(ENETDOWN) N(ENETRESET) N(ENETUNREACH)
    N(ENFILE) N(ENOBUFS) N(ENODEV) N(ENOENT) N(ENOEXEC) N(ENOLCK)
    N(ENOLINK) N(ENOMEM) N(ENOMSG) N(ENOPROTOOPT) N(ENOSPC) N(ENOSYS)
    N(ENOTCONN) N(ENOTDIR) N(ENOTEMPTY) N(ENOTRECOVERABLE) N(ENOTSOCK)
    N(ENOTSUP) N(ENOTTY) N(ENXIO) N(EOVERFLOW) N(EOWNERDEAD) N(EPERM)
    N(EPIPE) N(EPROTO) N(EPROTONOSUPPORT) N(EPROTOTYPE) N(ERANGE) N(EROFS)
    N(ESPIPE) N(ESRCH) N(ESTALE) N(ETIMEDOUT) N(ETXTBSY) N(EXDEV)
#ifdef ENOTCAPABLE
    N(ENOTCAPABLE)
#endif
#undef N
    case 0: return "0";
    default:
        snprintf(unknown, sizeof unknown, "errno%d", e);
        return unknown;
    }
}

#endif
