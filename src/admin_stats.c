/*
 * admin_stats: `kvstore-admin stats`, keys, sizes, log files, expiry range
 * and cache hit rate of the store, running or not.
 */
#include <inttypes.h>
#include <stdio.h>

#include "admin.h"

/* Prints the store's statistics, one "name value" a line. */
static int
cmd_stats(struct admin *a, int argc, char **argv)
{
	struct store_stats st, live_st;
	struct store_audit au;
	struct admin_handle h;
	char t1[32], t2[32];
	int rc = 1, r;

	if (admin_open_for_reading(a, &h) != 0)
		goto out;
	if ((r = store_audit(h.store, store_now_ms(), 0, &au)) != STORE_OK) {
		admin_warn("reading the store: %s", store_strerror(r));
		goto out;
	}
	(void)store_stats(h.store, 0, &st);
	/* Disk use is that of the data directory, not of a snapshot. */
	if (h.live && store_disk_usage(a->data_dir, &live_st) == STORE_OK) {
		st.data_bytes = live_st.data_bytes;
		st.log_bytes = live_st.log_bytes;
		st.log_files = live_st.log_files;
	}
	printf("service %s\n", h.live ? "running" : "stopped");
	printf("keys %" PRIu64 "\n", au.live);
	printf("keys_expiring %" PRIu64 "\n", au.expiring);
	printf("keys_expired_unswept %" PRIu64 "\n", au.expired);
	printf("key_bytes %" PRIu64 "\n", au.key_bytes);
	printf("value_bytes %" PRIu64 "\n", au.value_bytes);
	printf("first_expiry %s\n", admin_fmt_time(au.first_expiry, t1, sizeof(t1)));
	printf("last_expiry %s\n", admin_fmt_time(au.last_expiry, t2, sizeof(t2)));
	printf("data_bytes %" PRIu64 "\n", st.data_bytes);
	printf("log_bytes %" PRIu64 "\n", st.log_bytes);
	printf("log_files %" PRIu64 "\n", st.log_files);
	/* A freshly opened cache says nothing about the service's. */
	if (h.live)
		printf("cache_hit_rate n/a (private to the service: see "
		    "kvstore_cache_hits_total in GET /metrics)\n");
	else if (st.cache_hits + st.cache_misses == 0)
		printf("cache_hit_rate n/a\n");
	else
		printf("cache_hit_rate %.4f (this command's own reads)\n",
		    (double)st.cache_hits /
		    (double)(st.cache_hits + st.cache_misses));
	rc = 0;
out:
	admin_handle_close(&h);
	return rc;
}

const struct admin_cmd admin_stats_cmd = {
	.name = "stats", .fn = cmd_stats, .nargs = 0, .args = "",
	.help = "keys, sizes, log files, expiry range, cache hit rate",
};
