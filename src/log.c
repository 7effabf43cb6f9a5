/*
 * log: level-filtered lines on stderr. One write(2) per line so lines from
 * concurrent worker threads never interleave.
 */
#include <sys/stat.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static enum log_level cur_level = LOG_LVL_INFO;
static const char *prog_name = "kvstore-fcgi";
static pthread_once_t journal_once = PTHREAD_ONCE_INIT;
static int journal;

/* syslog(3) priorities of the levels, for the journal; fatal is 2 (crit). */
static const int level_prio[] = {
	[LOG_LVL_ERROR] = 3,
	[LOG_LVL_WARN] = 4,
	[LOG_LVL_INFO] = 6,
	[LOG_LVL_DEBUG] = 7,
};
#define PRIO_FATAL	2

static const char *const level_names[] = {
	[LOG_LVL_ERROR] = "error",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

void
log_set_level(enum log_level l)
{
	cur_level = l;
}

void
log_set_name(const char *name)
{
	prog_name = name;
}

int
log_parse_level(const char *s, enum log_level *out)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

/*
 * Under systemd, stderr may be a stream to the journal: then JOURNAL_STREAM
 * holds its "device:inode". Lines to the journal start with "<N>", the
 * priority (sd-daemon(3)), which journald strips and files the line under.
 */
static void
journal_detect(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char tail;

	if (v == NULL || sscanf(v, "%llu:%llu%c", &dev, &ino, &tail) != 2)
		return;
	if (fstat(STDERR_FILENO, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino)
		journal = 1;
}

static void
log_vmsg(int prio, const char *prefix, const char *fmt, va_list ap)
{
	char line[2048];
	int n, m;
	ssize_t w;

	pthread_once(&journal_once, journal_detect);
	if (journal)
		n = snprintf(line, sizeof(line), "<%d>%s: %s: ", prio,
		    prog_name, prefix);
	else
		n = snprintf(line, sizeof(line), "%s: %s: ", prog_name, prefix);
	if (n < 0)
		return;
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* A failed write to stderr has nowhere to be reported. */
	w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}

int
log_enabled(enum log_level l)
{
	return l <= cur_level;
}

void
log_msg(enum log_level l, const char *fmt, ...)
{
	va_list ap;

	if (l > cur_level)
		return;
	va_start(ap, fmt);
	log_vmsg(level_prio[l], level_names[l], fmt, ap);
	va_end(ap);
}

const char *
log_strerror(int err, char *buf, size_t len)
{
	/* The XSI strerror_r (no _GNU_SOURCE here): 0 on success. */
	if (len > 0 && strerror_r(err, buf, len) != 0)
		snprintf(buf, len, "error %d", err);
	return buf;
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(PRIO_FATAL, "fatal", fmt, ap);
	va_end(ap);
	exit(1);
}
