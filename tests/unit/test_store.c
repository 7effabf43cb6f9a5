/*
 * Unit tests for store: each test opens a real Berkeley DB environment in a
 * fresh temporary directory, without the maintenance thread, with a clock
 * that returns test_now, so expiry is tested without sleeping.
 */
#define _GNU_SOURCE
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "op.h"
#include "store.h"

#define NOW	((int64_t)1700000000000)	/* a fixed "now" in ms */

/* What the store's clock says: tests set it before each call. */
static _Atomic int64_t	test_now = NOW;
/* The next test_jumps reads of the clock each advance it by test_step. */
static _Atomic int	test_jumps;
static int64_t		test_step;

/* The store's clock in these tests. */
static int64_t
test_clock(void)
{
	if (test_jumps > 0) {
		test_jumps--;
		return atomic_fetch_add(&test_now, test_step);
	}
	return test_now;
}

struct fixture {
	char		 dir[64];
	struct store	*s;
};

/* Byte equality, standing in for the codec's JSON equality. */
static int
eq_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

/* The retry budget open_in gives the store; 0 = the store's default. */
static unsigned	test_retry_budget_ms;

/* Opens f->s on f->dir with a small cache. */
static int
open_in(struct fixture *f, enum store_durability d, int background)
{
	struct store_cfg cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.home = f->dir;
	cfg.durability = d;
	cfg.cache_bytes = 4 * 1024 * 1024;
	cfg.background = background;
	cfg.clock = test_clock;
	cfg.retry_budget_ms = test_retry_budget_ms;
	test_now = NOW;
	test_jumps = 0;
	return store_open(&cfg, &f->s);
}

/* Gives each test a fresh directory and an open store. */
static int
setup(void **state)
{
	struct fixture *f;

	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_store.XXXXXX");
	if (mkdtemp(f->dir) == NULL || open_in(f, STORE_DURABLE_WRITE, 0) !=
	    STORE_OK) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

/* nftw callback: removes one file or (emptied) directory. */
static int
rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

/* Closes the store and removes its directory recursively. */
static int
teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->s);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Helpers: one-op batches. */

/* Sets (or with v NULL deletes) a binary key in a one-op batch. */
static int
set_kv(struct store *s, const char *k, size_t klen, const char *v,
    int64_t ttl, int64_t now)
{
	struct op op;
	struct op_result r;
	int ret;

	memset(&op, 0, sizeof(op));
	memset(&r, 0, sizeof(r));
	op.type = OP_SET;
	op.key = k;
	op.klen = klen;
	op.val = v;
	op.vlen = v != NULL ? strlen(v) : 0;
	op.ttl = ttl;
	test_now = now;
	ret = store_exec(s, &op, 1, 0, eq_bytes, &r, NULL);
	op_result_clear(&r);
	return ret;
}

/* set_kv for a NUL-terminated key. */
static int
set_s(struct store *s, const char *k, const char *v, int64_t ttl,
    int64_t now)
{
	return set_kv(s, k, strlen(k), v, ttl, now);
}

/* Runs one test-and-set; r receives the result (the caller clears it). */
static int
tas(struct store *s, const char *k, const char *old, const char *val,
    int64_t ttl, int64_t now, struct op_result *r)
{
	struct op op;

	memset(&op, 0, sizeof(op));
	memset(r, 0, sizeof(*r));
	op.type = OP_TAS;
	op.key = k;
	op.klen = strlen(k);
	op.old = old;
	op.oldlen = old != NULL ? strlen(old) : 0;
	op.val = val;
	op.vlen = val != NULL ? strlen(val) : 0;
	op.ttl = ttl;
	test_now = now;
	return store_exec(s, &op, 1, 0, eq_bytes, r, NULL);
}

/* Asserts that key k holds exactly v at now. */
static void
assert_value(struct store *s, const char *k, const char *v, int64_t now)
{
	struct op_result r;

	test_now = now;
	assert_int_equal(store_get(s, k, strlen(k), &r), STORE_OK);
	assert_int_equal(r.found, 1);
	assert_int_equal(r.vlen, strlen(v));
	assert_memory_equal(r.val, v, r.vlen);
	assert_int_equal(r.val[r.vlen], '\0');
	op_result_clear(&r);
}

/* Asserts that key k is not live at now. */
static void
assert_absent(struct store *s, const char *k, int64_t now)
{
	struct op_result r;

	test_now = now;
	assert_int_equal(store_get(s, k, strlen(k), &r), STORE_NOTFOUND);
	assert_int_equal(r.found, 0);
	assert_null(r.val);
}

/* Lists into a "k1,k2,...|more" string for compact assertions. */
static void
list_str(struct store *s, const char *prefix, const char *after,
    size_t limit, int64_t now, char *out, size_t outlen)
{
	struct store_item *items;
	size_t i, n;
	int more;

	test_now = now;
	assert_int_equal(store_list(s, prefix, strlen(prefix), after,
	    after != NULL ? strlen(after) : 0, limit, &items, &n, &more, NULL, NULL),
	    STORE_OK);
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		assert_int_equal(items[i].key[items[i].klen], '\0');
		if (i > 0)
			strncat(out, ",", outlen - strlen(out) - 1);
		strncat(out, items[i].key, outlen - strlen(out) - 1);
	}
	strncat(out, more ? "|more" : "|end", outlen - strlen(out) - 1);
	store_items_free(items, n);
}

/* get */

static void
store_get__missing_key__returns_notfound(void **state)
{
	struct fixture *f = *state;

	assert_absent(f->s, "nope", NOW);
}

static void
store_set__then_get__returns_bytes_and_no_expiry(void **state)
{
	struct fixture *f = *state;
	struct op_result r;

	assert_int_equal(set_s(f->s, "k", "{\"a\":1}", 0, NOW), STORE_OK);
	test_now = NOW;
	assert_int_equal(store_get(f->s, "k", 1, &r), STORE_OK);
	assert_int_equal(r.vlen, 7);
	assert_string_equal(r.val, "{\"a\":1}");
	assert_int_equal(r.expires, 0);
	op_result_clear(&r);
}

static void
store_set__empty_value__reads_back_empty(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(set_s(f->s, "k", "", 0, NOW), STORE_OK);
	assert_value(f->s, "k", "", NOW);
}

static void
store_set__result__reports_found_and_expires(void **state)
{
	struct fixture *f = *state;
	struct op op;
	struct op_result r;

	memset(&op, 0, sizeof(op));
	memset(&r, 0, sizeof(r));
	op.type = OP_SET;
	op.key = "k";
	op.klen = 1;
	op.val = "v";
	op.vlen = 1;
	op.ttl = 60;
	test_now = NOW;
	assert_int_equal(store_exec(f->s, &op, 1, 0, eq_bytes, &r, NULL),
	    STORE_OK);
	assert_int_equal(r.found, 1);
	assert_int_equal(r.expires, NOW + 60000);
	assert_null(r.val);
}

/* TTL */

static void
store_set__with_ttl__get_reports_expires(void **state)
{
	struct fixture *f = *state;
	struct op_result r;

	assert_int_equal(set_s(f->s, "k", "v", 10, NOW), STORE_OK);
	test_now = NOW;
	assert_int_equal(store_get(f->s, "k", 1, &r), STORE_OK);
	assert_int_equal(r.expires, NOW + 10000);
	op_result_clear(&r);
}

static void
store_get__ttl_reached__returns_notfound(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(set_s(f->s, "k", "v", 10, NOW), STORE_OK);
	assert_value(f->s, "k", "v", NOW + 10000 - 1);
	assert_absent(f->s, "k", NOW + 10000);
}

static void
store_list__ttl_reached__skips_record(void **state)
{
	struct fixture *f = *state;
	char out[256];

	assert_int_equal(set_s(f->s, "a", "1", 0, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "b", "2", 10, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "c", "3", 0, NOW), STORE_OK);
	list_str(f->s, "", NULL, 10, NOW, out, sizeof(out));
	assert_string_equal(out, "a,b,c|end");
	list_str(f->s, "", NULL, 10, NOW + 10000, out, sizeof(out));
	assert_string_equal(out, "a,c|end");
}

static void
store_tas__ttl_reached__treats_key_as_absent(void **state)
{
	struct fixture *f = *state;
	struct op_result r;

	assert_int_equal(set_s(f->s, "k", "old", 10, NOW), STORE_OK);
	/* The expired value no longer matches... */
	assert_int_equal(tas(f->s, "k", "old", "x", 0, NOW + 10000, &r),
	    STORE_OK);
	assert_int_equal(r.cond_met, 0);
	assert_int_equal(r.found, 0);
	assert_null(r.val);
	/* ...and create-if-absent succeeds. */
	assert_int_equal(tas(f->s, "k", NULL, "new", 0, NOW + 10000, &r),
	    STORE_OK);
	assert_int_equal(r.cond_met, 1);
	assert_value(f->s, "k", "new", NOW + 20000);
}

/*
 * The clock is read in every attempt. Here the first attempt "waits" 600 ms
 * after reading the clock, so the value it matched has expired before it
 * could commit: it must retry and find the key gone, not overwrite it.
 */
static void
store_tas__retried_past_expiry__does_not_match_expired_value(void **state)
{
	struct fixture *f = *state;
	struct op_result r;

	assert_int_equal(set_s(f->s, "k", "v", 1, NOW), STORE_OK);
	test_now = NOW + 500;
	test_step = 600;
	test_jumps = 2;
	assert_int_equal(tas(f->s, "k", "v", "w", 0, NOW + 500, &r), STORE_OK);
	assert_int_equal(r.cond_met, 0);
	assert_int_equal(r.found, 0);
	op_result_clear(&r);
	assert_absent(f->s, "k", NOW + 1700);
}

/*
 * A write with ttl 1 whose attempt outlives a second must not commit a
 * record that is already expired: it is retried with a fresh clock, and
 * the expiry it reports lies after the time it committed.
 */
static void
store_set__attempt_outlives_ttl__commits_unexpired_record(void **state)
{
	struct fixture *f = *state;
	struct op_result r;
	struct op op;

	memset(&op, 0, sizeof(op));
	memset(&r, 0, sizeof(r));
	op.type = OP_SET;
	op.key = "k";
	op.klen = 1;
	op.val = "v";
	op.vlen = 1;
	op.ttl = 1;
	test_now = NOW;
	test_step = 1500;
	test_jumps = 2;
	assert_int_equal(store_exec(f->s, &op, 1, 0, eq_bytes, &r, NULL),
	    STORE_OK);
	assert_int_equal(r.expires, NOW + 3000 + 1000);
	assert_true(r.expires > test_now);
	op_result_clear(&r);
	assert_value(f->s, "k", "v", NOW + 3999);
}

/* A clock that always outruns the ttl gives up busy, never a stale 200. */
static void
store_set__every_attempt_outlives_ttl__returns_busy(void **state)
{
	struct fixture *f = *state;
	struct op_result r;
	struct op op;

	memset(&op, 0, sizeof(op));
	memset(&r, 0, sizeof(r));
	op.type = OP_SET;
	op.key = "k";
	op.klen = 1;
	op.val = "v";
	op.vlen = 1;
	op.ttl = 1;
	test_now = NOW;
	test_step = 1500;
	test_jumps = 1000;
	assert_int_equal(store_exec(f->s, &op, 1, 0, eq_bytes, &r, NULL),
	    STORE_BUSY);
	assert_false(r.found);
	test_jumps = 0;
	assert_absent(f->s, "k", 0);
}

/* A test-and-set whose equality function holds the key's lock. */
struct holder {
	struct store	*s;
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cond;
	int		 holding;	/* inside eq, the key write-locked */
	int		 release;	/* the test lets it go on */
	int		 writer_done;	/* the blocked writer has returned */
	int		 writer_ret;
	int		 ret;
};

static struct holder *the_holder;

/* Signals that the lock is held, then waits for the test's word. */
static int
eq_holding(const char *a, size_t alen, const char *b, size_t blen)
{
	struct holder *h = the_holder;

	pthread_mutex_lock(&h->mtx);
	h->holding = 1;
	pthread_cond_broadcast(&h->cond);
	while (!h->release)
		pthread_cond_wait(&h->cond, &h->mtx);
	pthread_mutex_unlock(&h->mtx);
	return eq_bytes(a, alen, b, blen);
}

static void *
holder_main(void *arg)
{
	struct holder *h = arg;
	struct op_result r;
	struct op op;

	memset(&op, 0, sizeof(op));
	op.type = OP_TAS;
	op.key = "x";
	op.klen = 1;
	op.old = "1";
	op.oldlen = 1;
	op.val = "2";
	op.vlen = 1;
	h->ret = store_exec(h->s, &op, 1, 0, eq_holding, &r, NULL);
	op_result_clear(&r);
	return NULL;
}

static void *
blocked_writer_main(void *arg)
{
	struct holder *h = arg;
	int ret;

	ret = set_s(h->s, "x", "3", 0, NOW);
	pthread_mutex_lock(&h->mtx);
	h->writer_ret = ret;
	h->writer_done = 1;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->mtx);
	return NULL;
}

/* Starts the holder and returns once it has the key write-locked. */
static void
hold_x(struct holder *h, struct store *s, pthread_t *t)
{
	memset(h, 0, sizeof(*h));
	h->s = s;
	pthread_mutex_init(&h->mtx, NULL);
	pthread_cond_init(&h->cond, NULL);
	the_holder = h;
	assert_int_equal(pthread_create(t, NULL, holder_main, h), 0);
	pthread_mutex_lock(&h->mtx);
	while (!h->holding)
		pthread_cond_wait(&h->cond, &h->mtx);
	pthread_mutex_unlock(&h->mtx);
}

/* Lets the holder commit, and checks that it did. */
static void
release_x(struct holder *h, pthread_t t)
{
	pthread_mutex_lock(&h->mtx);
	h->release = 1;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->mtx);
	pthread_join(t, NULL);
	assert_int_equal(h->ret, STORE_OK);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->mtx);
}

/*
 * Reopens the store with a retry budget of half a second, so that a wait
 * for the holder's lock ends in busy within a test, and writes "x" = "1".
 */
static void
reopen_short_budget(struct fixture *f)
{
	store_close(f->s);
	test_retry_budget_ms = 500;
	assert_int_equal(open_in(f, STORE_DURABLE_WRITE, 1), STORE_OK);
	test_retry_budget_ms = 0;
	assert_int_equal(set_s(f->s, "x", "1", 0, NOW), STORE_OK);
}

/*
 * A write that waits for a lock held longer than the retry budget answers
 * busy once the budget is spent, instead of retrying lock timeouts for
 * minutes (30 x 5 s) while nginx has long given the client a 504.
 */
static void
store_exec__lock_held_past_retry_budget__returns_busy(void **state)
{
	struct fixture *f = *state;
	struct holder h;
	struct timespec until;
	pthread_t ta, tb;

	reopen_short_budget(f);
	hold_x(&h, f->s, &ta);
	assert_int_equal(pthread_create(&tb, NULL, blocked_writer_main, &h), 0);
	/* Generous: the writer needs the budget plus a detector tick. */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 30;
	pthread_mutex_lock(&h.mtx);
	while (!h.writer_done &&
	    pthread_cond_timedwait(&h.cond, &h.mtx, &until) == 0)
		;
	assert_true(h.writer_done);
	h.release = 1;
	pthread_cond_broadcast(&h.cond);
	pthread_mutex_unlock(&h.mtx);
	pthread_join(tb, NULL);
	pthread_join(ta, NULL);
	assert_int_equal(h.writer_ret, STORE_BUSY);
	assert_int_equal(h.ret, STORE_OK);
	assert_value(f->s, "x", "2", NOW);
	pthread_cond_destroy(&h.cond);
	pthread_mutex_destroy(&h.mtx);
}

/* A reader of the key the holder has write-locked. */
struct reader {
	struct holder	*h;
	struct op_result r;
	int		 ret;
	_Atomic int	 done;
};

static void *
reader_main(void *arg)
{
	struct reader *rd = arg;

	rd->ret = store_get(rd->h->s, "x", 1, &rd->r);
	rd->done = 1;
	return NULL;
}

/*
 * A read of a key being written waits for the writer and then returns
 * what it committed, never what it had not committed yet, and never the
 * value from before (degree 2).
 */
static void
store_get__key_being_written__returns_the_committed_value(void **state)
{
	struct fixture *f = *state;
	struct timespec pause = { 0, 200 * 1000 * 1000 };
	struct holder h;
	struct reader rd;
	pthread_t ta, tb;

	assert_int_equal(set_s(f->s, "x", "1", 0, NOW), STORE_OK);
	hold_x(&h, f->s, &ta);
	memset(&rd, 0, sizeof(rd));
	rd.h = &h;
	assert_int_equal(pthread_create(&tb, NULL, reader_main, &rd), 0);
	nanosleep(&pause, NULL);
	assert_false(rd.done);
	release_x(&h, ta);
	pthread_join(tb, NULL);
	assert_int_equal(rd.ret, STORE_OK);
	assert_int_equal(rd.r.vlen, 1);
	assert_memory_equal(rd.r.val, "2", 1);
	op_result_clear(&rd.r);
}

/*
 * A read blocked for longer than the retry budget answers busy once the
 * budget is spent. Its transaction's timeout is what bounds the wait: a
 * DB->get without a transaction, timed against the environment's lock
 * timeout alone, stayed blocked for minutes here.
 */
static void
store_get__lock_held_past_short_budget__returns_busy(void **state)
{
	struct fixture *f = *state;
	struct timespec t0, t1;
	struct holder h;
	struct reader rd;
	pthread_t ta, tb;

	reopen_short_budget(f);
	hold_x(&h, f->s, &ta);
	memset(&rd, 0, sizeof(rd));
	rd.h = &h;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(pthread_create(&tb, NULL, reader_main, &rd), 0);
	pthread_join(tb, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	release_x(&h, ta);
	assert_int_equal(rd.ret, STORE_BUSY);
	assert_false(rd.r.found);
	/* The budget plus a detector tick, well short of the lock timeout. */
	assert_true(t1.tv_sec - t0.tv_sec < 4);
}

static void
store_exec__batch_get_of_expired_key__reports_not_found(void **state)
{
	struct fixture *f = *state;
	struct op op;
	struct op_result r;

	assert_int_equal(set_s(f->s, "k", "v", 1, NOW), STORE_OK);
	memset(&op, 0, sizeof(op));
	memset(&r, 0, sizeof(r));
	op.type = OP_GET;
	op.key = "k";
	op.klen = 1;
	test_now = NOW + 999;
	assert_int_equal(store_exec(f->s, &op, 1, 0, eq_bytes, &r,
	    NULL), STORE_OK);
	assert_int_equal(r.found, 1);
	assert_int_equal(r.expires, NOW + 1000);
	op_result_clear(&r);
	test_now = NOW + 1000;
	assert_int_equal(store_exec(f->s, &op, 1, 0, eq_bytes, &r,
	    NULL), STORE_OK);
	assert_int_equal(r.found, 0);
	assert_null(r.val);
}

static void
store_set__without_ttl__clears_earlier_expiry(void **state)
{
	struct fixture *f = *state;
	struct op_result r;
	size_t removed;

	assert_int_equal(set_s(f->s, "k", "v1", 10, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "k", "v2", 0, NOW), STORE_OK);
	test_now = NOW + 20000;
	assert_int_equal(store_get(f->s, "k", 1, &r), STORE_OK);
	assert_int_equal(r.expires, 0);
	assert_string_equal(r.val, "v2");
	op_result_clear(&r);
	/* The old index entry is gone too: the sweeper finds nothing. */
	assert_int_equal(store_sweep(f->s, NOW + 20000, 100, &removed),
	    STORE_OK);
	assert_int_equal(removed, 0);
	assert_value(f->s, "k", "v2", NOW + 20000);
}

/* delete */

static void
store_delete__absent_key__is_ok_twice(void **state)
{
	struct fixture *f = *state;
	struct op op;
	struct op_result r;

	assert_int_equal(set_s(f->s, "k", "v", 0, NOW), STORE_OK);
	memset(&op, 0, sizeof(op));
	op.type = OP_DELETE;
	op.key = "k";
	op.klen = 1;
	memset(&r, 0, sizeof(r));
	test_now = NOW;
	assert_int_equal(store_exec(f->s, &op, 1, 0, eq_bytes, &r, NULL),
	    STORE_OK);
	assert_absent(f->s, "k", NOW);
	test_now = NOW;
	assert_int_equal(store_exec(f->s, &op, 1, 0, eq_bytes, &r, NULL),
	    STORE_OK);
	assert_absent(f->s, "k", NOW);
}

static void
store_set__null_value__deletes(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(set_s(f->s, "k", "v", 0, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "k", NULL, 0, NOW), STORE_OK);
	assert_absent(f->s, "k", NOW);
}

/* binary keys */

static void
store_get__key_with_nul_bytes__is_distinct(void **state)
{
	struct fixture *f = *state;
	struct op_result r;

	assert_int_equal(set_kv(f->s, "a\0b", 3, "three", 0, NOW), STORE_OK);
	assert_int_equal(set_kv(f->s, "a", 1, "one", 0, NOW), STORE_OK);
	test_now = NOW;
	assert_int_equal(store_get(f->s, "a\0b", 3, &r), STORE_OK);
	assert_string_equal(r.val, "three");
	op_result_clear(&r);
	test_now = NOW;
	assert_int_equal(store_get(f->s, "a", 1, &r), STORE_OK);
	assert_string_equal(r.val, "one");
	op_result_clear(&r);
	test_now = NOW;
	assert_int_equal(store_get(f->s, "a\0", 2, &r), STORE_NOTFOUND);
}

static void
store_list__keys_with_nul_bytes__are_listed_with_lengths(void **state)
{
	struct fixture *f = *state;
	struct store_item *items;
	size_t n;
	int more;

	assert_int_equal(set_kv(f->s, "p\0z", 3, "1", 0, NOW), STORE_OK);
	assert_int_equal(set_kv(f->s, "p", 1, "2", 0, NOW), STORE_OK);
	assert_int_equal(set_kv(f->s, "p\0", 2, "3", 0, NOW), STORE_OK);
	test_now = NOW;
	assert_int_equal(store_list(f->s, "p\0", 2, "p\0", 2, 10, &items,
	    &n, &more, NULL, NULL), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(items[0].klen, 3);
	assert_memory_equal(items[0].key, "p\0z", 3);
	assert_string_equal(items[0].val, "1");
	assert_int_equal(more, 0);
	store_items_free(items, n);
}

/* list */

static void
store_list__prefix__returns_matches_in_byte_order(void **state)
{
	struct fixture *f = *state;
	static const char *keys[] = { "pb", "o", "p\xc3\xa9", "pa", "q", "p",
	    "paa", "p~" };
	char out[256];
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_int_equal(set_s(f->s, keys[i], "v", 0, NOW), STORE_OK);
	list_str(f->s, "p", NULL, 100, NOW, out, sizeof(out));
	assert_string_equal(out, "p,pa,paa,pb,p~,p\xc3\xa9|end");
	list_str(f->s, "", NULL, 100, NOW, out, sizeof(out));
	assert_string_equal(out, "o,p,pa,paa,pb,p~,p\xc3\xa9,q|end");
	list_str(f->s, "x", NULL, 100, NOW, out, sizeof(out));
	assert_string_equal(out, "|end");
}

static void
store_list__items__carry_value_and_expires(void **state)
{
	struct fixture *f = *state;
	struct store_item *items;
	size_t n;
	int more;

	assert_int_equal(set_s(f->s, "a", "va", 5, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "b", "vb", 0, NOW), STORE_OK);
	test_now = NOW;
	assert_int_equal(store_list(f->s, "", 0, NULL, 0, 10, &items, &n,
	    &more, NULL, NULL), STORE_OK);
	assert_int_equal(n, 2);
	assert_string_equal(items[0].val, "va");
	assert_int_equal(items[0].vlen, 2);
	assert_int_equal(items[0].expires, NOW + 5000);
	assert_string_equal(items[1].val, "vb");
	assert_int_equal(items[1].expires, 0);
	store_items_free(items, n);
}

static void
store_list__limit__sets_more(void **state)
{
	struct fixture *f = *state;
	char out[256];

	assert_int_equal(set_s(f->s, "a", "v", 0, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "b", "v", 0, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "c", "v", 0, NOW), STORE_OK);
	list_str(f->s, "", NULL, 2, NOW, out, sizeof(out));
	assert_string_equal(out, "a,b|more");
	list_str(f->s, "", NULL, 3, NOW, out, sizeof(out));
	assert_string_equal(out, "a,b,c|end");
}

static void
store_list__only_expired_records_follow__more_is_zero(void **state)
{
	struct fixture *f = *state;
	char out[256];

	assert_int_equal(set_s(f->s, "a", "v", 0, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "b", "v", 0, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "c", "v", 1, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "d", "v", 1, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "e", "v", 0, NOW), STORE_OK);
	list_str(f->s, "", NULL, 2, NOW + 1000, out, sizeof(out));
	assert_string_equal(out, "a,b|more");	/* e is live */
	assert_int_equal(set_s(f->s, "e", NULL, 0, NOW), STORE_OK);
	list_str(f->s, "", NULL, 2, NOW + 1000, out, sizeof(out));
	assert_string_equal(out, "a,b|end");
	list_str(f->s, "", "a", 1, NOW + 1000, out, sizeof(out));
	assert_string_equal(out, "b|end");
}

static void
store_list__after_existing_key__starts_strictly_after(void **state)
{
	struct fixture *f = *state;
	char out[256];

	assert_int_equal(set_s(f->s, "pa", "v", 0, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "pb", "v", 0, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "pc", "v", 0, NOW), STORE_OK);
	list_str(f->s, "p", "pa", 10, NOW, out, sizeof(out));
	assert_string_equal(out, "pb,pc|end");
	list_str(f->s, "p", "pbb", 10, NOW, out, sizeof(out));
	assert_string_equal(out, "pc|end");
	list_str(f->s, "p", "pc", 10, NOW, out, sizeof(out));
	assert_string_equal(out, "|end");
}

static void
store_list__after_equal_to_prefix__skips_that_key(void **state)
{
	struct fixture *f = *state;
	char out[256];

	assert_int_equal(set_s(f->s, "p", "v", 0, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "pa", "v", 0, NOW), STORE_OK);
	list_str(f->s, "p", "p", 10, NOW, out, sizeof(out));
	assert_string_equal(out, "pa|end");
}

static void
store_list__after_outside_prefix__follows_byte_order(void **state)
{
	struct fixture *f = *state;
	char out[256];

	assert_int_equal(set_s(f->s, "a", "v", 0, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "pa", "v", 0, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "pb", "v", 0, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "z", "v", 0, NOW), STORE_OK);
	/* Before the prefix range: the whole range. */
	list_str(f->s, "p", "a", 10, NOW, out, sizeof(out));
	assert_string_equal(out, "pa,pb|end");
	/* After it: nothing. */
	list_str(f->s, "p", "q", 10, NOW, out, sizeof(out));
	assert_string_equal(out, "|end");
}

static void
store_list__paging_with_inserts__visits_every_key_once(void **state)
{
	struct fixture *f = *state;
	struct store_item *items;
	char seen[64][8], after[8], key[8];
	size_t i, n, nseen = 0;
	int more, page = 0;

	/* k00, k02, ..., k18: ten keys, pages of three. */
	for (i = 0; i < 20; i += 2) {
		snprintf(key, sizeof(key), "k%02zu", i);
		assert_int_equal(set_s(f->s, key, "v", 0, NOW), STORE_OK);
	}
	after[0] = '\0';
	do {
		test_now = NOW;
		assert_int_equal(store_list(f->s, "k", 1, after, strlen(after),
		    3, &items, &n, &more, NULL, NULL), STORE_OK);
		for (i = 0; i < n; i++) {
			assert_true(nseen < 64);
			snprintf(seen[nseen++], sizeof(seen[0]), "%s",
			    items[i].key);
		}
		if (n > 0)
			snprintf(after, sizeof(after), "%s", items[n - 1].key);
		store_items_free(items, n);
		if (page++ == 0) {
			/* Behind the cursor: never seen. Ahead: seen once. */
			assert_int_equal(set_s(f->s, "k01", "v", 0, NOW),
			    STORE_OK);
			assert_int_equal(set_s(f->s, "k05", "v", 0, NOW),
			    STORE_OK);
			assert_int_equal(set_s(f->s, "k04x", "v", 0, NOW),
			    STORE_OK);
		}
	} while (more);
	assert_int_equal(nseen, 12);
	for (i = 1; i < nseen; i++)
		assert_true(strcmp(seen[i - 1], seen[i]) < 0);
	assert_string_equal(seen[0], "k00");
	assert_string_equal(seen[2], "k04");
	assert_string_equal(seen[3], "k04x");
	assert_string_equal(seen[4], "k05");
	assert_string_equal(seen[11], "k18");
}

static void
store_list__limit_zero__reports_only_more(void **state)
{
	struct fixture *f = *state;
	char out[256];

	list_str(f->s, "", NULL, 0, NOW, out, sizeof(out));
	assert_string_equal(out, "|end");
	assert_int_equal(set_s(f->s, "a", "v", 0, NOW), STORE_OK);
	list_str(f->s, "", NULL, 0, NOW, out, sizeof(out));
	assert_string_equal(out, "|more");
}

/* test-and-set */

static void
store_tas__absent_key_with_null_old__creates(void **state)
{
	struct fixture *f = *state;
	struct op_result r;

	assert_int_equal(tas(f->s, "k", NULL, "v", 30, NOW, &r), STORE_OK);
	assert_int_equal(r.cond_met, 1);
	assert_int_equal(r.found, 1);
	assert_int_equal(r.expires, NOW + 30000);
	assert_null(r.val);
	assert_value(f->s, "k", "v", NOW);
}

static void
store_tas__absent_key_with_old__fails(void **state)
{
	struct fixture *f = *state;
	struct op_result r;

	assert_int_equal(tas(f->s, "k", "x", "v", 0, NOW, &r), STORE_OK);
	assert_int_equal(r.cond_met, 0);
	assert_int_equal(r.found, 0);
	assert_null(r.val);
	assert_absent(f->s, "k", NOW);
}

static void
store_tas__present_key_with_null_old__reports_current(void **state)
{
	struct fixture *f = *state;
	struct op_result r;

	assert_int_equal(set_s(f->s, "k", "cur", 7, NOW), STORE_OK);
	assert_int_equal(tas(f->s, "k", NULL, "v", 0, NOW, &r), STORE_OK);
	assert_int_equal(r.cond_met, 0);
	assert_int_equal(r.found, 1);
	assert_string_equal(r.val, "cur");
	assert_int_equal(r.expires, NOW + 7000);
	op_result_clear(&r);
	assert_value(f->s, "k", "cur", NOW);
}

static void
store_tas__equal_old__writes_new_value(void **state)
{
	struct fixture *f = *state;
	struct op_result r;

	assert_int_equal(set_s(f->s, "k", "old", 0, NOW), STORE_OK);
	assert_int_equal(tas(f->s, "k", "old", "new", 0, NOW, &r), STORE_OK);
	assert_int_equal(r.cond_met, 1);
	assert_int_equal(r.expires, 0);
	assert_value(f->s, "k", "new", NOW);
}

static void
store_tas__different_old__reports_current_value(void **state)
{
	struct fixture *f = *state;
	struct op_result r;

	assert_int_equal(set_s(f->s, "k", "actual", 0, NOW), STORE_OK);
	assert_int_equal(tas(f->s, "k", "guess", "new", 0, NOW, &r), STORE_OK);
	assert_int_equal(r.cond_met, 0);
	assert_int_equal(r.found, 1);
	assert_int_equal(r.vlen, 6);
	assert_string_equal(r.val, "actual");
	assert_int_equal(r.expires, 0);
	op_result_clear(&r);
	assert_value(f->s, "k", "actual", NOW);
}

static void
store_tas__null_new_value__deletes(void **state)
{
	struct fixture *f = *state;
	struct op_result r;

	assert_int_equal(set_s(f->s, "k", "old", 10, NOW), STORE_OK);
	assert_int_equal(tas(f->s, "k", "old", NULL, 0, NOW, &r), STORE_OK);
	assert_int_equal(r.cond_met, 1);
	assert_int_equal(r.found, 0);
	assert_int_equal(r.expires, 0);
	assert_absent(f->s, "k", NOW);
}

static void
store_tas__eq_function__decides_equality(void **state)
{
	struct fixture *f = *state;
	struct op op;
	struct op_result r;

	assert_int_equal(set_s(f->s, "k", "1.0", 0, NOW), STORE_OK);
	memset(&op, 0, sizeof(op));
	memset(&r, 0, sizeof(r));
	op.type = OP_TAS;
	op.key = "k";
	op.klen = 1;
	op.old = "1";
	op.oldlen = 1;
	op.val = "2";
	op.vlen = 1;
	/* Byte equality says no... */
	test_now = NOW;
	assert_int_equal(store_exec(f->s, &op, 1, 0, eq_bytes, &r, NULL),
	    STORE_OK);
	assert_int_equal(r.cond_met, 0);
	op_result_clear(&r);
	assert_value(f->s, "k", "1.0", NOW);
}

/* exec */

static void
store_exec__later_op__sees_earlier_write(void **state)
{
	struct fixture *f = *state;
	struct op ops[4];
	struct op_result r[4];
	size_t i;

	memset(ops, 0, sizeof(ops));
	memset(r, 0, sizeof(r));
	for (i = 0; i < 4; i++) {
		ops[i].key = "k";
		ops[i].klen = 1;
	}
	ops[0].type = OP_SET;
	ops[0].val = "a";
	ops[0].vlen = 1;
	ops[1].type = OP_GET;
	ops[2].type = OP_TAS;
	ops[2].old = "a";
	ops[2].oldlen = 1;
	ops[2].val = "b";
	ops[2].vlen = 1;
	ops[3].type = OP_GET;
	test_now = NOW;
	assert_int_equal(store_exec(f->s, ops, 4, 1, eq_bytes, r, NULL),
	    STORE_OK);
	assert_int_equal(r[1].found, 1);
	assert_string_equal(r[1].val, "a");
	assert_int_equal(r[2].cond_met, 1);
	assert_int_equal(r[3].found, 1);
	assert_string_equal(r[3].val, "b");
	for (i = 0; i < 4; i++)
		op_result_clear(&r[i]);
	assert_value(f->s, "k", "b", NOW);
}

static void
store_exec__delete_then_get__sees_absence(void **state)
{
	struct fixture *f = *state;
	struct op ops[2];
	struct op_result r[2];

	assert_int_equal(set_s(f->s, "k", "v", 0, NOW), STORE_OK);
	memset(ops, 0, sizeof(ops));
	memset(r, 0, sizeof(r));
	ops[0].type = OP_DELETE;
	ops[0].key = "k";
	ops[0].klen = 1;
	ops[1].type = OP_GET;
	ops[1].key = "k";
	ops[1].klen = 1;
	test_now = NOW;
	assert_int_equal(store_exec(f->s, ops, 2, 0, eq_bytes, r, NULL),
	    STORE_OK);
	assert_int_equal(r[1].found, 0);
	assert_null(r[1].val);
}

static void
store_exec__atomic_failed_tas__rolls_back_and_sets_failed(void **state)
{
	struct fixture *f = *state;
	struct op ops[4];
	struct op_result r[4];
	size_t failed = 99, i;

	assert_int_equal(set_s(f->s, "x", "orig", 0, NOW), STORE_OK);
	memset(ops, 0, sizeof(ops));
	memset(r, 0, sizeof(r));
	ops[0].type = OP_SET;
	ops[0].key = "a";
	ops[0].klen = 1;
	ops[0].val = "1";
	ops[0].vlen = 1;
	ops[1].type = OP_GET;		/* allocates a result, must be freed */
	ops[1].key = "x";
	ops[1].klen = 1;
	ops[2].type = OP_TAS;
	ops[2].key = "x";
	ops[2].klen = 1;
	ops[2].old = "wrong";
	ops[2].oldlen = 5;
	ops[2].val = "new";
	ops[2].vlen = 3;
	ops[3].type = OP_SET;
	ops[3].key = "b";
	ops[3].klen = 1;
	ops[3].val = "2";
	ops[3].vlen = 1;
	test_now = NOW;
	assert_int_equal(store_exec(f->s, ops, 4, 1, eq_bytes, r, &failed),
	    STORE_CONDITION);
	assert_int_equal(failed, 2);
	for (i = 0; i < 4; i++) {
		assert_null(r[i].val);
		assert_int_equal(r[i].found, 0);
	}
	assert_absent(f->s, "a", NOW);
	assert_absent(f->s, "b", NOW);
	assert_value(f->s, "x", "orig", NOW);
}

static void
store_exec__non_atomic_failed_tas__continues(void **state)
{
	struct fixture *f = *state;
	struct op ops[3];
	struct op_result r[3];
	size_t failed = 99, i;

	assert_int_equal(set_s(f->s, "x", "orig", 0, NOW), STORE_OK);
	memset(ops, 0, sizeof(ops));
	memset(r, 0, sizeof(r));
	ops[0].type = OP_SET;
	ops[0].key = "a";
	ops[0].klen = 1;
	ops[0].val = "1";
	ops[0].vlen = 1;
	ops[1].type = OP_TAS;
	ops[1].key = "x";
	ops[1].klen = 1;
	ops[1].old = "wrong";
	ops[1].oldlen = 5;
	ops[1].val = "new";
	ops[1].vlen = 3;
	ops[2].type = OP_SET;
	ops[2].key = "b";
	ops[2].klen = 1;
	ops[2].val = "2";
	ops[2].vlen = 1;
	test_now = NOW;
	assert_int_equal(store_exec(f->s, ops, 3, 0, eq_bytes, r, &failed),
	    STORE_OK);
	assert_int_equal(failed, 99);
	assert_int_equal(r[1].cond_met, 0);
	assert_string_equal(r[1].val, "orig");
	for (i = 0; i < 3; i++)
		op_result_clear(&r[i]);
	assert_value(f->s, "a", "1", NOW);
	assert_value(f->s, "b", "2", NOW);
	assert_value(f->s, "x", "orig", NOW);
}

static void
store_exec__thousand_ops__commit_in_one_transaction(void **state)
{
	struct fixture *f = *state;
	struct op *ops;
	struct op_result *r;
	char (*keys)[16];
	char out[256];
	size_t i, n = 1000;

	ops = calloc(n, sizeof(*ops));
	r = calloc(n, sizeof(*r));
	keys = calloc(n, sizeof(*keys));
	assert_non_null(ops);
	assert_non_null(r);
	assert_non_null(keys);
	for (i = 0; i < n; i++) {
		snprintf(keys[i], sizeof(keys[i]), "key%04zu", i);
		ops[i].type = OP_SET;
		ops[i].key = keys[i];
		ops[i].klen = strlen(keys[i]);
		ops[i].val = keys[i];
		ops[i].vlen = strlen(keys[i]);
		ops[i].ttl = (int64_t)(i % 2);
	}
	test_now = NOW;
	assert_int_equal(store_exec(f->s, ops, n, 1, eq_bytes, r, NULL),
	    STORE_OK);
	free(ops);
	free(r);
	free(keys);
	list_str(f->s, "key099", NULL, 100, NOW, out, sizeof(out));
	assert_string_equal(out, "key0990,key0991,key0992,key0993,key0994,"
	    "key0995,key0996,key0997,key0998,key0999|end");
}

/* Two keys far apart, so they sit on different btree pages. */
#define FAR_LO	"far0000"
#define FAR_HI	"far1999"
#define FAR_ROUNDS	300

struct far_writer {
	struct store	*s;
	int		 reversed;	/* sets FAR_HI first */
	int		 failures;
};

/* Runs FAR_ROUNDS two-op batches setting both far keys, in one order. */
static void *
far_writer_main(void *arg)
{
	struct far_writer *w = arg;
	struct op ops[2];
	struct op_result r[2];
	const char *first = w->reversed ? FAR_HI : FAR_LO;
	const char *second = w->reversed ? FAR_LO : FAR_HI;
	int i, j;

	memset(ops, 0, sizeof(ops));
	for (j = 0; j < 2; j++) {
		ops[j].type = OP_SET;
		ops[j].key = j == 0 ? first : second;
		ops[j].klen = strlen(ops[j].key);
		ops[j].val = "\"v\"";
		ops[j].vlen = 3;
	}
	for (i = 0; i < FAR_ROUNDS; i++) {
		test_now = NOW;
		if (store_exec(w->s, ops, 2, 1, eq_bytes, r, NULL) !=
		    STORE_OK)
			w->failures++;
		else {
			op_result_clear(&r[0]);
			op_result_clear(&r[1]);
		}
	}
	return NULL;
}

static void
store_exec__batches_in_opposite_orders__never_deadlock(void **state)
{
	struct fixture *f = *state;
	struct far_writer w[2];
	struct store_stats st;
	pthread_t t[2];
	char key[16], val[201];
	int i;

	/* Enough records for many pages between the two keys. */
	memset(val, 'x', sizeof(val) - 1);
	val[0] = val[sizeof(val) - 2] = '"';
	val[sizeof(val) - 1] = '\0';
	for (i = 0; i < 2000; i++) {
		snprintf(key, sizeof(key), "far%04d", i);
		assert_int_equal(set_s(f->s, key, val, 0, NOW), STORE_OK);
	}
	for (i = 0; i < 2; i++) {
		w[i].s = f->s;
		w[i].reversed = i;
		w[i].failures = 0;
		assert_int_equal(pthread_create(&t[i], NULL, far_writer_main,
		    &w[i]), 0);
	}
	for (i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
	assert_int_equal(store_stats(f->s, 0, &st), STORE_OK);
	assert_int_equal(st.deadlocks, 0);
	assert_value(f->s, FAR_LO, "\"v\"", NOW);
	assert_value(f->s, FAR_HI, "\"v\"", NOW);
}

/* sweep */

static void
store_sweep__expired_records__are_physically_removed(void **state)
{
	struct fixture *f = *state;
	char out[256];
	size_t removed;

	assert_int_equal(set_s(f->s, "a", "v", 0, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "b", "v", 1, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "c", "v", 5, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "d", "v", 1, NOW), STORE_OK);
	assert_int_equal(store_sweep(f->s, NOW + 1000, 100, &removed),
	    STORE_OK);
	assert_int_equal(removed, 2);
	/* At now = 0 nothing counts as expired: this lists what is stored. */
	list_str(f->s, "", NULL, 10, 0, out, sizeof(out));
	assert_string_equal(out, "a,c|end");
	assert_int_equal(store_sweep(f->s, NOW + 1000, 100, &removed),
	    STORE_OK);
	assert_int_equal(removed, 0);
}

static void
store_sweep__max__bounds_removals_across_transactions(void **state)
{
	struct fixture *f = *state;
	struct store_item *items;
	char key[16];
	size_t i, n, removed;
	int more;

	for (i = 0; i < 250; i++) {
		snprintf(key, sizeof(key), "k%03zu", i);
		assert_int_equal(set_s(f->s, key, "v", 1, NOW), STORE_OK);
	}
	assert_int_equal(store_sweep(f->s, NOW + 1000, 230, &removed),
	    STORE_OK);
	assert_int_equal(removed, 230);
	test_now = 0;
	assert_int_equal(store_list(f->s, "", 0, NULL, 0, 1000, &items, &n,
	    &more, NULL, NULL), STORE_OK);
	assert_int_equal(n, 20);
	store_items_free(items, n);
	assert_int_equal(store_sweep(f->s, NOW + 1000, 1000, &removed),
	    STORE_OK);
	assert_int_equal(removed, 20);
}

static void
store_open__background_thread__sweeps_expired_records(void **state)
{
	struct fixture *f = *state;
	struct store_audit au;
	int tries;

	store_close(f->s);
	assert_int_equal(open_in(f, STORE_DURABLE_WRITE, 1), STORE_OK);
	/* Written "ten seconds ago" with a one-second ttl: long expired. */
	assert_int_equal(set_s(f->s, "gone", "v", 1, NOW - 10000), STORE_OK);
	assert_int_equal(set_s(f->s, "kept", "v", 0, NOW), STORE_OK);
	/*
	 * The thread ticks once a second and sweeps by the store's clock;
	 * give it a few. An audit at time 0 counts expired records too.
	 */
	for (tries = 0; tries < 50; tries++) {
		usleep(100000);
		assert_int_equal(store_audit(f->s, 0, 0, &au), STORE_OK);
		if (au.records == 1)
			break;
	}
	assert_int_equal(au.records, 1);
	assert_value(f->s, "kept", "v", NOW);
}

/* lifecycle */

static void
store_open__reopen__keeps_committed_data(void **state)
{
	struct fixture *f = *state;

	store_close(f->s);
	assert_int_equal(open_in(f, STORE_DURABLE_SYNC, 0), STORE_OK);
	assert_int_equal(set_s(f->s, "k", "durable", 0, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "t", "ttl", 5, NOW), STORE_OK);
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(open_in(f, STORE_DURABLE_SYNC, 0), STORE_OK);
	assert_value(f->s, "k", "durable", NOW);
	assert_value(f->s, "t", "ttl", NOW);
	/* The expiry index survived too. */
	assert_int_equal(store_sweep(f->s, NOW + 5000, 10, NULL), STORE_OK);
	assert_absent(f->s, "t", 0);
}

static void
store_open__missing_home__returns_error(void **state)
{
	struct store_cfg cfg;
	struct store *s = (struct store *)&cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.home = "/nonexistent/test_store/dir";
	assert_int_equal(store_open(&cfg, &s), STORE_ERROR);
	assert_null(s);
}

static void
store_check__healthy_store__returns_ok(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(store_check(f->s), STORE_OK);
	assert_int_equal(set_s(f->s, "k", "v", 0, NOW), STORE_OK);
	assert_int_equal(store_check(f->s), STORE_OK);
}

static void
store_close__null__is_ignored(void **state)
{
	store_close(NULL);
	op_result_clear(NULL);
	store_items_free(NULL, 0);
}

static void
store_strerror__every_code__has_a_phrase(void **state)
{
	int e;

	for (e = STORE_OK; e <= STORE_ERROR; e++) {
		assert_non_null(store_strerror(e));
		assert_true(strlen(store_strerror(e)) > 0);
	}
	assert_string_equal(store_strerror(STORE_NOTFOUND), "key not found");
	assert_non_null(store_strerror(-1));
	assert_non_null(store_strerror(1000));
}

static void
store_now_ms__is_wall_clock_ms(void **state)
{
	int64_t t = store_now_ms();

	assert_true(t > (int64_t)time(NULL) * 1000 - 2000);
	assert_true(t < (int64_t)time(NULL) * 1000 + 2000);
}

/* concurrency */

#define NTHREADS	8

struct worker {
	struct store		*s;
	pthread_barrier_t	*start;
	int			 id;
	int			 iterations;
	int			 ret;		/* first unexpected error */
	int			 won;
};

/* Races the other workers to replace "v0" with its own value. */
static void *
tas_race(void *arg)
{
	struct worker *w = arg;
	struct op_result r;
	char val[16];

	snprintf(val, sizeof(val), "t%d", w->id);
	pthread_barrier_wait(w->start);
	w->ret = tas(w->s, "k", "v0", val, 0, NOW, &r);
	w->won = r.cond_met;
	op_result_clear(&r);
	return NULL;
}

static void
store_tas__concurrent_same_old__exactly_one_wins(void **state)
{
	struct fixture *f = *state;
	pthread_barrier_t start;
	pthread_t t[NTHREADS];
	struct worker w[NTHREADS];
	char winner[16];
	int i, wins = 0;

	assert_int_equal(set_s(f->s, "k", "v0", 0, NOW), STORE_OK);
	pthread_barrier_init(&start, NULL, NTHREADS);
	for (i = 0; i < NTHREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].s = f->s;
		w[i].start = &start;
		w[i].id = i;
		assert_int_equal(pthread_create(&t[i], NULL, tas_race, &w[i]),
		    0);
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start);
	for (i = 0; i < NTHREADS; i++) {
		assert_int_equal(w[i].ret, STORE_OK);
		if (w[i].won) {
			wins++;
			snprintf(winner, sizeof(winner), "t%d", i);
		}
	}
	assert_int_equal(wins, 1);
	assert_value(f->s, "k", winner, NOW);
}

/* Increments "ctr" w->iterations times: read, then TAS, retry if unmet. */
static void *
incr_loop(void *arg)
{
	struct worker *w = arg;
	struct op_result cur, r;
	char old[32], val[32];
	int i, met, ret;
	long n;

	pthread_barrier_wait(w->start);
	for (i = 0; i < w->iterations; i++) {
		for (;;) {
			test_now = NOW;
			ret = store_get(w->s, "ctr", 3, &cur);
			if (ret != STORE_OK && ret != STORE_NOTFOUND) {
				w->ret = ret;
				return NULL;
			}
			n = ret == STORE_OK ? strtol(cur.val, NULL, 10) : 0;
			if (ret == STORE_OK)
				snprintf(old, sizeof(old), "%s", cur.val);
			op_result_clear(&cur);
			snprintf(val, sizeof(val), "%ld", n + 1);
			ret = tas(w->s, "ctr", n == 0 ? NULL : old, val, 0, NOW,
			    &r);
			met = r.cond_met;
			op_result_clear(&r);
			if (ret != STORE_OK) {
				w->ret = ret;
				return NULL;
			}
			if (met)
				break;
		}
	}
	return NULL;
}

static void
store_tas__concurrent_increments__end_at_total(void **state)
{
	struct fixture *f = *state;
	pthread_barrier_t start;
	pthread_t t[NTHREADS];
	struct worker w[NTHREADS];
	char want[32];
	int i, k = 40;

	pthread_barrier_init(&start, NULL, NTHREADS);
	for (i = 0; i < NTHREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].s = f->s;
		w[i].start = &start;
		w[i].iterations = k;
		assert_int_equal(pthread_create(&t[i], NULL, incr_loop, &w[i]),
		    0);
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start);
	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(w[i].ret, STORE_OK);
	snprintf(want, sizeof(want), "%d", NTHREADS * k);
	assert_value(f->s, "ctr", want, NOW);
}

/* A batch that reads then writes one key: racing copies deadlock. */
static void *
read_then_write(void *arg)
{
	struct worker *w = arg;
	struct op ops[2];
	struct op_result r[2];
	int i;

	memset(ops, 0, sizeof(ops));
	ops[0].type = OP_GET;
	ops[0].key = "hot";
	ops[0].klen = 3;
	ops[1].type = OP_SET;
	ops[1].key = "hot";
	ops[1].klen = 3;
	ops[1].val = "v";
	ops[1].vlen = 1;
	pthread_barrier_wait(w->start);
	for (i = 0; i < w->iterations; i++) {
		memset(r, 0, sizeof(r));
		test_now = NOW;
		w->ret = store_exec(w->s, ops, 2, 1, eq_bytes, r, NULL);
		op_result_clear(&r[0]);
		op_result_clear(&r[1]);
		if (w->ret != STORE_OK)
			break;
	}
	return NULL;
}

static void
store_exec__racing_read_then_write__deadlocks_are_retried(void **state)
{
	struct fixture *f = *state;
	pthread_barrier_t start;
	pthread_t t[NTHREADS];
	struct worker w[NTHREADS];
	int i;

	assert_int_equal(set_s(f->s, "hot", "v", 0, NOW), STORE_OK);
	pthread_barrier_init(&start, NULL, NTHREADS);
	for (i = 0; i < NTHREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].s = f->s;
		w[i].start = &start;
		w[i].iterations = 30;
		assert_int_equal(pthread_create(&t[i], NULL, read_then_write,
		    &w[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start);
	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(w[i].ret, STORE_OK);
}

struct pair_writer {
	struct store	*s;
	volatile int	 stop;
	int		 ret;
};

/* Writes "a" and "z" to the same padded counter in one batch, repeatedly. */
static void *
pair_write(void *arg)
{
	struct pair_writer *w = arg;
	struct op ops[2];
	struct op_result r[2];
	static char val[1024];
	int i;

	memset(ops, 0, sizeof(ops));
	ops[0].type = ops[1].type = OP_SET;
	ops[0].key = "a";
	ops[1].key = "z";
	ops[0].klen = ops[1].klen = 1;
	ops[0].val = ops[1].val = val;
	for (i = 0; !w->stop; i++) {
		memset(val, 'x', sizeof(val));
		ops[0].vlen = ops[1].vlen = (size_t)snprintf(val, sizeof(val),
		    "%d", i) + 900;
		memset(r, 0, sizeof(r));
		test_now = NOW;
		if ((w->ret = store_exec(w->s, ops, 2, 1, eq_bytes, r,
		    NULL)) != STORE_OK)
			break;
	}
	return NULL;
}

static void
store_list__concurrent_batch__is_never_seen_half_applied(void **state)
{
	struct fixture *f = *state;
	struct pair_writer w;
	struct store_item *items;
	pthread_t t;
	char key[8], filler[1000];
	size_t n;
	int i, more, ret;

	/* Filler between "a" and "z" puts them on different btree pages. */
	memset(filler, 'f', sizeof(filler) - 1);
	filler[sizeof(filler) - 1] = '\0';
	for (i = 0; i < 40; i++) {
		snprintf(key, sizeof(key), "m%02d", i);
		assert_int_equal(set_s(f->s, key, filler, 0, NOW), STORE_OK);
	}
	memset(&w, 0, sizeof(w));
	w.s = f->s;
	assert_int_equal(pthread_create(&t, NULL, pair_write, &w), 0);
	for (i = 0; i < 300; i++) {
		test_now = NOW;
		ret = store_list(f->s, "", 0, NULL, 0, 100, &items, &n,
		    &more, NULL, NULL);
		if (ret != STORE_OK)
			break;
		if (n == 42 && (items[0].vlen != items[41].vlen ||
		    memcmp(items[0].val, items[41].val, items[0].vlen) != 0))
			ret = -1;
		store_items_free(items, n);
		if (ret != STORE_OK)
			break;
	}
	w.stop = 1;
	pthread_join(t, NULL);
	assert_int_equal(ret, STORE_OK);
	assert_int_equal(w.ret, STORE_OK);
}

/* Reopens f->s in WRITE mode with a list byte budget. */
static void
reopen_with_budget(struct fixture *f, size_t list_bytes)
{
	struct store_cfg cfg;

	store_close(f->s);
	memset(&cfg, 0, sizeof(cfg));
	cfg.home = f->dir;
	cfg.durability = STORE_DURABLE_WRITE;
	cfg.cache_bytes = 4 * 1024 * 1024;
	cfg.list_bytes = list_bytes;
	cfg.clock = test_clock;
	assert_int_equal(store_open(&cfg, &f->s), STORE_OK);
}

static void
store_list__byte_budget__ends_page_with_cursor(void **state)
{
	struct fixture *f = *state;
	struct store_item *items;
	char val[41], big[501], *next;
	size_t n, nlen;
	int more;

	test_now = NOW;
	reopen_with_budget(f, 100);
	memset(val, 'v', sizeof(val) - 1);
	val[sizeof(val) - 1] = '\0';
	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(set_s(f->s, "k1", val, 0, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "k2", val, 0, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "k3", big, 0, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "k4", val, 0, NOW), STORE_OK);

	/* 40 + 40 fit in 100 bytes; the 500-byte value does not. */
	assert_int_equal(store_list(f->s, "", 0, NULL, 0, 10, &items, &n,
	    &more, &next, &nlen), STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(more, 1);
	assert_int_equal(nlen, 2);
	assert_memory_equal(next, "k2", 2);
	store_items_free(items, n);
	free(next);

	/* A value larger than the budget still comes, alone. */
	assert_int_equal(store_list(f->s, "", 0, "k2", 2, 10, &items, &n,
	    &more, &next, &nlen), STORE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(items[0].key, "k3");
	assert_int_equal(more, 1);
	assert_memory_equal(next, "k3", 2);
	store_items_free(items, n);
	free(next);

	assert_int_equal(store_list(f->s, "", 0, "k3", 2, 10, &items, &n,
	    &more, &next, &nlen), STORE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(items[0].key, "k4");
	assert_int_equal(more, 0);
	assert_null(next);
	store_items_free(items, n);
}

#define EXPIRED_RUN	100000

struct key_writer {
	struct store	*s;
	volatile int	 stop;
	int		 ret;
	volatile int	 writes;
};

/*
 * Writes live keys among the second half of the expired run until told to
 * stop (the first half stays expired: its pages come back empty). It stops
 * by itself after a quarter of the run: the keys stay distinct (7919 is
 * prime to 50,000), however slowly the pages go on a loaded machine.
 */
static void *
write_between(void *arg)
{
	struct key_writer *w = arg;
	char key[16];
	int i;

	for (i = 0; !w->stop && i < EXPIRED_RUN / 4; i++) {
		snprintf(key, sizeof(key), "e%06dw", EXPIRED_RUN / 2 +
		    (i * 7919) % (EXPIRED_RUN / 2));
		if ((w->ret = set_s(w->s, key, "w", 0, NOW)) != STORE_OK)
			break;
		w->writes++;
	}
	return NULL;
}

static void
store_list__long_expired_run__pages_are_bounded(void **state)
{
	struct fixture *f = *state;
	struct store_item *items, *load;
	struct key_writer w;
	pthread_t t;
	char *after = NULL, *next;
	size_t n, nlen, alen = 0, i, pages = 0, live = 0, empty = 0;
	int more;

	test_now = NOW;
	/* 100,000 records expired and not swept, then one live key. */
	load = calloc(EXPIRED_RUN, sizeof(*load));
	assert_non_null(load);
	for (i = 0; i < EXPIRED_RUN; i++) {
		load[i].key = malloc(16);
		load[i].klen = (size_t)snprintf(load[i].key, 16, "e%06zu", i);
		load[i].val = "x";
		load[i].vlen = 1;
		load[i].expires = NOW - 1000;
	}
	assert_int_equal(store_load(f->s, load, EXPIRED_RUN), STORE_OK);
	for (i = 0; i < EXPIRED_RUN; i++)
		free(load[i].key);
	free(load);
	assert_int_equal(set_s(f->s, "z", "live", 0, NOW), STORE_OK);

	/* Page through it while another thread writes among the records. */
	memset(&w, 0, sizeof(w));
	w.s = f->s;
	assert_int_equal(pthread_create(&t, NULL, write_between, &w), 0);
	while (w.writes == 0 && w.ret == STORE_OK)
		usleep(1000);
	do {
		assert_int_equal(store_list(f->s, "", 0, after, alen, 10,
		    &items, &n, &more, &next, &nlen), STORE_OK);
		pages++;
		if (n == 0)
			empty++;
		for (i = 0; i < n; i++)
			if (strcmp(items[i].key, "z") == 0)
				live++;
		store_items_free(items, n);
		free(after);
		after = next;
		alen = nlen;
		/* An empty page must still move forward. */
		assert_true(!more || after != NULL);
	} while (more && pages < 10 * EXPIRED_RUN);
	free(after);
	w.stop = 1;
	pthread_join(t, NULL);
	assert_int_equal(w.ret, STORE_OK);
	assert_true(w.writes > 0);
	/* 100,000 expired records at 1,010 examined per page: ~100 pages. */
	assert_true(pages >= EXPIRED_RUN / 1010);
	assert_true(empty > 0);
	assert_int_equal(live, 1);
	assert_int_equal(more, 0);

	/*
	 * Quiet now: a second walk sees every key the writer wrote (all
	 * distinct: 7919 is prime to 50,000) and "z", none skipped at a
	 * page boundary.
	 */
	live = 0;
	pages = 0;
	alen = 0;
	after = NULL;
	do {
		assert_int_equal(store_list(f->s, "", 0, after, alen, 10,
		    &items, &n, &more, &next, &nlen), STORE_OK);
		live += n;
		store_items_free(items, n);
		free(after);
		after = next;
		alen = nlen;
	} while (more && ++pages < 10 * EXPIRED_RUN);
	free(after);
	assert_int_equal(live, (size_t)w.writes + 1);
}

static void
store_list__many_large_records__come_whole_and_in_order(void **state)
{
	struct fixture *f = *state;
	struct store_item *items;
	char key[32], *val, *big;
	size_t n, i;
	int more;

	test_now = NOW;
	/* 300 KB of records: several bulk reads, and one 200 KB record. */
	val = malloc(1001);
	big = malloc(200 * 1024 + 1);
	assert_non_null(val);
	assert_non_null(big);
	memset(val, 'v', 1000);
	val[1000] = '\0';
	memset(big, 'B', 200 * 1024);
	big[200 * 1024] = '\0';
	for (i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "r%03zu", i);
		assert_int_equal(set_s(f->s, key, i == 150 ? big : val, 0, NOW),
		    STORE_OK);
	}
	assert_int_equal(store_list(f->s, "r", 1, NULL, 0, 1000, &items,
	    &n, &more, NULL, NULL), STORE_OK);
	assert_int_equal(n, 300);
	assert_int_equal(more, 0);
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "r%03zu", i);
		assert_string_equal(items[i].key, key);
		assert_int_equal(items[i].vlen, i == 150 ? 200 * 1024 : 1000);
		assert_memory_equal(items[i].val, i == 150 ? big : val,
		    items[i].vlen);
	}
	store_items_free(items, n);
	free(val);
	free(big);
}

#define T(name)	cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(store_get__missing_key__returns_notfound),
		T(store_set__then_get__returns_bytes_and_no_expiry),
		T(store_set__empty_value__reads_back_empty),
		T(store_set__result__reports_found_and_expires),
		T(store_set__with_ttl__get_reports_expires),
		T(store_get__ttl_reached__returns_notfound),
		T(store_list__ttl_reached__skips_record),
		T(store_tas__ttl_reached__treats_key_as_absent),
		T(store_exec__batch_get_of_expired_key__reports_not_found),
		T(store_tas__retried_past_expiry__does_not_match_expired_value),
		T(store_set__attempt_outlives_ttl__commits_unexpired_record),
		T(store_set__every_attempt_outlives_ttl__returns_busy),
		T(store_exec__lock_held_past_retry_budget__returns_busy),
		T(store_get__key_being_written__returns_the_committed_value),
		T(store_get__lock_held_past_short_budget__returns_busy),
		T(store_set__without_ttl__clears_earlier_expiry),
		T(store_delete__absent_key__is_ok_twice),
		T(store_set__null_value__deletes),
		T(store_get__key_with_nul_bytes__is_distinct),
		T(store_list__keys_with_nul_bytes__are_listed_with_lengths),
		T(store_list__prefix__returns_matches_in_byte_order),
		T(store_list__items__carry_value_and_expires),
		T(store_list__limit__sets_more),
		T(store_list__only_expired_records_follow__more_is_zero),
		T(store_list__after_existing_key__starts_strictly_after),
		T(store_list__after_equal_to_prefix__skips_that_key),
		T(store_list__after_outside_prefix__follows_byte_order),
		T(store_list__paging_with_inserts__visits_every_key_once),
		T(store_list__limit_zero__reports_only_more),
		T(store_list__byte_budget__ends_page_with_cursor),
		T(store_list__long_expired_run__pages_are_bounded),
		T(store_list__many_large_records__come_whole_and_in_order),
		T(store_tas__absent_key_with_null_old__creates),
		T(store_tas__absent_key_with_old__fails),
		T(store_tas__present_key_with_null_old__reports_current),
		T(store_tas__equal_old__writes_new_value),
		T(store_tas__different_old__reports_current_value),
		T(store_tas__null_new_value__deletes),
		T(store_tas__eq_function__decides_equality),
		T(store_exec__later_op__sees_earlier_write),
		T(store_exec__delete_then_get__sees_absence),
		T(store_exec__atomic_failed_tas__rolls_back_and_sets_failed),
		T(store_exec__non_atomic_failed_tas__continues),
		T(store_exec__thousand_ops__commit_in_one_transaction),
		T(store_exec__batches_in_opposite_orders__never_deadlock),
		T(store_sweep__expired_records__are_physically_removed),
		T(store_sweep__max__bounds_removals_across_transactions),
		T(store_open__background_thread__sweeps_expired_records),
		T(store_open__reopen__keeps_committed_data),
		cmocka_unit_test(store_open__missing_home__returns_error),
		T(store_check__healthy_store__returns_ok),
		cmocka_unit_test(store_close__null__is_ignored),
		cmocka_unit_test(store_strerror__every_code__has_a_phrase),
		cmocka_unit_test(store_now_ms__is_wall_clock_ms),
		T(store_tas__concurrent_same_old__exactly_one_wins),
		T(store_tas__concurrent_increments__end_at_total),
		T(store_exec__racing_read_then_write__deadlocks_are_retried),
		T(store_list__concurrent_batch__is_never_seen_half_applied),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
