/*
 * Tests of the C API, run by tests/c_api.rs (also under Valgrind and
 * AddressSanitizer).
 *
 *   api_test DIR HEAP_ADDRESS_SPACE
 *
 * DIR holds api.lucet, fuel.lucet (compiled to count instructions) and
 * wasi.lucet, compiled from tests/wat/ for a heap address space (reservation
 * plus guard) of HEAP_ADDRESS_SPACE bytes. Prints "ok NAME" per test and
 * exits non-zero if any check failed.
 */
#define _POSIX_C_SOURCE 200809L

#include "lucet.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int checks, failures;
static const char *dir;
static uint64_t heap_space;

#define CHECK(cond)                                                              \
    do {                                                                         \
        checks++;                                                                \
        if (!(cond)) {                                                           \
            failures++;                                                          \
            fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n",        \
                    __FILE__, __LINE__, #cond, lucet_error_message());           \
        }                                                                        \
    } while (0)

/* Checks that `call` returns `expected`; evaluates to whether it did. */
#define EXPECT(call, expected) expect_((call), (expected), #call, __FILE__, __LINE__)
#define CHECK_OK(call) EXPECT(call, LUCET_OK)

static int expect_(lucet_error got, lucet_error expected, const char *what,
                   const char *file, int line) {
    checks++;
    if (got != expected) {
        failures++;
        fprintf(stderr, "%s:%d: %s returned %s, expected %s: %s\n", file, line,
                what, lucet_error_name(got), lucet_error_name(expected),
                lucet_error_message());
        return 0;
    }
    return 1;
}

static const char *path_of(const char *name) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

static lucet_val i32v(int32_t x) { return (lucet_val){.kind = LUCET_VALTYPE_I32, .of.i32 = x}; }
static lucet_val i64v(int64_t x) { return (lucet_val){.kind = LUCET_VALTYPE_I64, .of.i64 = x}; }
static lucet_val f32v(float x) { return (lucet_val){.kind = LUCET_VALTYPE_F32, .of.f32 = x}; }
static lucet_val f64v(double x) { return (lucet_val){.kind = LUCET_VALTYPE_F64, .of.f64 = x}; }

static lucet_region *new_region(size_t slots) {
    lucet_limits limits;
    lucet_region *region = NULL;
    CHECK_OK(lucet_limits_default(&limits));
    limits.heap_address_space_size = heap_space;
    CHECK_OK(lucet_region_create(slots, &limits, &region));
    return region;
}

/* ---- host functions of api.wat ------------------------------------------ */

/* Per-instance state, the instance's user data. */
struct host_state {
    lucet_instance *self;
    int unwound;              /* yields that returned LUCET_ERROR_UNWOUND */
    int after_terminate;      /* what lucet_vmctx_yield returned after terminate */
    int reenter_ok;
};

/* Shared by every instance: the user data of "count". */
struct counter {
    atomic_long total;
};
static atomic_int counters_freed;

static void free_counter(void *p) {
    atomic_fetch_add(&counters_freed, 1);
    free(p);
}

static void h_count(lucet_vmctx *vmctx, void *user_data, const lucet_val *args, size_t nargs,
                    lucet_val *results, size_t nresults) {
    struct counter *c = user_data;
    (void)vmctx;
    if (nargs != 1 || nresults != 1 || args[0].kind != LUCET_VALTYPE_I32 ||
        results[0].kind != LUCET_VALTYPE_I32) {
        abort();
    }
    results[0].of.i32 = (int32_t)(atomic_fetch_add(&c->total, args[0].of.i32) + args[0].of.i32);
}

static void h_yield(lucet_vmctx *vmctx, void *user_data, const lucet_val *args, size_t nargs,
                    lucet_val *results, size_t nresults) {
    struct host_state *st = lucet_vmctx_user_data(vmctx);
    uint64_t value = (uint64_t)args[0].of.i64, resumed = 0;
    bool has = false;
    (void)user_data, (void)nargs, (void)nresults;
    lucet_error e = lucet_vmctx_yield(vmctx, &value, &resumed, &has);
    if (e == LUCET_ERROR_UNWOUND) {
        st->unwound++;
        return;
    }
    results[0].of.i64 = e == LUCET_OK && has ? (int64_t)resumed : -1;
}

static void h_terminate(lucet_vmctx *vmctx, void *user_data, const lucet_val *args, size_t nargs,
                        lucet_val *results, size_t nresults) {
    struct host_state *st = lucet_vmctx_user_data(vmctx);
    (void)user_data, (void)nargs, (void)results, (void)nresults;
    lucet_vmctx_terminate(vmctx, (uint64_t)args[0].of.i64);
    lucet_vmctx_terminate(vmctx, 1); /* the first code is kept */
    st->after_terminate = lucet_vmctx_yield(vmctx, NULL, NULL, NULL);
}

/* sum_bytes(ptr, len): the sum of the bytes, or -1 if out of bounds. */
static void h_sum_bytes(lucet_vmctx *vmctx, void *user_data, const lucet_val *args,
                        size_t nargs, lucet_val *results, size_t nresults) {
    uint8_t *base;
    size_t size;
    uint64_t ptr = (uint32_t)args[0].of.i32, len = (uint32_t)args[1].of.i32;
    uint8_t probe[8];
    (void)user_data, (void)nargs, (void)nresults;
    if (lucet_vmctx_memory(vmctx, &base, &size) != LUCET_OK) {
        results[0].of.i32 = -2;
        return;
    }
    /* 64-bit arithmetic: ptr + len cannot wrap. */
    int in_bounds = ptr + len <= size;
    /* The checked copy agrees with the check above. */
    size_t n = len < sizeof probe ? (size_t)len : sizeof probe;
    lucet_error e = lucet_vmctx_memory_read(vmctx, ptr, probe, in_bounds ? n : (size_t)len);
    if ((e == LUCET_OK) != in_bounds ||
        (!in_bounds && e != LUCET_ERROR_MEMORY_OUT_OF_BOUNDS)) {
        results[0].of.i32 = -3;
        return;
    }
    if (!in_bounds) {
        results[0].of.i32 = -1;
        return;
    }
    int32_t sum = 0;
    for (uint64_t i = 0; i < len; i++) sum += base[ptr + i];
    results[0].of.i32 = sum;
}

static void h_bad_result(lucet_vmctx *vmctx, void *user_data, const lucet_val *args,
                         size_t nargs, lucet_val *results, size_t nresults) {
    (void)vmctx, (void)user_data, (void)args, (void)nargs, (void)nresults;
    results[0] = i64v(1); /* declared i32 */
}

static void h_reenter(lucet_vmctx *vmctx, void *user_data, const lucet_val *args, size_t nargs,
                      lucet_val *results, size_t nresults) {
    struct host_state *st = lucet_vmctx_user_data(vmctx);
    lucet_val a[2] = {i32v(1), i32v(2)}, r[1];
    lucet_run_result out;
    lucet_kill_switch *ks = NULL;
    (void)user_data, (void)args, (void)nargs, (void)nresults;
    int ok = lucet_instance_run(st->self, "add", a, 2, r, 1, &out) == LUCET_ERROR_INVALID_STATE;
    ok &= lucet_instance_reset(st->self) == LUCET_ERROR_INVALID_STATE;
    ok &= lucet_instance_kill_switch(st->self, &ks) == LUCET_ERROR_INVALID_STATE && ks == NULL;
    lucet_instance_free(st->self); /* refused: the instance is running */
    ok &= strstr(lucet_error_message(), "in use") != NULL;
    st->reenter_ok = ok;
    results[0].of.i32 = ok;
}

/* Exercises the globals (index space: the imported "offset" is 0, g is 1,
   g64 is 2, fixed is 3) and bounds of memory writes. Returns 1 if all
   behaved. */
static void h_globals(lucet_vmctx *vmctx, void *user_data, const lucet_val *args, size_t nargs,
                      lucet_val *results, size_t nresults) {
    lucet_val v;
    uint8_t *base;
    size_t size;
    uint8_t two[2] = {7, 9};
    int ok = 1;
    (void)user_data, (void)args, (void)nargs, (void)nresults;
    ok &= lucet_vmctx_global_get(vmctx, 2, &v) == LUCET_OK && v.kind == LUCET_VALTYPE_I64 &&
          v.of.i64 == 9;
    ok &= lucet_vmctx_global_get(vmctx, 0, &v) == LUCET_OK && v.of.i32 == 1234;
    v = i32v(42);
    ok &= lucet_vmctx_global_set(vmctx, 1, &v) == LUCET_OK;
    ok &= lucet_vmctx_global_set(vmctx, 3, &v) == LUCET_ERROR_TYPE_MISMATCH;
    v = i64v(42);
    ok &= lucet_vmctx_global_set(vmctx, 1, &v) == LUCET_ERROR_TYPE_MISMATCH;
    ok &= lucet_vmctx_global_get(vmctx, 99, &v) == LUCET_ERROR_INVALID_ARGUMENT;
    ok &= lucet_vmctx_global_get(vmctx, 0, NULL) == LUCET_ERROR_NULL_POINTER;
    ok &= lucet_vmctx_memory(vmctx, &base, &size) == LUCET_OK && size == 65536;
    ok &= lucet_vmctx_memory_write(vmctx, size - 1, two, 2) == LUCET_ERROR_MEMORY_OUT_OF_BOUNDS;
    ok &= lucet_vmctx_memory_write(vmctx, UINT64_MAX, two, 2) == LUCET_ERROR_MEMORY_OUT_OF_BOUNDS;
    ok &= lucet_vmctx_memory_read(vmctx, UINT64_MAX - 1, two, SIZE_MAX) ==
          LUCET_ERROR_MEMORY_OUT_OF_BOUNDS;
    ok &= lucet_vmctx_memory_write(vmctx, size - 2, two, 2) == LUCET_OK && base[size - 1] == 9;
    ok &= lucet_vmctx_memory_write(vmctx, 0, NULL, 1) == LUCET_ERROR_NULL_POINTER;
    ok &= lucet_vmctx_memory_write(vmctx, size, NULL, 0) == LUCET_OK;
    ok &= !lucet_vmctx_interrupted(vmctx);
    results[0].of.i32 = ok;
}

static void h_grow(lucet_vmctx *vmctx, void *user_data, const lucet_val *args, size_t nargs,
                   lucet_val *results, size_t nresults) {
    uint32_t old = 12345;
    (void)user_data, (void)nargs, (void)nresults;
    lucet_error e = lucet_vmctx_memory_grow(vmctx, (uint32_t)args[0].of.i32, &old);
    results[0].of.i32 = e == LUCET_OK ? (int32_t)old
                        : e == LUCET_ERROR_LIMITS_EXCEEDED ? -1
                                                           : -2;
}

/* Ten arguments: more than fit in the library's inline buffers. */
static void h_many(lucet_vmctx *vmctx, void *user_data, const lucet_val *args, size_t nargs,
                   lucet_val *results, size_t nresults) {
    int64_t sum = 0;
    (void)vmctx, (void)user_data, (void)nresults;
    for (size_t i = 0; i < nargs; i++) sum = sum * 2 + args[i].of.i32;
    results[0].of.i64 = sum;
}

static const lucet_valtype I32 = LUCET_VALTYPE_I32, I64 = LUCET_VALTYPE_I64;

/* A linker with every host import of api.wat, "count" using `c`. */
static lucet_linker *api_linker(struct counter *c) {
    lucet_linker *l = NULL;
    lucet_valtype two_i32[2] = {I32, I32};
    lucet_valtype ten_i32[10] = {I32, I32, I32, I32, I32, I32, I32, I32, I32, I32};
    lucet_val offset = i32v(1234);
    CHECK_OK(lucet_linker_new(&l));
    CHECK_OK(lucet_linker_define_func(l, "host", "count", &I32, 1, &I32, 1, h_count, c,
                                      free_counter));
    CHECK_OK(lucet_linker_define_func(l, "host", "yield", &I64, 1, &I64, 1, h_yield, NULL, NULL));
    CHECK_OK(lucet_linker_define_func(l, "host", "terminate", &I64, 1, NULL, 0, h_terminate, NULL,
                                      NULL));
    CHECK_OK(lucet_linker_define_func(l, "host", "sum_bytes", two_i32, 2, &I32, 1, h_sum_bytes,
                                      NULL, NULL));
    CHECK_OK(lucet_linker_define_func(l, "host", "bad_result", NULL, 0, &I32, 1, h_bad_result,
                                      NULL, NULL));
    CHECK_OK(lucet_linker_define_func(l, "host", "reenter", NULL, 0, &I32, 1, h_reenter, NULL,
                                      NULL));
    CHECK_OK(lucet_linker_define_func(l, "host", "globals", NULL, 0, &I32, 1, h_globals, NULL,
                                      NULL));
    CHECK_OK(lucet_linker_define_func(l, "host", "grow", &I32, 1, &I32, 1, h_grow, NULL, NULL));
    CHECK_OK(lucet_linker_define_func(l, "host", "many", ten_i32, 10, &I64, 1, h_many, NULL,
                                      NULL));
    CHECK_OK(lucet_linker_define_global(l, "host", "offset", &offset, false));
    return l;
}

/* Everything a test of api.wat needs. */
struct env {
    struct counter *counter;
    lucet_module *module;
    lucet_region *region;
};

static struct env env_new(size_t slots) {
    struct env e;
    e.counter = calloc(1, sizeof *e.counter);
    lucet_linker *l = api_linker(e.counter);
    e.module = NULL;
    CHECK_OK(lucet_module_load(path_of("api.lucet"), l, &e.module));
    lucet_linker_free(l); /* the module keeps what it needs */
    e.region = new_region(slots);
    return e;
}

static void env_free(struct env *e) {
    lucet_module_free(e->module);
    lucet_region_free(e->region);
}

static lucet_instance *instantiate(struct env *e, struct host_state *st) {
    lucet_instance_options opts;
    lucet_instance *inst = NULL;
    CHECK_OK(lucet_instance_options_init(&opts));
    opts.user_data = st;
    CHECK_OK(lucet_instance_new(e->region, e->module, &opts, &inst));
    if (st) st->self = inst;
    return inst;
}

/* Runs `name` expecting it to return one i32; returns it (or INT32_MIN). */
static int32_t run_i32(lucet_instance *inst, const char *name, const lucet_val *args, size_t n) {
    lucet_val r[1];
    lucet_run_result out;
    if (!CHECK_OK(lucet_instance_run(inst, name, args, n, r, 1, &out))) return INT32_MIN;
    CHECK(out.kind == LUCET_RUN_RETURNED);
    if (out.kind != LUCET_RUN_RETURNED) {
        fprintf(stderr, "  %s: %s\n", name, out.message);
        return INT32_MIN;
    }
    CHECK(out.results_len == 1 && r[0].kind == LUCET_VALTYPE_I32);
    return r[0].of.i32;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_load_errors(void) {
    lucet_linker *l = NULL;
    lucet_module *m = (lucet_module *)&m; /* must be set to NULL on failure */
    CHECK_OK(lucet_linker_new(&l));

    EXPECT(lucet_module_load(path_of("missing.lucet"), l, &m), LUCET_ERROR_IO);
    CHECK(m == NULL);
    CHECK(strstr(lucet_error_message(), "missing.lucet") != NULL);

    EXPECT(lucet_module_load(path_of("not_a_module.txt"), l, &m), LUCET_ERROR_INVALID_MODULE);
    CHECK(strlen(lucet_error_message()) > 0);

    /* api.lucet imports host functions this linker lacks. */
    EXPECT(lucet_module_load(path_of("api.lucet"), l, &m), LUCET_ERROR_UNKNOWN_IMPORT);
    CHECK(strstr(lucet_error_message(), "host") != NULL);

    /* A definition of another type. */
    struct counter *c = calloc(1, sizeof *c);
    lucet_linker *good = api_linker(c);
    CHECK_OK(lucet_linker_define_func(good, "host", "count", &I64, 1, &I32, 1, h_count, NULL,
                                      NULL));
    EXPECT(lucet_module_load(path_of("api.lucet"), good, &m), LUCET_ERROR_IMPORT_TYPE_MISMATCH);
    CHECK(strstr(lucet_error_message(), "count") != NULL);
    lucet_linker_free(good);

    EXPECT(lucet_module_load(NULL, l, &m), LUCET_ERROR_NULL_POINTER);
    EXPECT(lucet_module_load(path_of("api.lucet"), NULL, &m), LUCET_ERROR_NULL_POINTER);
    EXPECT(lucet_module_load(path_of("api.lucet"), l, NULL), LUCET_ERROR_NULL_POINTER);
    EXPECT(lucet_module_load("\xff\xfe", l, &m), LUCET_ERROR_INVALID_ARGUMENT);
    EXPECT(lucet_module_load_bytes((const uint8_t *)"garbage", 7, "garbage", l, &m),
           LUCET_ERROR_INVALID_MODULE);

    /* Bad definitions leave the caller owning its user data. */
    EXPECT(lucet_linker_define_func(l, "host", "f", &I32, 1, NULL, 0, NULL, NULL, NULL),
           LUCET_ERROR_NULL_POINTER);
    lucet_valtype bad = 99;
    EXPECT(lucet_linker_define_func(l, "host", "f", &bad, 1, NULL, 0, h_count, NULL, NULL),
           LUCET_ERROR_INVALID_ARGUMENT);
    EXPECT(lucet_linker_define_func(l, "host", "f", NULL, 3, NULL, 0, h_count, NULL, NULL),
           LUCET_ERROR_INVALID_ARGUMENT);
    lucet_linker_free(l);
    printf("ok load_errors\n");
}

static void test_verified_load(void) {
    lucet_linker *l = NULL;
    lucet_public_key *key = NULL, *other = NULL;
    lucet_module *m = (lucet_module *)&m;
    CHECK_OK(lucet_linker_new(&l));
    CHECK_OK(lucet_public_key_from_file(path_of("release.pub"), &key));
    CHECK_OK(lucet_public_key_from_file(path_of("other.pub"), &other));

    CHECK_OK(lucet_module_load_verified(path_of("signed.lucet"), key, l, &m));
    CHECK(m != NULL);
    lucet_module_free(m);
    /* A signed file loads without a key too: the hash is always checked. */
    CHECK_OK(lucet_module_load(path_of("signed.lucet"), l, &m));
    lucet_module_free(m);

    EXPECT(lucet_module_load_verified(path_of("signed.lucet"), other, l, &m),
           LUCET_ERROR_BAD_SIGNATURE);
    CHECK(m == NULL);
    CHECK(strstr(lucet_error_message(), "another key") != NULL);
    EXPECT(lucet_module_load_verified(path_of("answer.lucet"), key, l, &m),
           LUCET_ERROR_NOT_SIGNED);
    EXPECT(lucet_module_load(path_of("damaged.lucet"), l, &m), LUCET_ERROR_MODULE_DAMAGED);
    CHECK(strcmp(lucet_error_message(), "module file is damaged: hash mismatch") == 0);
    EXPECT(lucet_module_load_verified(path_of("signed.lucet"), NULL, l, &m),
           LUCET_ERROR_NULL_POINTER);

    lucet_public_key *bad = (lucet_public_key *)&bad;
    EXPECT(lucet_public_key_decode("not a key", &bad), LUCET_ERROR_BAD_KEY);
    CHECK(bad == NULL);
    EXPECT(lucet_public_key_from_file(path_of("missing.pub"), &bad), LUCET_ERROR_BAD_KEY);
    lucet_public_key_free(NULL);
    lucet_public_key_free(key);
    lucet_public_key_free(other);
    lucet_linker_free(l);
    printf("ok verified_load\n");
}

static void test_null_handles(void) {
    lucet_run_result out;
    lucet_val r[1];
    lucet_instance_free(NULL);
    lucet_module_free(NULL);
    lucet_region_free(NULL);
    lucet_linker_free(NULL);
    lucet_kill_switch_free(NULL);
    lucet_wasi_builder_free(NULL);
    lucet_wasi_ctx_free(NULL);
    EXPECT(lucet_instance_run(NULL, "add", NULL, 0, r, 1, &out), LUCET_ERROR_NULL_POINTER);
    CHECK(strstr(lucet_error_message(), "instance") != NULL);
    EXPECT(lucet_instance_reset(NULL), LUCET_ERROR_NULL_POINTER);
    EXPECT(lucet_kill_switch_terminate(NULL, NULL), LUCET_ERROR_NULL_POINTER);
    EXPECT(lucet_linker_new(NULL), LUCET_ERROR_NULL_POINTER);
    EXPECT(lucet_region_create(1, NULL, NULL), LUCET_ERROR_NULL_POINTER);
    EXPECT(lucet_vmctx_memory_read(NULL, 0, r, 1), LUCET_ERROR_NULL_POINTER);
    CHECK(lucet_vmctx_user_data(NULL) == NULL);
    CHECK(strcmp(lucet_error_name(LUCET_ERROR_REGION_FULL), "LUCET_ERROR_REGION_FULL") == 0);
    CHECK(strcmp(lucet_error_name(12345), "LUCET_ERROR_UNKNOWN") == 0);
    printf("ok null_handles\n");
}

static void test_run(void) {
    struct env e = env_new(1);
    struct host_state st = {0};
    lucet_instance *inst = instantiate(&e, &st);
    lucet_val args[3], r[4];
    lucet_run_result out;

    args[0] = i32v(2), args[1] = i32v(40);
    CHECK(run_i32(inst, "add", args, 2) == 42);

    args[0] = i64v(-5), args[1] = f32v(3.0f), args[2] = f64v(1.25);
    if (CHECK_OK(lucet_instance_run(inst, "mixed", args, 3, r, 4, &out))) {
        CHECK(out.kind == LUCET_RUN_RETURNED && out.results_len == 3);
        CHECK(r[0].kind == LUCET_VALTYPE_F64 && r[0].of.f64 == 2.5);
        CHECK(r[1].kind == LUCET_VALTYPE_I64 && r[1].of.i64 == -4);
        CHECK(r[2].kind == LUCET_VALTYPE_F32 && r[2].of.f32 == 1.5f);
        CHECK(strcmp(out.message, "") == 0);
    }

    /* Errors: nothing runs. */
    args[0] = i32v(1), args[1] = i64v(2);
    EXPECT(lucet_instance_run(inst, "add", args, 2, r, 1, &out), LUCET_ERROR_ARGUMENT_MISMATCH);
    EXPECT(lucet_instance_run(inst, "add", args, 1, r, 1, &out), LUCET_ERROR_ARGUMENT_MISMATCH);
    EXPECT(lucet_instance_run(inst, "nope", NULL, 0, r, 1, &out), LUCET_ERROR_EXPORT_NOT_FOUND);
    CHECK(strstr(lucet_error_message(), "nope") != NULL);
    args[1] = i32v(2);
    EXPECT(lucet_instance_run(inst, "add", args, 2, r, 0, &out), LUCET_ERROR_RESULTS_CAPACITY);
    EXPECT(lucet_instance_run(inst, "add", args, 2, NULL, 1, &out), LUCET_ERROR_INVALID_ARGUMENT);
    EXPECT(lucet_instance_run(inst, "add", args, 2, r, 1, NULL), LUCET_ERROR_NULL_POINTER);
    EXPECT(lucet_instance_run(inst, "v128", NULL, 0, r, 1, &out), LUCET_ERROR_UNSUPPORTED_TYPE);
    args[1].kind = 99;
    EXPECT(lucet_instance_run(inst, "add", args, 2, r, 1, &out), LUCET_ERROR_INVALID_ARGUMENT);

    /* Ten host-function arguments, and an imported global. */
    if (CHECK_OK(lucet_instance_run(inst, "many", NULL, 0, r, 1, &out))) {
        /* ((1*2+2)*2+3)... over 1..10 */
        int64_t expect = 0;
        for (int i = 1; i <= 10; i++) expect = expect * 2 + i;
        CHECK(out.kind == LUCET_RUN_RETURNED && r[0].of.i64 == expect);
    }
    CHECK(run_i32(inst, "offset", NULL, 0) == 1234);

    lucet_instance_free(inst);
    env_free(&e);
    printf("ok run\n");
}

static void test_traps(void) {
    struct env e = env_new(1);
    lucet_instance *inst = instantiate(&e, NULL);
    lucet_val args[2], r[1];
    lucet_run_result out;

    if (CHECK_OK(lucet_instance_run(inst, "unreachable", NULL, 0, NULL, 0, &out))) {
        CHECK(out.kind == LUCET_RUN_TRAPPED && out.trap_code == LUCET_TRAP_UNREACHABLE);
        CHECK(strstr(out.message, "unreachable") != NULL);
    }
    args[0] = i32v(1), args[1] = i32v(0);
    if (CHECK_OK(lucet_instance_run(inst, "div", args, 2, r, 1, &out))) {
        CHECK(out.kind == LUCET_RUN_TRAPPED &&
              out.trap_code == LUCET_TRAP_INTEGER_DIVISION_BY_ZERO);
        CHECK(out.results_len == 0);
    }
    args[0] = i32v(INT32_MIN), args[1] = i32v(-1);
    if (CHECK_OK(lucet_instance_run(inst, "div", args, 2, r, 1, &out))) {
        CHECK(out.kind == LUCET_RUN_TRAPPED && out.trap_code == LUCET_TRAP_INTEGER_OVERFLOW);
    }
    args[0] = i32v((int32_t)0xfffffff0u);
    if (CHECK_OK(lucet_instance_run(inst, "load", args, 1, r, 1, &out))) {
        CHECK(out.kind == LUCET_RUN_TRAPPED && out.trap_code == LUCET_TRAP_HEAP_OUT_OF_BOUNDS);
    }
    /* A trap leaves the instance usable. */
    args[0] = i32v(20), args[1] = i32v(22);
    CHECK(run_i32(inst, "add", args, 2) == 42);
    lucet_instance_free(inst);
    env_free(&e);
    printf("ok traps\n");
}

static void test_yield_resume(void) {
    struct env e = env_new(1);
    struct host_state st = {0};
    lucet_instance *inst = instantiate(&e, &st);
    lucet_val args[2], r[1];
    lucet_run_result out;
    uint64_t v;

    args[0] = i64v(5);
    if (CHECK_OK(lucet_instance_run(inst, "yield_twice", args, 1, r, 1, &out))) {
        CHECK(out.kind == LUCET_RUN_YIELDED && out.yielded_has_value && out.yielded_value == 5);
    }
    args[0] = i32v(1), args[1] = i32v(2);
    EXPECT(lucet_instance_run(inst, "add", args, 2, r, 1, &out), LUCET_ERROR_INVALID_STATE);
    EXPECT(lucet_instance_resume(inst, NULL, r, 0, &out), LUCET_ERROR_RESULTS_CAPACITY);
    v = 10;
    if (CHECK_OK(lucet_instance_resume(inst, &v, r, 1, &out))) {
        CHECK(out.kind == LUCET_RUN_YIELDED && out.yielded_value == 11);
    }
    /* Resumed without a value, the host function returns -1. */
    if (CHECK_OK(lucet_instance_resume(inst, NULL, r, 1, &out))) {
        CHECK(out.kind == LUCET_RUN_RETURNED && out.results_len == 1 && r[0].of.i64 == 99);
    }
    EXPECT(lucet_instance_resume(inst, NULL, r, 1, &out), LUCET_ERROR_INVALID_STATE);
    CHECK(st.unwound == 0);
    lucet_instance_free(inst);
    env_free(&e);
    printf("ok yield_resume\n");
}

static void test_reset(void) {
    struct env e = env_new(1);
    struct host_state st = {0};
    lucet_instance *inst = instantiate(&e, &st);
    lucet_val args[1], r[1], g;
    lucet_run_result out;
    uint8_t *base;
    size_t len;

    args[0] = i32v(41);
    CHECK_OK(lucet_instance_run(inst, "set_g", args, 1, NULL, 0, &out));
    CHECK(run_i32(inst, "get_g", NULL, 0) == 41);
    CHECK_OK(lucet_instance_memory(inst, &base, &len));
    CHECK(len == 65536 && base[16] == 1 && base[19] == 4);
    base[16] = 100, base[1000] = 7;
    CHECK(run_i32(inst, "sum_bytes", (lucet_val[]){i32v(16), i32v(4)}, 2) == 109);
    CHECK_OK(lucet_instance_reset(inst));
    CHECK_OK(lucet_instance_global_get(inst, "g", &g));
    CHECK(g.kind == LUCET_VALTYPE_I32 && g.of.i32 == 5);
    CHECK_OK(lucet_instance_memory(inst, &base, &len));
    CHECK(base[16] == 1 && base[1000] == 0);

    /* Reset while yielded: the host function's yield is unwound. */
    args[0] = i64v(1);
    CHECK_OK(lucet_instance_run(inst, "yield_twice", args, 1, r, 1, &out));
    CHECK(out.kind == LUCET_RUN_YIELDED);
    CHECK_OK(lucet_instance_reset(inst));
    CHECK(st.unwound == 1);
    EXPECT(lucet_instance_resume(inst, NULL, r, 1, &out), LUCET_ERROR_INVALID_STATE);
    CHECK(run_i32(inst, "add", (lucet_val[]){i32v(1), i32v(1)}, 2) == 2);

    /* Free while yielded: likewise. */
    CHECK_OK(lucet_instance_run(inst, "yield_twice", args, 1, r, 1, &out));
    CHECK(out.kind == LUCET_RUN_YIELDED);
    lucet_instance_free(inst);
    CHECK(st.unwound == 2);
    size_t free_slots = 0;
    CHECK_OK(lucet_region_free_slots(e.region, &free_slots));
    CHECK(free_slots == 1);
    /* The freed slot gives its pages back once idle: not after an hour,
       at once after none. */
    size_t trimmed = 99;
    CHECK_OK(lucet_region_trim_idle(e.region, 3600 * 1000, 8, &trimmed));
    CHECK(trimmed == 0);
    CHECK_OK(lucet_region_trim_idle(e.region, 0, 8, &trimmed));
    CHECK(trimmed == 1);
    CHECK_OK(lucet_region_trim_idle(e.region, 0, 8, NULL));
    EXPECT(lucet_region_trim_idle(NULL, 0, 8, &trimmed), LUCET_ERROR_NULL_POINTER);
    CHECK(run_i32(inst = instantiate(&e, NULL), "add", (lucet_val[]){i32v(2), i32v(3)}, 2) == 5);
    lucet_instance_free(inst);
    env_free(&e);
    printf("ok reset\n");
}

struct killer {
    lucet_kill_switch *ks;
    lucet_error result;
    lucet_kill_outcome outcome;
};

static void *kill_later(void *p) {
    struct killer *k = p;
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    k->result = lucet_kill_switch_terminate(k->ks, &k->outcome);
    return NULL;
}

static void test_kill_switch(void) {
    struct env e = env_new(1);
    lucet_instance *inst = instantiate(&e, NULL);
    lucet_run_result out;
    struct killer k = {0};
    pthread_t t;

    CHECK_OK(lucet_instance_kill_switch(inst, &k.ks));
    CHECK(pthread_create(&t, NULL, kill_later, &k) == 0);
    if (CHECK_OK(lucet_instance_run(inst, "spin", NULL, 0, NULL, 0, &out))) {
        CHECK(out.kind == LUCET_RUN_TERMINATED && out.termination == LUCET_TERMINATION_KILLED);
        CHECK(strlen(out.message) > 0);
    }
    pthread_join(t, NULL);
    CHECK(k.result == LUCET_OK && k.outcome == LUCET_KILL_SIGNALLED);
    /* The switch belonged to that run. */
    EXPECT(lucet_kill_switch_terminate(k.ks, NULL), LUCET_ERROR_NOT_TERMINABLE);
    lucet_kill_switch_free(k.ks);

    /* A switch fired before its run cancels it; the run after is free. */
    lucet_kill_switch *ks = NULL;
    lucet_kill_outcome o;
    CHECK_OK(lucet_instance_kill_switch(inst, &ks));
    CHECK_OK(lucet_kill_switch_terminate(ks, &o));
    CHECK(o == LUCET_KILL_CANCELLED);
    lucet_val args[2] = {i32v(1), i32v(2)}, r[1];
    if (CHECK_OK(lucet_instance_run(inst, "add", args, 2, r, 1, &out))) {
        CHECK(out.kind == LUCET_RUN_TERMINATED && out.termination == LUCET_TERMINATION_KILLED);
    }
    CHECK(run_i32(inst, "add", args, 2) == 3);

    /* A switch outlives its instance. */
    lucet_instance_free(inst);
    EXPECT(lucet_kill_switch_terminate(ks, NULL), LUCET_ERROR_NOT_TERMINABLE);
    lucet_kill_switch_free(ks);
    env_free(&e);
    printf("ok kill_switch\n");
}

static void test_fuel(void) {
    lucet_linker *l = NULL;
    lucet_module *m = NULL;
    lucet_region *region = new_region(1);
    lucet_instance *inst = NULL;
    lucet_instance_options opts;
    lucet_run_result out;
    uint64_t fuel;
    bool limited;

    CHECK_OK(lucet_linker_new(&l));
    CHECK_OK(lucet_module_load(path_of("fuel.lucet"), l, &m));
    lucet_linker_free(l);
    CHECK_OK(lucet_instance_options_init(&opts));
    opts.has_fuel = true;
    opts.fuel = 1000;
    CHECK_OK(lucet_instance_new(region, m, &opts, &inst));
    if (CHECK_OK(lucet_instance_run(inst, "spin", NULL, 0, NULL, 0, &out))) {
        CHECK(out.kind == LUCET_RUN_TRAPPED && out.trap_code == LUCET_TRAP_OUT_OF_FUEL);
    }
    CHECK_OK(lucet_instance_fuel(inst, &fuel, &limited));
    CHECK(fuel == 0 && limited);

    CHECK_OK(lucet_instance_set_fuel(inst, 1000000));
    CHECK(run_i32(inst, "sum", (lucet_val[]){i32v(100)}, 1) == 4950);
    CHECK_OK(lucet_instance_fuel(inst, &fuel, &limited));
    CHECK(limited && fuel > 0 && fuel < 1000000);
    uint64_t after_100 = fuel;
    CHECK(run_i32(inst, "sum", (lucet_val[]){i32v(100)}, 1) == 4950);
    CHECK_OK(lucet_instance_fuel(inst, &fuel, NULL));
    CHECK(fuel < after_100);

    CHECK_OK(lucet_instance_remove_fuel_limit(inst));
    CHECK_OK(lucet_instance_fuel(inst, &fuel, &limited));
    CHECK(!limited && fuel == 0);
    /* Reset gives back the fuel the instance was created with. */
    CHECK_OK(lucet_instance_reset(inst));
    CHECK_OK(lucet_instance_fuel(inst, &fuel, &limited));
    CHECK(limited && fuel == 1000);
    lucet_instance_free(inst);
    lucet_module_free(m);

    /* A module compiled without counting cannot take fuel. */
    struct env e = env_new(1);
    CHECK_OK(lucet_instance_options_init(&opts));
    opts.has_fuel = true;
    opts.fuel = 10;
    inst = (lucet_instance *)&inst;
    EXPECT(lucet_instance_new(e.region, e.module, &opts, &inst), LUCET_ERROR_FUEL_UNSUPPORTED);
    CHECK(inst == NULL);
    inst = instantiate(&e, NULL);
    EXPECT(lucet_instance_set_fuel(inst, 10), LUCET_ERROR_FUEL_UNSUPPORTED);
    lucet_instance_free(inst);
    env_free(&e);
    lucet_region_free(region);
    printf("ok fuel\n");
}

static void test_host_user_data(void) {
    struct env e = env_new(2);
    lucet_instance *a = instantiate(&e, NULL), *b = instantiate(&e, NULL);
    int freed_before = atomic_load(&counters_freed);
    CHECK(run_i32(a, "count", (lucet_val[]){i32v(3)}, 1) == 3);
    CHECK(run_i32(a, "count", (lucet_val[]){i32v(4)}, 1) == 7);
    CHECK(run_i32(b, "count", (lucet_val[]){i32v(1)}, 1) == 8);
    CHECK(atomic_load(&e.counter->total) == 8);
    /* The region is full. */
    lucet_instance *c = (lucet_instance *)&c;
    EXPECT(lucet_instance_new(e.region, e.module, NULL, &c), LUCET_ERROR_REGION_FULL);
    CHECK(c == NULL);
    /* The user data lives while anything can call the function. */
    lucet_module_free(e.module);
    lucet_region_free(e.region);
    CHECK(run_i32(b, "count", (lucet_val[]){i32v(2)}, 1) == 10);
    lucet_instance_free(a);
    CHECK(atomic_load(&counters_freed) == freed_before);
    lucet_instance_free(b);
    CHECK(atomic_load(&counters_freed) == freed_before + 1);
    printf("ok host_user_data\n");
}

static void test_terminate(void) {
    struct env e = env_new(1);
    struct host_state st = {0};
    lucet_instance *inst = instantiate(&e, &st);
    lucet_run_result out;
    lucet_val r[1], g;

    if (CHECK_OK(lucet_instance_run(inst, "terminate", NULL, 0, r, 1, &out))) {
        CHECK(out.kind == LUCET_RUN_TERMINATED && out.termination == LUCET_TERMINATION_HOST);
        CHECK(out.termination_code == 77);
        CHECK(out.results_len == 0);
        CHECK(strstr(out.message, "77") != NULL);
    }
    CHECK(st.after_terminate == LUCET_ERROR_INVALID_STATE);
    /* No guest code ran after the host function returned. */
    CHECK_OK(lucet_instance_global_get(inst, "g", &g));
    CHECK(g.of.i32 == 5);

    if (CHECK_OK(lucet_instance_run(inst, "bad_result", NULL, 0, r, 1, &out))) {
        CHECK(out.kind == LUCET_RUN_TERMINATED &&
              out.termination == LUCET_TERMINATION_HOST_ERROR);
        CHECK(strstr(out.message, "result 0") != NULL);
    }
    CHECK(run_i32(inst, "reenter", NULL, 0) == 1);
    CHECK(st.reenter_ok == 1);
    lucet_instance_free(inst);
    env_free(&e);
    printf("ok terminate\n");
}

static void test_globals_and_memory(void) {
    struct env e = env_new(1);
    lucet_instance *inst = instantiate(&e, NULL);
    lucet_val v;

    CHECK(run_i32(inst, "globals", NULL, 0) == 1);
    CHECK(run_i32(inst, "get_g", NULL, 0) == 42);
    CHECK_OK(lucet_instance_global_get(inst, "g", &v));
    CHECK(v.of.i32 == 42);
    v = i32v(8);
    EXPECT(lucet_instance_global_set(inst, "fixed", &v), LUCET_ERROR_TYPE_MISMATCH);
    CHECK_OK(lucet_instance_global_set(inst, "g", &v));
    CHECK(run_i32(inst, "get_g", NULL, 0) == 8);
    EXPECT(lucet_instance_global_get(inst, "nope", &v), LUCET_ERROR_EXPORT_NOT_FOUND);

    /* Hostile pointers and lengths from the guest. */
    CHECK(run_i32(inst, "sum_bytes", (lucet_val[]){i32v(16), i32v(4)}, 2) == 10);
    /* "globals" wrote 7 and 9 to the last two bytes. */
    CHECK(run_i32(inst, "sum_bytes", (lucet_val[]){i32v(65532), i32v(4)}, 2) == 16);
    CHECK(run_i32(inst, "sum_bytes", (lucet_val[]){i32v(65533), i32v(4)}, 2) == -1);
    CHECK(run_i32(inst, "sum_bytes", (lucet_val[]){i32v(-1), i32v(-1)}, 2) == -1);
    CHECK(run_i32(inst, "sum_bytes", (lucet_val[]){i32v(1), i32v(-1)}, 2) == -1);
    CHECK(run_i32(inst, "sum_bytes", (lucet_val[]){i32v(65536), i32v(0)}, 2) == 0);

    /* Growing from the host, up to the module's maximum of 4 pages. */
    CHECK(run_i32(inst, "grow", (lucet_val[]){i32v(1)}, 1) == 1);
    CHECK(run_i32(inst, "size", NULL, 0) == 2);
    CHECK(run_i32(inst, "grow", (lucet_val[]){i32v(10)}, 1) == -1);
    CHECK(run_i32(inst, "sum_bytes", (lucet_val[]){i32v(65533), i32v(4)}, 2) == 16);
    CHECK(run_i32(inst, "sum_bytes", (lucet_val[]){i32v(131072 - 4), i32v(4)}, 2) == 0);
    CHECK(run_i32(inst, "sum_bytes", (lucet_val[]){i32v(131072 - 3), i32v(4)}, 2) == -1);
    lucet_instance_free(inst);
    env_free(&e);
    printf("ok globals_and_memory\n");
}

static char *read_file(const char *path) {
    static char buf[4096];
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* Runs wasi.lucet with a preopened directory of `access`; returns the
   exit status (or -1), its stdout in `stdout_text`. */
static int run_wasi(lucet_module *m, lucet_region *region, const char *tmp,
                    lucet_dir_access access, char *stdout_text, size_t cap) {
    char out_path[4200];
    snprintf(out_path, sizeof out_path, "%s/stdout", tmp);
    int fd = open(out_path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    CHECK(fd >= 0);
    lucet_wasi_builder *b = NULL;
    lucet_wasi_ctx *ctx = NULL;
    CHECK_OK(lucet_wasi_builder_new(&b));
    CHECK_OK(lucet_wasi_builder_arg(b, "prog"));
    CHECK_OK(lucet_wasi_builder_arg(b, "argument-one"));
    CHECK_OK(lucet_wasi_builder_env(b, "GREETING", "hi"));
    EXPECT(lucet_wasi_builder_env(b, "A=B", "x"), LUCET_ERROR_INVALID_ARGUMENT);
    CHECK_OK(lucet_wasi_builder_stdout(b, fd));
    close(fd); /* the builder holds its own duplicate */
    CHECK_OK(lucet_wasi_builder_stdin(b, -1));
    EXPECT(lucet_wasi_builder_stderr(b, 100000), LUCET_ERROR_IO);
    EXPECT(lucet_wasi_builder_preopen_dir(b, tmp, "/work", 7), LUCET_ERROR_INVALID_ARGUMENT);
    EXPECT(lucet_wasi_builder_preopen_dir(b, "/nonexistent-dir", "/x", LUCET_DIR_READ_ONLY),
           LUCET_ERROR_IO);
    CHECK_OK(lucet_wasi_builder_preopen_dir(b, tmp, "/work", access));
    CHECK_OK(lucet_wasi_builder_build(b, &ctx));

    lucet_instance_options opts;
    lucet_instance *inst = NULL;
    lucet_run_result out;
    int status = -1;
    CHECK_OK(lucet_instance_options_init(&opts));
    opts.wasi = ctx;
    CHECK_OK(lucet_instance_new(region, m, &opts, &inst));
    if (CHECK_OK(lucet_instance_run(inst, "_start", NULL, 0, NULL, 0, &out))) {
        CHECK(out.kind == LUCET_RUN_TERMINATED && out.termination == LUCET_TERMINATION_EXIT);
        if (out.termination == LUCET_TERMINATION_EXIT) status = (int)out.termination_code;
        else fprintf(stderr, "  wasi: %s\n", out.message);
    }
    lucet_instance_free(inst); /* closes the duplicate */
    char *text = read_file(out_path);
    snprintf(stdout_text, cap, "%s", text ? text : "");
    return status;
}

static void test_wasi(void) {
    char tmp[] = "/tmp/lucet-c-api-XXXXXX";
    char path[4200], text[4096];
    lucet_linker *l = NULL;
    lucet_module *m = NULL;
    lucet_region *region = new_region(1);

    CHECK(mkdtemp(tmp) != NULL);
    CHECK_OK(lucet_linker_new(&l));
    CHECK_OK(lucet_linker_add_wasi(l));
    CHECK_OK(lucet_module_load(path_of("wasi.lucet"), l, &m));
    lucet_linker_free(l);

    CHECK(run_wasi(m, region, tmp, LUCET_DIR_READ_WRITE, text, sizeof text) == 0);
    CHECK(strcmp(text, "hello from wasi\nargument-one\nGREETING=hi\n") == 0);
    snprintf(path, sizeof path, "%s/out.txt", tmp);
    char *written = read_file(path);
    CHECK(written && strcmp(written, "hello from wasi\n") == 0);
    unlink(path);

    /* Read-only: path_open fails with ENOTCAPABLE (76); nothing is created. */
    CHECK(run_wasi(m, region, tmp, LUCET_DIR_READ_ONLY, text, sizeof text) == 100 + 76);
    CHECK(access(path, F_OK) != 0);

    /* Without a WASI context the first call ends the run. */
    lucet_instance *inst = NULL;
    lucet_run_result out;
    CHECK_OK(lucet_instance_new(region, m, NULL, &inst));
    if (CHECK_OK(lucet_instance_run(inst, "_start", NULL, 0, NULL, 0, &out))) {
        CHECK(out.kind == LUCET_RUN_TERMINATED &&
              out.termination == LUCET_TERMINATION_HOST_ERROR);
        CHECK(strstr(out.message, "WasiCtx") != NULL);
    }
    lucet_instance_free(inst);

    /* A context given to a failing lucet_instance_new is freed with it. */
    lucet_wasi_builder *b = NULL;
    lucet_instance_options opts;
    CHECK_OK(lucet_wasi_builder_new(&b));
    CHECK_OK(lucet_instance_options_init(&opts));
    CHECK_OK(lucet_wasi_builder_build(b, &opts.wasi));
    opts.has_fuel = true; /* wasi.lucet does not count instructions */
    EXPECT(lucet_instance_new(region, m, &opts, &inst), LUCET_ERROR_FUEL_UNSUPPORTED);

    snprintf(path, sizeof path, "%s/stdout", tmp);
    unlink(path);
    rmdir(tmp);
    lucet_module_free(m);
    lucet_region_free(region);
    printf("ok wasi\n");
}

static void test_limits(void) {
    lucet_limits limits;
    lucet_region *region = (lucet_region *)&region;
    CHECK_OK(lucet_limits_default(&limits));
    CHECK(limits.heap_memory_size == 1 << 20 && limits.stack_size == 128 << 10);
    limits.stack_size = 5000;
    EXPECT(lucet_region_create(1, &limits, &region), LUCET_ERROR_INVALID_LIMITS);
    CHECK(region == NULL);
    CHECK(strstr(lucet_error_message(), "stack_size") != NULL);
    CHECK_OK(lucet_limits_default(&limits));
    EXPECT(lucet_region_create(0, &limits, &region), LUCET_ERROR_INVALID_LIMITS);
    CHECK(limits.gc_algorithm == LUCET_GC_COPYING);
    limits.gc_algorithm = 7;
    EXPECT(lucet_region_create(1, &limits, &region), LUCET_ERROR_INVALID_LIMITS);
    CHECK(strstr(lucet_error_message(), "unknown GC algorithm 7") != NULL);
    limits.gc_algorithm = LUCET_GC_MARK_COMPACT;
    CHECK_OK(lucet_region_create(1, &limits, &region));
    lucet_region_free(region);
    CHECK_OK(lucet_limits_default(&limits));

    /* Modules compiled for a larger heap address space do not fit. */
    struct env e = env_new(1);
    limits.heap_address_space_size = 64 << 10;
    limits.heap_memory_size = 64 << 10;
    CHECK_OK(lucet_region_create(1, &limits, &region));
    lucet_instance *inst = NULL;
    EXPECT(lucet_instance_new(region, e.module, NULL, &inst), LUCET_ERROR_LIMITS_EXCEEDED);
    lucet_region_free(region);
    env_free(&e);
    printf("ok limits\n");
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s DIR HEAP_ADDRESS_SPACE\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    heap_space = strtoull(argv[2], NULL, 0);
    test_load_errors();
    test_verified_load();
    test_null_handles();
    test_run();
    test_traps();
    test_yield_resume();
    test_reset();
    test_kill_switch();
    test_fuel();
    test_host_user_data();
    test_terminate();
    test_globals_and_memory();
    test_wasi();
    test_limits();
    printf("api_test: %d checks, %d failures\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
