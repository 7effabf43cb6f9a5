/*
 * fuzz: the interface every fuzz target implements, in libFuzzer's terms.
 *
 * Each tests/fuzz/fuzz_<name>.c is built twice: with clang and
 * -fsanitize=fuzzer,address,undefined as a libFuzzer binary (`make fuzz`),
 * and with the project's compiler against replay.c as a plain program that
 * runs every file of tests/fuzz/corpus/<name>/ once (`make check`), so the
 * committed corpus, crash reproducers included, is a regression suite.
 *
 * A target reports a broken invariant with FUZZ_CHECK, which prints the
 * condition and aborts: libFuzzer then saves the input as a crash file.
 */
#ifndef KV_FUZZ_H
#define KV_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Called once before the first input; returns 0. */
int	LLVMFuzzerInitialize(int *argc, char ***argv);

/* Runs one input; returns 0. Aborts when an invariant does not hold. */
int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: invariant failed: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

#endif
