/*
 * held: replies that wait for the disk, and the one thread that sends them.
 *
 * In SYNC mode a request's reply may not leave before the log is on disk
 * past everything the request wrote or read (flush.h). Rather than keep
 * its worker thread asleep until then, the server queues the finished
 * reply here and the worker goes back to accept() (only a request served
 * alone, with no flush running, is flushed by its worker: see
 * server_loop). The sending thread waits for one flush that covers every
 * reply queued so far, then sends them all, in the order they were
 * queued. A round of replies thus costs one sleeping thread, not one per
 * request: on this kind of machine a context switch costs more than the
 * rest of a small request.
 */
#ifndef KV_HELD_H
#define KV_HELD_H

#include <stdint.h>

struct store;

/* The head of a queued reply: embedded first in the server's own record. */
struct held {
	struct held	*next;
	uint64_t	 ticket;	/* from store_hold_end(), not 0 */
};

/*
 * Sends one reply and frees it; err is STORE_OK, or the store error to
 * reply with instead (the flush that should have covered it failed).
 */
typedef void	(*held_send_fn)(struct held *, int err);

/* Starts the sending thread. Returns 0, or an errno value. */
int	held_start(struct store *, held_send_fn);

/* Queues a reply; it is sent once the log is on disk past its ticket. */
void	held_put(struct held *);

/*
 * Sends everything still queued and stops the thread. Call after the last
 * held_put (the workers have stopped) and before the store is closed.
 */
void	held_stop(void);

#endif
