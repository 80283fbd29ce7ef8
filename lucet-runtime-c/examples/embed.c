/*
 * Embedding Lucet from C: load a compiled module, give it a host function,
 * and run it on four threads, each with its own instance in one shared
 * region.
 *
 *   lucetc examples/embed.wat -o embed.lucet
 *   cc -I include examples/embed.c liblucet_runtime_c.a -lpthread -ldl -lm -o embed
 *   ./embed embed.lucet
 *
 * (lucet-runtime-c/tests/c_api.rs builds and runs exactly this.)
 */
#include "lucet.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define THREADS 4

/* The host function's user data: shared by every instance, on every
   thread, so its state is atomic. */
struct scale {
    int32_t factor;
    atomic_long calls;
};

/* env.scale(x) = x * factor. Called by guest code with its arguments and
   results as typed arrays, matching the signature it was defined with. */
static void scale(lucet_vmctx *vmctx, void *user_data, const lucet_val *args, size_t nargs,
                  lucet_val *results, size_t nresults) {
    struct scale *s = user_data;
    (void)vmctx, (void)nargs, (void)nresults;
    atomic_fetch_add(&s->calls, 1);
    results[0].of.i32 = args[0].of.i32 * s->factor;
}

struct job {
    const lucet_region *region;
    const lucet_module *module;
    int32_t n;
    int32_t result;
    lucet_error error;
};

static void *run_job(void *p) {
    struct job *job = p;
    lucet_instance *inst = NULL;
    lucet_val arg = {.kind = LUCET_VALTYPE_I32, .of.i32 = job->n};
    lucet_val result;
    lucet_run_result out;

    job->error = lucet_instance_new(job->region, job->module, NULL, &inst);
    if (job->error != LUCET_OK) {
        fprintf(stderr, "instantiate: %s\n", lucet_error_message());
        return NULL;
    }
    job->error = lucet_instance_run(inst, "run", &arg, 1, &result, 1, &out);
    if (job->error != LUCET_OK) {
        fprintf(stderr, "run: %s\n", lucet_error_message());
    } else if (out.kind != LUCET_RUN_RETURNED) {
        fprintf(stderr, "run did not return: %s\n", out.message);
        job->error = LUCET_ERROR_INVALID_STATE;
    } else {
        job->result = result.of.i32;
    }
    lucet_instance_free(inst);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODULE.lucet\n", argv[0]);
        return 2;
    }

    /* Host functions first: the module's imports are resolved at load. */
    struct scale *s = malloc(sizeof *s);
    s->factor = 3;
    atomic_init(&s->calls, 0);
    lucet_linker *linker = NULL;
    lucet_valtype i32 = LUCET_VALTYPE_I32;
    if (lucet_linker_new(&linker) != LUCET_OK ||
        lucet_linker_define_func(linker, "env", "scale", &i32, 1, &i32, 1, scale, s, NULL) !=
            LUCET_OK) {
        fprintf(stderr, "linker: %s\n", lucet_error_message());
        return 1;
    }

    lucet_module *module = NULL;
    if (lucet_module_load(argv[1], linker, &module) != LUCET_OK) {
        fprintf(stderr, "load: %s\n", lucet_error_message());
        return 1;
    }
    lucet_linker_free(linker); /* the module keeps its host functions */

    /* One region, a slot per thread, default limits. */
    lucet_region *region = NULL;
    if (lucet_region_create(THREADS, NULL, &region) != LUCET_OK) {
        fprintf(stderr, "region: %s\n", lucet_error_message());
        return 1;
    }

    pthread_t threads[THREADS];
    struct job jobs[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (struct job){.region = region, .module = module, .n = 10 * (i + 1)};
        pthread_create(&threads[i], NULL, run_job, &jobs[i]);
    }
    int failed = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        if (jobs[i].error != LUCET_OK) {
            failed = 1;
            continue;
        }
        printf("thread %d: run(%d) = %d\n", i, jobs[i].n, jobs[i].result);
    }
    printf("host calls: %ld\n", atomic_load(&s->calls));

    lucet_module_free(module);
    lucet_region_free(region);
    free(s); /* defined without a free callback: ours to free, now unused */
    return failed;
}
