/*
 * store: the key-value store on a Berkeley DB 5.3 transactional environment.
 *
 * Layout: "kv.db" is the primary btree (key bytes -> 8-byte big-endian
 * expiry in ms, 0 = none, then the 8-byte big-endian version, then the
 * value bytes); "expiry.db" is a secondary btree with sorted duplicates,
 * maintained by BDB through DB->associate, holding only records that
 * expire (its key is the first 8 bytes of the record); "meta.db" holds the
 * format marker and the version sequence (see "Versions" below).
 *
 * No DB_MULTIVERSION: with it, 32 threads incrementing one key through
 * snapshot reads and test-and-set livelocked in BDB 5.3 (readers spinning
 * in __memp_fget while the writer waited in __memp_dirty, 4 runs in 15,
 * none finishing in 100 s). Single-key reads therefore run at
 * DB_READ_COMMITTED (they wait at most for one writer's commit), and
 * store_list runs at the default degree 3, holding its read locks to the
 * end so it can never see part of a batch.
 *
 * Every transaction runs through store_run(), which owns the deadlock retry
 * loop and the one mapping from BDB error codes to enum store_err. Bodies
 * return BDB codes, close their own cursors and never log; store_run logs
 * once, with the name of the public function that failed.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <db.h>

#include "buf.h"
#include "flush.h"
#include "log.h"
#include "num.h"
#include "op.h"
#include "store.h"
#include "store_impl.h"

/*
 * Page-level locking takes a few locks per op on the primary and on the
 * secondary; a batch of ~1000 ops across many worker threads needs far more
 * than BDB's default of 1000 locks.
 */
#define MAX_LOCKS	100000
#define MAX_LOCKERS	20000
/* Room for many worker threads plus the sweeper. */
#define MAX_TXNS	1000
#define LOG_BUF_BYTES	(1024 * 1024)
/* A waiter still blocked after this long (µs) is refused, then retried. */
#define LOCK_TIMEOUT_US	(5 * 1000 * 1000)

#define RETRY_MAX	30
/*
 * The most time one call spends on conflicts, lock waits included, before
 * it answers STORE_BUSY (503 + Retry-After). It must stay well below
 * nginx's fastcgi_read_timeout (60 s in the shipped site): past that the
 * client gets a 504 while the write may still commit later. Each attempt's
 * transaction gets the remaining time as its lock timeout, so one long
 * wait cannot overrun it by more than a tick of the deadlock detector.
 */
#define RETRY_BUDGET_MS	10000
#define BACKOFF_UNIT_US	100
#define BACKOFF_CAP_US	50000

/*
 * Records a list page may examine beyond its limit (expired ones not swept
 * yet): a page holds its read locks until it ends, so this bounds how long
 * one page can hold up writers however many expired records lie ahead.
 */
#define LIST_SCAN_EXTRA		1000
/* Bulk read buffer of a list page (grown for a larger record). */
#define LIST_BULK_BYTES		(64 * 1024)
/* Room for the start key: a key (at most 512 bytes) plus one NUL. */
#define LIST_KEY_MAX		1024

#define SWEEP_TXN_RECORDS	100	/* deletions per sweeper transaction */
#define SWEEP_BUDGET		10000	/* records per maintenance tick */
#define CHECKPOINT_EVERY_S	30

static __thread unsigned int tls_seed;
/*
 * The soonest expiry (ms, 0 = none) among the records the running attempt
 * read as live or wrote (rec_read, rec_write); store_run checks it against
 * the clock before the attempt commits.
 */
static __thread int64_t	tls_horizon;
/*
 * Between store_hold_begin and store_hold_end: set, and run_wait notes in
 * tls_ticket the flush a reply must wait for instead of waiting.
 */
static __thread int	tls_hold;
static __thread uint64_t tls_ticket;

static const char *const store_errstr[] = {
	[STORE_OK] = "ok",
	[STORE_NOTFOUND] = "key not found",
	[STORE_CONDITION] = "condition not met",
	[STORE_CONFLICT] = "increment not possible",
	[STORE_BUSY] = "store busy, try again",
	[STORE_NOSPACE] = "no space left on the storage device",
	[STORE_ERROR] = "storage error",
};

/* Returns a short English phrase for a store_err value. */
const char *
store_strerror(int err)
{
	if (err < 0 || (size_t)err >= sizeof(store_errstr) /
	    sizeof(store_errstr[0]) || store_errstr[err] == NULL)
		return "unknown store error";
	return store_errstr[err];
}

/* Returns the wall-clock time in milliseconds since the Unix epoch. */
int64_t
store_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Frees r->val and zeroes *r; NULL is ignored. */
void
op_result_clear(struct op_result *r)
{
	if (r == NULL)
		return;
	free(r->val);
	memset(r, 0, sizeof(*r));
}

/* Frees n items and the array; NULL is ignored. */
void
store_items_free(struct store_item *items, size_t n)
{
	size_t i;

	if (items == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(items[i].key);
		free(items[i].val);
	}
	free(items);
}

/* Returns the expiry (ms, 0 = none) of a write made at now_ms with ttl s. */
static int64_t
expiry_for(int64_t now_ms, int64_t ttl)
{
	return ttl > 0 ? now_ms + ttl * 1000 : 0;
}

/* Notes that the running attempt relies on a record living until expires. */
static void
horizon_note(int64_t expires)
{
	if (expires != 0 && (tls_horizon == 0 || expires < tls_horizon))
		tls_horizon = expires;
}

/*
 * Routes BDB's error messages to the log. A full disk is noticed by the
 * errno of the failed write (store_io.c), never by the message text; after
 * a panic the process is on its way out and logs nothing more.
 */
void
store_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	if (store_panicked())
		return;
	log_error("bdb: %s", msg != NULL ? msg : "(no message)");
}

/*
 * The secondary key of a primary record: its 8 expiry bytes, pointed to in
 * place (BDB copies them). Records without expiry are not indexed. Called
 * by BDB with its locks held, so it must not call BDB.
 */
static int
expiry_key(DB *sec, const DBT *pkey, const DBT *pdata, DBT *skey)
{
	if (pdata->size < EXP_LEN ||
	    be64_get((const unsigned char *)pdata->data) == 0)
		return DB_DONOTINDEX;
	skey->data = pdata->data;
	skey->size = EXP_LEN;
	return 0;
}

/* Sleeps a random 0..(2^attempt * 100) µs, capped, to spread out retries. */
static void
backoff(int attempt)
{
	struct timespec ts;
	unsigned long max, us;

	if (tls_seed == 0)
		tls_seed = (unsigned int)time(NULL) ^
		    (unsigned int)(uintptr_t)&tls_seed ^ (unsigned int)getpid();
	max = (unsigned long)BACKOFF_UNIT_US << (attempt < 10 ? attempt : 10);
	if (max > BACKOFF_CAP_US)
		max = BACKOFF_CAP_US;
	us = (unsigned long)rand_r(&tls_seed) % (max + 1);
	ts.tv_sec = 0;
	ts.tv_nsec = (long)us * 1000;
	nanosleep(&ts, NULL);
}

/*
 * db_strerror() for any thread: for a system error (a positive code) it
 * returns strerror()'s text, which another thread's call may overwrite.
 */
static const char *
errstr(int ret, char *buf, size_t len)
{
	return ret > 0 ? log_strerror(ret, buf, len) : db_strerror(ret);
}

/* Milliseconds since t0 on the monotonic clock. */
static int64_t
elapsed_ms(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)(t.tv_sec - t0->tv_sec) * 1000 +
	    (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/*
 * The group flush of SYNC mode: the whole log buffer to disk, after the
 * test hook (which may sleep to widen the window a reader could see).
 */
static int
store_flush(void *arg)
{
	struct store *s = arg;

	if (s->flush_hook != NULL)
		s->flush_hook(s->flush_hook_arg);
	return s->env->log_flush(s->env, NULL);
}

/*
 * Durability in SYNC mode: early lock release with group commit.
 *
 * A write transaction commits with DB_TXN_WRITE_NOSYNC: its commit record
 * is written to the log file (to the operating system, not yet synced)
 * and its locks are released at once, so the next writer of the same key
 * can go ahead instead of waiting for this one's fsync. Before the caller
 * may reply, flush_wait() holds it until the log is on disk past that
 * commit, one shared log_flush (an fsync) for every thread waiting at that
 * moment (flush.c). The commit is bracketed by flush_commit_begin/end so
 * that readers know something is pending.
 *
 * Not DB_TXN_NOSYNC, which would leave the record in the log buffer: then
 * a failing log write (a full disk) would surface only in the flush, after
 * the transaction had committed in memory and others could read it, so a
 * write answered 503 could still appear later. Writing at commit makes
 * such a commit fail and abort as it did with a synchronous commit, and
 * also means that a crash of the process alone loses nothing committed.
 *
 * Every transaction a request runs, reads too, ends in flush_wait(): once
 * locks are released early, a read can return a committed value that is
 * not on disk yet, and a reply showing it before the flush could show a
 * value that a crash then takes back. flush_wait returns at once when no
 * commit is pending, so reads pay nothing when nobody writes.
 *
 * WRITE mode is unchanged: commits write the log to the operating system
 * before they release their locks (DB_TXN_WRITE_NOSYNC), which survives a
 * process crash, and the maintenance thread syncs it each second.
 *
 * The sweeper's commits (RUN_BACKGROUND) are neither counted nor waited
 * for: they only delete records that have expired, which every read
 * already treats as absent, so no reply can reveal them, and a crash that
 * takes one back brings back records that are still expired. Counting
 * them would leave commits pending that nobody flushes (many sweeps
 * delete nothing), and every reader would then flush, in vain on a full
 * disk. The next flush or checkpoint carries their deletions.
 */
static int
store_commit(struct store *s, DB_TXN *txn, int flags)
{
	int ret;

	if (!s->gc_init)
		return txn->commit(txn, 0);
	if (flags & RUN_BACKGROUND)
		return txn->commit(txn, DB_TXN_WRITE_NOSYNC);
	flush_commit_begin(&s->gc);
	ret = txn->commit(txn, DB_TXN_WRITE_NOSYNC);
	flush_commit_end(&s->gc, ret == 0);
	return ret;
}

/*
 * Holds a request's thread until what its transaction wrote or read is on
 * disk (SYNC mode; see store_commit). Returns a BDB code.
 */
static int
run_wait(struct store *s, int flags)
{
	uint64_t t;

	if (!s->gc_init || (flags & RUN_BACKGROUND))
		return 0;
	if (!tls_hold)
		return flush_wait(&s->gc);
	/* A later ticket covers the earlier ones. */
	if ((t = flush_ticket(&s->gc)) > tls_ticket)
		tls_ticket = t;
	return 0;
}

void
store_hold_begin(void)
{
	tls_hold = 1;
	tls_ticket = 0;
}

uint64_t
store_hold_end(void)
{
	tls_hold = 0;
	return tls_ticket;
}

/*
 * Maps a Berkeley DB error that ends a call to a store error, logged once
 * with func; a panic ends the process here (store_panic).
 */
static int
run_error(int ret, const char *func)
{
	char ebuf[128];

	if (ret == ENOSPC || ret == EDQUOT || ret == EFBIG || tls_nospace) {
		log_error("%s: %s: disk full", func,
		    errstr(ret, ebuf, sizeof(ebuf)));
		return STORE_NOSPACE;
	}
	if (ret == DB_RUNRECOVERY)
		store_panic(func, ret);
	log_error("%s: %s", func, errstr(ret, ebuf, sizeof(ebuf)));
	return STORE_ERROR;
}

int
store_hold_busy(struct store *s)
{
	return s->gc_init && flush_busy(&s->gc);
}

int
store_hold_wait(struct store *s, uint64_t ticket)
{
	int ret;

	if (!s->gc_init || (ret = flush_wait_for(&s->gc, ticket)) == 0)
		return STORE_OK;
	tls_nospace = 0;
	if ((ret = run_error(ret, "log flush")) == STORE_NOSPACE)
		ctr_add(&s->ctr.nospace, 1);
	return ret;
}

/*
 * Runs body in a transaction until it commits, retrying deadlocks and lock
 * timeouts with jittered backoff. Returns STORE_OK, STORE_CONDITION (body
 * asked for a rollback), or the mapped error, logged here once with func.
 * reset(arg) runs after every abort, so arg holds no allocations unless
 * STORE_OK is returned. In SYNC mode it returns STORE_OK or
 * STORE_CONDITION only once the log is on disk past everything the
 * transaction wrote or read (see store_commit).
 *
 * The clock is read at the start of every attempt, never once per call: a
 * test-and-set retried for seconds must not match a value that expired
 * while it waited, and a write with a ttl must not store a record that is
 * already expired. For the same reason an attempt is retried, not
 * committed or rolled back, when the clock read after its body has passed
 * the soonest expiry of a record it read as live or wrote (tls_horizon):
 * one attempt can wait for locks for seconds, longer than a 1 s ttl.
 */
int
store_run(struct store *s, int flags, txn_body body, txn_reset reset,
    void *arg, const char *func)
{
	struct timespec t0;
	char ebuf[128];
	DB_TXN *txn;
	int64_t now_ms, left_ms;
	int attempt, ret, rollback, tret;

	tls_nospace = 0;
	ret = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (attempt = 0; attempt < RETRY_MAX; attempt++) {
		if ((left_ms = s->retry_budget_ms - elapsed_ms(&t0)) <= 0)
			break;
		if (attempt > 0)
			backoff(attempt);
		txn = NULL;
		rollback = 0;
		ret = s->env->txn_begin(s->env, NULL, &txn,
		    (flags & RUN_READ_COMMITTED) ? DB_READ_COMMITTED : 0);
		if (ret != 0)
			goto fail;
		/* A lock wait may not outlast what is left of the budget. */
		(void)txn->set_timeout(txn, (db_timeout_t)(left_ms < 1 ? 1000 :
		    left_ms * 1000), DB_SET_TXN_TIMEOUT);
		/* Make the sweeper the deadlock detector's first victim. */
		if (flags & RUN_BACKGROUND)
			(void)txn->set_priority(txn, 0);
		tls_horizon = 0;
		now_ms = s->clock();
		ret = body(s, txn, now_ms, arg, &rollback);
		if (ret == 0 && tls_horizon != 0 && tls_horizon <= s->clock()) {
			/* Stale: what it saw or wrote has expired meanwhile. */
			ctr_add(&s->ctr.aborts, 1);
			if ((tret = txn->abort(txn)) != 0)
				log_error("%s: abort: %s", func,
				    errstr(tret, ebuf, sizeof(ebuf)));
			reset(arg);
			continue;
		}
		if (ret == 0 && !rollback) {
			/* The handle is gone after commit, whatever it says. */
			if ((ret = (flags & RUN_READ_ONLY) ?
			    txn->commit(txn, 0) : store_commit(s, txn, flags)) ==
			    0) {
				ctr_add(&s->ctr.commits, 1);
				if ((ret = run_wait(s, flags)) != 0)
					goto fail;
				return STORE_OK;
			}
			ctr_add(&s->ctr.aborts, 1);
		} else {
			ctr_add(&s->ctr.aborts, 1);
			if ((tret = txn->abort(txn)) != 0)
				log_error("%s: abort: %s", func,
				    errstr(tret, ebuf, sizeof(ebuf)));
			if (tret == DB_RUNRECOVERY)
				store_panic(func, tret);
			if (ret == 0) {
				/* A failed condition shows what it read. */
				if ((ret = run_wait(s, flags)) != 0)
					goto fail;
				reset(arg);
				return STORE_CONDITION;
			}
		}
		reset(arg);
		/*
		 * ENOMEM here is the lock table running out of locks while
		 * other large transactions hold many: they will release them,
		 * so it is retried like a conflict, and is a 503 at worst.
		 */
		if (ret != DB_LOCK_DEADLOCK && ret != DB_LOCK_NOTGRANTED &&
		    ret != ENOMEM)
			goto fail;
		ctr_add(&s->ctr.deadlocks, 1);
	}
	if (!(flags & RUN_BACKGROUND)) {
		ctr_add(&s->ctr.busy, 1);
		log_warn("%s: gave up after %d attempts in %lld ms", func,
		    attempt, (long long)elapsed_ms(&t0));
	}
	return STORE_BUSY;
fail:
	reset(arg);
	if ((ret = run_error(ret, func)) == STORE_NOSPACE)
		ctr_add(&s->ctr.nospace, 1);
	return ret;
}

/*
 * Reads key into *out as the store sees it at now_ms: found, expires and a
 * malloc'd NUL-terminated val (the caller's), or found = 0 if absent or
 * expired. flags go to DB->get (DB_RMW in test-and-set). Returns a BDB code.
 */
static int
rec_read(struct store *s, DB_TXN *txn, const char *key, size_t klen,
    u_int32_t flags, int64_t now_ms, struct op_result *out)
{
	DBT k, d;
	unsigned char *p;
	int64_t expires;
	int ret;

	memset(out, 0, sizeof(*out));
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = (void *)key;
	k.size = (u_int32_t)klen;
	d.flags = DB_DBT_MALLOC;
	ret = s->db->get(s->db, txn, &k, &d, flags);
	if (ret == DB_NOTFOUND)
		return 0;
	if (ret != 0)
		return ret;
	p = d.data;
	if (d.size < HDR_LEN) {
		free(p);
		return DB_VERIFY_BAD;
	}
	expires = (int64_t)be64_get(p);
	if (is_expired(expires, now_ms)) {
		free(p);
		return 0;
	}
	out->version = be64_get(p + EXP_LEN);
	/* Reuse BDB's buffer: slide the value down and terminate it. */
	memmove(p, p + HDR_LEN, d.size - HDR_LEN);
	p[d.size - HDR_LEN] = '\0';
	out->found = 1;
	out->val = (char *)p;
	out->vlen = d.size - HDR_LEN;
	out->expires = expires;
	horizon_note(expires);
	return 0;
}

/* Writes key = data[0..len), a whole record, in txn. Returns a BDB code. */
static int
rec_raw_put(struct store *s, DB_TXN *txn, const char *key, size_t klen,
    const void *data, size_t len)
{
	DBT k, d;

	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = (void *)key;
	k.size = (u_int32_t)klen;
	d.data = (void *)data;
	d.size = (u_int32_t)len;
	return s->db->put(s->db, txn, &k, &d, 0);
}

/* Writes key = (expires, version, val) in txn. Returns a BDB code. */
int
rec_put(struct store *s, DB_TXN *txn, const char *key, size_t klen,
    const char *val, size_t vlen, int64_t expires, uint64_t version)
{
	DBT k, d;
	unsigned char *p;
	int ret;

	if (vlen > UINT32_MAX - HDR_LEN || klen > UINT32_MAX)
		return EINVAL;
	p = xmalloc(HDR_LEN + vlen);
	be64_put(p, (uint64_t)expires);
	be64_put(p + EXP_LEN, version);
	if (vlen > 0)
		memcpy(p + HDR_LEN, val, vlen);
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = (void *)key;
	k.size = (u_int32_t)klen;
	d.data = p;
	d.size = (u_int32_t)(HDR_LEN + vlen);
	ret = s->db->put(s->db, txn, &k, &d, 0);
	free(p);
	return ret;
}

/* Deletes key in txn; an absent key is not an error. Returns a BDB code. */
static int
rec_del(struct store *s, DB_TXN *txn, const char *key, size_t klen)
{
	DBT k;
	int ret;

	memset(&k, 0, sizeof(k));
	k.data = (void *)key;
	k.size = (u_int32_t)klen;
	ret = s->db->del(s->db, txn, &k, 0);
	return ret == DB_NOTFOUND ? 0 : ret;
}

/*
 * Versions
 *
 * Every write that leaves a key live stores a new version in the record
 * header, drawn from one Berkeley DB sequence ("versions" in meta.db).
 * The sequence hands out numbers from a cache of VERSION_CACHE values
 * held in memory; only refilling the cache writes to meta.db, in a small
 * transaction of its own, so writers of different keys do not contend on
 * one record (they share only the sequence's mutex for a few instructions).
 *
 * Why no version is ever handed out twice, even after kill -9: the refill
 * transaction commits the new upper bound of the cache before any value
 * of that range is returned, so it precedes in the log every transaction
 * that stores one of those values. The refill commits without a sync
 * (DB_TXN_NOSYNC), but a client only ever sees a version once the
 * transaction that stored it is in the log on disk (sync mode), or in the
 * OS (write mode), and writing a log record writes everything before it.
 * Recovery therefore restores a bound above every version a client saw;
 * numbers cached but unused when the process died are skipped, never
 * reused. Within one key versions only grow: a writer draws its version
 * while holding the key's write lock, after every earlier writer of the
 * key drew and committed. Deletes do not reset anything, as the sequence
 * is shared by all keys.
 */
#define VERSION_CACHE	1000
#define VERSION_SEQ_KEY	"versions"

/* Draws the next version. Returns a BDB code (EINVAL past VERSION_MAX). */
int
version_next(struct store *s, uint64_t *out)
{
	db_seq_t v;
	int ret;

	if ((ret = s->seq->get(s->seq, NULL, 1, &v, DB_TXN_NOSYNC)) != 0)
		return ret;
	*out = (uint64_t)v;
	return 0;
}

/*
 * Opens (creating at initial if missing) the version sequence in txn (NULL:
 * its own transaction).
 */
static int
seq_open(struct store *s, DB_TXN *txn, db_seq_t initial)
{
	DBT k;
	int ret;

	if ((ret = db_sequence_create(&s->seq, s->meta, 0)) != 0) {
		s->seq = NULL;
		return ret;
	}
	memset(&k, 0, sizeof(k));
	k.data = (void *)VERSION_SEQ_KEY;
	k.size = (u_int32_t)strlen(VERSION_SEQ_KEY);
	if ((ret = s->seq->initial_value(s->seq, initial)) != 0 ||
	    (ret = s->seq->set_range(s->seq, 1, VERSION_MAX)) != 0 ||
	    (ret = s->seq->set_cachesize(s->seq, VERSION_CACHE)) != 0 ||
	    (ret = s->seq->open(s->seq, txn, &k, DB_CREATE | DB_THREAD)) != 0) {
		(void)s->seq->close(s->seq, 0);
		s->seq = NULL;
	}
	return ret;
}

/*
 * Makes the sequence hand out only versions above floor, for records
 * loaded with their versions. If the next version is not above floor, the
 * sequence is replaced, in one transaction, by one that starts at
 * floor + 1 (a sequence cannot be moved forward by more than 2^31 in one
 * step). Only for a store no other thread uses: kvstore-admin load.
 */
int
version_raise(struct store *s, uint64_t floor)
{
	DB_TXN *txn = NULL;
	uint64_t v;
	int ret;

	if (floor == 0)
		return STORE_OK;
	if ((ret = version_next(s, &v)) != 0)
		goto fail;
	if (v > floor)
		return STORE_OK;
	if ((ret = s->env->txn_begin(s->env, NULL, &txn, 0)) != 0)
		goto fail;
	ret = s->seq->remove(s->seq, txn, 0);
	s->seq = NULL;
	if (ret == 0)
		ret = seq_open(s, txn, (db_seq_t)floor + 1);
	if (ret != 0) {
		(void)txn->abort(txn);
		goto fail;
	}
	if ((ret = txn->commit(txn, 0)) != 0)
		goto fail;
	return STORE_OK;
fail:
	log_error("%s: %s", __func__, db_strerror(ret));
	/* Without a sequence no write can go on: reopen the one on disk. */
	if (s->seq == NULL && seq_open(s, NULL, 1) != 0)
		log_error("%s: the version sequence could not be reopened",
		    __func__);
	return STORE_ERROR;
}

/*
 * Writes val with expires and a new version, or deletes the key when val
 * is NULL, and records the outcome in *r. Returns a BDB code.
 */
static int
rec_store(struct store *s, DB_TXN *txn, const struct op *op, const char *val,
    size_t vlen, int64_t expires, struct op_result *r)
{
	uint64_t version;
	int ret;

	r->found = 0;
	r->expires = 0;
	r->version = 0;
	if (val == NULL)
		return rec_del(s, txn, op->key, op->klen);
	if ((ret = version_next(s, &version)) != 0)
		return ret;
	horizon_note(expires);
	if ((ret = rec_put(s, txn, op->key, op->klen, val, vlen, expires,
	    version)) != 0)
		return ret;
	r->found = 1;
	r->expires = expires;
	r->version = version;
	return 0;
}

/* store_get */

struct get_ctx {
	const char		*key;
	size_t			 klen;
	struct op_result	*out;
};

/* Reads c->key into c->out. */
static int
get_body(struct store *s, DB_TXN *txn, int64_t now_ms, void *arg,
    int *rollback)
{
	struct get_ctx *c = arg;

	return rec_read(s, txn, c->key, c->klen, 0, now_ms, c->out);
}

/* Frees the value a failed attempt may have read. */
static void
get_reset(void *arg)
{
	struct get_ctx *c = arg;

	op_result_clear(c->out);
}

/* Reads one live key (degree 2 isolation); out->val is the caller's. */
int
store_get(struct store *s, const char *key, size_t klen,
    struct op_result *out)
{
	struct get_ctx c;
	int ret;

	memset(out, 0, sizeof(*out));
	c.key = key;
	c.klen = klen;
	c.out = out;
	ret = store_run(s, RUN_READ_COMMITTED | RUN_READ_ONLY, get_body,
	    get_reset, &c, __func__);
	if (ret == STORE_OK && !out->found)
		ret = STORE_NOTFOUND;
	return ret;
}

/* store_exec */

struct exec_ctx {
	const struct op		*ops;
	size_t			 n;
	int			 atomic;
	store_eq_fn		 eq;
	struct op_result	*results;
	size_t			 failed;
	struct op_result	 fail;		/* the failed increment's key */
	const struct op		**order;	/* ops by key; NULL for one op */
};

static int	key_cmp(const char *, size_t, const char *, size_t);

/* Orders pointers to ops by key, in btree order (a qsort callback). */
static int
op_order(const void *a, const void *b)
{
	const struct op *x = *(const struct op *const *)a;
	const struct op *y = *(const struct op *const *)b;

	return key_cmp(x->key, x->klen, y->key, y->klen);
}

/*
 * Write-locks the page of every key of a batch, in key order, before any
 * op runs. Batches that lock pages in the order of their ops deadlock
 * whenever two of them reach two pages in opposite orders (3 retries for
 * every 4 commits with 32 clients sending 10 random keys each, measured
 * with bench/); when all take their leaf pages in key order, no two can
 * wait on each other there. A DB_RMW read of zero bytes takes the lock and
 * copies nothing; an absent key locks the page it would go to.
 */
static int
exec_lock(struct store *s, DB_TXN *txn, const struct exec_ctx *c)
{
	const struct op *op, *prev = NULL;
	DBT k, d;
	size_t i;
	int ret;

	for (i = 0; i < c->n; prev = op, i++) {
		op = c->order[i];
		if (prev != NULL &&
		    key_cmp(prev->key, prev->klen, op->key, op->klen) == 0)
			continue;
		memset(&k, 0, sizeof(k));
		memset(&d, 0, sizeof(d));
		k.data = (void *)op->key;
		k.size = (u_int32_t)op->klen;
		d.flags = DB_DBT_USERMEM | DB_DBT_PARTIAL;
		ret = s->db->get(s->db, txn, &k, &d, DB_RMW);
		if (ret != 0 && ret != DB_NOTFOUND)
			return ret;
	}
	return 0;
}

/*
 * Returns the expiry a write stores (see struct op): the key's current one
 * with keep_ttl, else expires_at, else ttl seconds from now_ms.
 */
static int64_t
write_expiry(const struct op *op, const struct op_result *cur, int64_t now_ms)
{
	if (op->keep_ttl)
		return cur->found ? cur->expires : 0;
	if (op->expires_at != 0)
		return op->expires_at;
	return expiry_for(now_ms, op->ttl);
}

/* Returns 1 if the op's version precondition holds for the key as read. */
static int
cond_holds(const struct op *op, const struct op_result *cur)
{
	switch (op->cond) {
	case OP_COND_VERSION:
		return cur->found && cur->version == op->if_version;
	case OP_COND_ABSENT:
		return !cur->found;
	case OP_COND_LIVE:
		return cur->found;
	default:
		return 1;
	}
}

/* Returns 1 if a write op must read the key first. */
static int
needs_read(const struct op *op)
{
	return op->cond != OP_COND_NONE || op->keep_ttl ||
	    op->type == OP_TAS || op->type == OP_INCR || op->type == OP_TOUCH;
}

/*
 * Runs one write op (set, delete, test-and-set, incr, touch). When it must
 * look at the key, it reads it under a write lock (DB_RMW), so no other
 * transaction can change the key between the check and the write.
 *
 * Sets *unmet when the version precondition (r->version_unmet) or the
 * test-and-set comparison failed: nothing is written, and r describes the
 * key as it is (found, val, expires, version). An increment that cannot be
 * done sets r->err, with r describing the key too. A touch of an absent
 * key leaves r->found 0. Returns a BDB code.
 */
static int
exec_write(struct store *s, DB_TXN *txn, const struct op *op, int64_t now_ms,
    store_eq_fn eq, struct op_result *r, int *unmet)
{
	struct op_result cur;
	char sum[NUM_TEXT_MAX];
	const char *val = NULL, *base;
	size_t vlen = 0, blen;
	int64_t expires;
	int ret, rc;

	*unmet = 0;
	memset(&cur, 0, sizeof(cur));
	if (needs_read(op) && (ret = rec_read(s, txn, op->key, op->klen,
	    DB_RMW, now_ms, &cur)) != 0)
		return ret;
	if (!cond_holds(op, &cur)) {
		*r = cur;
		r->version_unmet = 1;
		*unmet = 1;
		return 0;
	}
	switch (op->type) {
	case OP_TAS:
		if (op->old == NULL ? cur.found : (!cur.found ||
		    eq(cur.val, cur.vlen, op->old, op->oldlen) != 1)) {
			*r = cur;
			r->cond_met = 0;
			*unmet = 1;
			return 0;
		}
		r->cond_met = 1;
		/* FALLTHROUGH */
	case OP_SET:
		val = op->val;
		vlen = op->vlen;
		expires = write_expiry(op, &cur, now_ms);
		break;
	case OP_DELETE:
		expires = 0;
		break;
	case OP_INCR:
		base = cur.found ? cur.val : op->initial ? op->initial : "0";
		blen = cur.found ? cur.vlen : op->initial ? op->initlen : 1;
		if ((rc = num_add(base, blen, op->by, op->bylen, sum)) !=
		    NUM_OK) {
			*r = cur;
			r->err = rc == NUM_NAN ? OP_ERR_NAN : OP_ERR_OVERFLOW;
			return 0;
		}
		val = sum;
		vlen = strlen(sum);
		/* Only a new key takes the op's expiry (fixed windows). */
		expires = cur.found ? cur.expires : write_expiry(op, &cur,
		    now_ms);
		break;
	case OP_TOUCH:
		if (!cur.found) {
			op_result_clear(&cur);
			return 0;
		}
		val = cur.val;
		vlen = cur.vlen;
		expires = op->expires_at != 0 ? op->expires_at :
		    expiry_for(now_ms, op->ttl);
		break;
	default:
		return EINVAL;
	}
	ret = rec_store(s, txn, op, val, vlen, expires, r);
	if (ret == 0 && op->type == OP_INCR) {
		r->val = xmemdup(sum, vlen);
		r->vlen = vlen;
	}
	op_result_clear(&cur);
	return ret;
}

/*
 * Runs every op in order. An unmet condition (version or test-and-set) in
 * an atomic batch, and a failed increment in any batch, roll back.
 */
static int
exec_body(struct store *s, DB_TXN *txn, int64_t now_ms, void *arg,
    int *rollback)
{
	struct exec_ctx *c = arg;
	const struct op *op;
	struct op_result *r;
	size_t i;
	int ret, unmet;

	if (c->order != NULL && (ret = exec_lock(s, txn, c)) != 0)
		return ret;
	for (i = 0; i < c->n; i++) {
		op = &c->ops[i];
		r = &c->results[i];
		unmet = 0;
		if (op->type == OP_GET)
			ret = rec_read(s, txn, op->key, op->klen, 0, now_ms, r);
		else
			ret = exec_write(s, txn, op, now_ms, c->eq, r, &unmet);
		if (ret != 0)
			return ret;
		if (r->err != OP_ERR_NONE) {
			/* Kept apart: the rollback frees every result. */
			c->failed = i;
			c->fail = *r;
			memset(r, 0, sizeof(*r));
			*rollback = 1;
			return 0;
		}
		if (unmet && c->atomic) {
			c->failed = i;
			*rollback = 1;
			return 0;
		}
	}
	return 0;
}

/* Frees every result, so an aborted batch returns none. */
static void
exec_reset(void *arg)
{
	struct exec_ctx *c = arg;
	size_t i;

	for (i = 0; i < c->n; i++)
		op_result_clear(&c->results[i]);
}

/*
 * Runs ops in order in one write transaction (see store.h). results[i] val
 * buffers are the caller's on STORE_OK and freed on any other return.
 */
int
store_exec(struct store *s, const struct op *ops, size_t n, int atomic,
    store_eq_fn eq, struct op_result *results, size_t *failed)
{
	struct exec_ctx c;
	size_t i;
	int flags = RUN_READ_ONLY, ret;

	if (n == 0)
		return STORE_OK;
	/* Gets only: a commit that writes nothing must not count as one. */
	for (i = 0; i < n; i++)
		if (ops[i].type != OP_GET)
			flags = 0;
	c.order = NULL;
	if (n > 1) {
		c.order = xcalloc(n, sizeof(*c.order));
		for (i = 0; i < n; i++)
			c.order[i] = &ops[i];
		qsort(c.order, n, sizeof(*c.order), op_order);
	}
	c.ops = ops;
	c.n = n;
	c.atomic = atomic;
	c.eq = eq;
	c.results = results;
	c.failed = 0;
	memset(&c.fail, 0, sizeof(c.fail));
	memset(results, 0, n * sizeof(*results));
	ret = store_run(s, flags, exec_body, exec_reset, &c, __func__);
	free(c.order);
	if (ret == STORE_CONDITION && c.fail.err != OP_ERR_NONE) {
		results[c.failed] = c.fail;
		ret = STORE_CONFLICT;
	}
	if ((ret == STORE_CONDITION || ret == STORE_CONFLICT) && failed != NULL)
		*failed = c.failed;
	return ret;
}

/* store_list */

struct list_ctx {
	const char		*prefix;
	size_t			 plen;
	const char		*start;		/* first key that may qualify */
	size_t			 slen;
	size_t			 limit;
	size_t			 budget;	/* value bytes a page may hold */
	struct store_item	*items;
	size_t			 n;
	size_t			 cap;
	size_t			 bytes;		/* value bytes in items */
	int			 more;
	/* Where the scan stopped early (expired run): resume after it. */
	char			*stop;
	size_t			 stoplen;
	int			 keys_only;	/* copy no values */
};

/* Returns <0, 0, >0 as a sorts before, equal to, after b in btree order. */
static int
key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c;

	c = memcmp(a, b, alen < blen ? alen : blen);
	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* Appends a copy of one record to c->items. */
static void
list_add(struct list_ctx *c, const DBT *k, const DBT *d, int64_t expires)
{
	struct store_item *it;

	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->items = xrealloc(c->items, c->cap * sizeof(*c->items));
	}
	it = &c->items[c->n++];
	it->key = xmemdup(k->data, k->size);
	it->klen = k->size;
	if (c->keys_only) {
		it->val = NULL;
		it->vlen = 0;
	} else {
		it->val = xmemdup((const char *)d->data + HDR_LEN,
		    d->size - HDR_LEN);
		it->vlen = d->size - HDR_LEN;
	}
	it->expires = expires;
	it->version = be64_get((const unsigned char *)d->data + EXP_LEN);
}

/*
 * Takes one record of the walk: returns 1 to go on, 0 when the page is
 * complete. Sets *bad for a record too short to hold its header.
 */
static int
list_take(struct list_ctx *c, int64_t now_ms, const DBT *k, const DBT *d,
    size_t *examined, int *bad)
{
	int64_t expires;
	size_t vlen;

	if (k->size < c->plen || memcmp(k->data, c->prefix, c->plen) != 0)
		return 0;			/* past the prefix: the end */
	if (d->size < HDR_LEN) {
		*bad = 1;
		return 0;
	}
	(*examined)++;
	expires = (int64_t)be64_get(d->data);
	if (!is_expired(expires, now_ms)) {
		/* A keys-only page copies no values: only the limit bounds it. */
		vlen = c->keys_only ? 0 : d->size - HDR_LEN;
		if (c->n == c->limit ||
		    (c->n > 0 && c->bytes + vlen > c->budget)) {
			c->more = 1;		/* resume after the last item */
			return 0;
		}
		list_add(c, k, d, expires);
		c->bytes += vlen;
	}
	if (*examined >= c->limit + LIST_SCAN_EXTRA) {
		/* Resume after this record, the last one examined. */
		c->more = 1;
		c->stop = xmemdup(k->data, k->size);
		c->stoplen = k->size;
		return 0;
	}
	return 1;
}

/*
 * Walks the primary from c->start while keys carry the prefix, copying live
 * records until limit, then looking for one more to decide `more`.
 *
 * Records come in bulk (DB_MULTIPLE_KEY: as many as fit in the buffer per
 * call). Reading them one DB_NEXT at a time cost more than half of a list
 * request's CPU in Berkeley DB's per-call cursor duplication, cleanup and
 * mutexes (perf, list of 100 at 32 connections).
 *
 * A page is bounded twice, because it holds its read locks (and a reply
 * buffer) until it ends. In bytes: it stops before a value that would take
 * its values past c->budget, unless that value would be alone (a single
 * large value is still returned). In work: it examines at most
 * LIST_SCAN_EXTRA records beyond the limit, so a long run of expired
 * records the sweeper has not reached yet cannot stall writers; it then
 * stops with `more` set and the last key examined in c->stop, and the
 * caller's cursor resumes after it (a page may be short, even empty).
 */
static int
list_body(struct store *s, DB_TXN *txn, int64_t now_ms, void *arg,
    int *rollback)
{
	struct list_ctx *c = arg;
	DBC *cur = NULL;
	DBT k, d, rk, rd;
	unsigned char kbuf[LIST_KEY_MAX];
	size_t examined = 0, size = LIST_BULK_BYTES;
	void *p;
	u_int32_t how;
	int ret, tret, go = 1, bad = 0;

	if (c->slen > sizeof(kbuf))
		return EINVAL;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	memset(&rk, 0, sizeof(rk));
	memset(&rd, 0, sizeof(rd));
	memcpy(kbuf, c->start, c->slen);
	k.data = kbuf;
	k.size = (u_int32_t)c->slen;
	k.ulen = sizeof(kbuf);
	k.flags = DB_DBT_USERMEM;
	d.data = xmalloc(size);
	d.ulen = (u_int32_t)size;
	d.flags = DB_DBT_USERMEM;
	if ((ret = s->db->cursor(s->db, txn, &cur, 0)) != 0)
		goto done;
	for (how = DB_SET_RANGE; go;) {
		ret = cur->get(cur, &k, &d, how | DB_MULTIPLE_KEY);
		if (ret == DB_BUFFER_SMALL) {
			/* One record is larger than the buffer: grow, retry. */
			size = ((size_t)d.size + 2 * LIST_BULK_BYTES) &
			    ~(size_t)1023;
			free(d.data);
			d.data = xmalloc(size);
			d.ulen = (u_int32_t)size;
			continue;
		}
		if (ret != 0)
			break;
		how = DB_NEXT;
		DB_MULTIPLE_INIT(p, &d);
		for (;;) {
			DB_MULTIPLE_KEY_NEXT(p, &d, rk.data, rk.size, rd.data,
			    rd.size);
			if (p == NULL)
				break;
			if (!(go = list_take(c, now_ms, &rk, &rd, &examined,
			    &bad)))
				break;
		}
	}
	if (bad)
		ret = DB_VERIFY_BAD;
	else if (ret == DB_NOTFOUND)
		ret = 0;
done:
	if (cur != NULL && (tret = cur->close(cur)) != 0 && ret == 0)
		ret = tret;
	free(d.data);
	return ret;
}

/* Frees the items an aborted attempt collected. */
static void
list_reset(void *arg)
{
	struct list_ctx *c = arg;

	store_items_free(c->items, c->n);
	c->items = NULL;
	c->n = c->cap = c->bytes = 0;
	c->more = 0;
	free(c->stop);
	c->stop = NULL;
	c->stoplen = 0;
}

/*
 * Lists live prefixed records strictly after `after` in one serializable
 * transaction (see store.h). On failure *items is NULL and *n is 0.
 */
static int
list_run(struct store *s, const char *prefix, size_t plen,
    const char *after, size_t alen, size_t limit, int keys_only,
    struct store_item **items, size_t *n, int *more, char **next,
    size_t *nlen)
{
	struct list_ctx c;
	char *succ = NULL;
	int ret;

	*items = NULL;
	*n = 0;
	*more = 0;
	if (next != NULL) {
		*next = NULL;
		*nlen = 0;
	}
	memset(&c, 0, sizeof(c));
	c.keys_only = keys_only;
	c.prefix = plen > 0 ? prefix : "";
	c.plen = plen;
	c.limit = limit;
	c.budget = s->list_bytes;
	c.start = c.prefix;
	c.slen = plen;
	if (after != NULL && alen > 0) {
		/*
		 * after + NUL is the smallest key sorting after `after`, so a
		 * range search on it starts strictly after it.
		 */
		succ = xmalloc(alen + 1);
		memcpy(succ, after, alen);
		succ[alen] = '\0';
		if (key_cmp(succ, alen + 1, c.prefix, plen) > 0) {
			c.start = succ;
			c.slen = alen + 1;
		}
	}
	ret = store_run(s, RUN_READ_ONLY, list_body, list_reset, &c, __func__);
	free(succ);
	if (ret != STORE_OK)
		return ret;
	*items = c.items;
	*n = c.n;
	*more = c.more;
	if (c.more && c.stop == NULL && c.n > 0) {
		c.stop = xmemdup(c.items[c.n - 1].key, c.items[c.n - 1].klen);
		c.stoplen = c.items[c.n - 1].klen;
	}
	if (next != NULL) {
		*next = c.stop;
		*nlen = c.stoplen;
	} else
		free(c.stop);
	return STORE_OK;
}

/* Lists records with their values (see store.h). */
int
store_list(struct store *s, const char *prefix, size_t plen,
    const char *after, size_t alen, size_t limit,
    struct store_item **items, size_t *n, int *more, char **next,
    size_t *nlen)
{
	return list_run(s, prefix, plen, after, alen, limit, 0, items, n,
	    more, next, nlen);
}

/*
 * Lists records without copying their values (see store.h). The bulk
 * reads of list_body still bring the values into its buffer (Berkeley DB
 * has no partial bulk read), but nothing is copied per item, and the byte
 * budget of a page does not apply.
 */
int
store_list_keys(struct store *s, const char *prefix, size_t plen,
    const char *after, size_t alen, size_t limit,
    struct store_item **items, size_t *n, int *more, char **next,
    size_t *nlen)
{
	return list_run(s, prefix, plen, after, alen, limit, 1, items, n,
	    more, next, nlen);
}

/* store_delete_prefix */

/*
 * Bytes of records one delete-prefix transaction removes at most. Deleting
 * logs every removed record for undo, so 10000 values of 1 MiB would put
 * 10 GB into the log of one transaction; past this budget a call stops
 * early and says `more`.
 */
#define DPFX_TXN_BYTES	(64u * 1024 * 1024)

struct dpfx_ctx {
	const char	*prefix;
	size_t		 plen;
	size_t		 limit;
	size_t		 deleted;	/* live records removed */
	int		 more;
};

/*
 * Deletes prefixed records from the lowest, through one write cursor, until
 * limit records (or DPFX_TXN_BYTES) are gone. Expired records met on the
 * way are removed too but neither counted nor reported. The page locks of
 * up to 10000 records fit MAX_LOCKS many times over: locks are per page.
 */
static int
dpfx_body(struct store *s, DB_TXN *txn, int64_t now_ms, void *arg,
    int *rollback)
{
	struct dpfx_ctx *c = arg;
	DBC *cur = NULL;
	DBT k, d;
	size_t removed = 0, bytes = 0;
	u_int32_t how;
	int ret, tret;

	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = xmemdup(c->prefix, c->plen);
	k.size = (u_int32_t)c->plen;
	k.flags = DB_DBT_REALLOC;
	d.flags = DB_DBT_REALLOC;
	if ((ret = s->db->cursor(s->db, txn, &cur, 0)) != 0)
		goto done;
	for (how = DB_SET_RANGE;; how = DB_NEXT) {
		if ((ret = cur->get(cur, &k, &d, how | DB_RMW)) != 0)
			break;
		if (k.size < c->plen || memcmp(k.data, c->prefix, c->plen) != 0)
			break;
		if (removed == c->limit || bytes >= DPFX_TXN_BYTES) {
			c->more = 1;
			break;
		}
		if (d.size < HDR_LEN) {
			ret = DB_VERIFY_BAD;
			break;
		}
		if ((ret = cur->del(cur, 0)) != 0)
			break;
		removed++;
		bytes += k.size + d.size;
		if (!is_expired((int64_t)be64_get(d.data), now_ms))
			c->deleted++;
	}
	if (ret == DB_NOTFOUND)
		ret = 0;
done:
	if (cur != NULL && (tret = cur->close(cur)) != 0 && ret == 0)
		ret = tret;
	free(k.data);
	free(d.data);
	return ret;
}

/* Forgets the counts of an aborted attempt. */
static void
dpfx_reset(void *arg)
{
	struct dpfx_ctx *c = arg;

	c->deleted = 0;
	c->more = 0;
}

/* Deletes up to limit prefixed records in one transaction (see store.h). */
int
store_delete_prefix(struct store *s, const char *prefix, size_t plen,
    size_t limit, size_t *deleted, int *more)
{
	struct dpfx_ctx c;
	int ret;

	*deleted = 0;
	*more = 0;
	if (plen == 0 || limit == 0)
		return STORE_OK;
	memset(&c, 0, sizeof(c));
	c.prefix = prefix;
	c.plen = plen;
	c.limit = limit;
	ret = store_run(s, 0, dpfx_body, dpfx_reset, &c, __func__);
	if (ret == STORE_OK) {
		*deleted = c.deleted;
		*more = c.more;
	}
	return ret;
}

/* store_sweep */

struct sweep_ctx {
	int64_t		 now_ms;
	size_t		 max;		/* records for this transaction */
	size_t		 removed;	/* by this transaction */
	int		 done;		/* no expired record left */
};

/*
 * Deletes up to c->max records expired at c->now_ms, oldest first, through
 * a cursor on the secondary (which deletes the primary record as well).
 */
static int
sweep_body(struct store *s, DB_TXN *txn, int64_t now_ms, void *arg,
    int *rollback)
{
	struct sweep_ctx *c = arg;
	DBC *cur = NULL;
	DBT sk, pk, pd;
	unsigned char exp[EXP_LEN];
	int ret, tret;

	memset(&sk, 0, sizeof(sk));
	memset(&pk, 0, sizeof(pk));
	memset(&pd, 0, sizeof(pd));
	sk.data = exp;
	sk.ulen = sizeof(exp);
	sk.flags = DB_DBT_USERMEM;
	pk.flags = DB_DBT_REALLOC;
	/* The primary data is not needed: ask for none of it. */
	pd.flags = DB_DBT_USERMEM | DB_DBT_PARTIAL;
	if ((ret = s->exp->cursor(s->exp, txn, &cur, 0)) != 0)
		goto done;
	while (c->removed < c->max) {
		/* Write-lock now: the delete would otherwise upgrade. */
		ret = cur->pget(cur, &sk, &pk, &pd, DB_NEXT | DB_RMW);
		if (ret != 0)
			break;
		if (sk.size != EXP_LEN ||
		    !is_expired((int64_t)be64_get(exp), c->now_ms)) {
			c->done = 1;
			break;
		}
		if ((ret = cur->del(cur, 0)) != 0)
			break;
		c->removed++;
	}
	if (ret == DB_NOTFOUND) {
		c->done = 1;
		ret = 0;
	}
done:
	if (cur != NULL && (tret = cur->close(cur)) != 0 && ret == 0)
		ret = tret;
	free(pk.data);
	return ret;
}

/* Forgets the deletions of an aborted attempt. */
static void
sweep_reset(void *arg)
{
	struct sweep_ctx *c = arg;

	c->removed = 0;
	c->done = 0;
}

/*
 * Deletes up to max records expired at now_ms, SWEEP_TXN_RECORDS per
 * transaction; what was committed stays deleted if a later round fails.
 */
int
store_sweep(struct store *s, int64_t now_ms, size_t max, size_t *removed)
{
	struct sweep_ctx c;
	size_t total = 0;
	int ret = STORE_OK;

	while (total < max) {
		memset(&c, 0, sizeof(c));
		c.now_ms = now_ms;
		c.max = max - total < SWEEP_TXN_RECORDS ?
		    max - total : SWEEP_TXN_RECORDS;
		ret = store_run(s, RUN_BACKGROUND, sweep_body, sweep_reset, &c,
		    __func__);
		if (ret != STORE_OK)
			break;
		total += c.removed;
		if (c.done || c.removed == 0)
			break;
	}
	ctr_add(&s->ctr.swept, total);
	if (removed != NULL)
		*removed = total;
	return ret;
}

/* store_check */

/*
 * Positions a cursor on the first record, reading no data. With arg set
 * (any pointer), returns DB_NOTFOUND for an empty store.
 */
static int
check_body(struct store *s, DB_TXN *txn, int64_t now_ms, void *arg,
    int *rollback)
{
	DBC *cur = NULL;
	DBT k, d;
	int ret, tret;

	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.flags = DB_DBT_MALLOC;
	d.flags = DB_DBT_USERMEM | DB_DBT_PARTIAL;
	if ((ret = s->db->cursor(s->db, txn, &cur, 0)) != 0)
		return ret;
	ret = cur->get(cur, &k, &d, DB_FIRST);
	/* Called with arg set, it reports an empty store as DB_NOTFOUND. */
	if (ret == DB_NOTFOUND && arg == NULL)
		ret = 0;
	if ((tret = cur->close(cur)) != 0 && ret == 0)
		ret = tret;
	free(k.data);
	return ret;
}

/* store_check keeps no state between attempts. */
static void
check_reset(void *arg)
{
}

/*
 * Reads the first record in a transaction: STORE_OK if healthy. Its answer
 * is whether the store works, a failing flush included, so even between
 * store_hold_begin and store_hold_end it waits for the disk itself rather
 * than leave the wait to a held reply, which would turn a failure into a
 * plain error instead of this answer.
 */
int
store_check(struct store *s)
{
	int rc;

	rc = store_run(s, RUN_READ_COMMITTED | RUN_READ_ONLY, check_body,
	    check_reset, NULL, __func__);
	if (rc == STORE_OK && tls_hold && tls_ticket != 0 &&
	    (rc = store_hold_wait(s, tls_ticket)) == STORE_OK)
		tls_ticket = 0;	/* all observed so far is on disk */
	return rc;
}

/* Maintenance */

/* Runs one second's maintenance; failures are logged where they happen. */
static void
maintain(struct store *s, int checkpoint)
{
	char ebuf[128];
	int ret, rejected;

	store_test_panic_poll(s);
	if ((ret = s->env->lock_detect(s->env, 0, DB_LOCK_EXPIRE,
	    &rejected)) != 0) {
		if (ret == DB_RUNRECOVERY)
			store_panic("lock_detect", ret);
		log_warn("%s: lock_detect: %s", __func__,
		    errstr(ret, ebuf, sizeof(ebuf)));
	}
	/* Errors are logged inside; the next tick tries again. */
	(void)store_sweep(s, s->clock(), SWEEP_BUDGET, NULL);
	if (s->durability == STORE_DURABLE_WRITE &&
	    (ret = s->env->log_flush(s->env, NULL)) != 0) {
		if (ret == DB_RUNRECOVERY)
			store_panic("log_flush", ret);
		log_error("%s: log_flush: %s", __func__,
		    errstr(ret, ebuf, sizeof(ebuf)));
	}
	if (checkpoint &&
	    (ret = s->env->txn_checkpoint(s->env, 1024, 1, 0)) != 0) {
		if (ret == DB_RUNRECOVERY)
			store_panic("txn_checkpoint", ret);
		log_error("%s: txn_checkpoint: %s", __func__,
		    errstr(ret, ebuf, sizeof(ebuf)));
	}
	if (checkpoint)
		store_log_trim(s);
	/* The key count walks the whole tree: only now and then. */
	if (checkpoint || !atomic_load_explicit(&s->ctr.keys_counted,
	    memory_order_relaxed))
		(void)count_keys(s);
}

/* The maintenance thread: one tick a second until store_close wakes it. */
static void *
maintain_main(void *arg)
{
	struct store *s = arg;
	struct timespec ts;
	unsigned int ticks = 0, every = CHECKPOINT_EVERY_S;
	const char *v;

	/*
	 * For tests only: KV_TEST_CHECKPOINT_S=N checkpoints (and removes
	 * log files) every N seconds, to show a hot backup surviving many.
	 */
	if ((v = getenv("KV_TEST_CHECKPOINT_S")) != NULL && atoi(v) > 0)
		every = (unsigned int)atoi(v);
	pthread_mutex_lock(&s->mtx);
	while (!s->stopping) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += 1;
		while (!s->stopping &&
		    pthread_cond_timedwait(&s->cond, &s->mtx, &ts) == 0)
			;
		if (s->stopping)
			break;
		pthread_mutex_unlock(&s->mtx);
		ticks++;
		maintain(s, ticks % every == 0);
		pthread_mutex_lock(&s->mtx);
	}
	pthread_mutex_unlock(&s->mtx);
	return NULL;
}

/* Starts the maintenance thread; returns 0 or an errno value. */
static int
maintain_start(struct store *s)
{
	pthread_condattr_t ca;
	int ret;

	if ((ret = pthread_condattr_init(&ca)) != 0)
		return ret;
	/* Wall-clock jumps must not stall or race the tick. */
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	ret = pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (ret != 0)
		return ret;
	if ((ret = pthread_mutex_init(&s->mtx, NULL)) != 0) {
		pthread_cond_destroy(&s->cond);
		return ret;
	}
	s->sync_init = 1;
	if ((ret = pthread_create(&s->thread, NULL, maintain_main, s)) != 0)
		return ret;
	s->thread_running = 1;
	return 0;
}

/* Store lifecycle */

/* Opens the primary and the secondary and associates them. */
static int
open_dbs(struct store *s)
{
	u_int32_t flags = DB_AUTO_COMMIT | DB_CREATE | DB_THREAD;
	int ret;

	if ((ret = db_create(&s->db, s->env, 0)) != 0)
		return ret;
	if ((ret = s->db->open(s->db, NULL, STORE_PRIMARY_FILE, NULL,
	    DB_BTREE, flags, 0600)) != 0)
		return ret;
	if ((ret = db_create(&s->exp, s->env, 0)) != 0)
		return ret;
	if ((ret = s->exp->set_flags(s->exp, DB_DUP | DB_DUPSORT)) != 0)
		return ret;
	if ((ret = s->exp->open(s->exp, NULL, STORE_EXPIRY_FILE, NULL,
	    DB_BTREE, flags, 0600)) != 0)
		return ret;
	/*
	 * No DB_CREATE: rebuilding an empty index would scan the whole
	 * primary at every start of a store that uses no TTLs.
	 */
	return s->db->associate(s->db, NULL, s->exp, expiry_key, 0);
}

/*
 * Record format upgrade
 *
 * Format 1 (the first release) stored an 8-byte expiry before the value;
 * format 2 adds the 8-byte version. meta.db says which format kv.db holds:
 * "format" = 2 (4 bytes, big-endian), written when the last record has
 * been converted. A store without the marker is format 1 (a new store is
 * an empty format-1 store, converted at once). The conversion runs at
 * open, before any request, MIGRATE_TXN_RECORDS records per transaction;
 * each transaction also saves the last key it converted ("migrate-after"),
 * so a crash in the middle resumes where it stopped and never converts a
 * record twice. Converted records get fresh versions from the sequence.
 * A store converted this way cannot be opened by the first release again.
 */
#define FORMAT_KEY		"format"
#define MIGRATE_KEY		"migrate-after"
#define FORMAT_VERSIONED	2
#define MIGRATE_TXN_RECORDS	1000
#define MIGRATE_TXN_BYTES	(16u * 1024 * 1024)

struct migrate_ctx {
	uint64_t	 first_version;	/* drawn before the transaction */
	size_t		 converted;	/* by this transaction */
	int		 finished;	/* the marker is written */
	char		**keys;		/* this transaction's records */
	size_t		*klens;
	unsigned char	**datas;
	size_t		*dlens;
	size_t		 n;
};

/* Reads meta key name into *d (malloc'd). Returns a BDB code. */
static int
meta_get(struct store *s, DB_TXN *txn, const char *name, DBT *d)
{
	DBT k;

	memset(&k, 0, sizeof(k));
	memset(d, 0, sizeof(*d));
	k.data = (void *)name;
	k.size = (u_int32_t)strlen(name);
	d->flags = DB_DBT_MALLOC;
	return s->meta->get(s->meta, txn, &k, d, txn != NULL ? DB_RMW : 0);
}

/* Writes meta key name = data[0..len); NULL data deletes it. */
static int
meta_put(struct store *s, DB_TXN *txn, const char *name, const void *data,
    size_t len)
{
	DBT k, d;
	int ret;

	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = (void *)name;
	k.size = (u_int32_t)strlen(name);
	if (data == NULL) {
		ret = s->meta->del(s->meta, txn, &k, 0);
		return ret == DB_NOTFOUND ? 0 : ret;
	}
	d.data = (void *)data;
	d.size = (u_int32_t)len;
	return s->meta->put(s->meta, txn, &k, &d, 0);
}

/* Frees the records an attempt collected. */
static void
migrate_reset(void *arg)
{
	struct migrate_ctx *c = arg;
	size_t i;

	for (i = 0; i < c->n; i++) {
		free(c->keys[i]);
		free(c->datas[i]);
	}
	c->n = 0;
	c->converted = 0;
	c->finished = 0;
}

/*
 * Reads up to MIGRATE_TXN_RECORDS format-1 records after *after (all when
 * NULL) into c; sets *eof when none is left after them.
 */
static int
migrate_collect(struct store *s, DB_TXN *txn, struct migrate_ctx *c,
    const DBT *after, int *eof)
{
	DBC *cur = NULL;
	DBT k, d;
	size_t bytes = 0;
	u_int32_t how = DB_FIRST;
	int ret, tret;

	*eof = 0;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.flags = DB_DBT_REALLOC;
	d.flags = DB_DBT_REALLOC;
	if (after != NULL) {
		/* after + NUL: the smallest key sorting after it. */
		k.data = xmalloc(after->size + 1);
		memcpy(k.data, after->data, after->size);
		((char *)k.data)[after->size] = '\0';
		k.size = after->size + 1;
		how = DB_SET_RANGE;
	}
	if ((ret = s->db->cursor(s->db, txn, &cur, 0)) != 0)
		goto done;
	for (;; how = DB_NEXT) {
		if (c->n == MIGRATE_TXN_RECORDS || bytes >= MIGRATE_TXN_BYTES)
			break;
		if ((ret = cur->get(cur, &k, &d, how | DB_RMW)) != 0)
			break;
		if (d.size < LEGACY_HDR_LEN) {
			ret = DB_VERIFY_BAD;
			break;
		}
		c->keys[c->n] = xmemdup(k.data, k.size);
		c->klens[c->n] = k.size;
		c->datas[c->n] = (unsigned char *)xmemdup(d.data, d.size);
		c->dlens[c->n] = d.size;
		c->n++;
		bytes += k.size + d.size;
	}
	if (ret == DB_NOTFOUND) {
		*eof = 1;
		ret = 0;
	}
done:
	if (cur != NULL && (tret = cur->close(cur)) != 0 && ret == 0)
		ret = tret;
	free(k.data);
	free(d.data);
	return ret;
}

/* Converts one slice of records, or finds the store converted already. */
static int
migrate_body(struct store *s, DB_TXN *txn, int64_t now_ms, void *arg,
    int *rollback)
{
	struct migrate_ctx *c = arg;
	unsigned char mark[4] = { 0, 0, 0, FORMAT_VERSIONED };
	DBT fmt, after;
	uint64_t version;
	size_t i;
	int eof, ret;

	ret = meta_get(s, txn, FORMAT_KEY, &fmt);
	if (ret == 0) {
		ret = fmt.size == sizeof(mark) &&
		    memcmp(fmt.data, mark, sizeof(mark)) == 0 ? 0 : EINVAL;
		if (ret != 0)
			log_error("%s: the store has an unknown format (made "
			    "by a newer release?)", __func__);
		free(fmt.data);
		c->finished = 1;
		return ret;
	}
	if (ret != DB_NOTFOUND)
		return ret;
	ret = meta_get(s, txn, MIGRATE_KEY, &after);
	if (ret != 0 && ret != DB_NOTFOUND)
		return ret;
	ret = migrate_collect(s, txn, c, ret == 0 ? &after : NULL, &eof);
	free(after.data);
	if (ret != 0)
		return ret;
	for (i = 0; i < c->n; i++) {
		unsigned char *p = xmalloc(c->dlens[i] + EXP_LEN);

		version = c->first_version + i;
		memcpy(p, c->datas[i], EXP_LEN);
		be64_put(p + EXP_LEN, version);
		memcpy(p + HDR_LEN, c->datas[i] + LEGACY_HDR_LEN,
		    c->dlens[i] - LEGACY_HDR_LEN);
		free(c->datas[i]);
		c->datas[i] = p;
		c->dlens[i] += EXP_LEN;
		if ((ret = rec_raw_put(s, txn, c->keys[i], c->klens[i], p,
		    c->dlens[i])) != 0)
			return ret;
		c->converted++;
	}
	if (!eof)
		return meta_put(s, txn, MIGRATE_KEY, c->keys[c->n - 1],
		    c->klens[c->n - 1]);
	if ((ret = meta_put(s, txn, MIGRATE_KEY, NULL, 0)) != 0)
		return ret;
	c->finished = 1;
	return meta_put(s, txn, FORMAT_KEY, mark, sizeof(mark));
}

/* Converts a format-1 store to format 2 (see above); a no-op after that. */
static int
migrate(struct store *s)
{
	struct migrate_ctx c;
	size_t total = 0;
	db_seq_t first;
	DBT fmt;
	int done, empty;
	int ret, logged = 0;

	/* The common case, a converted store, costs one read. */
	if (meta_get(s, NULL, FORMAT_KEY, &fmt) == 0) {
		done = fmt.size == 4 && memcmp(fmt.data, "\0\0\0\2", 4) == 0;
		free(fmt.data);
		if (done)
			return STORE_OK;
	}
	memset(&c, 0, sizeof(c));
	c.keys = xcalloc(MIGRATE_TXN_RECORDS, sizeof(*c.keys));
	c.klens = xcalloc(MIGRATE_TXN_RECORDS, sizeof(*c.klens));
	c.datas = xcalloc(MIGRATE_TXN_RECORDS, sizeof(*c.datas));
	c.dlens = xcalloc(MIGRATE_TXN_RECORDS, sizeof(*c.dlens));
	/* A new store has nothing to convert: its versions start at 1. */
	empty = check_body(s, NULL, 0, &empty, NULL) == DB_NOTFOUND;
	for (;;) {
		/*
		 * The versions of a slice are drawn before its transaction:
		 * that transaction holds locks in meta.db, where the
		 * sequence's own transaction would wait for them forever.
		 */
		first = 0;
		ret = empty ? 0 : s->seq->get(s->seq, NULL,
		    MIGRATE_TXN_RECORDS, &first, DB_TXN_NOSYNC);
		if (ret != 0) {
			log_error("%s: %s", __func__, db_strerror(ret));
			ret = STORE_ERROR;
			break;
		}
		c.first_version = (uint64_t)first;
		ret = store_run(s, 0, migrate_body, migrate_reset, &c,
		    __func__);
		if (ret != STORE_OK)
			break;
		total += c.converted;
		if (c.converted > 0 && !logged) {
			log_info("%s: adding versions to the records of %s",
			    __func__, s->home);
			logged = 1;
		}
		if (c.finished)
			break;
		migrate_reset(&c);
	}
	migrate_reset(&c);
	if (ret == STORE_OK && logged)
		log_info("%s: %zu records converted", __func__, total);
	free(c.keys);
	free(c.klens);
	free(c.datas);
	free(c.dlens);
	return ret;
}

/* Opens meta.db and the version sequence, then upgrades the records. */
static int
open_meta(struct store *s)
{
	int ret;

	if ((ret = db_create(&s->meta, s->env, 0)) != 0) {
		s->meta = NULL;
		return ret;
	}
	if ((ret = s->meta->open(s->meta, NULL, STORE_META_FILE, NULL, DB_BTREE,
	    DB_AUTO_COMMIT | DB_CREATE | DB_THREAD, 0600)) != 0)
		return ret;
	return seq_open(s, NULL, 1);
}

/* Sets the environment's tuning before it is opened. */
static int
configure_env(struct store *s, const struct store_cfg *cfg)
{
	DB_ENV *env = s->env;
	size_t cache;
	int ret;

	cache = cfg->cache_bytes ? cfg->cache_bytes : STORE_CACHE_DEFAULT;
	if ((ret = env->set_cachesize(env, (u_int32_t)(cache >> 30),
	    (u_int32_t)(cache & ((1u << 30) - 1)), 1)) != 0)
		return ret;
	if ((ret = env->set_lk_detect(env, DB_LOCK_DEFAULT)) != 0 ||
	    (ret = env->set_lk_max_locks(env, MAX_LOCKS)) != 0 ||
	    (ret = env->set_lk_max_objects(env, MAX_LOCKS)) != 0 ||
	    (ret = env->set_lk_max_lockers(env, MAX_LOCKERS)) != 0 ||
	    (ret = env->set_tx_max(env, MAX_TXNS)) != 0 ||
	    (ret = env->set_lg_bsize(env, LOG_BUF_BYTES)) != 0 ||
	    (ret = env->set_timeout(env, LOCK_TIMEOUT_US,
	    DB_SET_LOCK_TIMEOUT)) != 0)
		return ret;
	/*
	 * No DB_LOG_AUTO_REMOVE: it removes log files at any checkpoint, even
	 * while kvstore-admin copies them for a hot backup (a copy missing a
	 * log file cannot be recovered). store_log_trim() removes them after
	 * each checkpoint instead, except while a backup holds the log lock.
	 */

	/* Never DB_TXN_NOSYNC: it loses commits on a plain process crash. */
	if (cfg->durability == STORE_DURABLE_WRITE &&
	    (ret = env->set_flags(env, DB_TXN_WRITE_NOSYNC, 1)) != 0)
		return ret;
	return 0;
}

#define ENV_SUBSYSTEMS	(DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL)

/*
 * How each store_mode opens the environment: normal recovery at every
 * start, or catastrophic recovery (every log file present replayed) for a
 * copy made while the service ran.
 *
 * DB_PRIVATE keeps the regions (cache, locks, log buffer) in this
 * process's heap. File-backed regions are sparse files that grow while
 * the service runs; on a full disk, touching a new page of one kills the
 * process with SIGBUS instead of failing a write with ENOSPC. DB_REGION_INIT
 * does not help: it fills a region file when it is created, but the cache
 * region starts small and grows sparsely later (seen: SIGBUS in
 * __env_alloc under __memp_fget). Only one process ever opens the
 * environment (kvstore-fcgi and kvstore-admin lock the data directory),
 * so nothing needs to share them; kvstore-admin copies a live store's
 * files instead of joining its environment (see backup.c).
 */
static const u_int32_t open_modes[] = {
	[STORE_MODE_OWN] = DB_CREATE | ENV_SUBSYSTEMS | DB_RECOVER | DB_PRIVATE,
	[STORE_MODE_RESTORE] = DB_CREATE | ENV_SUBSYSTEMS | DB_RECOVER_FATAL |
	    DB_PRIVATE,
};

/* Opens and recovers the environment in cfg->home (see store.h). */
int
store_open(const struct store_cfg *cfg, struct store **out)
{
	struct store *s;
	struct stat st;
	char path[4096];
	int ret;

	*out = NULL;
	s = xcalloc(1, sizeof(*s));
	s->durability = cfg->durability;
	s->list_bytes = cfg->list_bytes ? cfg->list_bytes :
	    STORE_LIST_BYTES_DEFAULT;
	s->clock = cfg->clock != NULL ? cfg->clock : store_now_ms;
	s->retry_budget_ms = cfg->retry_budget_ms ? cfg->retry_budget_ms :
	    RETRY_BUDGET_MS;
	if (cfg->test_panic_file != NULL)
		s->test_panic_file = xmemdup(cfg->test_panic_file,
		    strlen(cfg->test_panic_file));
	s->home = xmemdup(cfg->home, strlen(cfg->home));
	if ((size_t)cfg->mode >= sizeof(open_modes) / sizeof(open_modes[0])) {
		ret = EINVAL;
		goto fail;
	}
	/* BDB leaks its private regions when asked to open a missing home. */
	if (stat(cfg->home, &st) != 0) {
		ret = errno;
		goto fail;
	}
	if (!S_ISDIR(st.st_mode)) {
		ret = ENOTDIR;
		goto fail;
	}
	if ((ret = store_io_install()) != 0)
		goto fail;
	if ((ret = db_env_create(&s->env, 0)) != 0) {
		s->env = NULL;
		goto fail;
	}
	s->env->set_errcall(s->env, store_errcall);
	if ((ret = s->env->set_event_notify(s->env, store_event)) != 0)
		goto fail;
	if ((ret = configure_env(s, cfg)) != 0)
		goto fail;
	if (snprintf(path, sizeof(path), "%s/DB_CONFIG", cfg->home) <
	    (int)sizeof(path) && access(path, F_OK) == 0)
		log_warn("%s: %s overrides the configured settings", __func__,
		    path);
	if ((ret = s->env->open(s->env, cfg->home, open_modes[cfg->mode] |
	    DB_THREAD, 0600)) != 0)
		goto fail;
	s->env_open = 1;
	if ((ret = open_dbs(s)) != 0 || (ret = open_meta(s)) != 0)
		goto fail;
	if (migrate(s) != STORE_OK) {
		store_close(s);
		return STORE_ERROR;
	}
	/* The statistics count the requests' transactions, not the upgrade's. */
	memset(&s->ctr, 0, sizeof(s->ctr));
	/* The service guards its log for hot backups and cleans after them. */
	s->guard_logs = cfg->background;
	store_log_trim(s);
	if (cfg->durability == STORE_DURABLE_SYNC) {
		s->flush_hook = cfg->flush_hook;
		s->flush_hook_arg = cfg->flush_hook_arg;
		flush_init(&s->gc, store_flush, s);
		s->gc_init = 1;
	}
	if (cfg->background && (ret = maintain_start(s)) != 0) {
		log_error("%s: maintenance thread: %s", __func__,
		    strerror(ret));
		store_close(s);
		return STORE_ERROR;
	}
	*out = s;
	return STORE_OK;
fail:
	log_error("%s: %s: %s", __func__, cfg->home, db_strerror(ret));
	store_close(s);
	return STORE_ERROR;
}

/*
 * Stops the maintenance thread, checkpoints and closes the databases and
 * the environment, logging failures. Also tears down a half-opened store.
 */
void
store_close(struct store *s)
{
	int ret;

	if (s == NULL)
		return;
	if (s->thread_running) {
		pthread_mutex_lock(&s->mtx);
		s->stopping = 1;
		pthread_cond_signal(&s->cond);
		pthread_mutex_unlock(&s->mtx);
		pthread_join(s->thread, NULL);
	}
	if (s->sync_init) {
		pthread_cond_destroy(&s->cond);
		pthread_mutex_destroy(&s->mtx);
	}
	/* A checkpoint now makes the next start's recovery short. */
	if (s->env_open && s->db != NULL &&
	    (ret = s->env->txn_checkpoint(s->env, 0, 0, 0)) != 0)
		log_error("%s: txn_checkpoint: %s", __func__, db_strerror(ret));
	if (s->env_open && s->db != NULL)
		store_log_trim(s);
	if (s->seq != NULL && (ret = s->seq->close(s->seq, 0)) != 0)
		log_error("%s: close the version sequence: %s", __func__,
		    db_strerror(ret));
	if (s->meta != NULL && (ret = s->meta->close(s->meta, 0)) != 0)
		log_error("%s: close %s: %s", __func__, STORE_META_FILE,
		    db_strerror(ret));
	/* The secondary goes first: the primary refers to it. */
	if (s->exp != NULL && (ret = s->exp->close(s->exp, 0)) != 0)
		log_error("%s: close %s: %s", __func__, STORE_EXPIRY_FILE,
		    db_strerror(ret));
	if (s->db != NULL && (ret = s->db->close(s->db, 0)) != 0)
		log_error("%s: close %s: %s", __func__, STORE_PRIMARY_FILE,
		    db_strerror(ret));
	if (s->env != NULL && (ret = s->env->close(s->env, 0)) != 0)
		log_error("%s: close environment: %s", __func__,
		    db_strerror(ret));
	if (s->gc_init)
		flush_destroy(&s->gc);
	free(s->home);
	free(s->test_panic_file);
	free(s);
}
