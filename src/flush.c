/*
 * flush: group commit of the log and the wait before a reply (see flush.h
 * for the rule; this file is its only implementation).
 *
 * Flushes are numbered in the order they start and never overlap. A waiter
 * takes the number of the next flush to start (started + 1: that flush
 * begins after the waiter's reads and commit), then either runs it itself,
 * when no flush is running, or sleeps until a flush with that number or a
 * later one has finished. Threads that arrive while a flush runs all wait
 * for the next one, and the first of them to wake runs it for all: one
 * fsync per round, however many writers.
 *
 * No mutex: with a mutex and a condition variable, every flush woke all
 * the waiting workers into a fight for the mutex (a tenth of the CPU of a
 * hot-key write load went to re-taking it, seen with perf). The waiters
 * sleep on a futex word instead and, woken, only read atomics; the flusher
 * is elected by compare-and-swap.
 */
#include <sys/syscall.h>

#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "flush.h"

/* Sets up an idle group committer that calls fn(arg) to flush. */
void
flush_init(struct flush *f, flush_fn fn, void *arg)
{
	memset(f, 0, sizeof(*f));
	f->fn = fn;
	f->arg = arg;
}

/* Nothing to free: the state is plain atomics. */
void
flush_destroy(struct flush *f)
{
	(void)f;
}

/*
 * Counts a commit as begun. Called BEFORE the commit call: the commit
 * releases its locks inside the call, so a reader may see its data before
 * the call returns, and must then find it pending.
 */
void
flush_commit_begin(struct flush *f)
{
	atomic_fetch_add(&f->begun, 1);
}

/*
 * Counts a commit call as returned: its log record is in the log. A commit
 * that failed was aborted (nothing of it was ever visible) and leaves the
 * count of begun commits: `done` <= `begun` still holds, and both count
 * only commits that did or may still commit, which is all the rule in
 * flush.h needs.
 */
void
flush_commit_end(struct flush *f, int committed)
{
	if (committed)
		atomic_fetch_add(&f->done, 1);
	else
		atomic_fetch_sub(&f->begun, 1);
}

/* Raises f->durable to v unless it is already higher. */
static void
durable_raise(struct flush *f, uint64_t v)
{
	uint64_t cur = atomic_load(&f->durable);

	while (cur < v && !atomic_compare_exchange_weak(&f->durable, &cur, v))
		;
}

/* Sleeps while f->wake still holds seen (returns at once otherwise). */
static void
wake_wait(struct flush *f, uint32_t seen)
{
	(void)syscall(SYS_futex, &f->wake, FUTEX_WAIT_PRIVATE, seen, NULL,
	    NULL, 0);
}

/* Runs one flush as number ++started, records its outcome, wakes all. */
static void
run_flush(struct flush *f)
{
	uint64_t gen, done;
	int err;

	gen = atomic_fetch_add(&f->started, 1) + 1;
	/*
	 * Only commits that returned before the flush began are surely in
	 * the log it writes; one still inside its commit call may be too
	 * late for it.
	 */
	done = atomic_load(&f->done);
	atomic_fetch_add(&f->flushes, 1);
	err = f->fn(f->arg);
	if (err == 0) {
		durable_raise(f, done);
		atomic_store(&f->ok_gen, gen);
	} else {
		atomic_store(&f->fail_err, err);
		atomic_store(&f->fail_gen, gen);
	}
	atomic_store(&f->flushing, 0);
	atomic_fetch_add(&f->wake, 1);
	(void)syscall(SYS_futex, &f->wake, FUTEX_WAKE_PRIVATE, INT_MAX, NULL,
	    NULL, 0);
}

/* The flush a reply must wait for, or 0 (see flush.h). */
uint64_t
flush_ticket(struct flush *f)
{
	/*
	 * Nothing pending: every commit begun so far had returned before a
	 * flush that has finished began. `begun` is read after the caller's
	 * reads, so it counts every commit they could have seen.
	 */
	if (atomic_load(&f->durable) >= atomic_load(&f->begun))
		return 0;
	/*
	 * The flush numbered so has not started yet, so it starts after
	 * this point: it covers everything this thread committed or read.
	 */
	return atomic_load(&f->started) + 1;
}

/* Waits until the flush numbered need, or a later one, has finished. */
int
flush_wait_for(struct flush *f, uint64_t need)
{
	uint32_t seen;
	int idle;

	if (need == 0)
		return 0;
	for (;;) {
		/* Read before the checks: a flush ending after them bumps it. */
		seen = atomic_load(&f->wake);
		if (atomic_load(&f->ok_gen) >= need)
			return 0;
		if (atomic_load(&f->fail_gen) >= need)
			return atomic_load(&f->fail_err);
		idle = 0;
		if (atomic_compare_exchange_strong(&f->flushing, &idle, 1)) {
			run_flush(f);
			continue;
		}
		wake_wait(f, seen);
	}
}

int
flush_busy(struct flush *f)
{
	return atomic_load(&f->flushing);
}

/* Waits until the log is on disk past everything observed (see flush.h). */
int
flush_wait(struct flush *f)
{
	return flush_wait_for(f, flush_ticket(f));
}
