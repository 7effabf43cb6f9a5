/*
 * metrics: request counters and latency histograms, and the Prometheus
 * text exposition (format 0.0.4) of GET /metrics.
 *
 * Recording is a few relaxed atomic additions: no lock is taken on the
 * request path, and a scrape reads the counters while requests go on.
 * There is one set of counters per process.
 */
#ifndef KV_METRICS_H
#define KV_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "store.h"

#define METRICS_ROUTES_MAX	32	/* route ids are 0..METRICS_ROUTES_MAX-1 */
#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

/*
 * Names the routes (label values of route="...") and zeroes every
 * counter; names[i] must outlive the process. Also records the start
 * time for kvstore_uptime_seconds. Call once before the workers start;
 * routes beyond METRICS_ROUTES_MAX are ignored.
 */
void	metrics_init(const char *const *names, size_t n);

/*
 * Counts one request to route id answered with status (100..599) after
 * ns nanoseconds. Safe from any thread; out-of-range ids and statuses
 * are ignored.
 */
void	metrics_request(size_t route, int status, uint64_t ns);

/*
 * Appends the whole exposition to b: the request metrics, then those of
 * the store taken from st, build information and uptime.
 */
void	metrics_render(struct buf *b, const struct store_stats *st);

#endif
