/*
 * store: the key-value store on a Berkeley DB transactional environment.
 * The only module that includes <db.h>. Knows nothing of HTTP or JSON.
 *
 * Records: primary btree "kv", key = key bytes, data = 8-byte big-endian
 * expiry in ms since the epoch (0 = none) followed by the value bytes.
 * Secondary btree "expiry" (sorted duplicates) indexes records that expire.
 *
 * Every function that takes now_ms treats a record whose expiry is <= now_ms
 * as absent, whether or not the sweeper has removed it yet. Every write is
 * committed before the function returns STORE_OK. Deadlocks are retried
 * inside; when retries run out the call returns STORE_BUSY with nothing
 * applied. Functions are safe to call from many threads at once.
 */
#ifndef KV_STORE_H
#define KV_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "op.h"

enum store_err {
	STORE_OK = 0,
	STORE_NOTFOUND,		/* store_get: no live record */
	STORE_CONDITION,	/* store_exec atomic: a TAS failed, rolled back */
	STORE_BUSY,		/* deadlock/lock retries exhausted: try again */
	STORE_NOSPACE,		/* disk full: try again later */
	STORE_ERROR,		/* anything else; logged where it happened */
};

enum store_durability {
	STORE_DURABLE_SYNC,	/* log fsync'ed at every commit */
	STORE_DURABLE_WRITE,	/* log written to the OS at commit, fsync'ed each second */
};

struct store_cfg {
	const char		*home;		/* data directory, must exist */
	enum store_durability	 durability;
	size_t			 cache_bytes;	/* BDB cache; 0 = default */
	int			 background;	/* run the maintenance thread */
};

struct store_item {
	char	*key;	/* NUL-terminated copy, klen bytes */
	size_t	 klen;
	char	*val;	/* NUL-terminated copy, vlen bytes */
	size_t	 vlen;
	int64_t	 expires;
};

struct store;

/*
 * Opens (creating if needed) and recovers the environment in cfg->home.
 * On success *out owns the store and, if cfg->background, a maintenance
 * thread that sweeps expired records, runs deadlock detection, checkpoints
 * and (in WRITE mode) flushes the log each second. Returns STORE_ERROR with
 * a logged reason otherwise.
 */
int	store_open(const struct store_cfg *, struct store **out);

/* Stops the maintenance thread, checkpoints and closes. NULL is ignored. */
void	store_close(struct store *);

/* Reads one key in a read-only transaction. out->val is the caller's. */
int	store_get(struct store *, const char *key, size_t klen, int64_t now_ms,
	    struct op_result *out);

/*
 * Runs ops[0..n) in order inside ONE transaction; each op sees the writes
 * of the ones before it. results[i] (caller-provided, zeroed) receives op
 * i's outcome. eq(a, alen, b, blen) decides TAS equality (1 = equal).
 * If atomic and a TAS condition fails, everything is rolled back, *failed
 * is set to its index and STORE_CONDITION is returned. On any error
 * nothing is applied and results hold no allocations.
 */
typedef int (*store_eq_fn)(const char *, size_t, const char *, size_t);
int	store_exec(struct store *, const struct op *ops, size_t n, int atomic,
	    int64_t now_ms, store_eq_fn eq, struct op_result *results,
	    size_t *failed);

/*
 * Lists up to limit live records whose key starts with prefix, in
 * ascending byte order, starting strictly after key `after` (NULL/0 = from
 * the start). *items is malloc'd (free with store_items_free); *more is set
 * to 1 if at least one further live matching record exists. A page is read
 * in one serializable transaction, so it never shows part of a batch.
 */
int	store_list(struct store *, const char *prefix, size_t plen,
	    const char *after, size_t alen, size_t limit, int64_t now_ms,
	    struct store_item **items, size_t *n, int *more);
void	store_items_free(struct store_item *, size_t n);

/*
 * Physically deletes up to max records expired at now_ms, in small
 * transactions. *removed (may be NULL) counts them.
 */
int	store_sweep(struct store *, int64_t now_ms, size_t max, size_t *removed);

/* Runs a real read transaction against the store: STORE_OK if healthy. */
int	store_check(struct store *);

const char *store_strerror(int);

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t	store_now_ms(void);

#endif
