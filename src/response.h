/*
 * response: what a handler produces and the server writes out. Also the
 * one place that maps store errors to HTTP status and wording.
 */
#ifndef KV_RESPONSE_H
#define KV_RESPONSE_H

#include <stdint.h>

#include "buf.h"

struct resp {
	int		 status;	/* 0 until a handler sets it */
	const char	*allow;		/* Allow header for 405 and OPTIONS, or NULL */
	int		 retry_after;	/* seconds for Retry-After, 0 = none */
	int		 challenge;	/* 401: send WWW-Authenticate: Bearer */
	uint64_t	 etag;		/* version for ETag: "N", 0 = none */
	const char	*content_type;	/* static string; resp_init: JSON */
	struct buf	 body;		/* JSON unless content_type says; empty for 204 */
	size_t		 held;		/* reply memory taken (inflight.h) */
};

#define RESP_JSON	"application/json"

void	resp_init(struct resp *);
void	resp_free(struct resp *);

/* Replaces any body with {"success":false,"error":msg}. */
void	resp_error(struct resp *, int status, const char *msg);
void	resp_errorf(struct resp *, int status, const char *, ...)
	    __attribute__((format(printf, 3, 4)));

/*
 * Takes n bytes of reply memory for this reply (see inflight.h), given back
 * by resp_free. Returns 0, or -1 with the reply set: 503 + Retry-After
 * when other replies hold too much now, 413 when no reply may be so large.
 */
int	resp_hold(struct resp *, size_t n);

/* Maps a store error (not STORE_OK) to 503 + Retry-After or 500. */
void	resp_store_error(struct resp *, int store_err);

/* "Not Found" for 404 and so on. */
const char *resp_reason(int status);

#endif
