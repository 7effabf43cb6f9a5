/*
 * server: the FastCGI side. Each worker thread runs server_loop() on the
 * shared listening socket; nothing here knows routes, keys or storage.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fcgiapp.h>

#include "held.h"
#include "log.h"
#include "metrics.h"
#include "request.h"
#include "route.h"
#include "server.h"
#include "store.h"

/* The most bytes handed to libfcgi in one call (it takes an int). */
#define IO_CHUNK	((size_t)1 << 20)
/* The largest reply body the sender thread writes (see may_hold). */
#define HELD_REPLY_MAX	((size_t)32 * 1024)

static volatile sig_atomic_t stopping;
/* Requests between accept and reply (or hand-over), in all workers. */
static _Atomic int serving;

int
server_init(void)
{
	static const char *names[METRICS_ROUTES_MAX];
	size_t i, n;

	n = route_count();
	for (i = 0; i < n && i < METRICS_ROUTES_MAX; i++)
		names[i] = route_name(i);
	metrics_init(names, i);
	return FCGX_Init() == 0 ? 0 : -1;
}

void
server_stop(void)
{
	stopping = 1;
	FCGX_ShutdownPending();
}

int
server_stopping(void)
{
	return stopping;
}

/*
 * Reads the request body into a malloc'd buffer. Returns 0 with *body set
 * (NULL when empty), 413 when CONTENT_LENGTH is over max (nothing read),
 * 400 for an unparsable CONTENT_LENGTH, or -1 when the stream ends early
 * or breaks (the client went away): such a request must not be acted on.
 */
static int
read_body(FCGX_Request *rq, size_t max, char **body, size_t *len)
{
	const char *cl = FCGX_GetParam("CONTENT_LENGTH", rq->envp);
	size_t want = 0, got = 0;
	char *p;
	int n;

	*body = NULL;
	*len = 0;
	if (cl != NULL && *cl != '\0' && req_parse_size(cl, strlen(cl), &want)
	    != 0)
		return 400;
	if (want > max)
		return 413;
	if (want == 0)
		return 0;
	p = xmalloc(want + 1);
	while (got < want) {
		/* In pieces: libfcgi takes lengths as int. */
		n = FCGX_GetStr(p + got, (int)(want - got < IO_CHUNK ?
		    want - got : IO_CHUNK), rq->in);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	/*
	 * An aborted upload arrives as a prefix plus a protocol error, and
	 * FCGX_HasSeenEOF cannot tell it from a complete body: check both.
	 */
	if (got != want || FCGX_GetError(rq->in) != 0) {
		free(p);
		return -1;
	}
	p[got] = '\0';
	*body = p;
	*len = got;
	return 0;
}

/*
 * Writes len bytes to a libfcgi stream, which takes lengths as int: in
 * pieces, so that no length is ever cast past INT_MAX (a reply is also
 * capped at INFLIGHT_REPLY_MAX, 1 GiB, when it is built).
 */
static void
put_all(const char *p, size_t len, FCGX_Stream *out)
{
	size_t n;

	while (len > 0) {
		n = len < IO_CHUNK ? len : IO_CHUNK;
		if (FCGX_PutStr(p, (int)n, out) != (int)n)
			return;
		p += n;
		len -= n;
	}
}

/*
 * Writes resp with the headers every reply carries. The head is built
 * from pieces, without printf: formatting it took a quarter of the
 * instructions of a GET (libfcgi's FCGX_FPrintF is no better).
 */
static void
write_resp(FCGX_Request *rq, const struct ctx *c, const struct resp *resp)
{
	struct buf h;

	buf_init(&h);
	buf_addlit(&h, "Status: ");
	buf_addi(&h, resp->status);
	buf_addc(&h, ' ');
	buf_adds(&h, resp_reason(resp->status));
	buf_addlit(&h, "\r\nAccess-Control-Allow-Origin: ");
	buf_adds(&h, c->cfg->cors_origin);
	if (resp->status == 204) {
		buf_addlit(&h, "\r\nAccess-Control-Allow-Methods: "
		    "GET, POST, DELETE, OPTIONS\r\n"
		    "Access-Control-Allow-Headers: Content-Type, Authorization, "
		    "If-Match, If-None-Match\r\n"
		    "Access-Control-Max-Age: 86400\r\n");
	} else
		buf_addlit(&h, "\r\nAccess-Control-Expose-Headers: ETag, "
		    "Retry-After, WWW-Authenticate\r\n");
	if (resp->challenge)
		buf_addlit(&h, "WWW-Authenticate: Bearer\r\n");
	if (resp->allow != NULL) {
		buf_addlit(&h, "Allow: ");
		buf_adds(&h, resp->allow);
		buf_addlit(&h, "\r\n");
	}
	if (resp->retry_after > 0) {
		buf_addlit(&h, "Retry-After: ");
		buf_addi(&h, resp->retry_after);
		buf_addlit(&h, "\r\n");
	}
	if (resp->etag != 0) {
		buf_addlit(&h, "ETag: \"");
		buf_addu(&h, resp->etag);
		buf_addlit(&h, "\"\r\n");
	}
	/* 204 and 304 carry no body, so no type or length either. */
	if (resp->status != 204 && resp->status != 304) {
		buf_addlit(&h, "Content-Type: ");
		buf_adds(&h, resp->content_type != NULL ?
		    resp->content_type : RESP_JSON);
		buf_addlit(&h, "\r\nCache-Control: no-store\r\n"
		    "Content-Length: ");
		buf_addu(&h, resp->body.len);
		buf_addlit(&h, "\r\n");
	}
	buf_addlit(&h, "\r\n");
	put_all(h.data, h.len, rq->out);
	if (resp->status != 204 && resp->status != 304 && resp->body.len > 0)
		put_all(resp->body.data, resp->body.len, rq->out);
	if (FCGX_GetError(rq->out) != 0)
		log_debug("client went away before the reply was written");
	buf_free(&h);
}

/* Nanoseconds from a to b. */
static uint64_t
elapsed_ns(const struct timespec *a, const struct timespec *b)
{
	return (uint64_t)(b->tv_sec - a->tv_sec) * 1000000000u +
	    (uint64_t)b->tv_nsec - (uint64_t)a->tv_nsec;
}

/*
 * Says whether a request's connection may close at once. libfcgi closes a
 * connection with a lingering close: shutdown(), then poll() and read()
 * until nginx has closed its end. That keeps the thread away from accept()
 * for a round trip through nginx on every request: a hello-world responder
 * with 4 threads served half as many requests per second with it as
 * without (bench/, 32 clients). The linger only matters when input is left
 * unread, which would make the close reset the connection before nginx has
 * read the reply. So a request read to its end of input (the end record
 * included, read here by the worker) is marked detached: FCGX_Free
 * (libfcgi 2.4.2) then closes without lingering, and clears the mark. A
 * body refused unread (413) or a broken stream keeps the lingering close.
 */
static int
input_ended(FCGX_Request *rq, int input_read)
{
	return input_read && !rq->keepConnection &&
	    FCGX_GetChar(rq->in) == EOF && FCGX_GetError(rq->in) == 0;
}

/*
 * A request between its handler and its reply: everything the reply needs
 * once the log is on disk, whichever thread sends it.
 */
struct reply {
	struct held	 h;		/* first: held.c hands it back */
	FCGX_Request	*rq;
	struct resp	 resp;
	struct timespec	 t0;
	size_t		 route;
	int		 detach;	/* input_ended(): close without lingering */
	int		 dropped;	/* stream broke: no reply at all */
};

/*
 * Serves one accepted request up to its reply, which it leaves in *p.
 * p->h.ticket says what the reply must wait for (store_hold_end): the
 * handler's store calls do not wait for the disk themselves.
 */
static void
serve(const struct ctx *c, FCGX_Request *rq, struct reply *p)
{
	struct req r;
	char *body = NULL;
	size_t len = 0;
	int rc;

	memset(p, 0, sizeof(*p));
	p->rq = rq;
	clock_gettime(CLOCK_MONOTONIC, &p->t0);
	/* Refused before routing (body too large): counted as "other". */
	p->route = route_count() - 1;
	resp_init(&p->resp);
	rc = read_body(rq, c->cfg->max_body, &body, &len);
	if (rc < 0) {
		log_debug("request dropped: body shorter than CONTENT_LENGTH");
		p->dropped = 1;
	} else if (rc == 413)
		resp_error(&p->resp, 413, "Request body too large");
	else if (rc == 400)
		resp_error(&p->resp, 400, "Invalid Content-Length");
	else {
		req_parse(&r, rq->envp, body, len);
		store_hold_begin();
		p->route = route_dispatch(c, &r, &p->resp);
		p->h.ticket = store_hold_end();
		req_free(&r);
	}
	if (!p->dropped && p->resp.status == 0)
		resp_error(&p->resp, 500, "Internal error: no reply");
	p->detach = input_ended(rq, rc == 0);
	free(body);
}

/*
 * Sends a reply whose data is on disk (err == STORE_OK) or whose flush
 * failed (err: the store error it becomes), ends the request and counts
 * it. Frees nothing it did not take: see send_held for queued replies.
 */
static void
send_reply(const struct ctx *c, struct reply *p, int err)
{
	struct timespec t1;

	if (!p->dropped) {
		if (err != STORE_OK) {
			p->resp.etag = 0;
			resp_store_error(&p->resp, err);
		}
		write_resp(p->rq, c, &p->resp);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		metrics_request(p->route, p->resp.status, elapsed_ns(&p->t0,
		    &t1));
		log_debug("%s %s -> %d",
		    FCGX_GetParam("REQUEST_METHOD", p->rq->envp) ?: "-",
		    FCGX_GetParam("REQUEST_URI", p->rq->envp) ?: "-",
		    p->resp.status);
	}
	resp_free(&p->resp);
	if (p->detach)
		p->rq->detached = 1;
	FCGX_Finish_r(p->rq);
}

/* The context of held replies: one per process, like the listening socket. */
static const struct ctx *held_ctx;

/* held.c's callback: sends a queued reply and frees its request. */
static void
send_held(struct held *h, int err)
{
	struct reply *p = (struct reply *)h;

	/* accept() left no other status flag on it to keep. */
	(void)fcntl(p->rq->ipcFd, F_SETFL, O_NONBLOCK);
	send_reply(held_ctx, p, err);	/* FCGX_Finish_r freed its streams */
	free(p->rq);
	free(p);
}

int
server_start_held(const struct ctx *c)
{
	held_ctx = c;
	return held_start(c->store, send_held);
}

void
server_stop_held(void)
{
	held_stop();
}

/*
 * Says whether a reply may wait for the disk in the sender's queue rather
 * than in its worker. The one sender must never block on a client, or
 * every held reply would wait behind one slow reader; so only a reply that
 * surely fits in a new connection's socket buffer (a unix socket takes
 * about 200 KiB unread), on a connection whose input has ended and that
 * closes after it (the worker reads a kept-alive one's next request). The
 * socket is also made non-blocking for the sender: should a write still
 * not fit, the reply fails rather than the queue stalling.
 */
static int
may_hold(const struct reply *p)
{
	/* detach: its input has ended and it closes (input_ended). */
	return !p->dropped && p->detach && p->resp.body.len <= HELD_REPLY_MAX;
}

/* A request of its own for a worker, which hands the last one on. */
static FCGX_Request *
new_request(int listen_fd)
{
	FCGX_Request *rq = xmalloc(sizeof(*rq));

	if (FCGX_InitRequest(rq, listen_fd, 0) != 0) {
		free(rq);
		return NULL;
	}
	return rq;
}

/*
 * Accepts the next connection itself, so that the stop signal can
 * interrupt accept() alone. Returns the connection, or -1 when stopping or
 * after a failure (logged, with a pause so that it cannot spin a core).
 */
static int
accept_conn(int listen_fd, volatile sig_atomic_t *where)
{
	struct timespec pause = { 0, 100 * 1000 * 1000 };
	char ebuf[128];
	int fd;

	*where = SERVER_ACCEPT;
	/* A stop that came before the flag was set is seen here. */
	if (stopping) {
		*where = SERVER_BUSY;
		return -1;
	}
	fd = accept(listen_fd, NULL, NULL);
	*where = SERVER_BUSY;
	if (fd >= 0 || stopping)
		return fd;
	switch (errno) {
	case EINTR:
	case ECONNABORTED:
	case EPROTO:
		break;
	default:
		log_warn("FastCGI accept failed: %s",
		    log_strerror(errno, ebuf, sizeof(ebuf)));
		nanosleep(&pause, NULL);
		break;
	}
	return -1;
}

/*
 * The accept loop. libfcgi's FCGX_Accept_r both accepts and reads the
 * request's parameters, and a signal sent to wake a thread blocked in it
 * at shutdown could land during that read: libfcgi then closes the
 * connection and the request is lost (nginx: 502). So the thread accepts
 * with accept() itself, interruptible, and hands the connection to
 * FCGX_Accept_r, which skips its own accept when rq.ipcFd is open. It
 * sets keepConnection first, or FCGX_Accept_r's opening FCGX_Finish_r
 * would close the new connection; the request's own flags replace it.
 */
void
server_loop(const struct ctx *c, int listen_fd, volatile sig_atomic_t *where)
{
	struct timespec pause = { 0, 100 * 1000 * 1000 };
	struct reply r, *p;
	FCGX_Request *rq;
	char ebuf[128];
	int fd;

	if ((rq = new_request(listen_fd)) == NULL) {
		log_error("FCGX_InitRequest failed");
		return;
	}
	while (!stopping) {
		/* A kept-alive connection is reused without accepting. */
		if (rq->ipcFd < 0) {
			if ((fd = accept_conn(listen_fd, where)) < 0)
				continue;
			rq->ipcFd = fd;
			rq->keepConnection = 1;
		}
		*where = SERVER_READ_REQUEST;
		if (FCGX_Accept_r(rq) < 0) {
			*where = SERVER_BUSY;
			if (stopping)
				break;
			log_warn("FastCGI accept failed: %s",
			    log_strerror(errno, ebuf, sizeof(ebuf)));
			nanosleep(&pause, NULL);
			continue;
		}
		*where = SERVER_BUSY;
		atomic_fetch_add(&serving, 1);
		serve(c, rq, &r);
		/*
		 * A reply that must wait for the disk goes to the sender
		 * with its request, and this thread takes a new one instead
		 * of sleeping until the flush ends. Only a request served
		 * alone, with no flush running, has this thread flush and
		 * reply itself: there is nobody to share the flush with,
		 * and handing over would only add the sender's wake-up to
		 * the wait (a single client's durable writes lost a third
		 * of their rate that way, while with 32 clients flushing
		 * in the worker cost 6 to 9 % of them). Not one on a
		 * kept-alive connection: its next request is read by this
		 * thread, after this reply.
		 */
		if (r.h.ticket != 0 && may_hold(&r) &&
		    (atomic_load(&serving) > 1 || store_hold_busy(c->store))) {
			atomic_fetch_sub(&serving, 1);
			p = xmalloc(sizeof(*p));
			*p = r;
			held_put(&p->h);
			while ((rq = new_request(listen_fd)) == NULL) {
				log_error("FCGX_InitRequest failed");
				nanosleep(&pause, NULL);
			}
			continue;
		}
		send_reply(c, &r, r.h.ticket != 0 ?
		    store_hold_wait(c->store, r.h.ticket) : STORE_OK);
		atomic_fetch_sub(&serving, 1);
	}
	*where = SERVER_BUSY;
	FCGX_Free(rq, rq->ipcFd >= 0);
	free(rq);
}
