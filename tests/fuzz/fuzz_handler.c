/*
 * fuzz_handler: whole requests through the route table into a real
 * Berkeley DB store in a temporary directory: body decoding, the handlers'
 * validation, the store and the reply encoding together.
 *
 * Input: "METHOD URI\nBODY", e.g. "POST /batch\n{...}". When the first
 * line is not of that shape (no newline within 2 KiB, or no space in it),
 * the whole input is the body of POST /batch. A tab in the URI starts the
 * conditional headers: "POST /set\t\"3\"\t*" sends If-Match: "3" and
 * If-None-Match: * (an empty field sends none).
 *
 * Every input starts from an empty store, so a crash reproduces from its
 * input alone. Invariants:
 * - no reply is 500 or 503 (single-threaded, no disk pressure: any store
 *   error here is a bug), and every status is one API.md lists;
 * - 304 has no body; 409 and 412 wrote nothing, like every refusal;
 * - every JSON reply body is valid strict JSON (204 has none);
 * - a request refused with 4xx wrote nothing: the store is still empty;
 * - whatever was stored lists back as valid JSON.
 */
#define _GNU_SOURCE
#include <ftw.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "fuzz.h"
#include "handler.h"
#include "log.h"
#include "route.h"

#define LINE_MAX_BYTES	2048
#define REPLY_DEPTH	128	/* list items nest stored values 3 deeper */

static char		 dir[64];
static struct config	 cfg;
static struct store	*store;
static struct ctx	 ctx;

/*
 * Berkeley DB keeps its private environment's regions (cache pages, locks)
 * in malloc'd chunks that it addresses by offset, so LeakSanitizer sees
 * no pointer to them and libFuzzer, which checks for leaks after inputs,
 * reports the cache growing as a leak. store_close() frees them all.
 * Only BDB's own allocator is exempt: data BDB returns to the store
 * (DB_DBT_MALLOC) comes from __os_umalloc, so a leak of it still counts.
 */
const char *__lsan_default_suppressions(void);

const char *
__lsan_default_suppressions(void)
{
	return "leak:__os_malloc\n";
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
cleanup(void)
{
	store_close(store);
	store = NULL;
	if (dir[0] != '\0')
		nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct store_cfg scfg;

	log_set_level(LOG_LVL_ERROR);
	strcpy(dir, "/tmp/kv-fuzz-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	config_defaults(&cfg);
	cfg.data_dir = dir;
	/* Small limits, so 413 and "too many operations" are reachable. */
	cfg.max_value = 4096;
	cfg.max_batch_ops = 16;
	cfg.list_max = 50;
	cfg.cache_bytes = 4 << 20;
	memset(&scfg, 0, sizeof(scfg));
	scfg.home = dir;
	scfg.durability = STORE_DURABLE_WRITE;
	scfg.cache_bytes = cfg.cache_bytes;
	if (store_open(&scfg, &store) != STORE_OK) {
		fprintf(stderr, "fuzz_handler: cannot open a store in %s\n",
		    dir);
		exit(1);
	}
	ctx.store = store;
	ctx.cfg = &cfg;
	atexit(cleanup);
	return 0;
}

/* Deletes every record; returns how many live ones there were. */
static size_t
wipe(void)
{
	struct store_item *items = NULL;
	struct op_result *res;
	struct op *ops;
	size_t n = 0, total = 0, i;
	int more = 0;

	/* Records with a ttl may have expired unseen: sweep them all first. */
	FUZZ_CHECK(store_sweep(store, INT64_MAX, SIZE_MAX, NULL) == STORE_OK);
	do {
		FUZZ_CHECK(store_list(store, "", 0, NULL, 0, 1000, &items, &n,
		    &more, NULL, NULL) == STORE_OK);
		if (n == 0) {
			store_items_free(items, n);
			break;
		}
		ops = xcalloc(n, sizeof(*ops));
		res = xcalloc(n, sizeof(*res));
		for (i = 0; i < n; i++) {
			ops[i].type = OP_DELETE;
			ops[i].key = items[i].key;
			ops[i].klen = items[i].klen;
		}
		FUZZ_CHECK(store_exec(store, ops, n, 0, codec_equal, res,
		    NULL) == STORE_OK);
		for (i = 0; i < n; i++)
			op_result_clear(&res[i]);
		free(res);
		free(ops);
		store_items_free(items, n);
		total += n;
	} while (more);
	return total;
}

/* Runs one request; returns the reply status. */
static int
run(const char *method, const char *uri, const char *body, size_t body_len)
{
	static const char *const hdrs[] = { "HTTP_IF_MATCH=",
	    "HTTP_IF_NONE_MATCH=" };
	char *envp[5], *path, *tab, *field;
	struct resp resp;
	struct req r;
	size_t h, n = 2;
	int status;

	path = xmemdup(uri, strlen(uri));
	tab = strchr(path, '\t');
	if (tab != NULL)
		*tab++ = '\0';
	envp[0] = xmalloc(strlen(method) + 16);
	strcpy(envp[0], "REQUEST_METHOD=");
	strcat(envp[0], method);
	envp[1] = xmalloc(strlen(path) + 13);
	strcpy(envp[1], "REQUEST_URI=");
	strcat(envp[1], path);
	for (h = 0; tab != NULL && h < 2; h++) {
		field = tab;
		if ((tab = strchr(field, '\t')) != NULL)
			*tab++ = '\0';
		if (*field == '\0')
			continue;
		envp[n] = xmalloc(strlen(hdrs[h]) + strlen(field) + 1);
		strcpy(envp[n], hdrs[h]);
		strcat(envp[n], field);
		n++;
	}
	envp[n] = NULL;

	resp_init(&resp);
	req_parse(&r, envp, body, body_len);
	route_dispatch(&ctx, &r, &resp);
	req_free(&r);
	status = resp.status;
	FUZZ_CHECK(status == 200 || status == 204 || status == 304 ||
	    status == 400 || status == 404 || status == 405 || status == 409 ||
	    status == 412 || status == 413);
	if (status == 204 || status == 304)
		FUZZ_CHECK(resp.body.len == 0);
	else if (strcmp(resp.content_type, RESP_JSON) == 0)
		FUZZ_CHECK(codec_validate(resp.body.data, resp.body.len,
		    REPLY_DEPTH, NULL, 0) == 0);
	if (status == 405)
		FUZZ_CHECK(resp.allow != NULL);
	resp_free(&resp);
	for (h = 0; h < n; h++)
		free(envp[h]);
	free(path);
	return status;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *nl, *sp;
	char *method = NULL, *uri = NULL, *body;
	size_t lim = size < LINE_MAX_BYTES ? size : LINE_MAX_BYTES;
	size_t off = 0;
	int status;

	nl = memchr(p, '\n', lim);
	sp = nl ? memchr(p, ' ', (size_t)(nl - p)) : NULL;
	if (sp != NULL && sp > p) {
		method = xmemdup(p, (size_t)(sp - p));
		uri = xmemdup(sp + 1, (size_t)(nl - sp - 1));
		off = (size_t)(nl - p) + 1;
	} else {
		method = xmemdup("POST", 4);
		uri = xmemdup("/batch", 6);
	}
	/* The service hands handlers a NUL-terminated copy; so does this. */
	body = xmemdup(p + off, size - off);

	status = run(method, uri, size > off ? body : NULL, size - off);
	if (status != 200)
		FUZZ_CHECK(wipe() == 0);
	else {
		FUZZ_CHECK(run("GET", "/list?limit=50", NULL, 0) == 200);
		wipe();
	}
	free(body);
	free(uri);
	free(method);
	return 0;
}
