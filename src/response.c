/*
 * response: struct resp and the single mapping from errors to HTTP.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "inflight.h"
#include "response.h"
#include "store.h"

static const struct {
	int		 status;
	const char	*reason;
} reasons[] = {
	{ 200, "OK" },
	{ 204, "No Content" },
	{ 304, "Not Modified" },
	{ 400, "Bad Request" },
	{ 401, "Unauthorized" },
	{ 403, "Forbidden" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 409, "Conflict" },
	{ 412, "Precondition Failed" },
	{ 413, "Payload Too Large" },
	{ 500, "Internal Server Error" },
	{ 503, "Service Unavailable" },
};

/* How each store error reaches the client; STORE_OK never gets here. */
static const struct {
	int		 err;
	int		 status;
	int		 retry_after;
	const char	*msg;
} store_errors[] = {
	{ STORE_NOTFOUND, 404, 0, "Key not found" },
	{ STORE_BUSY, 503, 1, "Storage busy, please retry" },
	{ STORE_NOSPACE, 503, 5, "Storage full, please retry later" },
	{ STORE_ERROR, 500, 0, "Internal storage error" },
};

void
resp_init(struct resp *r)
{
	r->status = 0;
	r->allow = NULL;
	r->retry_after = 0;
	r->challenge = 0;
	r->etag = 0;
	r->content_type = RESP_JSON;
	r->held = 0;
	buf_init(&r->body);
}

void
resp_free(struct resp *r)
{
	if (r == NULL)
		return;
	buf_free(&r->body);
	inflight_give(r->held);
	r->held = 0;
}

int
resp_hold(struct resp *r, size_t n)
{
	switch (inflight_take(n)) {
	case INFLIGHT_OK:
		r->held += n;
		return 0;
	case INFLIGHT_BUSY:
		resp_error(r, 503, "Too much reply data in flight, please "
		    "retry");
		r->retry_after = 1;
		return -1;
	default:
		resp_error(r, 413, "Reply too large: ask for fewer or smaller "
		    "values");
		return -1;
	}
}

void
resp_error(struct resp *r, int status, const char *msg)
{
	r->status = status;
	r->content_type = RESP_JSON;
	buf_reset(&r->body);
	buf_adds(&r->body, "{\"success\":false,\"error\":");
	codec_put_str(&r->body, msg, strlen(msg));
	buf_addc(&r->body, '}');
}

void
resp_errorf(struct resp *r, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	resp_error(r, status, msg);
}

void
resp_store_error(struct resp *r, int err)
{
	size_t i;

	for (i = 0; i < sizeof(store_errors) / sizeof(store_errors[0]); i++) {
		if (store_errors[i].err == err) {
			resp_error(r, store_errors[i].status, store_errors[i].msg);
			r->retry_after = store_errors[i].retry_after;
			return;
		}
	}
	resp_error(r, 500, "Internal error");
}

const char *
resp_reason(int status)
{
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].status == status)
			return reasons[i].reason;
	return "Unknown";
}
