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
 * Serves requests on listen_fd until server_stop() is called. Returns when
 * the thread has left accept and finished its in-flight request. While the
 * thread waits in accept, *in_accept is 1: only then may it be interrupted
 * with a signal (a signal during a request would break its socket reads).
 */
void	server_loop(const struct ctx *, int listen_fd,
	    volatile sig_atomic_t *in_accept);

/* Async-signal-safe: asks every loop to finish and stop accepting. */
void	server_stop(void);
int	server_stopping(void);

#endif
