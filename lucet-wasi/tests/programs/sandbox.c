/*
 * sandbox.c -- checks that a guest cannot reach outside its preopened
 * directory: through "..", absolute paths, a directory descriptor, or
 * symlinks it creates itself (absolute and relative targets).
 *
 * Run: a host directory preopened at guest path /sandbox; guest argv =
 *      sandbox. No env, no stdin needed. For attempts 3, 5 and 9 to be
 *      meaningful (i.e. to succeed if the sandbox were broken), the host
 *      should put a readable file named "x" in the PARENT of the host
 *      directory that is preopened as /sandbox. /etc/passwd is used as the
 *      host target of attempts 1, 2, 6, 10.
 *
 * Output: exactly 12 lines on stdout, one per attempt, in order:
 *   escape N: blocked (ERRNAME: strerror) [what was tried]
 * or
 *   escape N: OPENED [what was tried]
 * The errno name varies with how the attempt was refused (wasi-libc refuses
 * some itself, the runtime refuses the rest, e.g. with ENOTCAPABLE or EPERM),
 * so a test should only assert that every line starts with
 * "escape N: blocked (". If the runtime refuses to create a symlink with an
 * absolute or escaping target, the attempts that need it print
 * "blocked (symlink refused: ERRNAME: strerror)". To exercise following
 * such symlinks anyway, the host may create them in the preopened
 * directory beforehand: to_etc -> /etc, to_up -> ../.., to_x -> ../x.
 * A symlink already there with exactly that target is used and left in
 * place; anything else under those names is replaced.
 * Exit status: 0 if every attempt was blocked, 1 otherwise (or on a setup
 * error, reported on stderr). Files it creates in /sandbox are removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errname.h"

static int attempt;
static int opened;

/* rc < 0 means the attempt failed (blocked); otherwise it got through. */
static void report(int rc, const char *what) {
    attempt++;
    if (rc < 0) {
        int e = errno;
        printf("escape %d: blocked (%s: %s) [%s]\n", attempt, errname(e), strerror(e), what);
    } else {
        printf("escape %d: OPENED [%s]\n", attempt, what);
        opened++;
    }
}

static void try_open(const char *path, int flags, const char *what) {
    int fd = open(path, flags);
    report(fd, what);
    if (fd >= 0)
        close(fd);
}

static void try_openat(int dirfd, const char *path, int flags, const char *what) {
    int fd = openat(dirfd, path, flags);
    report(fd, what);
    if (fd >= 0)
        close(fd);
}

/* Symlinks this program created (and so removes again). */
static const char *created[4];
static int ncreated;

/* Makes /sandbox/NAME a symlink to TARGET; returns 0, or the errno that
 * path_symlink failed with. A symlink with that exact target that is
 * already there (put there by the host, to exercise following it even when
 * the runtime refuses to let the guest create it) is used and kept. */
static int make_link(const char *target, const char *name) {
    static char paths[4][64];
    char *path = paths[ncreated];
    char buf[64];
    snprintf(path, sizeof paths[0], "/sandbox/%s", name);
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    if (n >= 0) {
        buf[n] = '\0';
        if (strcmp(buf, target) == 0)
            return 0;
    }
    unlink(path);
    if (symlink(target, path) != 0)
        return errno;
    created[ncreated++] = path;
    return 0;
}

static void symlink_refused(int e, const char *what) {
    attempt++;
    printf("escape %d: blocked (symlink refused: %s: %s) [%s]\n", attempt, errname(e), strerror(e), what);
}

int main(void) {
    struct stat st;

    /* 1-3: plain paths; wasi-libc resolves them against the preopens. */
    try_open("/sandbox/../etc/passwd", O_RDONLY, "open /sandbox/../etc/passwd");
    try_open("/etc/passwd", O_RDONLY, "open /etc/passwd");
    try_open("../x", O_RDONLY, "open ../x");

    /* 4-5: ".." relative to a directory descriptor goes to the runtime as is. */
    int dfd = open("/sandbox", O_RDONLY | O_DIRECTORY);
    if (dfd < 0) {
        fprintf(stderr, "sandbox: open /sandbox: %s\n", strerror(errno));
        return 1;
    }
    try_openat(dfd, "..", O_RDONLY | O_DIRECTORY, "openat(/sandbox fd, \"..\")");
    try_openat(dfd, "../x", O_RDONLY, "openat(/sandbox fd, \"../x\")");
    close(dfd);

    /* 6-7, 10: symlink to an absolute path. */
    int e_etc = make_link("/etc", "to_etc");
    if (e_etc)
        symlink_refused(e_etc, "open /sandbox/to_etc/passwd, to_etc -> /etc");
    else
        try_open("/sandbox/to_etc/passwd", O_RDONLY, "open /sandbox/to_etc/passwd, to_etc -> /etc");
    if (e_etc)
        symlink_refused(e_etc, "open /sandbox/to_etc, to_etc -> /etc");
    else
        try_open("/sandbox/to_etc", O_RDONLY | O_DIRECTORY, "open /sandbox/to_etc, to_etc -> /etc");

    /* 8: symlink to "../..". */
    int e_up = make_link("../..", "to_up");
    if (e_up)
        symlink_refused(e_up, "open /sandbox/to_up, to_up -> ../..");
    else
        try_open("/sandbox/to_up", O_RDONLY | O_DIRECTORY, "open /sandbox/to_up, to_up -> ../..");

    /* 9: symlink to a file in the parent directory. */
    int e_x = make_link("../x", "to_x");
    if (e_x)
        symlink_refused(e_x, "open /sandbox/to_x, to_x -> ../x");
    else
        try_open("/sandbox/to_x", O_RDONLY, "open /sandbox/to_x, to_x -> ../x");

    /* 10: stat (path_filestat_get, following symlinks) through to_etc. */
    if (e_etc)
        symlink_refused(e_etc, "stat /sandbox/to_etc/passwd");
    else
        report(stat("/sandbox/to_etc/passwd", &st), "stat /sandbox/to_etc/passwd");

    /* 11: create a directory outside. */
    int rc = mkdir("/sandbox/../escaped_dir", 0755);
    report(rc, "mkdir /sandbox/../escaped_dir");
    if (rc == 0)
        rmdir("/sandbox/../escaped_dir");

    /* 12: rename a file out of the sandbox. */
    int fd = open("/sandbox/victim", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        fprintf(stderr, "sandbox: create /sandbox/victim: %s\n", strerror(errno));
        return 1;
    }
    close(fd);
    rc = rename("/sandbox/victim", "/sandbox/../victim_escaped");
    report(rc, "rename /sandbox/victim -> /sandbox/../victim_escaped");
    if (rc == 0)
        rename("/sandbox/../victim_escaped", "/sandbox/victim");

    /* Clean up. */
    int cleanup_failed = 0;
    created[ncreated++] = "/sandbox/victim";
    for (int i = 0; i < ncreated; i++) {
        if (unlink(created[i]) != 0) {
            fprintf(stderr, "sandbox: unlink %s: %s\n", created[i], strerror(errno));
            cleanup_failed = 1;
        }
    }
    return opened || cleanup_failed ? 1 : 0;
}
