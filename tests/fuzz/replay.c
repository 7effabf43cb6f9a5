/*
 * replay: runs a fuzz target over files without libFuzzer, so `make check`
 * replays the committed corpus (seeds and every crash reproducer) under
 * the project's compiler, sanitizer and valgrind builds alike.
 *
 * Usage: replay_<name> [FILE-OR-DIR...]. Without arguments it replays
 * $KV_TOP_SRCDIR/tests/fuzz/corpus/<name>/. Each input is copied into a
 * buffer of exactly its size, so an overread is caught by ASan or
 * valgrind. Exits 0 after running every input, 1 if there was none or a
 * file could not be read; a broken invariant aborts.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#ifndef FUZZ_NAME
#error "FUZZ_NAME must name the target (its corpus directory)"
#endif

static int
run_file(const char *path)
{
	struct stat st;
	uint8_t *data;
	size_t got = 0;
	FILE *f;

	if ((f = fopen(path, "rb")) == NULL || fstat(fileno(f), &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		if (f != NULL)
			fclose(f);
		return -1;
	}
	/* malloc(0) may return NULL: keep one byte, pass the true size. */
	data = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	if (data == NULL) {
		fclose(f);
		return -1;
	}
	if (st.st_size > 0)
		got = fread(data, 1, (size_t)st.st_size, f);
	fclose(f);
	if (got != (size_t)st.st_size) {
		fprintf(stderr, "replay: %s: short read\n", path);
		free(data);
		return -1;
	}
	LLVMFuzzerTestOneInput(data, got);
	free(data);
	return 0;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file of dir, in name order; returns the count or -1. */
static long
run_dir(const char *dir)
{
	char **names = NULL, path[4096];
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	long count = 0;
	DIR *d;

	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = realloc(names, cap * sizeof(*names));
			if (names == NULL)
				abort();
		}
		if ((names[n++] = strdup(de->d_name)) == NULL)
			abort();
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_names);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (count >= 0 && run_file(path) == 0)
			count++;
		else
			count = -1;
		free(names[i]);
	}
	free(names);
	return count;
}

int
main(int argc, char **argv)
{
	char dflt[4096], *dflt_argv[3] = { NULL, dflt, NULL };
	const char *top;
	struct stat st;
	long total = 0, n;
	int i;

	LLVMFuzzerInitialize(&argc, &argv);
	if (argc < 2) {
		if ((top = getenv("KV_TOP_SRCDIR")) == NULL)
			top = KV_DEFAULT_SRCDIR;
		snprintf(dflt, sizeof(dflt), "%s/tests/fuzz/corpus/%s", top,
		    FUZZ_NAME);
		dflt_argv[0] = argv[0];
		argc = 2;
		argv = dflt_argv;
	}
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
			    strerror(errno));
			return 1;
		}
		n = S_ISDIR(st.st_mode) ? run_dir(argv[i]) :
		    run_file(argv[i]) == 0 ? 1 : -1;
		if (n < 0)
			return 1;
		total += n;
	}
	printf("replay %s: %ld inputs, all invariants held\n", FUZZ_NAME,
	    total);
	if (total == 0) {
		fprintf(stderr, "replay: no inputs found\n");
		return 1;
	}
	return 0;
}
