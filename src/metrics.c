/*
 * metrics: per-route request counters and latency histograms in static
 * arrays of relaxed atomics, and their rendering as Prometheus text.
 *
 * A histogram keeps one non-cumulative count per bucket; rendering sums
 * them into the cumulative "le" series and derives _count from the same
 * pass, so a scrape taken while requests go on is still self-consistent
 * (the +Inf bucket always equals _count).
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "metrics.h"

#define STATUS_MIN	100
#define STATUS_N	500	/* statuses 100..599 */

/* Upper bounds of the latency buckets, as rendered and in nanoseconds. */
static const struct {
	const char	*le;
	uint64_t	 ns;
} buckets[] = {
	{ "0.0001", 100000 },
	{ "0.00025", 250000 },
	{ "0.0005", 500000 },
	{ "0.001", 1000000 },
	{ "0.0025", 2500000 },
	{ "0.005", 5000000 },
	{ "0.01", 10000000 },
	{ "0.025", 25000000 },
	{ "0.05", 50000000 },
	{ "0.1", 100000000 },
	{ "0.25", 250000000 },
	{ "0.5", 500000000 },
	{ "1", 1000000000 },
	{ "2.5", 2500000000 },
	{ "5", 5000000000 },
	{ "10", 10000000000 },
};

#define NBUCKETS	(sizeof(buckets) / sizeof(buckets[0]))

struct route_counters {
	_Atomic uint64_t	 requests[STATUS_N];
	_Atomic uint64_t	 in_bucket[NBUCKETS + 1];	/* last: above 10 s */
	_Atomic uint64_t	 sum_ns;
};

static struct route_counters counters[METRICS_ROUTES_MAX];
static const char *const *route_names;
static size_t nroutes;
static struct timespec started_mono;
static struct timespec started_real;

/* Names the routes, zeroes the counters and notes the start time. */
void
metrics_init(const char *const *names, size_t n)
{
	memset(counters, 0, sizeof(counters));
	route_names = names;
	nroutes = n < METRICS_ROUTES_MAX ? n : METRICS_ROUTES_MAX;
	clock_gettime(CLOCK_MONOTONIC, &started_mono);
	clock_gettime(CLOCK_REALTIME, &started_real);
}

/* Counts one request: its status, its bucket and its time. */
void
metrics_request(size_t route, int status, uint64_t ns)
{
	struct route_counters *c;
	size_t i;

	if (route >= nroutes || status < STATUS_MIN ||
	    status >= STATUS_MIN + STATUS_N)
		return;
	c = &counters[route];
	atomic_fetch_add_explicit(&c->requests[status - STATUS_MIN], 1,
	    memory_order_relaxed);
	for (i = 0; i < NBUCKETS && ns > buckets[i].ns; i++)
		;
	atomic_fetch_add_explicit(&c->in_bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->sum_ns, ns, memory_order_relaxed);
}

static uint64_t
get(_Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

/* Appends s as a label value: backslash, quote and newline escaped. */
static void
put_label(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			buf_addc(b, '\\');
		if (*s == '\n')
			buf_adds(b, "\\n");
		else
			buf_addc(b, *s);
	}
}

/* Appends the HELP and TYPE lines of one metric family. */
static void
put_head(struct buf *b, const char *name, const char *type,
    const char *help)
{
	buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Appends a family holding one unlabelled sample. */
static void
put_one(struct buf *b, const char *name, const char *type, const char *help,
    uint64_t v)
{
	put_head(b, name, type, help);
	buf_addf(b, "%s %" PRIu64 "\n", name, v);
}

/* kvstore_http_requests_total: only the (route, code) pairs seen. */
static void
render_requests(struct buf *b)
{
	size_t r, i;
	uint64_t v;

	put_head(b, "kvstore_http_requests_total", "counter",
	    "Requests answered, by route and HTTP status code.");
	for (r = 0; r < nroutes; r++) {
		for (i = 0; i < STATUS_N; i++) {
			if ((v = get(&counters[r].requests[i])) == 0)
				continue;
			buf_adds(b, "kvstore_http_requests_total{route=\"");
			put_label(b, route_names[r]);
			buf_addf(b, "\",code=\"%zu\"} %" PRIu64 "\n",
			    i + STATUS_MIN, v);
		}
	}
}

/* Appends name{route="R"<extra>} as the start of a histogram sample. */
static void
put_hist_name(struct buf *b, const char *suffix, size_t r)
{
	buf_addf(b, "kvstore_http_request_duration_seconds%s{route=\"",
	    suffix);
	put_label(b, route_names[r]);
	buf_addc(b, '"');
}

/* kvstore_http_request_duration_seconds, for every route. */
static void
render_latency(struct buf *b)
{
	uint64_t cum, sum;
	size_t r, i;

	put_head(b, "kvstore_http_request_duration_seconds", "histogram",
	    "Time from accepting a request to having written its reply.");
	for (r = 0; r < nroutes; r++) {
		cum = 0;
		for (i = 0; i <= NBUCKETS; i++) {
			cum += get(&counters[r].in_bucket[i]);
			put_hist_name(b, "_bucket", r);
			buf_addf(b, ",le=\"%s\"} %" PRIu64 "\n",
			    i < NBUCKETS ? buckets[i].le : "+Inf", cum);
		}
		sum = get(&counters[r].sum_ns);
		put_hist_name(b, "_sum", r);
		buf_addf(b, "} %" PRIu64 ".%09" PRIu64 "\n", sum / 1000000000,
		    sum % 1000000000);
		put_hist_name(b, "_count", r);
		buf_addf(b, "} %" PRIu64 "\n", cum);
	}
}

/* The store's counters, sizes and cache statistics. */
static void
render_store(struct buf *b, const struct store_stats *st)
{
	put_one(b, "kvstore_txn_commits_total", "counter",
	    "Transactions committed, reads and background work included.",
	    st->commits);
	put_one(b, "kvstore_txn_aborts_total", "counter",
	    "Transactions rolled back: conflicts, unmet conditions, errors.",
	    st->aborts);
	put_one(b, "kvstore_txn_deadlocks_total", "counter",
	    "Lock conflicts (deadlocks, lock timeouts) that were retried.",
	    st->deadlocks);
	put_head(b, "kvstore_store_unavailable_total", "counter",
	    "Operations refused with 503: retries exhausted (busy) or disk "
	    "full (nospace).");
	buf_addf(b, "kvstore_store_unavailable_total{reason=\"busy\"} %"
	    PRIu64 "\n", st->busy);
	buf_addf(b, "kvstore_store_unavailable_total{reason=\"nospace\"} %"
	    PRIu64 "\n", st->nospace);
	put_one(b, "kvstore_expired_swept_total", "counter",
	    "Expired keys removed from disk by the sweeper.", st->swept);
	/* Before the first count there is no number to give. */
	if (st->keys_counted) {
		put_one(b, "kvstore_keys", "gauge",
		    "Keys on disk at the last count (every 30 s), expired keys "
		    "not yet swept included.", st->keys);
		put_one(b, "kvstore_keys_expiring", "gauge",
		    "Keys with an expiry at the last count.", st->keys_expiring);
	}
	put_head(b, "kvstore_disk_bytes", "gauge",
	    "Disk space used in the data directory, by kind of file.");
	buf_addf(b, "kvstore_disk_bytes{kind=\"data\"} %" PRIu64 "\n",
	    st->data_bytes);
	buf_addf(b, "kvstore_disk_bytes{kind=\"log\"} %" PRIu64 "\n",
	    st->log_bytes);
	put_one(b, "kvstore_log_files", "gauge",
	    "Berkeley DB log files in the data directory.", st->log_files);
	put_one(b, "kvstore_cache_hits_total", "counter",
	    "Page lookups found in the Berkeley DB cache.", st->cache_hits);
	put_one(b, "kvstore_cache_misses_total", "counter",
	    "Page lookups that had to read the disk.", st->cache_misses);
}

/* Renders every metric (see metrics.h). */
/*
 * kvstore_auth_denied_total: refusals by access control, every reason
 * always present (zero while access control is off).
 */
static void
render_auth(struct buf *b)
{
	static const char *const reasons[AUTH_NDENIALS] = {
		[AUTH_MISSING] = "missing", [AUTH_UNKNOWN] = "unknown",
		[AUTH_FORBIDDEN] = "forbidden",
	};
	size_t i;

	put_head(b, "kvstore_auth_denied_total", "counter",
	    "Requests refused by access control: missing (no or malformed "
	    "bearer token), unknown (no such token), forbidden (no right or "
	    "key outside the token's prefixes).");
	for (i = 0; i < AUTH_NDENIALS; i++)
		buf_addf(b, "kvstore_auth_denied_total{reason=\"%s\"} %llu\n",
		    reasons[i], auth_denied((enum auth_denial)i));
}

void
metrics_render(struct buf *b, const struct store_stats *st)
{
	struct timespec now;
	int64_t up_ms;

	render_requests(b);
	render_latency(b);
	render_auth(b);
	render_store(b, st);
	clock_gettime(CLOCK_MONOTONIC, &now);
	up_ms = (int64_t)(now.tv_sec - started_mono.tv_sec) * 1000 +
	    (now.tv_nsec - started_mono.tv_nsec) / 1000000;
	put_head(b, "kvstore_uptime_seconds", "gauge",
	    "Seconds since the service started.");
	buf_addf(b, "kvstore_uptime_seconds %" PRId64 ".%03" PRId64 "\n",
	    up_ms / 1000, up_ms % 1000);
	put_one(b, "kvstore_start_time_seconds", "gauge",
	    "When the service started, in seconds since the Unix epoch.",
	    (uint64_t)started_real.tv_sec);
	put_head(b, "kvstore_build_info", "gauge",
	    "Always 1; the labels name the running build.");
	buf_adds(b, "kvstore_build_info{version=\"");
	put_label(b, PACKAGE_VERSION);
	buf_adds(b, "\"} 1\n");
}
