/*
 * store: the key-value store on a Berkeley DB transactional environment.
 * The only module that includes <db.h>. Knows nothing of HTTP or JSON.
 *
 * Records: primary btree "kv", key = key bytes, data = 8-byte big-endian
 * expiry in ms since the epoch (0 = none), 8-byte big-endian version, then
 * the value bytes. Secondary btree "expiry" (sorted duplicates) indexes
 * records that expire. "meta" holds the format marker and the sequence
 * that versions come from: a key's version only ever grows, across
 * deletes, restarts and crashes. A store written by the first release
 * (no versions) is converted once, when it is opened.
 *
 * A record whose expiry is <= now is absent, whether or not the sweeper has
 * removed it yet. The request functions (store_get, store_exec, store_list)
 * read "now" from the configured clock at the start of every transaction
 * attempt, so a call retried after deadlocks judges expiry by the time of
 * the attempt that commits; store_sweep and store_audit take an explicit
 * now_ms. Every write is committed before the function returns STORE_OK,
 * and in SYNC mode nothing a function returns (a write's success, a value
 * read, a failed condition) comes back before the log is on disk past it:
 * a caller may reply with it at once. Deadlocks are retried inside; when
 * retries or the time allowed for them (retry_budget_ms) run out the call
 * returns STORE_BUSY with nothing applied. Functions are safe to call from many threads at once.
 */
#ifndef KV_STORE_H
#define KV_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "op.h"

enum store_err {
	STORE_OK = 0,
	STORE_NOTFOUND,		/* store_get: no live record */
	STORE_CONDITION,	/* store_exec atomic: a condition failed, rolled back */
	STORE_CONFLICT,		/* store_exec: an increment failed, rolled back */
	STORE_BUSY,		/* deadlock/lock retries exhausted: try again */
	STORE_NOSPACE,		/* disk full: try again later */
	STORE_ERROR,		/* anything else; logged where it happened */
};

/*
 * Exit status of a process whose Berkeley DB environment panicked: the
 * store logs once and exits with it at once (see store_panic.c), so that
 * systemd or scripts/stack restart the service, which recovers the store.
 */
#define STORE_EXIT_PANIC	70

enum store_durability {
	STORE_DURABLE_SYNC,	/* log fsync'ed at every commit */
	STORE_DURABLE_WRITE,	/* log written to the OS at commit, fsync'ed each second */
};

/*
 * How store_open recovers the environment. The regions are private to
 * the process, so the caller must make sure that no other process opens
 * the same home (kvstore-fcgi and kvstore-admin lock the data directory).
 */
enum store_mode {
	STORE_MODE_OWN = 0,	/* create if needed, run normal recovery */
	STORE_MODE_RESTORE,	/* catastrophic recovery: a copy of a live store */
};

struct store_cfg {
	const char		*home;		/* data directory, must exist */
	enum store_durability	 durability;
	size_t			 cache_bytes;	/* BDB cache; 0 = default */
	int			 background;	/* run the maintenance thread */
	enum store_mode		 mode;		/* default: STORE_MODE_OWN */
	/*
	 * Milliseconds since the epoch; NULL = store_now_ms. Tests put a
	 * function here that returns the time they want to simulate.
	 */
	int64_t			(*clock)(void);
	/*
	 * The most time one call may spend retrying conflicts and waiting
	 * for locks before it returns STORE_BUSY; 0 = 10 s, well below
	 * nginx's fastcgi_read_timeout. Tests set it lower.
	 */
	unsigned		 retry_budget_ms;
	/*
	 * TEST ONLY (kvstore-fcgi sets it from KV_TEST_PANIC_FILE): when a
	 * file of this name appears, the maintenance thread removes it and
	 * puts the environment in Berkeley DB's panic state, as a real
	 * failure would. NULL (the default) disables the hook.
	 */
	const char		*test_panic_file;
	/*
	 * Tests only: called before every group flush of the log in SYNC
	 * mode (it may sleep, to hold a commit in memory for a while).
	 */
	void			(*flush_hook)(void *);
	void			*flush_hook_arg;
	/* Value bytes a list page may hold; 0 = STORE_LIST_BYTES_DEFAULT. */
	size_t			 list_bytes;
};

/*
 * The files of a store's home: the three databases, and Berkeley DB's log
 * files ("log." and 10 digits). Backups and kvstore-admin name them from
 * here.
 */
#define STORE_PRIMARY_FILE	"kv.db"
#define STORE_EXPIRY_FILE	"expiry.db"
#define STORE_META_FILE		"meta.db"	/* format marker, versions */

/*
 * The lock file in home that keeps a second process from opening the
 * store: kvstore-fcgi holds it while it runs, kvstore-admin while it
 * opens a stopped store itself.
 */
#define STORE_LOCK_FILE		"kvstore.lock"

/* Returns 1 if name is a log file of the environment. */
int	store_is_log_file(const char *name);

/* The Berkeley DB cache when store_cfg.cache_bytes is 0: 24 MiB. */
#define STORE_CACHE_DEFAULT	25165824
/* Value bytes of a list page when store_cfg.list_bytes is 0: 8 MiB. */
#define STORE_LIST_BYTES_DEFAULT	8388608

struct store_item {
	char	*key;	/* NUL-terminated copy, klen bytes */
	size_t	 klen;
	char	*val;	/* NUL-terminated copy, vlen bytes */
	size_t	 vlen;
	int64_t	 expires;
	uint64_t version;
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
int	store_get(struct store *, const char *key, size_t klen,
	    struct op_result *out);

/*
 * Runs ops[0..n) in order inside ONE transaction; each op sees the writes
 * of the ones before it. results[i] (caller-provided, zeroed) receives op
 * i's outcome. eq(a, alen, b, blen) decides TAS equality (1 = equal).
 * If atomic and a condition fails (a TAS comparison or an op's version
 * precondition), everything is rolled back, *failed is set to its index
 * and STORE_CONDITION is returned. If an increment cannot be done (atomic
 * or not), everything is rolled back, *failed is set to its index,
 * results[*failed] holds the reason (err) and the key as it is, and
 * STORE_CONFLICT is returned. On any other error nothing is applied and
 * results hold no allocations.
 */
typedef int (*store_eq_fn)(const char *, size_t, const char *, size_t);
int	store_exec(struct store *, const struct op *ops, size_t n, int atomic,
	    store_eq_fn eq, struct op_result *results, size_t *failed);

/*
 * Lists up to limit live records whose key starts with prefix, in
 * ascending byte order, starting strictly after key `after` (NULL/0 = from
 * the start). *items is malloc'd (free with store_items_free). A page is
 * read in one serializable transaction, so it never shows part of a batch.
 *
 * A page also ends early, before limit, when its values would pass the
 * configured byte budget (cfg.list_bytes; a first value larger than the
 * budget is still returned, alone) or after it examined limit + 1000
 * records (a run of expired ones), so it may hold few items or none.
 * *more is 1 when the walk should go on: then *next (malloc'd, the
 * caller's; not returned when next is NULL) is the key to resume strictly
 * after, the last key examined. *more = 0 means the end.
 */
int	store_list(struct store *, const char *prefix, size_t plen,
	    const char *after, size_t alen, size_t limit,
	    struct store_item **items, size_t *n, int *more, char **next,
	    size_t *nlen);
void	store_items_free(struct store_item *, size_t n);

/* As store_list, without reading values: items have val NULL, vlen 0. */
int	store_list_keys(struct store *, const char *prefix, size_t plen,
	    const char *after, size_t alen, size_t limit,
	    struct store_item **items, size_t *n, int *more, char **next,
	    size_t *nlen);

/*
 * Deletes up to limit records whose key starts with prefix (plen > 0),
 * lowest first, in ONE transaction. *deleted counts the live ones among
 * them (expired records met on the way are removed too). *more is set
 * when a record with the prefix remains; a call also stops early, with
 * *more set, once the records it removed hold 64 MiB.
 */
int	store_delete_prefix(struct store *, const char *prefix, size_t plen,
	    size_t limit, size_t *deleted, int *more);

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

/* Operations: statistics, checkpoints, backup, verification, loading. */

struct store_stats {
	/*
	 * Events since this handle was opened (a joined handle counts only
	 * its own). Every transaction counts, reads and the sweeper's too.
	 */
	uint64_t	 commits;
	uint64_t	 aborts;	/* rollbacks: conflicts, conditions, errors */
	uint64_t	 deadlocks;	/* conflicts that were retried */
	uint64_t	 busy;		/* calls refused with STORE_BUSY */
	uint64_t	 nospace;	/* calls refused with STORE_NOSPACE */
	uint64_t	 swept;		/* expired records removed */
	/*
	 * Records in the store at the last count, expired ones the sweeper
	 * has not removed yet included. The maintenance thread counts at
	 * start and at every checkpoint (30 s); keys_counted is 0 before.
	 */
	uint64_t	 keys;
	uint64_t	 keys_expiring;	/* of which have an expiry */
	int		 keys_counted;
	/* Disk space of the files in the home now: the databases, the log. */
	uint64_t	 data_bytes;
	uint64_t	 log_bytes;
	uint64_t	 log_files;
	/* Page lookups in the Berkeley DB cache since the environment opened. */
	uint64_t	 cache_hits;
	uint64_t	 cache_misses;
};

/*
 * Fills *out without blocking any request: counters, file sizes and cache
 * statistics. With count set, counts the records first (a walk of both
 * trees at read-committed isolation: costs a read of every page).
 * Returns STORE_OK, or STORE_ERROR (logged) if a count or a statistic
 * failed; the other fields are filled either way.
 */
int	store_stats(struct store *, int count, struct store_stats *out);

/*
 * Fills only the disk fields of *out (data_bytes, log_bytes, log_files)
 * from the files in home, open or not; the rest is zeroed.
 */
int	store_disk_usage(const char *home, struct store_stats *out);

/*
 * Forces a checkpoint: every committed write reaches the database files,
 * and log files no longer needed for normal recovery are removed.
 */
int	store_checkpoint(struct store *);

/*
 * Hot backup into dir (created if missing; files already there are
 * removed first): a checkpoint, then Berkeley DB's own copy of the
 * database files and of every log file they need, while other threads
 * of this process may go on writing. The copy holds every transaction
 * committed before the call, and must go through catastrophic recovery
 * (STORE_MODE_RESTORE) before use.
 */
int	store_backup(struct store *, const char *dir);

/* What store_audit found: a walk of every record. */
struct store_audit {
	uint64_t	 records;	/* in the primary */
	uint64_t	 live;		/* not expired at now_ms */
	uint64_t	 expired;	/* expired, not swept yet */
	uint64_t	 expiring;	/* live with an expiry */
	uint64_t	 key_bytes;	/* of live records */
	uint64_t	 value_bytes;	/* of live records */
	int64_t		 first_expiry;	/* soonest live expiry, ms; 0 = none */
	int64_t		 last_expiry;	/* latest live expiry, ms; 0 = none */
	/* Only with check_index: damage a verification reports. */
	uint64_t	 bad_records;	/* shorter than the expiry header */
	uint64_t	 index_missing;	/* record with expiry not in the index */
	uint64_t	 index_extra;	/* index entries without their record */
};

/*
 * Walks every record at read-committed isolation (writers are never
 * held up for long). check_index also checks each expiring record
 * against the expiry index and counts the index: meaningful only on a
 * store nothing else writes to.
 */
int	store_audit(struct store *, int64_t now_ms, int check_index,
	    struct store_audit *out);

/*
 * Runs Berkeley DB's structural verification (DB->verify) on both
 * database files in home. No environment may be open on home, in this
 * process or another. Returns STORE_OK, or STORE_ERROR with the problem
 * logged.
 */
int	store_verify(const char *home);

/*
 * Writes items[0..n) in ONE transaction, each with its own absolute
 * expiry in ms (0 = none) and version (0 = a new one), replacing existing
 * keys. Nothing is written unless everything is. Versions handed out
 * afterwards are above every loaded version. No other thread may use the
 * store meanwhile (kvstore-admin load).
 */
int	store_load(struct store *, const struct store_item *items, size_t n);

/*
 * Held replies (SYNC mode): a server that would rather hold a reply than a
 * thread while the log goes to disk. Between store_hold_begin() and
 * store_hold_end() on one thread, calls return as soon as they commit or
 * read, before the log is on disk past them; store_hold_end() returns a
 * ticket, 0 when nothing they wrote or read can still be lost in a crash.
 * Until store_hold_wait(ticket) returns STORE_OK, from any thread, nothing
 * those calls returned may be shown to anyone. It returns STORE_NOSPACE or
 * STORE_ERROR (logged) when the flush failed: then the reply must be an
 * error, as if the call had failed. In WRITE mode tickets are always 0.
 */
void	store_hold_begin(void);
uint64_t store_hold_end(void);
int	store_hold_wait(struct store *, uint64_t ticket);
/*
 * Whether store_hold_wait would now sleep behind a flush that is already
 * running, rather than run the flush itself at once.
 */
int	store_hold_busy(struct store *);

#endif
