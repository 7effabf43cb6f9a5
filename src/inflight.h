/*
 * inflight: the memory that replies being built and sent hold, counted
 * across all worker threads, so that a mix of valid requests (large list
 * pages, batches of large gets, many at once) is answered 503 + Retry-After
 * instead of exhausting memory, where xmalloc aborts the whole process.
 */
#ifndef KV_INFLIGHT_H
#define KV_INFLIGHT_H

#include <stddef.h>

/*
 * The largest reply ever built, well below 2^31: libfcgi takes lengths
 * as int, and a reply has to fit in memory next to the store's copy.
 */
#define INFLIGHT_REPLY_MAX	((size_t)1 << 30)

enum inflight_result {
	INFLIGHT_OK = 0,
	INFLIGHT_BUSY,		/* others hold too much now: try again */
	INFLIGHT_TOO_LARGE,	/* over INFLIGHT_REPLY_MAX: never */
};

/* Sets the limit on the bytes all replies may hold at once. */
void	inflight_set_limit(size_t);

/*
 * Takes n bytes for a reply about to be built. A reply is refused
 * (INFLIGHT_BUSY) when the bytes held would pass the limit, unless
 * nothing else is held: one valid request alone always gets its reply.
 */
enum inflight_result inflight_take(size_t n);

/* Gives back what inflight_take took. */
void	inflight_give(size_t n);

/* Bytes held now. */
size_t	inflight_held(void);

#endif
