/*
 * log: the one logging path. Lines go to stderr as "LEVEL: message", ready
 * for a terminal or journald (with a "<N>" priority prefix when stderr is
 * the journal); lines below the configured level are dropped.
 */
#ifndef KV_LOG_H
#define KV_LOG_H

#include <stddef.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void	log_set_level(enum log_level);
/* The program name that starts every line; name must outlive the process. */
void	log_set_name(const char *name);
int	log_parse_level(const char *, enum log_level *);	/* 0 ok, -1 unknown */
void	log_msg(enum log_level, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* Says whether lines of level l are written. */
int	log_enabled(enum log_level l);

#define log_error(...)	log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LVL_INFO, __VA_ARGS__)
/*
 * Debug lines sit on the request path: their arguments (FastCGI parameter
 * look-ups, say) are not even evaluated unless debug logging is on.
 */
#define log_debug(...)	do {						\
	if (log_enabled(LOG_LVL_DEBUG))					\
		log_msg(LOG_LVL_DEBUG, __VA_ARGS__);			\
} while (0)

/*
 * strerror() for any thread: strerror() may return a buffer that another
 * thread's call overwrites. Writes the text for err into buf (or "error N")
 * and returns buf.
 */
const char *log_strerror(int err, char *buf, size_t len);

/*
 * Logs "fatal: ..." and exits 1. Only while no other thread runs (before
 * store_open starts the maintenance thread): exit() tears down the C
 * library under running threads.
 */
void	fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
