/*
 * flush: group commit of the log and the wait before a reply (see flush.h
 * for the rule; this file is its only implementation).
 *
 * Flushes are numbered in the order they start and never overlap. A waiter
 * takes the number of the next flush to start (started + 1 under the
 * mutex: that flush begins after the waiter's reads and commit), then
 * either runs it itself, when no flush is running, or sleeps until a
 * flush with that number or a later one has finished. Threads that arrive
 * while a flush runs all wait for the next one, and the first of them to
 * wake runs it for all: one fsync per round, however many writers.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "flush.h"

/* Sets up an idle group committer that calls fn(arg) to flush. */
void
flush_init(struct flush *f, flush_fn fn, void *arg)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->mtx, NULL);
	pthread_cond_init(&f->cond, NULL);
	f->fn = fn;
	f->arg = arg;
}

/* Frees the mutex and condition; no thread may be waiting. */
void
flush_destroy(struct flush *f)
{
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->mtx);
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

/* Counts a commit call as returned: its log record is in the log buffer. */
void
flush_commit_end(struct flush *f)
{
	atomic_fetch_add(&f->done, 1);
}

/* Raises f->durable to v unless it is already higher. */
static void
durable_raise(struct flush *f, uint64_t v)
{
	uint64_t cur = atomic_load(&f->durable);

	while (cur < v && !atomic_compare_exchange_weak(&f->durable, &cur, v))
		;
}

/* Waits until the log is on disk past everything observed (see flush.h). */
int
flush_wait(struct flush *f)
{
	uint64_t need, gen, done;
	int err;

	/*
	 * Nothing pending: every commit begun so far had returned before a
	 * flush that has finished began. `begun` is read after the caller's
	 * reads, so it counts every commit they could have seen.
	 */
	if (atomic_load(&f->durable) >= atomic_load(&f->begun))
		return 0;
	pthread_mutex_lock(&f->mtx);
	need = f->started + 1;
	while (f->ok_gen < need && f->fail_gen < need) {
		if (f->flushing) {
			pthread_cond_wait(&f->cond, &f->mtx);
			continue;
		}
		f->flushing = 1;
		gen = ++f->started;
		pthread_mutex_unlock(&f->mtx);
		/*
		 * Only commits that returned before the flush began are
		 * surely in the log it writes; one still inside its commit
		 * call may be too late for it.
		 */
		done = atomic_load(&f->done);
		atomic_fetch_add(&f->flushes, 1);
		err = f->fn(f->arg);
		if (err == 0)
			durable_raise(f, done);
		pthread_mutex_lock(&f->mtx);
		f->flushing = 0;
		if (err == 0) {
			f->ok_gen = gen;
		} else {
			f->fail_gen = gen;
			f->fail_err = err;
		}
		pthread_cond_broadcast(&f->cond);
	}
	err = f->ok_gen >= need ? 0 : f->fail_err;
	pthread_mutex_unlock(&f->mtx);
	return err;
}
