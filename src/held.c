/*
 * held: the queue of replies waiting for the disk and the thread that
 * sends them (see held.h).
 */
#include <pthread.h>
#include <stddef.h>

#include "held.h"
#include "store.h"

static pthread_mutex_t	 mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 cv = PTHREAD_COND_INITIALIZER;
static struct held	*head, **tail = &head;
static int		 idle;		/* the sender sleeps on cv */
static int		 stopping;
static pthread_t	 tid;
static int		 started;
static struct store	*store;
static held_send_fn	 send;

/*
 * Takes the whole queue, waits for one flush that covers all of it (the
 * largest ticket: a later ticket covers the earlier ones), then sends it.
 * Replies queued during the flush wait for the next round, whose flush
 * starts after they were queued.
 */
static void *
held_main(void *arg)
{
	struct held *list, *h, *next;
	uint64_t need;
	int err;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&mu);
		while (head == NULL && !stopping) {
			idle = 1;
			pthread_cond_wait(&cv, &mu);
			idle = 0;
		}
		list = head;
		head = NULL;
		tail = &head;
		pthread_mutex_unlock(&mu);
		if (list == NULL)
			return NULL;	/* stopping, and nothing left */
		need = 0;
		for (h = list; h != NULL; h = h->next)
			if (h->ticket > need)
				need = h->ticket;
		err = store_hold_wait(store, need);
		for (h = list; h != NULL; h = next) {
			next = h->next;
			/*
			 * After a failure, asked again per reply (at once:
			 * the flush for the largest ticket has ended), so
			 * that one whose own earlier flush succeeded is not
			 * failed by the later one that did not.
			 */
			send(h, err == STORE_OK ? STORE_OK :
			    store_hold_wait(store, h->ticket));
		}
	}
}

int
held_start(struct store *s, held_send_fn fn)
{
	int err;

	store = s;
	send = fn;
	if ((err = pthread_create(&tid, NULL, held_main, NULL)) == 0)
		started = 1;
	return err;
}

void
held_put(struct held *h)
{
	h->next = NULL;
	pthread_mutex_lock(&mu);
	*tail = h;
	tail = &h->next;
	/* A sender busy flushing or sending takes it on its next round. */
	if (idle)
		pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
}

void
held_stop(void)
{
	if (!started)
		return;
	pthread_mutex_lock(&mu);
	stopping = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(tid, NULL);
	started = 0;
}
