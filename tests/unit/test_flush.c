/*
 * Unit tests for flush (group commit and the wait before a reply), alone
 * with a fake flush, and inside a real SYNC-mode store with a flush slowed
 * down by the store's test hook, so that a commit stays in memory long
 * enough for a reader to see it; then the held replies (store_hold_*, and
 * held.c, which sends them) under the same slow flush.
 */
#define _GNU_SOURCE
#include <ftw.h>
#include <pthread.h>
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

#include "flush.h"
#include "held.h"
#include "op.h"
#include "store.h"

#define SLOW_MS	300

/* Monotonic clock in ms. */
static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* flush alone */

struct fake {
	_Atomic int	 calls;
	int		 delay_ms;
	int		 err;
	_Atomic int	 arrived;	/* threads about to wait */
	int		 expect;	/* the first flush waits for them */
};

/*
 * A flush that takes delay_ms and returns err. The first one first waits
 * (at most 10 s) until `expect` threads are about to wait, so that a slow
 * machine (valgrind) cannot spread them over many flushes.
 */
static int
fake_flush(void *arg)
{
	struct fake *fk = arg;
	int i;

	if (atomic_fetch_add(&fk->calls, 1) == 0)
		for (i = 0; i < 1000 && atomic_load(&fk->arrived) < fk->expect;
		    i++)
			sleep_ms(10);
	sleep_ms(fk->delay_ms);
	return fk->err;
}

static void
flush_wait__nothing_committed__does_not_flush(void **state)
{
	struct fake fk = { 0, 0, 0, 0, 0 };
	struct flush f;

	flush_init(&f, fake_flush, &fk);
	assert_int_equal(flush_wait(&f), 0);
	assert_int_equal(atomic_load(&fk.calls), 0);
	flush_destroy(&f);
}

static void
flush_wait__after_commit__flushes_once_then_not_again(void **state)
{
	struct fake fk = { 0, 0, 0, 0, 0 };
	struct flush f;

	flush_init(&f, fake_flush, &fk);
	flush_commit_begin(&f);
	flush_commit_end(&f, 1);
	assert_int_equal(flush_wait(&f), 0);
	assert_int_equal(atomic_load(&fk.calls), 1);
	/* A reader after that flush has nothing pending. */
	assert_int_equal(flush_wait(&f), 0);
	assert_int_equal(atomic_load(&fk.calls), 1);
	flush_destroy(&f);
}

static void
flush_wait__commit_in_progress__is_pending(void **state)
{
	struct fake fk = { 0, 0, 0, 0, 0 };
	struct flush f;

	flush_init(&f, fake_flush, &fk);
	/*
	 * Begun, not returned: a reader may already see its data, so it
	 * must flush, and that flush cannot mark the commit durable.
	 */
	flush_commit_begin(&f);
	assert_int_equal(flush_wait(&f), 0);
	assert_int_equal(atomic_load(&fk.calls), 1);
	assert_int_equal(flush_wait(&f), 0);
	assert_int_equal(atomic_load(&fk.calls), 2);
	flush_commit_end(&f, 1);
	assert_int_equal(flush_wait(&f), 0);
	assert_int_equal(atomic_load(&fk.calls), 3);
	assert_int_equal(flush_wait(&f), 0);
	assert_int_equal(atomic_load(&fk.calls), 3);
	flush_destroy(&f);
}

static void
flush_wait__failed_commit__is_not_pending(void **state)
{
	struct fake fk = { 0, 0, 28, 0, 0 };
	struct flush f;

	flush_init(&f, fake_flush, &fk);
	/* Aborted: readers need no flush (one would fail on a full disk). */
	flush_commit_begin(&f);
	flush_commit_end(&f, 0);
	assert_int_equal(flush_wait(&f), 0);
	assert_int_equal(atomic_load(&fk.calls), 0);
	flush_destroy(&f);
}

static void
flush_wait__failed_flush__returns_its_error(void **state)
{
	struct fake fk = { 0, 0, 28, 0, 0 };
	struct flush f;

	flush_init(&f, fake_flush, &fk);
	flush_commit_begin(&f);
	flush_commit_end(&f, 1);
	assert_int_equal(flush_wait(&f), 28);
	/* Still not durable: the next waiter flushes again. */
	fk.err = 0;
	assert_int_equal(flush_wait(&f), 0);
	assert_int_equal(atomic_load(&fk.calls), 2);
	flush_destroy(&f);
}

static void
flush_ticket__names_the_next_flush_only_when_pending(void **state)
{
	struct fake fk = { 0, 0, 0, 0, 0 };
	struct flush f;
	uint64_t t;

	flush_init(&f, fake_flush, &fk);
	assert_int_equal(flush_ticket(&f), 0);
	flush_commit_begin(&f);
	flush_commit_end(&f, 1);
	t = flush_ticket(&f);
	assert_int_equal(t, 1);
	/* Taking a ticket flushes nothing; waiting for it does, once. */
	assert_int_equal(atomic_load(&fk.calls), 0);
	assert_int_equal(flush_wait_for(&f, t), 0);
	assert_int_equal(atomic_load(&fk.calls), 1);
	assert_int_equal(flush_wait_for(&f, t), 0);
	assert_int_equal(atomic_load(&fk.calls), 1);
	assert_int_equal(flush_ticket(&f), 0);
	flush_destroy(&f);
}

static void
flush_wait_for__failed_flush__returns_its_error_for_that_ticket(void **state)
{
	struct fake fk = { 0, 0, 28, 0, 0 };
	struct flush f;
	uint64_t t1, t2;

	flush_init(&f, fake_flush, &fk);
	flush_commit_begin(&f);
	flush_commit_end(&f, 1);
	t1 = flush_ticket(&f);
	assert_int_equal(flush_wait_for(&f, t1), 28);
	assert_int_equal(flush_wait_for(&f, t1), 28);
	/* A later ticket gets a flush of its own, which may succeed. */
	fk.err = 0;
	t2 = flush_ticket(&f);
	assert_true(t2 > t1);
	assert_int_equal(flush_wait_for(&f, t2), 0);
	assert_int_equal(atomic_load(&fk.calls), 2);
	flush_destroy(&f);
}

#define WAITERS	16

struct waiter {
	struct flush	*f;
	struct fake	*fk;
	pthread_t	 t;
	int		 ret;
};

static void *
commit_and_wait(void *arg)
{
	struct waiter *w = arg;

	flush_commit_begin(w->f);
	flush_commit_end(w->f, 1);
	atomic_fetch_add(&w->fk->arrived, 1);
	w->ret = flush_wait(w->f);
	return NULL;
}

static void
flush_wait__many_waiters__share_few_flushes(void **state)
{
	struct fake fk = { 0, 100, 0, 0, WAITERS };
	struct waiter w[WAITERS];
	struct flush f;
	int i;

	flush_init(&f, fake_flush, &fk);
	for (i = 0; i < WAITERS; i++) {
		w[i].f = &f;
		w[i].fk = &fk;
		w[i].ret = -1;
		assert_int_equal(pthread_create(&w[i].t, NULL, commit_and_wait,
		    &w[i]), 0);
	}
	for (i = 0; i < WAITERS; i++) {
		pthread_join(w[i].t, NULL);
		assert_int_equal(w[i].ret, 0);
	}
	/*
	 * The first waiter flushes; every other one is waiting before that
	 * flush ends and shares the next one: 2 flushes, not 16 (3 if one
	 * thread was slow to read the flush number).
	 */
	assert_in_range(atomic_load(&fk.calls), 1, 3);
	flush_destroy(&f);
}

/* flush inside a SYNC store */

struct slow {
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cond;
	int		 slow;		/* make the next flushes slow */
	int		 started;	/* a slow flush has begun */
	int64_t		 end_ms;	/* when the first slow flush's sleep ended */
	_Atomic int	 calls;
};

/* The store's flush hook: counts, and when asked, stalls the flush. */
static void
slow_hook(void *arg)
{
	struct slow *sl = arg;
	int slow;

	atomic_fetch_add(&sl->calls, 1);
	pthread_mutex_lock(&sl->mtx);
	slow = sl->slow;
	if (slow) {
		sl->started = 1;
		pthread_cond_broadcast(&sl->cond);
	}
	pthread_mutex_unlock(&sl->mtx);
	if (!slow)
		return;
	sleep_ms(SLOW_MS);
	pthread_mutex_lock(&sl->mtx);
	if (sl->end_ms == 0)
		sl->end_ms = mono_ms();
	pthread_mutex_unlock(&sl->mtx);
}

struct fixture {
	char		 dir[64];
	struct store	*s;
	struct slow	 sl;
};

static int
rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

static int
setup(void **state)
{
	struct store_cfg cfg;
	struct fixture *f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	pthread_mutex_init(&f->sl.mtx, NULL);
	pthread_cond_init(&f->sl.cond, NULL);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_flush.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	memset(&cfg, 0, sizeof(cfg));
	cfg.home = f->dir;
	cfg.durability = STORE_DURABLE_SYNC;
	cfg.cache_bytes = 4 * 1024 * 1024;
	cfg.flush_hook = slow_hook;
	cfg.flush_hook_arg = &f->sl;
	if (store_open(&cfg, &f->s) != STORE_OK)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->s);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	pthread_cond_destroy(&f->sl.cond);
	pthread_mutex_destroy(&f->sl.mtx);
	free(f);
	return 0;
}

static int
eq_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

/* One-op batch of type t on key k (old/val as in struct op). */
static int
run_op(struct store *s, enum op_type t, const char *k, const char *old,
    const char *val, struct op_result *r)
{
	struct op op;

	memset(&op, 0, sizeof(op));
	memset(r, 0, sizeof(*r));
	op.type = t;
	op.key = k;
	op.klen = strlen(k);
	op.old = old;
	op.oldlen = old != NULL ? strlen(old) : 0;
	op.val = val;
	op.vlen = val != NULL ? strlen(val) : 0;
	return store_exec(s, &op, 1, 0, eq_bytes, r, NULL);
}

struct writer {
	struct store	*s;
	int		 ret;
	int64_t		 done_ms;
};

static void *
write_v2(void *arg)
{
	struct writer *w = arg;
	struct op_result r;

	w->ret = run_op(w->s, OP_SET, "k", NULL, "v2", &r);
	w->done_ms = mono_ms();
	op_result_clear(&r);
	return NULL;
}

/*
 * Starts a writer of k = "v2" under a slow flush and returns once its
 * commit is in memory and its flush has begun (the flush stalls).
 */
static void
start_slow_write(struct fixture *f, struct writer *w, pthread_t *t)
{
	struct op_result r;

	assert_int_equal(run_op(f->s, OP_SET, "k", NULL, "v1", &r), STORE_OK);
	op_result_clear(&r);
	pthread_mutex_lock(&f->sl.mtx);
	f->sl.slow = 1;
	pthread_mutex_unlock(&f->sl.mtx);
	w->s = f->s;
	assert_int_equal(pthread_create(t, NULL, write_v2, w), 0);
	pthread_mutex_lock(&f->sl.mtx);
	while (!f->sl.started)
		pthread_cond_wait(&f->sl.cond, &f->sl.mtx);
	pthread_mutex_unlock(&f->sl.mtx);
}

/* Ends the slow write and checks it was acknowledged after its flush. */
static void
end_slow_write(struct fixture *f, struct writer *w, pthread_t t)
{
	pthread_join(t, NULL);
	assert_int_equal(w->ret, STORE_OK);
	pthread_mutex_lock(&f->sl.mtx);
	f->sl.slow = 0;
	assert_true(w->done_ms >= f->sl.end_ms);
	pthread_mutex_unlock(&f->sl.mtx);
}

static void
store_get__unflushed_commit__waits_for_the_flush(void **state)
{
	struct fixture *f = *state;
	struct op_result r;
	struct writer w;
	pthread_t t;
	int64_t got_ms, end_ms;
	int calls;

	start_slow_write(f, &w, &t);
	/* v2 is committed (its lock released) but not on disk yet. */
	assert_int_equal(store_get(f->s, "k", 1, &r), STORE_OK);
	got_ms = mono_ms();
	assert_int_equal(r.vlen, 2);
	assert_memory_equal(r.val, "v2", 2);
	op_result_clear(&r);
	end_slow_write(f, &w, t);
	pthread_mutex_lock(&f->sl.mtx);
	end_ms = f->sl.end_ms;
	pthread_mutex_unlock(&f->sl.mtx);
	/* The read returned v2 only once v2's flush was through. */
	assert_true(got_ms >= end_ms);

	/* Nothing pending now: a read flushes nothing. */
	calls = atomic_load(&f->sl.calls);
	assert_int_equal(store_get(f->s, "k", 1, &r), STORE_OK);
	op_result_clear(&r);
	assert_int_equal(atomic_load(&f->sl.calls), calls);
}

static void
store_tas__failed_on_unflushed_commit__waits_for_the_flush(void **state)
{
	struct fixture *f = *state;
	struct op_result r;
	struct writer w;
	pthread_t t;
	int64_t got_ms;

	start_slow_write(f, &w, &t);
	/* The condition fails against v2 and the reply would show v2. */
	assert_int_equal(run_op(f->s, OP_TAS, "k", "v1", "v3", &r), STORE_OK);
	got_ms = mono_ms();
	assert_false(r.cond_met);
	assert_memory_equal(r.val, "v2", 2);
	op_result_clear(&r);
	end_slow_write(f, &w, t);
	assert_true(got_ms >= f->sl.end_ms);
}

static void
store_list__unflushed_commit__waits_for_the_flush(void **state)
{
	struct fixture *f = *state;
	struct store_item *items;
	struct writer w;
	pthread_t t;
	size_t n;
	int64_t got_ms;
	int more;

	start_slow_write(f, &w, &t);
	assert_int_equal(store_list(f->s, "", 0, NULL, 0, 10, &items, &n,
	    &more, NULL, NULL), STORE_OK);
	got_ms = mono_ms();
	assert_int_equal(n, 1);
	assert_memory_equal(items[0].val, "v2", 2);
	store_items_free(items, n);
	end_slow_write(f, &w, t);
	assert_true(got_ms >= f->sl.end_ms);
}

static void
store_hold__read_of_unflushed_commit__returns_at_once_with_a_ticket(void **state)
{
	struct fixture *f = *state;
	struct op_result r;
	struct writer w;
	pthread_t t;
	uint64_t ticket;
	int64_t got_ms, durable_ms;

	start_slow_write(f, &w, &t);
	store_hold_begin();
	assert_int_equal(store_get(f->s, "k", 1, &r), STORE_OK);
	ticket = store_hold_end();
	got_ms = mono_ms();
	assert_memory_equal(r.val, "v2", 2);
	op_result_clear(&r);
	/* Held: the read came back during the flush, with a ticket. */
	pthread_mutex_lock(&f->sl.mtx);
	assert_true(f->sl.end_ms == 0 || got_ms < f->sl.end_ms);
	pthread_mutex_unlock(&f->sl.mtx);
	assert_true(ticket != 0);
	/* The writer's flush is still running: a server would queue. */
	assert_true(store_hold_busy(f->s));
	assert_int_equal(store_hold_wait(f->s, ticket), STORE_OK);
	durable_ms = mono_ms();
	end_slow_write(f, &w, t);
	assert_true(durable_ms >= f->sl.end_ms);

	/* Nothing pending: no ticket, and no flush. */
	assert_false(store_hold_busy(f->s));
	store_hold_begin();
	assert_int_equal(store_get(f->s, "k", 1, &r), STORE_OK);
	op_result_clear(&r);
	assert_int_equal(store_hold_end(), 0);
}

static void
store_hold__own_write__ticket_waits_for_its_flush(void **state)
{
	struct fixture *f = *state;
	struct op_result r;
	uint64_t ticket;
	int calls;

	calls = atomic_load(&f->sl.calls);
	store_hold_begin();
	assert_int_equal(run_op(f->s, OP_SET, "k", NULL, "v1", &r), STORE_OK);
	ticket = store_hold_end();
	op_result_clear(&r);
	assert_true(ticket != 0);
	/* Committed in memory, not flushed: the flush is the ticket's. */
	assert_int_equal(atomic_load(&f->sl.calls), calls);
	assert_int_equal(store_hold_wait(f->s, ticket), STORE_OK);
	assert_int_equal(atomic_load(&f->sl.calls), calls + 1);
}

static void
store_check__held__waits_for_the_flush_itself(void **state)
{
	struct fixture *f = *state;
	struct writer w;
	pthread_t t;
	int64_t got_ms;

	start_slow_write(f, &w, &t);
	/* A health check answers for the flush too: it leaves no ticket. */
	store_hold_begin();
	assert_int_equal(store_check(f->s), STORE_OK);
	got_ms = mono_ms();
	assert_int_equal(store_hold_end(), 0);
	end_slow_write(f, &w, t);
	assert_true(got_ms >= f->sl.end_ms);
}

#define HELD_N	3

struct sent {
	struct held	 h;		/* first, as held.c wants */
	int		 id;
};

static struct {
	pthread_mutex_t	 mtx;
	int		 order[HELD_N];
	int64_t		 at_ms[HELD_N];
	int		 err[HELD_N];
	int		 n;
} sent_log = { PTHREAD_MUTEX_INITIALIZER, { 0 }, { 0 }, { 0 }, 0 };

static void
record_send(struct held *h, int err)
{
	struct sent *x = (struct sent *)h;

	pthread_mutex_lock(&sent_log.mtx);
	sent_log.order[sent_log.n] = x->id;
	sent_log.at_ms[sent_log.n] = mono_ms();
	sent_log.err[sent_log.n] = err;
	sent_log.n++;
	pthread_mutex_unlock(&sent_log.mtx);
	free(x);
}

static void
held__replies_of_unflushed_reads__go_out_after_the_flush_in_order(
    void **state)
{
	struct fixture *f = *state;
	struct op_result r;
	struct writer w;
	struct sent *x;
	pthread_t t;
	int i;

	assert_int_equal(held_start(f->s, record_send), 0);
	start_slow_write(f, &w, &t);
	for (i = 0; i < HELD_N; i++) {
		store_hold_begin();
		assert_int_equal(store_get(f->s, "k", 1, &r), STORE_OK);
		op_result_clear(&r);
		x = calloc(1, sizeof(*x));
		assert_non_null(x);
		x->id = i;
		x->h.ticket = store_hold_end();
		assert_true(x->h.ticket != 0);
		held_put(&x->h);
	}
	/* held_stop sends what is queued, then returns. */
	end_slow_write(f, &w, t);
	held_stop();
	assert_int_equal(sent_log.n, HELD_N);
	for (i = 0; i < HELD_N; i++) {
		assert_int_equal(sent_log.order[i], i);
		assert_int_equal(sent_log.err[i], STORE_OK);
		/* Not one reply before the commit it showed was on disk. */
		assert_true(sent_log.at_ms[i] >= f->sl.end_ms);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(flush_wait__nothing_committed__does_not_flush),
		cmocka_unit_test(
		    flush_wait__after_commit__flushes_once_then_not_again),
		cmocka_unit_test(flush_wait__commit_in_progress__is_pending),
		cmocka_unit_test(flush_wait__failed_commit__is_not_pending),
		cmocka_unit_test(flush_wait__failed_flush__returns_its_error),
		cmocka_unit_test(flush_wait__many_waiters__share_few_flushes),
		cmocka_unit_test(
		    flush_ticket__names_the_next_flush_only_when_pending),
		cmocka_unit_test(
		    flush_wait_for__failed_flush__returns_its_error_for_that_ticket),
		cmocka_unit_test_setup_teardown(
		    store_get__unflushed_commit__waits_for_the_flush,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    store_tas__failed_on_unflushed_commit__waits_for_the_flush,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    store_list__unflushed_commit__waits_for_the_flush,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    store_hold__read_of_unflushed_commit__returns_at_once_with_a_ticket,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    store_hold__own_write__ticket_waits_for_its_flush,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    held__replies_of_unflushed_reads__go_out_after_the_flush_in_order,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    store_check__held__waits_for_the_flush_itself,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
