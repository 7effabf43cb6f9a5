/*
 * admin_dump: `kvstore-admin dump`, every live record on stdout as one JSON
 * object a line, from the stopped store or a snapshot of the running one.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "buf.h"
#include "codec.h"

#define DUMP_PAGE	1000	/* records per dump transaction */

/* Writes every live record, a page per transaction, in key order. */
static int
cmd_dump(struct admin *a, int argc, char **argv)
{
	struct store_item *items = NULL;
	struct admin_handle h;
	struct buf line;
	char *after = NULL, *next = NULL;
	size_t n = 0, alen = 0, nlen = 0, i;
	int more = 1, rc = 1, r;

	buf_init(&line);
	if (admin_open_for_reading(a, &h) != 0)
		goto out;
	while (more) {
		r = store_list(h.store, "", 0, after, alen, DUMP_PAGE, &items,
		    &n, &more, &next, &nlen);
		/* A page may be short, even empty: resume where it stopped. */
		free(after);
		after = next;
		alen = nlen;
		next = NULL;
		if (r != STORE_OK) {
			admin_warn("reading the store: %s", store_strerror(r));
			goto out;
		}
		for (i = 0; i < n; i++) {
			buf_reset(&line);
			buf_addc(&line, '{');
			codec_put_item(&line, items[i].key, items[i].klen,
			    items[i].val, items[i].vlen, items[i].expires,
			    items[i].version);
			buf_adds(&line, "}\n");
			if (fwrite(line.data, 1, line.len, stdout) != line.len) {
				admin_warn("writing: %s", strerror(errno));
				goto out;
			}
		}
		store_items_free(items, n);
		items = NULL;
		n = 0;
	}
	if (fflush(stdout) != 0) {
		admin_warn("writing: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	store_items_free(items, n);
	free(after);
	buf_free(&line);
	admin_handle_close(&h);
	return rc;
}

const struct admin_cmd admin_dump_cmd = {
	.name = "dump", .fn = cmd_dump, .nargs = 0, .args = "",
	.help = "write every live key to stdout, one JSON object a line",
};
