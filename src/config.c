/*
 * config: every setting is one row of the table below: its option, its
 * environment variable, its default and its bounds. The environment is
 * read first, then the command line, so an option overrides a variable.
 */
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "request.h"

enum setting_type { T_STRING, T_UINT, T_SIZE, T_DURABILITY, T_LOGLEVEL };

struct setting {
	const char		*opt;		/* long option name */
	const char		*env;		/* environment variable */
	enum setting_type	 type;
	size_t			 off;		/* offset in struct config */
	unsigned long long	 min, max;	/* for T_UINT and T_SIZE */
	const char		*dflt;		/* default, as shown by --help */
	const char		*help;
};

#define OFF(f)	offsetof(struct config, f)

/*
 * Defaults written once: config_defaults() sets them and the table shows
 * them in --help, spelled by the preprocessor from the same number.
 */
#define DFLT(n)		DFLT_STR(n)
#define DFLT_STR(n)	#n
#define MAX_BODY_DEFAULT	2097152
#define MAX_BATCH_OPS_DEFAULT	128
#define LIST_MAX_DEFAULT	1000
#define MAX_REPLY_MEMORY_DEFAULT 268435456	/* 256 MiB, as inflight.c */

static const struct setting settings[] = {
	{ "data-dir", "KV_DATA_DIR", T_STRING, OFF(data_dir), 0, 0,
	    "$STATE_DIRECTORY", "data directory (the Berkeley DB environment)" },
	{ "threads", "KV_THREADS", T_UINT, OFF(threads), 1, 256,
	    "4", "worker threads accepting FastCGI "
	    "requests" },
	{ "durability", "KV_DURABILITY", T_DURABILITY, OFF(durability), 0, 0,
	    "sync", "sync: fsync the log before every reply; write: write it "
	    "to the OS, fsync every second" },
	{ "max-body", "KV_MAX_BODY", T_SIZE, OFF(max_body), 1024,
	    1ULL << 30, DFLT(MAX_BODY_DEFAULT),
	    "largest request body, in bytes" },
	{ "max-value", "KV_MAX_VALUE", T_SIZE, OFF(max_value), 16,
	    1ULL << 30, DFLT(CONFIG_MAX_VALUE),
	    "largest stored value (compact JSON), in bytes" },
	/*
	 * At most 10000: one batch is one transaction, and the lock table
	 * (store.c, 100,000 locks) must hold two of the largest at once, at
	 * up to 4 locks per operation; above that a batch would fail with
	 * a 500 instead of being refused with a 400.
	 */
	{ "max-batch-ops", "KV_MAX_BATCH_OPS", T_SIZE, OFF(max_batch_ops), 1,
	    10000, DFLT(MAX_BATCH_OPS_DEFAULT),
	    "most operations in one batch" },
	{ "list-max", "KV_LIST_MAX", T_SIZE, OFF(list_max), 1, 100000,
	    DFLT(LIST_MAX_DEFAULT), "largest ?limit= accepted by list" },
	{ "list-bytes", "KV_LIST_BYTES", T_SIZE, OFF(list_bytes), 1024,
	    1ULL << 30, DFLT(STORE_LIST_BYTES_DEFAULT),
	    "value bytes after which a list page ends early" },
	{ "max-depth", "KV_MAX_DEPTH", T_UINT, OFF(max_depth), 2, 1000,
	    DFLT(CONFIG_MAX_DEPTH), "deepest JSON nesting accepted in a body" },
	{ "cache-size", "KV_CACHE_SIZE", T_SIZE, OFF(cache_bytes), 1 << 20,
	    1ULL << 40, DFLT(STORE_CACHE_DEFAULT),
	    "Berkeley DB cache, in bytes" },
	{ "max-reply-memory", "KV_MAX_REPLY_MEMORY", T_SIZE,
	    OFF(max_reply_memory), 1 << 20, 1ULL << 40,
	    DFLT(MAX_REPLY_MEMORY_DEFAULT), "memory all replies being built "
	    "may hold at once, in bytes; past it, 503 + Retry-After" },
	{ "cors-origin", "KV_CORS_ORIGIN", T_STRING, OFF(cors_origin), 0, 0,
	    "*", "value of Access-Control-Allow-Origin" },
	{ "log-level", "KV_LOG_LEVEL", T_LOGLEVEL, OFF(log_level), 0, 0,
	    "info", "error, warn, info or debug" },
	{ "tokens-file", "KV_TOKENS_FILE", T_STRING, OFF(tokens_file), 0, 0,
	    "none: access control off", "file of access tokens (see "
	    "kvstore-admin token); every request but OPTIONS and GET /health "
	    "then needs one" },
};

#define NSETTINGS	(sizeof(settings) / sizeof(settings[0]))

/*
 * Default worker threads (measured with bench/, 2 cores,
 * 32 clients). No worker waits for the disk in either mode: with sync a
 * reply that must wait for the log flush is handed to the one sending
 * thread (held.h) and the worker goes back to accept(). So extra threads
 * only add context switches, the dearest thing on this kind of machine:
 * with 4 threads instead of 16, sync did 1.3 times the reads per second
 * and about the same writes; with write, 4 threads did 1.4 times the
 * writes per second of 16. (Before replies were held, sync wanted 16
 * threads so that many commits could share one fsync.)
 */
#define THREADS_DEFAULT	4

void
config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->data_dir = NULL;
	c->threads = THREADS_DEFAULT;
	c->durability = STORE_DURABLE_SYNC;
	c->max_body = MAX_BODY_DEFAULT;
	c->max_value = CONFIG_MAX_VALUE;
	c->max_batch_ops = MAX_BATCH_OPS_DEFAULT;
	c->list_max = LIST_MAX_DEFAULT;
	c->list_bytes = STORE_LIST_BYTES_DEFAULT;
	c->max_depth = CONFIG_MAX_DEPTH;
	/*
	 * The cache lives in the process's heap and fills up as the store
	 * grows: with 24 MiB, 200,000 keys (90 MB of data) left the process
	 * at 56 MB resident (32 MiB: 66 MB), and random reads over them were
	 * as fast, the kernel's page cache serving what this one misses.
	 */
	c->cache_bytes = STORE_CACHE_DEFAULT;
	c->max_reply_memory = MAX_REPLY_MEMORY_DEFAULT;
	c->cors_origin = "*";
	c->log_level = LOG_LVL_INFO;
}

/* Stores value v of setting s into c; returns -1 with a message if invalid. */
static int
apply(struct config *c, const struct setting *s, const char *v, const char *src)
{
	char *p = (char *)c + s->off;
	size_t n;

	switch (s->type) {
	case T_STRING:
		if (*v == '\0')
			goto bad;
		*(const char **)p = v;
		return 0;
	case T_UINT:
	case T_SIZE:
		if (req_parse_size(v, strlen(v), &n) != 0 || n < s->min ||
		    n > s->max) {
			fprintf(stderr, "kvstore-fcgi: %s: '%s' must be an integer "
			    "from %llu to %llu\n", src, v, s->min, s->max);
			return -1;
		}
		if (s->type == T_UINT)
			*(unsigned *)p = (unsigned)n;
		else
			*(size_t *)p = n;
		return 0;
	case T_DURABILITY:
		if (strcmp(v, "sync") == 0)
			*(enum store_durability *)p = STORE_DURABLE_SYNC;
		else if (strcmp(v, "write") == 0)
			*(enum store_durability *)p = STORE_DURABLE_WRITE;
		else
			goto bad;
		return 0;
	case T_LOGLEVEL:
		if (log_parse_level(v, (enum log_level *)p) != 0)
			goto bad;
		return 0;
	}
bad:
	fprintf(stderr, "kvstore-fcgi: %s: invalid value '%s' (%s)\n", src, v,
	    s->help);
	return -1;
}

void
config_usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: kvstore-fcgi [options]\n\n"
	    "A key-value store served over FastCGI. The listening socket is\n"
	    "inherited on fd 0 (spawn-fcgi, systemd StandardInput=socket) or\n"
	    "fd 3 (systemd LISTEN_FDS).\n\n"
	    "Each option can also be given as the environment variable shown;\n"
	    "the option wins.\n\n");
	for (i = 0; i < NSETTINGS; i++)
		fprintf(f, "  --%s=VALUE\n      %s (env %s, default %s)\n",
		    settings[i].opt, settings[i].help, settings[i].env,
		    settings[i].dflt);
	fprintf(f, "  -h, --help\n      print this help and exit\n"
	    "  -V, --version\n      print the version and exit\n");
}

enum config_result
config_load(struct config *c, int argc, char **argv)
{
	struct option longopts[NSETTINGS + 3];
	const char *v;
	char src[64];
	size_t i;
	int ch, idx;

	config_defaults(c);
	if ((v = getenv("STATE_DIRECTORY")) != NULL && *v != '\0')
		c->data_dir = v;
	for (i = 0; i < NSETTINGS; i++) {
		if ((v = getenv(settings[i].env)) == NULL || *v == '\0')
			continue;
		if (apply(c, &settings[i], v, settings[i].env) != 0)
			return CONFIG_ERROR;
	}

	memset(longopts, 0, sizeof(longopts));
	for (i = 0; i < NSETTINGS; i++) {
		longopts[i].name = settings[i].opt;
		longopts[i].has_arg = required_argument;
		longopts[i].val = 0;
	}
	longopts[NSETTINGS].name = "help";
	longopts[NSETTINGS].val = 'h';
	longopts[NSETTINGS + 1].name = "version";
	longopts[NSETTINGS + 1].val = 'V';

	optind = 0;	/* glibc: re-initialize fully, config_load may run twice */
	while ((ch = getopt_long(argc, argv, "hV", longopts, &idx)) != -1) {
		switch (ch) {
		case 0:
			snprintf(src, sizeof(src), "--%s", settings[idx].opt);
			if (apply(c, &settings[idx], optarg, src) != 0)
				return CONFIG_ERROR;
			break;
		case 'h':
			config_usage(stdout);
			return CONFIG_EXIT_OK;
		case 'V':
			printf("kvstore-fcgi %s\n", PACKAGE_VERSION);
			return CONFIG_EXIT_OK;
		default:
			config_usage(stderr);
			return CONFIG_ERROR;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kvstore-fcgi: unexpected argument '%s'\n",
		    argv[optind]);
		return CONFIG_ERROR;
	}
	if (c->data_dir == NULL) {
		fprintf(stderr, "kvstore-fcgi: no data directory: set "
		    "--data-dir, KV_DATA_DIR or STATE_DIRECTORY\n");
		return CONFIG_ERROR;
	}
	return CONFIG_OK;
}
