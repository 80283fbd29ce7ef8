/*
 * garbage.c -- WAGI handler with malformed CGI output; QUERY_STRING picks:
 *   noheader (also when empty, unset or unknown): the line
 *             "this is not a CGI response" with no header block and no
 *             blank line
 *   crlf:      a header value with a bare CR that smuggles a second header:
 *             "X-Injected: a\rSet-Cookie: evil=1"
 *   badname:   a header name with spaces: "Bad Header Name: x"
 *   badstatus: "Status: abc"
 * Writes "garbage: mode=MODE" (the mode used) to stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    const char *mode = getenv("QUERY_STRING");
    const char *out;
    if (mode && strcmp(mode, "crlf") == 0)
        out = "Content-Type: text/plain\nX-Injected: a\rSet-Cookie: evil=1\n\nbody\n";
    else if (mode && strcmp(mode, "badname") == 0)
        out = "Bad Header Name: x\n\nbody\n";
    else if (mode && strcmp(mode, "badstatus") == 0)
        out = "Status: abc\n\nbody\n";
    else {
        mode = "noheader";
        out = "this is not a CGI response\n";
    }
    fprintf(stderr, "garbage: mode=%s\n", mode);
    fputs(out, stdout);
    return fflush(stdout) == 0 ? 0 : 1;
}
