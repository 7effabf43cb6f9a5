/*
 * flush: group commit of the write-ahead log, and the wait that keeps every
 * reply behind the disk.
 *
 * Writers commit in memory (their locks are released at once) and then wait
 * here until the log is on disk past their commit; all the threads waiting
 * at one moment share ONE flush. Because locks are released before the
 * flush, another request can read a committed value that is not on disk
 * yet: every request that read anything waits here too before it replies,
 * so no reply ever shows data a crash could take back. Readers wait only
 * when some commit is not known to be on disk.
 *
 * The rule behind the counters: a commit is counted as begun BEFORE its
 * commit call (a reader can see its data as soon as the commit releases its
 * locks, before the commit call returns), and a flush marks as durable only
 * the commits that had RETURNED before the flush began (their log records
 * were in the log buffer by then). A request that finds durable >= begun
 * after its reads could only have seen commits a finished flush covered;
 * otherwise it waits for a flush that starts after its reads, which covers
 * every log record that existed when it read.
 *
 * Knows nothing of Berkeley DB: the flush itself is a callback.
 */
#ifndef KV_FLUSH_H
#define KV_FLUSH_H

#include <stdatomic.h>
#include <stdint.h>

/* Writes the whole log to disk; returns 0 or an error code. */
typedef int	(*flush_fn)(void *arg);

struct flush {
	_Atomic uint64_t	 begun;		/* commits counted before the call */
	_Atomic uint64_t	 done;		/* commit calls that returned */
	_Atomic uint64_t	 durable;	/* `done` when the last good flush began */
	_Atomic uint64_t	 started;	/* flushes started */
	_Atomic uint64_t	 ok_gen;	/* last flush that succeeded */
	_Atomic uint64_t	 fail_gen;	/* last flush that failed */
	_Atomic int		 fail_err;	/* its error */
	_Atomic int		 flushing;	/* a thread is in fn now */
	_Atomic uint32_t	 wake;		/* futex word: bumped after each flush */
	flush_fn		 fn;
	void			*arg;
	_Atomic uint64_t	 flushes;	/* calls of fn, for tests and stats */
};

void	flush_init(struct flush *, flush_fn fn, void *arg);
void	flush_destroy(struct flush *);	/* no thread may be waiting */

/*
 * Brackets one commit call: begin right before it, end right after it,
 * telling whether it committed. A failed commit is taken back from
 * `begun`: it was aborted, nobody could see its data, and it must not
 * keep every later reader flushing (a full disk fails every flush).
 */
void	flush_commit_begin(struct flush *);
void	flush_commit_end(struct flush *, int committed);

/*
 * Returns once every commit this thread could have observed so far (its
 * own included) is on disk: at once if nothing is pending, else after a
 * flush that started after the call (run by this thread or shared with
 * others). Returns 0, or the error of the flush that should have covered
 * it (the data may then be lost in a crash: do not reply with it).
 */
int	flush_wait(struct flush *);

/*
 * flush_wait in two steps, for a caller that holds a reply rather than a
 * thread: flush_ticket, taken where flush_wait would be called, names the
 * flush that covers what this thread observed so far (0: nothing pending,
 * reply at once); flush_wait_for(ticket), later and from any thread,
 * returns as flush_wait would have. A later ticket covers an earlier one.
 */
uint64_t flush_ticket(struct flush *);
int	flush_wait_for(struct flush *, uint64_t ticket);

/* Whether a flush is running now (a waiter would sleep until it ends). */
int	flush_busy(struct flush *);

#endif
