/*
 * files.c -- checks file and directory operations inside a preopened
 * directory: path_open (create, excl, append, trunc), fd_read, fd_write,
 * fd_pread, fd_pwrite, fd_seek, fd_tell, fd_filestat_get,
 * fd_filestat_set_size, fd_sync, path_rename, path_create_directory,
 * fd_readdir (names and file types), path_symlink, path_readlink,
 * path_filestat_get (with and without following symlinks), path_unlink_file,
 * path_remove_directory, and the errno values ENOENT, EEXIST and ENOTEMPTY.
 *
 * Run: an EMPTY host directory preopened at guest path /sandbox;
 *      guest argv = files. No env, no stdin needed.
 *      Everything it creates is removed again, so the directory is empty
 *      afterwards when the program succeeds.
 * Expected: files.stdout.expected, empty stderr, exit 0.
 * Failure: a call that should succeed but fails prints
 *   "files: <step>: <strerror(errno)>" to stderr and exits 1 at once; an
 *   observed value that differs from the expected one is still printed to
 *   stdout, is reported as "files: <step>: got ..., want ..." on stderr,
 *   and makes the exit status 1 at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errname.h"

static int mismatches;

static void die(const char *step) {
    fprintf(stderr, "files: %s: %s\n", step, strerror(errno));
    exit(1);
}

/* Prints a byte string C-style quoted, escaping newlines. */
static void print_quoted(const char *s, size_t n) {
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n')
            fputs("\\n", stdout);
        else if (s[i] == '"' || s[i] == '\\')
            printf("\\%c", s[i]);
        else
            putchar(s[i]);
    }
    putchar('"');
}

static void want_str(const char *step, const char *got, size_t n, const char *want) {
    printf("%s: ", step);
    print_quoted(got, n);
    putchar('\n');
    if (n != strlen(want) || memcmp(got, want, n) != 0) {
        fprintf(stderr, "files: %s: got %.*s, want %s\n", step, (int)n, got, want);
        mismatches++;
    }
}

static void want_num(const char *step, long long got, long long want) {
    printf("%s: %lld\n", step, got);
    if (got != want) {
        fprintf(stderr, "files: %s: got %lld, want %lld\n", step, got, want);
        mismatches++;
    }
}

static void want_text(const char *step, const char *got, const char *want) {
    printf("%s: %s\n", step, got);
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "files: %s: got %s, want %s\n", step, got, want);
        mismatches++;
    }
}

/* For a call that must fail: prints the errno name it failed with. */
static void want_errno(const char *step, int rc, int want) {
    if (rc >= 0) {
        printf("%s: unexpectedly succeeded\n", step);
        fprintf(stderr, "files: %s: succeeded, want %s\n", step, errname(want));
        mismatches++;
        return;
    }
    want_text(step, errname(errno), errname(want));
}

static void ok(const char *step, int rc) {
    if (rc < 0)
        die(step);
    printf("%s: ok\n", step);
}

static const char *type_name(mode_t m) {
    if (S_ISREG(m)) return "regular";
    if (S_ISDIR(m)) return "directory";
    if (S_ISLNK(m)) return "symlink";
    return "other";
}

static const char *dtype_name(unsigned char t) {
    switch (t) {
    case DT_REG: return "regular";
    case DT_DIR: return "directory";
    case DT_LNK: return "symlink";
    case DT_UNKNOWN: return "unknown";
    default: return "other";
    }
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists a directory sorted by name, skipping "." and "..". Returns the
 * number of entries. */
static int list_dir(const char *path) {
    char *lines[64];
    int n = 0;
    DIR *d = opendir(path);
    if (!d)
        die("opendir");
    printf("listing %s:\n", path);
    errno = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (n == 64) {
            fprintf(stderr, "files: listing %s: too many entries\n", path);
            exit(1);
        }
        size_t len = strlen(e->d_name) + 32;
        lines[n] = malloc(len);
        if (!lines[n])
            die("malloc");
        snprintf(lines[n], len, "%s %s", e->d_name, dtype_name(e->d_type));
        n++;
        errno = 0;
    }
    if (errno)
        die("readdir");
    if (closedir(d) != 0)
        die("closedir");
    qsort(lines, n, sizeof lines[0], cmp_names);
    if (n == 0)
        puts("  (empty)");
    for (int i = 0; i < n; i++) {
        printf("  %s\n", lines[i]);
        free(lines[i]);
    }
    return n;
}

static void write_file(const char *step, const char *path, const char *mode, const char *text) {
    FILE *f = fopen(path, mode);
    if (!f)
        die(step);
    size_t n = fwrite(text, 1, strlen(text), f);
    if (n != strlen(text) || fclose(f) != 0)
        die(step);
    want_num(step, (long long)n, (long long)strlen(text));
}

static void read_file(const char *step, const char *path, const char *want) {
    char buf[256];
    FILE *f = fopen(path, "r");
    if (!f)
        die(step);
    size_t n = fread(buf, 1, sizeof buf, f);
    if (ferror(f) || fclose(f) != 0)
        die(step);
    want_str(step, buf, n, want);
}

int main(void) {
    struct stat st;
    char buf[256];
    ssize_t n;

    if (list_dir("/sandbox") != 0) {
        fprintf(stderr, "files: /sandbox must be empty at start\n");
        return 1;
    }

    /* Create, write, read back, append. */
    write_file("write a.txt", "/sandbox/a.txt", "w", "hello\nworld\n");
    read_file("read a.txt", "/sandbox/a.txt", "hello\nworld\n");
    write_file("append a.txt", "/sandbox/a.txt", "a", "more\n");
    read_file("read a.txt", "/sandbox/a.txt", "hello\nworld\nmore\n");

    /* lseek / read on a raw descriptor. */
    int fd = open("/sandbox/a.txt", O_RDWR);
    if (fd < 0)
        die("open a.txt O_RDWR");
    want_num("lseek SEEK_SET 6", lseek(fd, 6, SEEK_SET), 6);
    n = read(fd, buf, 5);
    if (n < 0)
        die("read 5");
    want_str("read 5", buf, n, "world");
    want_num("lseek SEEK_CUR 0", lseek(fd, 0, SEEK_CUR), 11);
    want_num("lseek SEEK_END 0", lseek(fd, 0, SEEK_END), 17);
    want_num("lseek SEEK_END -5", lseek(fd, -5, SEEK_END), 12);
    n = read(fd, buf, sizeof buf);
    if (n < 0)
        die("read rest");
    want_str("read rest", buf, n, "more\n");
    n = read(fd, buf, sizeof buf);
    if (n < 0)
        die("read at eof");
    want_num("read at eof", n, 0);

    /* fstat, ftruncate, pwrite, pread, fsync. */
    if (fstat(fd, &st) != 0)
        die("fstat");
    want_num("fstat size", st.st_size, 17);
    want_text("fstat type", type_name(st.st_mode), "regular");
    ok("ftruncate 5", ftruncate(fd, 5));
    if (fstat(fd, &st) != 0)
        die("fstat after ftruncate");
    want_num("fstat size", st.st_size, 5);
    n = pwrite(fd, "J", 1, 0);
    if (n < 0)
        die("pwrite");
    want_num("pwrite 1 at 0", n, 1);
    n = pread(fd, buf, sizeof buf, 1);
    if (n < 0)
        die("pread");
    want_str("pread at 1", buf, n, "ello");
    ok("fsync", fsync(fd));
    if (close(fd) != 0)
        die("close");
    read_file("read a.txt", "/sandbox/a.txt", "Jello");

    /* fseek / ftell through stdio. */
    FILE *f = fopen("/sandbox/a.txt", "r");
    if (!f)
        die("fopen a.txt");
    if (fseek(f, -3, SEEK_END) != 0)
        die("fseek");
    want_num("fseek SEEK_END -3, ftell", ftell(f), 2);
    if (!fgets(buf, sizeof buf, f))
        die("fgets");
    want_str("fgets", buf, strlen(buf), "llo");
    want_num("ftell", ftell(f), 5);
    fclose(f);

    /* O_TRUNC together with O_APPEND (POSIX allows it): the file is
     * truncated, and every write appends, wherever the offset is. */
    write_file("write t.txt", "/sandbox/t.txt", "w", "old contents\n");
    fd = open("/sandbox/t.txt", O_CREAT | O_TRUNC | O_WRONLY | O_APPEND, 0644);
    if (fd < 0)
        die("open t.txt O_CREAT|O_TRUNC|O_WRONLY|O_APPEND");
    want_num("write ab", write(fd, "ab", 2), 2);
    want_num("lseek SEEK_SET 0", lseek(fd, 0, SEEK_SET), 0);
    want_num("write cd after seeking to 0", write(fd, "cd", 2), 2);
    want_num("F_GETFL has O_APPEND", (fcntl(fd, F_GETFL) & O_APPEND) != 0, 1);
    if (close(fd) != 0)
        die("close t.txt");
    read_file("read t.txt", "/sandbox/t.txt", "abcd");
    ok("unlink t.txt", unlink("/sandbox/t.txt"));

    /* Rename. */
    ok("rename a.txt b.txt", rename("/sandbox/a.txt", "/sandbox/b.txt"));
    want_errno("stat a.txt", stat("/sandbox/a.txt", &st), ENOENT);
    if (stat("/sandbox/b.txt", &st) != 0)
        die("stat b.txt");
    want_text("stat b.txt type", type_name(st.st_mode), "regular");
    want_num("stat b.txt size", st.st_size, 5);

    /* Expected failures. */
    want_errno("open missing.txt", open("/sandbox/missing.txt", O_RDONLY), ENOENT);
    want_errno("open b.txt O_CREAT|O_EXCL",
               open("/sandbox/b.txt", O_WRONLY | O_CREAT | O_EXCL, 0644), EEXIST);

    /* Subdirectory. */
    ok("mkdir sub", mkdir("/sandbox/sub", 0755));
    want_errno("mkdir sub again", mkdir("/sandbox/sub", 0755), EEXIST);
    write_file("write sub/c.txt", "/sandbox/sub/c.txt", "w", "c\n");
    if (stat("/sandbox/sub", &st) != 0)
        die("stat sub");
    want_text("stat sub type", type_name(st.st_mode), "directory");

    /* Symlink. */
    ok("symlink link -> b.txt", symlink("b.txt", "/sandbox/link"));
    n = readlink("/sandbox/link", buf, sizeof buf);
    if (n < 0)
        die("readlink link");
    want_str("readlink link", buf, n, "b.txt");
    if (lstat("/sandbox/link", &st) != 0)
        die("lstat link");
    want_text("lstat link type", type_name(st.st_mode), "symlink");
    if (stat("/sandbox/link", &st) != 0)
        die("stat link");
    want_text("stat link type", type_name(st.st_mode), "regular");
    want_num("stat link size", st.st_size, 5);
    read_file("read link", "/sandbox/link", "Jello");

    /* Listings. */
    list_dir("/sandbox");
    list_dir("/sandbox/sub");

    /* Clean up. */
    want_errno("rmdir sub (not empty)", rmdir("/sandbox/sub"), ENOTEMPTY);
    ok("unlink link", unlink("/sandbox/link"));
    ok("unlink sub/c.txt", unlink("/sandbox/sub/c.txt"));
    ok("rmdir sub", rmdir("/sandbox/sub"));
    ok("unlink b.txt", unlink("/sandbox/b.txt"));
    if (list_dir("/sandbox") != 0) {
        fprintf(stderr, "files: /sandbox not empty after cleanup\n");
        mismatches++;
    }

    if (mismatches) {
        printf("files FAILED (%d mismatches)\n", mismatches);
        return 1;
    }
    puts("files ok");
    return 0;
}
