/*
 * server: the only includer of <fcgiapp.h>. Runs one FastCGI accept loop
 * per worker thread: reads the request with a bounded body, dispatches it,
 * writes the response.
 */
#ifndef KV_SERVER_H
#define KV_SERVER_H

#include <signal.h>

#include "handler.h"

/* Once, before any thread starts. Returns -1 if FCGX_Init fails. */
int	server_init(void);

/*
 * Where a worker is, for the code that stops it: a signal may interrupt
 * accept() at once, but a signal while libfcgi reads a connection's
 * request (its parameters, or the next request on a kept-alive one) would
 * fail that read and drop the request, which nginx answers with a 502.
 */
enum server_wait {
	SERVER_BUSY = 0,	/* serving a request: never interrupt */
	SERVER_ACCEPT,		/* in accept(): interrupt at once */
	SERVER_READ_REQUEST,	/* in FCGX_Accept_r reading a request: only
				   if it is still there after a grace period */
};

/*
 * Serves requests on listen_fd until server_stop() is called. Returns when
 * the thread has left accept and finished its in-flight request. *where
 * says what the thread waits for (enum server_wait).
 */
void	server_loop(const struct ctx *, int listen_fd,
	    volatile sig_atomic_t *where);

/*
 * The thread that sends replies held for the disk (held.h): started before
 * the workers, stopped after they have all returned. start returns 0 or an
 * errno value.
 */
int	server_start_held(const struct ctx *);
void	server_stop_held(void);

/* Async-signal-safe: asks every loop to finish and stop accepting. */
void	server_stop(void);
int	server_stopping(void);

#endif
