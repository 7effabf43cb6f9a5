/*
 * store_impl: what the two halves of the store module share, the engine
 * (store.c: environment, transactions, reads, writes, lists, sweeper) and
 * its tooling (store_tools.c: statistics, disk use, checkpoints, backup,
 * audit, verification, loading). Nothing outside those two files may
 * include it: everyone else goes through store.h.
 */
#ifndef KV_STORE_IMPL_H
#define KV_STORE_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <db.h>

#include "flush.h"
#include "store.h"

#define EXP_LEN		8		/* big-endian expiry: the index key */
#define HDR_LEN		16		/* expiry + big-endian version */
#define LEGACY_HDR_LEN	8		/* format 1: the expiry alone */
#define VERSION_MAX	((INT64_C(1) << 53) - 1)	/* exact in JavaScript */

/* store_run() flags. */
#define RUN_READ_COMMITTED 0x01	/* single-key reads: degree 2 isolation */
#define RUN_BACKGROUND	0x02	/* sweeper: preferred deadlock victim, quiet */
#define RUN_READ_ONLY	0x04	/* writes nothing: no commit to count */

/*
 * Event counters for store_stats(), bumped with relaxed atomics so that
 * counting never adds a lock to the request path.
 */
struct store_counters {
	_Atomic uint64_t	 commits;
	_Atomic uint64_t	 aborts;
	_Atomic uint64_t	 deadlocks;	/* conflicts retried */
	_Atomic uint64_t	 busy;		/* calls that ran out of retries */
	_Atomic uint64_t	 nospace;
	_Atomic uint64_t	 swept;
	_Atomic uint64_t	 keys;		/* at the last count */
	_Atomic uint64_t	 keys_expiring;
	_Atomic int		 keys_counted;
};

struct store {
	DB_ENV			*env;
	DB			*db;		/* primary */
	DB			*exp;		/* secondary on expiry */
	DB			*meta;		/* format marker, sequence */
	DB_SEQUENCE		*seq;		/* versions */
	int			 env_open;	/* env->open succeeded */
	enum store_durability	 durability;
	char			*home;
	int			 guard_logs;	/* see store_log_trim */
	int64_t			(*clock)(void);	/* ms since the epoch */
	int64_t			 retry_budget_ms; /* see store_run */
	char			*test_panic_file; /* store_cfg's, copied */
	struct store_counters	 ctr;
	/* Group commit in SYNC mode; flush_init'ed when gc_init is set. */
	struct flush		 gc;
	int			 gc_init;
	void			(*flush_hook)(void *);
	void			*flush_hook_arg;
	size_t			 list_bytes;	/* value bytes per list page */

	pthread_t		 thread;
	int			 thread_running;
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;		/* signalled by store_close */
	int			 sync_init;	/* mtx and cond initialized */
	int			 stopping;
};

/* Adds n to an event counter; ordering does not matter to a counter. */
static inline void
ctr_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/*
 * A transaction body. It returns 0 to commit or a BDB error code to abort;
 * setting *rollback (and returning 0) aborts without a retry and makes
 * store_run() return STORE_CONDITION. It must close every cursor it opened.
 * now_ms is the store's clock read at the start of this attempt: expiry is
 * judged by it, never by a time read before the first attempt.
 */
typedef int	(*txn_body)(struct store *, DB_TXN *, int64_t now_ms, void *arg,
		    int *rollback);
/* Frees whatever a body put into arg, so a retry or a failure starts clean. */
typedef void	(*txn_reset)(void *arg);

/* Stores v at p as 8 big-endian bytes. */
static inline void
be64_put(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

/* Reads 8 big-endian bytes at p. */
static inline uint64_t
be64_get(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Returns 1 if a record with this expiry no longer exists at now_ms. */
static inline int
is_expired(int64_t expires, int64_t now_ms)
{
	return expires != 0 && expires <= now_ms;
}

/*
 * Runs body in a transaction until it commits, retrying deadlocks; the
 * one owner of retries, error mapping and the single log line (store.c).
 */
int	store_run(struct store *, int flags, txn_body body, txn_reset reset,
	    void *arg, const char *func);

/*
 * Writes key = (expires, version, val) in txn. Returns a BDB code
 * (store.c).
 */
int	rec_put(struct store *, DB_TXN *, const char *key, size_t klen,
	    const char *val, size_t vlen, int64_t expires, uint64_t version);

/*
 * Versions (store.c): version_next draws the next one; version_raise makes
 * every later one greater than floor (only with no other thread on the
 * store). Both return a BDB code / a store_err as named.
 */
int	version_next(struct store *, uint64_t *out);
int	version_raise(struct store *, uint64_t floor);

/* Berkeley DB's error callback: logs, and notes a full disk (store.c). */
void	store_errcall(const DB_ENV *, const char *pfx, const char *msg);

/*
 * Full disks (store_io.c): store_io_install wraps the system calls
 * Berkeley DB writes with, once per process, before the first environment
 * is created; returns 0 or a BDB code. The wrappers set tls_nospace in the
 * calling thread when a write fails with ENOSPC, EDQUOT or EFBIG.
 */
extern __thread int	tls_nospace;
int	store_io_install(void);

/*
 * Berkeley DB panics (store_panic.c). store_panic logs once and ends the
 * process with STORE_EXIT_PANIC; it never returns. store_event is the
 * environment's event callback (DB_EVENT_PANIC). store_panicked says
 * whether a panic is under way, so the error callback can fall silent.
 * store_test_panic_poll runs the test hook, once per maintenance tick.
 */
void	store_panic(const char *where, int err) __attribute__((noreturn));
void	store_event(DB_ENV *, u_int32_t event, void *info);
int	store_panicked(void);
void	store_test_panic_poll(struct store *);

/*
 * Counts the records of both trees into the counters; the maintenance
 * thread calls it at every checkpoint (store_tools.c).
 */
int	count_keys(struct store *);

/*
 * Removes the log files that recovery no longer needs. On the service's
 * store (guard_logs) it first takes the log lock of backup.h without
 * waiting: while a hot backup holds it, nothing is removed (the next
 * checkpoint tries again), and once taken, staging directories that
 * interrupted backups left are removed too (store_tools.c).
 */
void	store_log_trim(struct store *);

#endif
