/*
 * cursor: the opaque paging token of GET /list. It is the last key of the
 * previous page in unpadded base64url, so it survives any URL encoding and
 * the next page resumes strictly after that key.
 */
#ifndef KV_CURSOR_H
#define KV_CURSOR_H

#include <stddef.h>

#include "buf.h"

void	cursor_encode(struct buf *, const char *key, size_t klen);

/* Decodes into a malloc'd *key; returns -1 (nothing allocated) if malformed. */
int	cursor_decode(const char *s, size_t len, char **key, size_t *klen);

#endif
