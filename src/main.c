/*
 * kvstore-fcgi: options, the store, signals, the worker threads and an
 * orderly shutdown. Request handling lives in server.c and below.
 */
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "buf.h"
#include "config.h"
#include "inflight.h"
#include "log.h"
#include "server.h"
#include "store.h"

struct worker {
	pthread_t			 tid;
	const struct ctx		*ctx;
	int				 listen_fd;
	volatile sig_atomic_t		 where;		/* enum server_wait */
	volatile sig_atomic_t		 done;
};

/* SIGUSR1 only exists to interrupt a wait; the stop flag is already set. */
static void
on_wakeup(int sig)
{
	(void)sig;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	server_loop(w->ctx, w->listen_fd, &w->where);
	w->done = 1;
	return NULL;
}

/*
 * Finds the inherited listening socket: fd 3 under systemd socket
 * activation (LISTEN_FDS/LISTEN_PID, then unset so children do not see
 * them), else fd 0 as spawn-fcgi and StandardInput=socket pass it.
 */
static int
listen_socket(void)
{
	const char *fds = getenv("LISTEN_FDS"), *pid = getenv("LISTEN_PID");
	int fd = 0, accepting = 0;
	socklen_t len = sizeof(accepting);
	struct stat st;

	if (fds != NULL && pid != NULL && strtol(pid, NULL, 10) == getpid()) {
		if (strcmp(fds, "1") != 0)
			fatal("LISTEN_FDS=%s: expected exactly one socket", fds);
		fd = 3;
	}
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDNAMES");
	if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode) ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 ||
	    !accepting)
		fatal("fd %d is not a listening socket: start kvstore-fcgi "
		    "under spawn-fcgi or systemd socket activation", fd);
	return fd;
}

/*
 * Checks the data directory and takes an exclusive lock in it: recovery
 * at startup would corrupt an environment another process is using.
 * The lock lives as long as the process (the fd is never closed).
 */
static void
lock_data_dir(const char *dir)
{
	char path[4096];
	struct stat st;
	int fd;

	if (stat(dir, &st) != 0)
		fatal("data directory %s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		fatal("data directory %s: not a directory", dir);
	if (access(dir, R_OK | W_OK | X_OK) != 0)
		fatal("data directory %s: %s", dir, strerror(errno));
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
	    STORE_LOCK_FILE) >= sizeof(path))
		fatal("data directory path too long");
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		fatal("%s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0)
		fatal("data directory %s is in use by another kvstore-fcgi "
		    "process", dir);
}

/*
 * Asks the workers to stop and waits for them; in-flight requests finish.
 * A thread in accept() is woken at once. One reading a request it has
 * accepted is left to finish it; only if it still waits after the grace
 * period (an idle kept-alive connection, or libfcgi accepting again after
 * a protocol error) is it woken too, which may drop what it was reading.
 */
#define STOP_GRACE_TICKS	100	/* of 20 ms: 2 s */

static void
stop_workers(struct worker *w, unsigned n)
{
	struct timespec tick = { 0, 20 * 1000 * 1000 };
	unsigned i, running, ticks = 0;

	server_stop();
	do {
		running = 0;
		for (i = 0; i < n; i++) {
			if (w[i].done)
				continue;
			running++;
			if (w[i].where == SERVER_ACCEPT ||
			    (w[i].where == SERVER_READ_REQUEST &&
			    ticks >= STOP_GRACE_TICKS))
				pthread_kill(w[i].tid, SIGUSR1);
		}
		if (running > 0)
			nanosleep(&tick, NULL);
		ticks++;
	} while (running > 0);
	for (i = 0; i < n; i++)
		pthread_join(w[i].tid, NULL);
}

int
main(int argc, char **argv)
{
	struct store_cfg scfg;
	struct store *store = NULL;
	struct sigaction sa;
	struct config cfg;
	struct worker *workers;
	struct ctx ctx;
	struct timespec poll_every = { 1, 0 };
	sigset_t stopset;
	char ebuf[128], autherr[512];
	unsigned i;
	int err, fd, sig;

	switch (config_load(&cfg, argc, argv)) {
	case CONFIG_EXIT_OK:
		return 0;
	case CONFIG_ERROR:
		return 2;
	case CONFIG_OK:
		break;
	}
	log_set_level(cfg.log_level);

	/*
	 * A malformed tokens file stops the start with its line number
	 * (status 2, like a bad option: restarting will not mend it).
	 */
	if (cfg.tokens_file != NULL &&
	    auth_open(cfg.tokens_file, autherr, sizeof(autherr)) != 0) {
		log_error("cannot load the tokens file: %s", autherr);
		return 2;
	}

	/*
	 * Termination signals, and SIGHUP (reload the tokens), are taken
	 * synchronously by the main thread; the workers inherit the blocked
	 * mask, so a signal never breaks a request.
	 */
	sigemptyset(&stopset);
	sigaddset(&stopset, SIGTERM);
	sigaddset(&stopset, SIGINT);
	sigaddset(&stopset, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stopset, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_wakeup;	/* no SA_RESTART: accept() must fail */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	fd = listen_socket();
	lock_data_dir(cfg.data_dir);
	/* The first line of a start that gets this far: open or closed. */
	if (auth_enabled())
		log_info("access control on: %zu token%s from %s", auth_count(),
		    auth_count() == 1 ? "" : "s", cfg.tokens_file);
	else
		log_info("access control off: no tokens file (--tokens-file, "
		    "KV_TOKENS_FILE), every client that reaches the socket is "
		    "served");

	memset(&scfg, 0, sizeof(scfg));
	scfg.home = cfg.data_dir;
	scfg.durability = cfg.durability;
	scfg.cache_bytes = cfg.cache_bytes;
	scfg.list_bytes = cfg.list_bytes;
	scfg.background = 1;
	/* Test only: see store_cfg.test_panic_file and the README. */
	scfg.test_panic_file = getenv("KV_TEST_PANIC_FILE");
	if (store_open(&scfg, &store) != STORE_OK)
		fatal("cannot open the store in %s", cfg.data_dir);
	/*
	 * From here on other threads run (the store's maintenance thread,
	 * then the workers): no fatal(), whose exit() would run the C
	 * library's teardown under them. Failures stop what was started.
	 */
	if (server_init() != 0) {
		log_error("FCGX_Init failed");
		store_close(store);
		return 1;
	}

	inflight_set_limit(cfg.max_reply_memory);
	ctx.store = store;
	ctx.cfg = &cfg;
	if ((err = server_start_held(&ctx)) != 0) {
		log_error("cannot start the reply thread: %s",
		    log_strerror(err, ebuf, sizeof(ebuf)));
		store_close(store);
		return 1;
	}
	workers = xcalloc(cfg.threads, sizeof(*workers));
	for (i = 0; i < cfg.threads; i++) {
		workers[i].ctx = &ctx;
		workers[i].listen_fd = fd;
		if ((err = pthread_create(&workers[i].tid, NULL, worker_main,
		    &workers[i])) != 0) {
			log_error("cannot start worker thread %u: %s", i,
			    log_strerror(err, ebuf, sizeof(ebuf)));
			stop_workers(workers, i);
			server_stop_held();
			store_close(store);
			free(workers);
			return 1;
		}
	}
	log_info("serving with %u threads, data in %s, durability %s",
	    cfg.threads, cfg.data_dir,
	    cfg.durability == STORE_DURABLE_SYNC ? "sync" : "write");

	/*
	 * Between signals, look at the tokens file once a second: a token
	 * added or revoked takes effect within about a second, and the
	 * request path never calls stat().
	 */
	for (;;) {
		sig = sigtimedwait(&stopset, NULL, &poll_every);
		if (sig < 0) {
			if (errno == EAGAIN)
				auth_reload(0);
			continue;
		}
		if (sig != SIGHUP)
			break;
		if (auth_enabled()) {
			log_info("received SIGHUP, reloading the tokens file");
			auth_reload(1);
		} else
			log_info("received SIGHUP: no tokens file to reload");
	}
	log_info("received signal %d, finishing in-flight requests", sig);
	stop_workers(workers, cfg.threads);
	/* Replies still held for the disk go out before the store closes. */
	server_stop_held();
	store_close(store);
	auth_close();
	free(workers);
	log_info("stopped cleanly");
	return 0;
}
