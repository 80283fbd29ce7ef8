/*
 * static.c -- WAGI handler that serves files from the preopened /static.
 *
 * The file is "/static" + PATH_INFO. A PATH_INFO containing ".." gets
 * "Status: 400 Bad Request". A regular file that opens is sent with a
 * Content-Type by extension (.html text/html, .txt text/plain, .json
 * application/json, anything else application/octet-stream); anything else
 * (missing, a directory, no /static preopen) gets
 * "Status: 404 Not Found" with the body "not found\n".
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *content_type(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (!dot)
        return "application/octet-stream";
    if (strcmp(dot, ".html") == 0)
        return "text/html";
    if (strcmp(dot, ".txt") == 0)
        return "text/plain";
    if (strcmp(dot, ".json") == 0)
        return "application/json";
    return "application/octet-stream";
}

static int finish(void) { return fflush(stdout) == 0 ? 0 : 1; }

int main(void) {
    const char *info = getenv("PATH_INFO");
    if (!info)
        info = "";
    if (strstr(info, "..")) {
        fputs("Status: 400 Bad Request\nContent-Type: text/plain\n\nbad request\n", stdout);
        return finish();
    }

    size_t n = strlen("/static/") + strlen(info) + 1;
    char *path = malloc(n);
    if (!path)
        return 1;
    snprintf(path, n, "/static%s%s", info[0] == '/' ? "" : "/", info);

    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        fputs("Status: 404 Not Found\nContent-Type: text/plain\n\nnot found\n", stdout);
        return finish();
    }

    printf("Content-Type: %s\n\n", content_type(path));
    static char buf[64 * 1024];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0) {
            perror("static: read");
            exit(1);
        }
        if (r == 0)
            break;
        if (fwrite(buf, 1, (size_t)r, stdout) != (size_t)r) {
            perror("static: writing stdout");
            exit(1);
        }
    }
    close(fd);
    free(path);
    return finish();
}
