/*
 * buf: a growable byte buffer, always NUL-terminated, used to build replies.
 *
 * Allocation failure is treated as fatal (the process logs and aborts):
 * every buffer is bounded by a configured request or value limit, so running
 * out of memory here is an operational failure, not something input causes.
 */
#ifndef KV_BUF_H
#define KV_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	char	*data;	/* NULL until the first append; then NUL-terminated */
	size_t	 len;
	size_t	 cap;
};

void	buf_init(struct buf *);
void	buf_free(struct buf *);	/* accepts a zeroed or freed buffer */
void	buf_reset(struct buf *);	/* len = 0, keeps the allocation */
void	buf_add(struct buf *, const void *, size_t);
void	buf_adds(struct buf *, const char *);
void	buf_addc(struct buf *, char);
void	buf_addf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* A string literal, its length known at compile time (no strlen). */
#define buf_addlit(b, lit)	buf_add((b), "" lit, sizeof(lit) - 1)
/* Decimal integers, as printf's %PRIu64 and %PRId64 write them. */
void	buf_addu(struct buf *, uint64_t);
void	buf_addi(struct buf *, int64_t);

/* Like malloc/calloc/strndup but abort with a log line on failure. */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
char	*xmemdup(const void *, size_t);	/* adds a trailing NUL */

#endif
