/*
 * Leaks a linker on purpose: tests/c_api.rs checks that Valgrind and
 * LeakSanitizer, as configured there, report it (so that their silence on
 * the real tests means something).
 */
#include "lucet.h"

#include <stdio.h>

int main(void) {
    lucet_linker *linker = NULL;
    if (lucet_linker_new(&linker) != LUCET_OK) return 1;
    printf("leaked %p\n", (void *)linker);
    linker = NULL;
    return 0;
}
