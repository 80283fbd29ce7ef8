/*
 * status.c -- WAGI handler that sets the status and extra headers.
 *
 * QUERY_STRING "redirect": only "Location: /elsewhere" and a blank line (no
 * Status line, no body; the server should answer 302 Found).
 * Anything else: "Status: 201 Created", "X-Handler: status", two Set-Cookie
 * headers (a=1, b=2), "Content-Type: application/json", blank line, and the
 * body {"created":true} with a newline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    const char *q = getenv("QUERY_STRING");
    if (q && strcmp(q, "redirect") == 0) {
        fputs("Location: /elsewhere\n\n", stdout);
    } else {
        fputs("Status: 201 Created\n"
              "X-Handler: status\n"
              "Set-Cookie: a=1\n"
              "Set-Cookie: b=2\n"
              "Content-Type: application/json\n"
              "\n"
              "{\"created\":true}\n",
              stdout);
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
