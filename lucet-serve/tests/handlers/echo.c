/*
 * echo.c -- WAGI handler that reports what it was given.
 *
 * Prints "Content-Type: text/plain" and a blank line, then:
 *   argc=N
 *   argv[i]=VALUE            for each i >= 1 (argv[0] is skipped)
 *   NAME=VALUE or NAME       for each CGI variable below (and GREETING),
 *                            in this order
 *                            (NAME alone, without '=', when it is unset)
 *   NAME=VALUE               for every HTTP_* variable, sorted by name
 *   body-length=N            bytes read from stdin until EOF
 *   body=BYTES               the raw body, no newline added after it
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static const char *const cgi_vars[] = {
    "REQUEST_METHOD", "PATH_INFO",       "QUERY_STRING",    "CONTENT_TYPE",
    "CONTENT_LENGTH", "SERVER_NAME",     "SERVER_PORT",     "SERVER_PROTOCOL",
    "REMOTE_ADDR",    "SCRIPT_NAME",     "GATEWAY_INTERFACE", "X_MATCHED_ROUTE",
    "X_FULL_URL",
    "GREETING", /* set by the tests' route configuration */
};

static int cmp_env(const void *a, const void *b) {
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    /* Compare the names only (up to '='), so that "HTTP_A=..." sorts
     * before "HTTP_AB=..." whatever the values are. */
    size_t nx = strcspn(x, "="), ny = strcspn(y, "=");
    size_t n = nx < ny ? nx : ny;
    int c = memcmp(x, y, n);
    if (c != 0)
        return c;
    return (nx > ny) - (nx < ny);
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

int main(int argc, char **argv) {
    /* Read the whole body first. */
    size_t len = 0, cap = 65536;
    char *body = malloc(cap);
    if (!body)
        die("echo: malloc");
    for (;;) {
        if (len == cap) {
            cap *= 2;
            body = realloc(body, cap);
            if (!body)
                die("echo: realloc");
        }
        size_t n = fread(body + len, 1, cap - len, stdin);
        len += n;
        if (n == 0) {
            if (ferror(stdin))
                die("echo: reading stdin");
            break;
        }
    }

    printf("Content-Type: text/plain\n\n");
    printf("argc=%d\n", argc);
    for (int i = 1; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);

    for (size_t i = 0; i < sizeof cgi_vars / sizeof cgi_vars[0]; i++) {
        const char *v = getenv(cgi_vars[i]);
        if (v)
            printf("%s=%s\n", cgi_vars[i], v);
        else
            printf("%s\n", cgi_vars[i]);
    }

    size_t nhttp = 0;
    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, "HTTP_", 5) == 0)
            nhttp++;
    if (nhttp > 0) {
        const char **http = malloc(nhttp * sizeof *http);
        if (!http)
            die("echo: malloc");
        size_t k = 0;
        for (char **e = environ; *e; e++)
            if (strncmp(*e, "HTTP_", 5) == 0)
                http[k++] = *e;
        qsort(http, nhttp, sizeof *http, cmp_env);
        for (size_t i = 0; i < nhttp; i++)
            printf("%s\n", http[i]);
        free(http);
    }

    printf("body-length=%zu\n", len);
    fputs("body=", stdout);
    if (len > 0 && fwrite(body, 1, len, stdout) != len)
        die("echo: writing stdout");
    if (fflush(stdout) != 0)
        die("echo: writing stdout");
    free(body);
    return 0;
}
