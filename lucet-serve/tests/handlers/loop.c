/*
 * loop.c -- WAGI handler that never finishes.
 *
 * Prints nothing and increments a volatile counter forever, so the compiler
 * cannot remove the loop. The server must stop it with its time limit.
 */
static volatile unsigned long long counter;

int main(void) {
    for (;;)
        counter++;
}
