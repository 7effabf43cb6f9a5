/*
 * hello: the smallest useful FastCGI responder, the benchmark's ceiling.
 *
 * It is built and served exactly like kvstore-fcgi (spawn-fcgi -n hands it
 * the listening socket on fd 0, scripts/stack puts the shipped nginx site
 * in front of it) and runs the same number of FCGX_Accept_r threads
 * (KV_THREADS), but every request gets the same fixed JSON reply, with the
 * headers the service sends and a body the size of a small GET reply,
 * once its body (if any) has been read.
 * Whatever kvstore-fcgi does on top of this costs throughput; nothing
 * behind this nginx configuration can be faster than this program.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>

#define DEFAULT_THREADS	4
#define MAX_THREADS	256

static const char reply[] =
    "Status: 200 OK\r\n"
    "Access-Control-Allow-Origin: *\r\n"
    "Content-Type: application/json\r\n"
    "Cache-Control: no-store\r\n"
    "Content-Length: 90\r\n"
    "\r\n"
    "{\"success\":true,\"key\":\"k:00042\",\"value\":\"0123456789abcdef0123456789abcdef\","
    "\"expires\":null}";

/* HELLO_LINGER=1: close connections as libfcgi does by default. */
static int linger;

/*
 * Accepts and answers requests on fd 0 until the process stops. The
 * connection is closed as src/server.c closes it: once the input is read
 * to its end, without libfcgi's lingering close (see finish() there).
 */
static void *
worker(void *arg)
{
	FCGX_Request rq;
	char body[4096];

	(void)arg;
	if (FCGX_InitRequest(&rq, 0, 0) != 0) {
		fprintf(stderr, "hello: FCGX_InitRequest failed\n");
		exit(1);
	}
	while (FCGX_Accept_r(&rq) >= 0) {
		/* Read the body, as any responder does before answering. */
		while (FCGX_GetStr(body, (int)sizeof(body), rq.in) > 0)
			;
		FCGX_PutStr(reply, (int)sizeof(reply) - 1, rq.out);
		if (!linger && !rq.keepConnection && FCGX_GetError(rq.in) == 0)
			rq.detached = 1;
		FCGX_Finish_r(&rq);
	}
	return NULL;
}

int
main(void)
{
	const char *v = getenv("KV_THREADS");
	pthread_t tid;
	sigset_t stop;
	long n = DEFAULT_THREADS;
	long i;
	int sig;

	/* The body must match Content-Length, or nginx would hang or cut. */
	if (strlen(strstr(reply, "\r\n\r\n") + 4) != 90) {
		fprintf(stderr, "hello: Content-Length does not match body\n");
		return 1;
	}
	if (v != NULL && *v != '\0')
		n = strtol(v, NULL, 10);
	linger = (v = getenv("HELLO_LINGER")) != NULL && strcmp(v, "1") == 0;
	if (n < 1 || n > MAX_THREADS) {
		fprintf(stderr, "hello: KV_THREADS must be 1 to %d\n", MAX_THREADS);
		return 2;
	}
	/*
	 * libfcgi's own SIGTERM handler only sets a flag the accept loop
	 * never sees while blocked: take the stop signals in main instead.
	 */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (FCGX_Init() != 0) {
		fprintf(stderr, "hello: FCGX_Init failed\n");
		return 1;
	}
	for (i = 0; i < n; i++)
		if (pthread_create(&tid, NULL, worker, NULL) != 0) {
			fprintf(stderr, "hello: cannot start thread %ld\n", i);
			return 1;
		}
	while (sigwait(&stop, &sig) != 0)
		;
	/* Nothing to finish: every reply is complete when it is written. */
	return 0;
}
