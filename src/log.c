/*
 * log: level-filtered lines on stderr. One write(2) per line so lines from
 * concurrent worker threads never interleave.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static enum log_level cur_level = LOG_LVL_INFO;

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

static void
log_vmsg(const char *prefix, const char *fmt, va_list ap)
{
	char line[2048];
	int n, m;
	ssize_t w;

	n = snprintf(line, sizeof(line), "kvstore-fcgi: %s: ", prefix);
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

void
log_msg(enum log_level l, const char *fmt, ...)
{
	va_list ap;

	if (l > cur_level)
		return;
	va_start(ap, fmt);
	log_vmsg(level_names[l], fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg("fatal", fmt, ap);
	va_end(ap);
	exit(1);
}
