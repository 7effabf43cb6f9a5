/*
 * admin_load: `kvstore-admin load`, dump lines from stdin written into the
 * stopped store, each checked as the API checks a request.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "buf.h"
#include "codec.h"
#include "request.h"

#define LOAD_CHUNK	1000	/* records per load transaction */
#define BAD_LINES_SHOWN	100

struct load_state {
	struct store_item	 items[LOAD_CHUNK];
	size_t			 n;
	unsigned long		 loaded, expired, bad;
	unsigned long		 first_line;	/* of the pending chunk */
};

/*
 * Checks one decoded line with the API's rules. Returns NULL and fills
 * *it (borrowing from bi) when it is good, else the reason.
 */
static const char *
check_item(const struct admin *a, const struct body_item *bi,
    struct store_item *it)
{
	const char *why;

	if (bi->key.st != FIELD_OK)
		return bi->key.st == FIELD_ABSENT || bi->key.st == FIELD_NULL ?
		    "Missing key parameter" : "key must be a string";
	if ((why = req_key_check(bi->key.s, bi->key.len)) != NULL)
		return why;
	if (bi->value.st != FIELD_OK)
		return "value missing or null";
	if (bi->value.len > a->max_value)
		return "value too large";
	if (bi->version.st == FIELD_BADTYPE || (bi->version.st == FIELD_OK &&
	    (bi->version.v <= 0 || bi->version.v > INT64_C(9007199254740991))))
		return "version must be an integer from 1 to 2^53-1, or absent";
	if (bi->expires.st == FIELD_BADTYPE ||
	    (bi->expires.st == FIELD_OK && bi->expires.v <= 0))
		return "expires must be a positive integer (ms since the "
		    "epoch) or null";
	it->key = bi->key.s;
	it->klen = bi->key.len;
	it->val = bi->value.text;
	it->vlen = bi->value.len;
	it->expires = bi->expires.st == FIELD_OK ? bi->expires.v : 0;
	/* Kept, so no client ever sees a version go back after a reload. */
	it->version = bi->version.st == FIELD_OK ? (uint64_t)bi->version.v : 0;
	return NULL;
}

/* Commits the pending chunk; frees its copies either way. */
static int
load_flush(struct store *s, struct load_state *ls, unsigned long line)
{
	size_t i;
	int r;

	r = store_load(s, ls->items, ls->n);
	for (i = 0; i < ls->n; i++) {
		free(ls->items[i].key);
		free(ls->items[i].val);
	}
	if (r != STORE_OK) {
		admin_warn("lines %lu-%lu: %s; nothing of them was written, "
		    "everything before was", ls->first_line, line,
		    store_strerror(r));
		ls->n = 0;
		return -1;
	}
	ls->loaded += ls->n;
	ls->n = 0;
	return 0;
}

/* Loads dump lines from stdin into the stopped store, in chunks. */
static int
cmd_load(struct admin *a, int argc, char **argv)
{
	struct load_state *ls;
	struct body_item bi;
	struct store_item it;
	struct store *s = NULL;
	const char *why;
	char *buf = NULL, err[256];
	size_t cap = 0, len;
	ssize_t got;
	unsigned long lineno = 0;
	int64_t now = store_now_ms();
	int rc = 1;

	ls = xcalloc(1, sizeof(*ls));
	if (mkdir(a->data_dir, 0700) != 0 && errno != EEXIST) {
		admin_warn("%s: %s", a->data_dir, strerror(errno));
		goto out;
	}
	if (admin_require_stopped(a, "load into it") != 0 ||
	    admin_open_store(a, a->data_dir, STORE_MODE_OWN, &s) != 0)
		goto out;
	while ((got = getline(&buf, &cap, stdin)) > 0) {
		lineno++;
		len = (size_t)got;
		if (buf[len - 1] == '\n')
			len--;
		if (len == 0)
			continue;
		if (codec_decode_item(buf, len, a->max_depth, &bi, err,
		    sizeof(err)) != 0)
			why = err;
		else if ((why = check_item(a, &bi, &it)) == NULL &&
		    it.expires != 0 && it.expires <= now) {
			ls->expired++;
			codec_item_free(&bi);
			continue;
		}
		if (why != NULL) {
			if (++ls->bad <= BAD_LINES_SHOWN)
				admin_warn("line %lu: %s", lineno, why);
			codec_item_free(&bi);
			continue;
		}
		/* The chunk keeps the strings; bi lets go of them. */
		if (ls->n == 0)
			ls->first_line = lineno;
		ls->items[ls->n++] = it;
		bi.key.s = NULL;
		bi.value.text = NULL;
		codec_item_free(&bi);
		if (ls->n == LOAD_CHUNK && load_flush(s, ls, lineno) != 0)
			goto out;
	}
	if (ferror(stdin)) {
		admin_warn("reading stdin: %s", strerror(errno));
		goto out;
	}
	if (ls->n > 0 && load_flush(s, ls, lineno) != 0)
		goto out;
	if (ls->bad > BAD_LINES_SHOWN)
		admin_warn("%lu more bad lines not shown",
		    ls->bad - BAD_LINES_SHOWN);
	printf("loaded %lu keys from %lu lines; %lu already expired, %lu "
	    "bad\n", ls->loaded, lineno, ls->expired, ls->bad);
	rc = ls->bad > 0 ? 1 : 0;
out:
	store_close(s);
	free(buf);
	free(ls);
	return rc;
}

const struct admin_cmd admin_load_cmd = {
	.name = "load", .fn = cmd_load, .nargs = 0, .args = "",
	.help = "read dump lines from stdin into the stopped store",
};
