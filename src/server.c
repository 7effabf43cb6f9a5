/*
 * server: the FastCGI side. Each worker thread runs server_loop() on the
 * shared listening socket; nothing here knows routes, keys or storage.
 */
#include <sys/socket.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fcgiapp.h>

#include "log.h"
#include "metrics.h"
#include "request.h"
#include "route.h"
#include "server.h"

/* The most bytes handed to libfcgi in one call (it takes an int). */
#define IO_CHUNK	((size_t)1 << 20)

static volatile sig_atomic_t stopping;

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
 * Writes resp with the headers every reply carries. The head is formatted
 * with our own buffer: libfcgi's FCGX_FPrintF has its own printf subset.
 */
static void
write_resp(FCGX_Request *rq, const struct ctx *c, const struct resp *resp)
{
	struct buf h;

	buf_init(&h);
	buf_addf(&h, "Status: %d %s\r\n", resp->status,
	    resp_reason(resp->status));
	buf_addf(&h, "Access-Control-Allow-Origin: %s\r\n", c->cfg->cors_origin);
	if (resp->status == 204) {
		buf_adds(&h, "Access-Control-Allow-Methods: "
		    "GET, POST, DELETE, OPTIONS\r\n"
		    "Access-Control-Allow-Headers: Content-Type, Authorization, "
		    "If-Match, If-None-Match\r\n"
		    "Access-Control-Max-Age: 86400\r\n");
	} else
		buf_adds(&h, "Access-Control-Expose-Headers: ETag, Retry-After, "
		    "WWW-Authenticate\r\n");
	if (resp->challenge)
		buf_adds(&h, "WWW-Authenticate: Bearer\r\n");
	if (resp->allow != NULL)
		buf_addf(&h, "Allow: %s\r\n", resp->allow);
	if (resp->retry_after > 0)
		buf_addf(&h, "Retry-After: %d\r\n", resp->retry_after);
	if (resp->etag != 0)
		buf_addf(&h, "ETag: \"%" PRIu64 "\"\r\n", resp->etag);
	/* 204 and 304 carry no body, so no type or length either. */
	if (resp->status != 204 && resp->status != 304) {
		buf_addf(&h, "Content-Type: %s\r\n"
		    "Cache-Control: no-store\r\n"
		    "Content-Length: %zu\r\n", resp->content_type != NULL ?
		    resp->content_type : RESP_JSON, resp->body.len);
	}
	buf_adds(&h, "\r\n");
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
 * Serves one accepted request and counts it in the metrics. Returns 1 if
 * the request was read to the end of its body, 0 if part of it was left
 * unread (refused before reading, or the stream broke).
 */
static int
serve(const struct ctx *c, FCGX_Request *rq)
{
	struct timespec t0, t1;
	struct resp resp;
	struct req r;
	char *body = NULL;
	size_t len = 0, route;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Refused before routing (body too large): counted as "other". */
	route = route_count() - 1;
	resp_init(&resp);
	rc = read_body(rq, c->cfg->max_body, &body, &len);
	if (rc < 0) {
		log_debug("request dropped: body shorter than CONTENT_LENGTH");
		goto out;
	}
	if (rc == 413)
		resp_error(&resp, 413, "Request body too large");
	else if (rc == 400)
		resp_error(&resp, 400, "Invalid Content-Length");
	else {
		req_parse(&r, rq->envp, body, len);
		route = route_dispatch(c, &r, &resp);
		req_free(&r);
	}
	if (resp.status == 0)
		resp_error(&resp, 500, "Internal error: no reply");
	write_resp(rq, c, &resp);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	metrics_request(route, resp.status, elapsed_ns(&t0, &t1));
	log_debug("%s %s -> %d",
	    FCGX_GetParam("REQUEST_METHOD", rq->envp) ?: "-",
	    FCGX_GetParam("REQUEST_URI", rq->envp) ?: "-", resp.status);
out:
	free(body);
	resp_free(&resp);
	return rc == 0;
}

/*
 * Ends a request. libfcgi closes a connection with a lingering close:
 * shutdown(), then poll() and read() until nginx has closed its end. That
 * keeps the thread away from accept() for a round trip through nginx on
 * every request: a hello-world responder with 4 threads served half as
 * many requests per second with it as without (bench/, 32 clients). The
 * linger only matters when input is left unread, which would make the
 * close reset the connection before nginx has read the reply. So when
 * the request was read to its end of input, mark it detached: FCGX_Free
 * (libfcgi 2.4.2) then closes without lingering, and clears the mark. A
 * body refused unread (413) or a broken stream keeps the lingering close.
 */
static void
finish(FCGX_Request *rq, int input_read)
{
	if (input_read && !rq->keepConnection &&
	    FCGX_GetChar(rq->in) == EOF && FCGX_GetError(rq->in) == 0)
		rq->detached = 1;
	FCGX_Finish_r(rq);
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
	FCGX_Request rq;
	char ebuf[128];
	int fd;

	if (FCGX_InitRequest(&rq, listen_fd, 0) != 0) {
		log_error("FCGX_InitRequest failed");
		return;
	}
	while (!stopping) {
		/* A kept-alive connection is reused without accepting. */
		if (rq.ipcFd < 0) {
			if ((fd = accept_conn(listen_fd, where)) < 0)
				continue;
			rq.ipcFd = fd;
			rq.keepConnection = 1;
		}
		*where = SERVER_READ_REQUEST;
		if (FCGX_Accept_r(&rq) < 0) {
			*where = SERVER_BUSY;
			if (stopping)
				break;
			log_warn("FastCGI accept failed: %s",
			    log_strerror(errno, ebuf, sizeof(ebuf)));
			nanosleep(&pause, NULL);
			continue;
		}
		*where = SERVER_BUSY;
		finish(&rq, serve(c, &rq));
	}
	*where = SERVER_BUSY;
	FCGX_Free(&rq, rq.ipcFd >= 0);
}
