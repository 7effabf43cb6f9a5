/*
 * handler: one function per endpoint. Each validates the whole request
 * before touching the store, so bad input changes nothing, then turns the
 * store's answer into the reply shapes of API.md.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "codec.h"
#include "cursor.h"
#include "handler.h"
#include "metrics.h"

#define TTL_MAX			315360000	/* ten years, in seconds */
/*
 * What one item of a reply may take: its key (escaped at most 6 times
 * over), its value and the member names around them. Replies that read
 * values take this much reply memory before they are built (resp_hold).
 */
#define REPLY_ITEM_BYTES(klen, vlen)	((klen) * 6 + (vlen) + 64)
#define LIST_DEFAULT_LIMIT	100
#define VERSION_MAX		INT64_C(9007199254740991)	/* 2^53 - 1 */
#define DPFX_DEFAULT_LIMIT	1000
#define DPFX_MAX_LIMIT		10000

static const char msg_bad_ttl[] = "Invalid ttl: must be an integer number of "
    "seconds from 1 to 315360000 (0 or null for no expiry)";
static const char msg_bad_expires_at[] = "Invalid expiresAt: must be an "
    "integer time in milliseconds since the epoch, in the future and at most "
    "ten years ahead";
static const char msg_bad_if_version[] = "Invalid ifVersion: must be an "
    "integer from 0 to 9007199254740991";

/* Batch op names, matched case-insensitively. */
static const struct {
	const char	*name;
	enum op_type	 type;
} op_names[] = {
	{ "set", OP_SET },
	{ "get", OP_GET },
	{ "delete", OP_DELETE },
	{ "test-and-set", OP_TAS },
	{ "testAndSet", OP_TAS },
	{ "incr", OP_INCR },
	{ "touch", OP_TOUCH },
};

/*
 * Appends the key as it is now, for a failed condition: {"value":V,
 * "expires":E,"version":N}, or null when it is not live.
 */
static void
put_current(struct buf *b, const struct op_result *res)
{
	if (!res->found) {
		buf_adds(b, "null");
		return;
	}
	buf_adds(b, "{\"value\":");
	buf_add(b, res->val, res->vlen);
	buf_addc(b, ',');
	codec_put_expires(b, res->expires);
	buf_addc(b, ',');
	codec_put_version(b, res->version);
	buf_addc(b, '}');
}

/* Replies 412: the op's version precondition did not hold. */
static void
reply_precondition(struct resp *resp, const struct op *op,
    const struct op_result *res)
{
	struct buf *b = &resp->body;

	resp->status = 412;
	buf_reset(b);
	buf_adds(b, "{\"success\":false,\"error\":\"Precondition failed\","
	    "\"key\":");
	codec_put_str(b, op->key, op->klen);
	buf_adds(b, ",\"current\":");
	put_current(b, res);
	buf_addc(b, '}');
}

/* Replies 409 for an increment the store refused, with the key as it is. */
static void
reply_conflict(struct resp *resp, const struct op *op,
    const struct op_result *res)
{
	struct buf *b = &resp->body;

	resp_error(resp, 409, res->err == OP_ERR_OVERFLOW ?
	    "Increment would overflow" : "Value is not a number");
	/* Reopen the object to add the key and its current value. */
	b->len--;
	buf_adds(b, ",\"key\":");
	codec_put_str(b, op->key, op->klen);
	buf_adds(b, ",\"current\":");
	put_current(b, res);
	buf_addc(b, '}');
}

/* Starts a 200 reply whose body the caller completes. */
static struct buf *
reply_ok(struct resp *resp)
{
	resp->status = 200;
	buf_reset(&resp->body);
	return &resp->body;
}

/*
 * Finds the key of a GET or DELETE: in the path (/get/K) or in ?key=.
 * Returns 0 with *key borrowed from r, or -1 with a 400 in resp, or a 403
 * when r's token may not reach that key.
 */
static int
request_key(const struct req *r, struct resp *resp, const char **key,
    size_t *klen)
{
	const char *why;

	if (r->path_key_bad || r->query_bad) {
		resp_error(resp, 400, "Invalid percent-encoding in URL");
		return -1;
	}
	if (r->path_key != NULL) {
		*key = r->path_key;
		*klen = r->path_key_len;
	} else
		*key = req_query(r, "key", klen);
	if ((why = req_key_check(*key, *key ? *klen : 0)) != NULL) {
		resp_error(resp, 400, why);
		return -1;
	}
	return auth_check_key(r, *key, *klen, resp);
}

/* Returns the API's reading of a ttl field, or -1 if it is not acceptable. */
static int64_t
ttl_seconds(const struct field_int *f)
{
	switch (f->st) {
	case FIELD_ABSENT:
	case FIELD_NULL:
		return 0;
	case FIELD_OK:
		if (f->v >= 0 && f->v <= TTL_MAX)
			return f->v;
		return -1;
	default:
		return -1;
	}
}

/* Returns 1 for the ops that write (and so may carry a precondition). */
static int
is_write(enum op_type type)
{
	return type != OP_GET;
}

/* Reads "ifVersion" into op. Returns 0, or -1 if it is malformed. */
static int
body_cond(const struct field_int *f, struct op *op)
{
	switch (f->st) {
	case FIELD_ABSENT:
		return 0;
	case FIELD_OK:
		if (f->v == 0) {
			op->cond = OP_COND_ABSENT;
			return 0;
		}
		if (f->v > 0 && f->v <= VERSION_MAX) {
			op->cond = OP_COND_VERSION;
			op->if_version = (uint64_t)f->v;
			return 0;
		}
		return -1;
	default:
		return -1;
	}
}

/*
 * Checks the expiry fields of a write: ttl/expirationTtl, expiresAt (an
 * absolute time checked against now_ms) and keepTtl, which exclude each
 * other. Returns 0 or 400 with *why set.
 */
static int
check_expiry(enum op_type type, const struct body_op *bo, int64_t now_ms,
    struct op *op, const char **why)
{
	int has_ttl = bo->ttl.st != FIELD_ABSENT;
	int has_at = bo->expires_at.st != FIELD_ABSENT;

	if (has_ttl && has_at) {
		*why = "Use either ttl or expiresAt, not both";
		return 400;
	}
	if ((op->ttl = ttl_seconds(&bo->ttl)) < 0) {
		*why = msg_bad_ttl;
		return 400;
	}
	switch (bo->expires_at.st) {
	case FIELD_ABSENT:
	case FIELD_NULL:
		break;
	case FIELD_OK:
		if (bo->expires_at.v > now_ms &&
		    bo->expires_at.v - now_ms <= (int64_t)TTL_MAX * 1000) {
			op->expires_at = bo->expires_at.v;
			break;
		}
		/* FALLTHROUGH */
	default:
		*why = msg_bad_expires_at;
		return 400;
	}
	if (bo->keep_ttl.st == FIELD_BADTYPE) {
		*why = "Invalid keepTtl: must be a boolean";
		return 400;
	}
	if (bo->keep_ttl.st == FIELD_OK && bo->keep_ttl.v) {
		if (has_ttl || has_at) {
			*why = "Use either keepTtl or ttl/expiresAt, not both";
			return 400;
		}
		if (type == OP_TOUCH) {
			*why = "keepTtl is not allowed on touch";
			return 400;
		}
		op->keep_ttl = 1;
	}
	return 0;
}

/* Checks the number fields of an increment: by (default 1), initial. */
static int
check_incr(const struct body_op *bo, struct op *op, const char **why)
{
	if (bo->by.st == FIELD_BADTYPE) {
		*why = "Invalid by: must be a number";
		return 400;
	}
	if (bo->initial.st == FIELD_BADTYPE) {
		*why = "Invalid initial: must be a number";
		return 400;
	}
	op->by = bo->by.st == FIELD_OK ? bo->by.text : "1";
	op->bylen = bo->by.st == FIELD_OK ? bo->by.len : 1;
	if (bo->initial.st == FIELD_OK) {
		op->initial = bo->initial.text;
		op->initlen = bo->initial.len;
	}
	return 0;
}

/*
 * Checks one decoded operation object against the rules for its type and
 * fills *op (pointing into bo). now_ms bounds expiresAt. Returns 0, or the
 * HTTP status (400/413) with *why set to a static message.
 */
static int
check_op(const struct ctx *c, enum op_type type, const struct body_op *bo,
    int64_t now_ms, struct op *op, const char **why)
{
	const struct field_json *v = NULL;
	int status;

	memset(op, 0, sizeof(*op));
	op->type = type;
	if (bo->key.st == FIELD_ABSENT || bo->key.st == FIELD_NULL) {
		*why = "Missing key parameter";
		return 400;
	}
	if (bo->key.st != FIELD_OK) {
		*why = "Invalid key: must be a string";
		return 400;
	}
	if ((*why = req_key_check(bo->key.s, bo->key.len)) != NULL)
		return 400;
	op->key = bo->key.s;
	op->klen = bo->key.len;
	if (is_write(type) && body_cond(&bo->if_version, op) != 0) {
		*why = msg_bad_if_version;
		return 400;
	}

	switch (type) {
	case OP_SET:
		if (bo->value.st == FIELD_ABSENT) {
			*why = "Missing value parameter";
			return 400;
		}
		v = &bo->value;
		break;
	case OP_TAS:
		if (bo->old_value.st == FIELD_ABSENT) {
			*why = "Missing oldValue parameter";
			return 400;
		}
		if (bo->new_value.st == FIELD_ABSENT) {
			*why = "Missing newValue parameter";
			return 400;
		}
		if (bo->old_value.st == FIELD_OK) {
			op->old = bo->old_value.text;
			op->oldlen = bo->old_value.len;
		}
		v = &bo->new_value;
		break;
	case OP_INCR:
		if ((status = check_incr(bo, op, why)) != 0)
			return status;
		break;
	case OP_TOUCH:
		break;
	default:
		return 0;
	}

	if ((status = check_expiry(type, bo, now_ms, op, why)) != 0)
		return status;
	if (v != NULL && v->st == FIELD_OK) {
		if (v->len > c->cfg->max_value) {
			*why = "Value too large";
			return 413;
		}
		op->val = v->text;
		op->vlen = v->len;
	}
	return 0;
}

/* Skips spaces and tabs around s[0..*len); returns the new start. */
static const char *
trim(const char *s, size_t *len)
{
	*len = strlen(s);
	while (*len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		(*len)--;
	}
	while (*len > 0 && (s[*len - 1] == ' ' || s[*len - 1] == '\t'))
		(*len)--;
	return s;
}

/*
 * Reads an entity tag "N" (a version: 1 to 2^53-1, decimal, no leading
 * zero) from t[0..len). Returns 0 and *v, or -1 if it is anything else.
 */
static int
parse_tag(const char *t, size_t len, uint64_t *v)
{
	size_t i;

	if (len < 3 || t[0] != '"' || t[len - 1] != '"' || t[1] == '0' ||
	    len - 2 > 16)
		return -1;
	*v = 0;
	for (i = 1; i < len - 1; i++) {
		if (t[i] < '0' || t[i] > '9')
			return -1;
		*v = *v * 10 + (uint64_t)(t[i] - '0');
	}
	return *v <= (uint64_t)VERSION_MAX ? 0 : -1;
}

/*
 * Applies If-Match / If-None-Match of a write to op. A write takes one
 * strong tag or * in If-Match, only * in If-None-Match, and never a header
 * together with "ifVersion". Returns 0 or 400 with *why set.
 */
static int
header_cond(const struct req *r, struct op *op, const char **why)
{
	const char *t;
	size_t len;
	uint64_t v;

	if (r->if_match == NULL && r->if_none_match == NULL)
		return 0;
	if (op->cond != OP_COND_NONE) {
		*why = "Use either a conditional header or ifVersion, not both";
		return 400;
	}
	if (r->if_match != NULL && r->if_none_match != NULL) {
		*why = "Use either If-Match or If-None-Match, not both";
		return 400;
	}
	if (r->if_none_match != NULL) {
		t = trim(r->if_none_match, &len);
		if (len != 1 || *t != '*') {
			*why = "Invalid If-None-Match: a write accepts only *";
			return 400;
		}
		op->cond = OP_COND_ABSENT;
		return 0;
	}
	t = trim(r->if_match, &len);
	if (len == 1 && *t == '*') {
		op->cond = OP_COND_LIVE;
		return 0;
	}
	if (parse_tag(t, len, &v) != 0) {
		*why = "Invalid If-Match: must be one version tag such as "
		    "\"42\", or *";
		return 400;
	}
	op->cond = OP_COND_VERSION;
	op->if_version = v;
	return 0;
}

/*
 * Tells whether an If-None-Match header of a read matches version: * or
 * any tag of its list, weak (W/"N") or not. Malformed members match
 * nothing, as a cache would treat them.
 */
static int
none_match_hits(const char *h, uint64_t version)
{
	const char *p = h, *end;
	size_t len;
	uint64_t v;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		end = strchr(p, ',');
		len = end != NULL ? (size_t)(end - p) : strlen(p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 1 && *p == '*')
			return 1;
		if (len > 2 && p[0] == 'W' && p[1] == '/') {
			p += 2;
			len -= 2;
		}
		if (parse_tag(p, len, &v) == 0 && v == version)
			return 1;
		p += len;
	}
	return 0;
}

/*
 * Decodes a single-operation body and checks it, with the conditional
 * headers of r for a write; 0 or -1 with resp set.
 */
static int
decode_single(const struct ctx *c, const struct req *r, enum op_type type,
    struct body_op *bo, struct op *op, struct resp *resp)
{
	char err[256];
	const char *why;
	int status;

	if (codec_decode_op(r->body, r->body_len, c->cfg->max_depth, bo, err,
	    sizeof(err)) != 0) {
		resp_error(resp, 400, err);
		return -1;
	}
	if ((status = check_op(c, type, bo, store_now_ms(), op, &why)) != 0 ||
	    (is_write(type) && (status = header_cond(r, op, &why)) != 0)) {
		resp_error(resp, status, why);
		return -1;
	}
	return 0;
}

/*
 * Runs one checked op in its own transaction. Returns 0 with *res filled,
 * or -1 with the error reply in resp: 412 for an unmet precondition, 409
 * for an increment that cannot be done, else the store's error.
 */
static int
exec_single(const struct ctx *c, const struct op *op, struct op_result *res,
    struct resp *resp)
{
	int rc;

	rc = store_exec(c->store, op, 1, 0, codec_equal, res, NULL);
	if (rc == STORE_CONFLICT) {
		reply_conflict(resp, op, res);
		return -1;
	}
	if (rc != 0) {
		resp_store_error(resp, rc);
		return -1;
	}
	if (res->version_unmet) {
		reply_precondition(resp, op, res);
		return -1;
	}
	return 0;
}

/*
 * Decodes, checks and runs a single-operation body (set, test-and-set,
 * incr, touch) in one transaction. Returns 0 with *res filled, or -1 with
 * the error reply in resp. The caller frees bo and res either way.
 */
static int
run_single(const struct ctx *c, const struct req *r, enum op_type type,
    struct body_op *bo, struct op *op, struct op_result *res,
    struct resp *resp)
{
	if (decode_single(c, r, type, bo, op, resp) != 0)
		return -1;
	if (auth_check_key(r, op->key, op->klen, resp) != 0)
		return -1;
	return exec_single(c, op, res, resp);
}

/*
 * GET /get: the key with its version, which is also its ETag. A matching
 * If-None-Match answers 304 with no body.
 */
void
handler_get(const struct ctx *c, const struct req *r, struct resp *resp)
{
	struct op_result res;
	const char *key;
	size_t klen;
	struct buf *b;
	int rc;

	if (request_key(r, resp, &key, &klen) != 0)
		return;
	memset(&res, 0, sizeof(res));
	if ((rc = store_get(c->store, key, klen, &res)) != 0) {
		resp_store_error(resp, rc);
		return;
	}
	resp->etag = res.version;
	if (r->if_none_match != NULL &&
	    none_match_hits(r->if_none_match, res.version)) {
		resp->status = 304;
		buf_reset(&resp->body);
		op_result_clear(&res);
		return;
	}
	if (resp_hold(resp, REPLY_ITEM_BYTES(klen, res.vlen)) != 0) {
		op_result_clear(&res);
		return;
	}
	b = reply_ok(resp);
	buf_addlit(b, "{\"success\":true,");
	codec_put_item(b, key, klen, res.val, res.vlen, res.expires, res.version);
	buf_addc(b, '}');
	op_result_clear(&res);
}

/* Reads ?keysOnly=: 0 (absent, false, 0), 1 (true, 1) or -1 (other). */
static int
keys_only_param(const struct req *r)
{
	const char *v;
	size_t len;

	if ((v = req_query(r, "keysOnly", &len)) == NULL)
		return 0;
	if ((len == 4 && memcmp(v, "true", 4) == 0) ||
	    (len == 1 && v[0] == '1'))
		return 1;
	if ((len == 5 && memcmp(v, "false", 5) == 0) ||
	    (len == 1 && v[0] == '0'))
		return 0;
	return -1;
}

void
handler_list(const struct ctx *c, const struct req *r, struct resp *resp)
{
	struct store_item *items = NULL;
	const char *prefix, *limit_s, *cursor_s;
	size_t plen = 0, llen, clen, limit = LIST_DEFAULT_LIMIT, n = 0, i;
	size_t alen = 0, held, nlen = 0;
	char *after = NULL, *next = NULL;
	struct buf *b;
	int more = 0, rc, keys_only;

	if (r->query_bad) {
		resp_error(resp, 400, "Invalid percent-encoding in URL");
		return;
	}
	if ((prefix = req_query(r, "prefix", &plen)) == NULL)
		prefix = "";
	if (plen > 0 && req_key_check(prefix, plen) != NULL) {
		resp_error(resp, 400, "Invalid prefix: must be valid UTF-8 "
		    "without control characters, at most 512 bytes");
		return;
	}
	/* A token limited to user_ may list user_x, not user or everything. */
	if (auth_check_key(r, prefix, plen, resp) != 0)
		return;
	if ((limit_s = req_query(r, "limit", &llen)) != NULL &&
	    (req_parse_size(limit_s, llen, &limit) != 0 || limit < 1 ||
	    limit > c->cfg->list_max)) {
		resp_errorf(resp, 400, "Invalid limit: must be an integer from "
		    "1 to %zu", c->cfg->list_max);
		return;
	}
	if ((keys_only = keys_only_param(r)) < 0) {
		resp_error(resp, 400, "Invalid keysOnly: must be true, false, "
		    "1 or 0");
		return;
	}
	if ((cursor_s = req_query(r, "cursor", &clen)) != NULL && clen > 0) {
		/*
		 * A cursor names a key this service issued, so it always
		 * decodes to a valid key; anything else (a key too long for
		 * the store's range search, say) is not one of ours.
		 */
		if (cursor_decode(cursor_s, clen, &after, &alen) != 0 ||
		    req_key_check(after, alen) != NULL) {
			free(after);
			resp_error(resp, 400, "Invalid cursor");
			return;
		}
		if (alen < plen || memcmp(after, prefix, plen) != 0) {
			free(after);
			resp_error(resp, 400,
			    "Invalid cursor: it belongs to another prefix");
			return;
		}
	}

	rc = (keys_only ? store_list_keys : store_list)(c->store, prefix, plen,
	    after, alen, limit, &items, &n, &more, &next, &nlen);
	free(after);
	if (rc != 0) {
		resp_store_error(resp, rc);
		return;
	}
	for (i = 0, held = 0; i < n; i++)
		held += REPLY_ITEM_BYTES(items[i].klen, items[i].vlen);
	if (resp_hold(resp, held) != 0) {
		store_items_free(items, n);
		free(next);
		return;
	}
	b = reply_ok(resp);
	buf_addf(b, "{\"success\":true,\"count\":%zu,\"items\":[", n);
	for (i = 0; i < n; i++) {
		buf_adds(b, i ? ",{" : "{");
		if (keys_only) {
			buf_adds(b, "\"key\":");
			codec_put_str(b, items[i].key, items[i].klen);
			buf_addc(b, ',');
			codec_put_expires(b, items[i].expires);
			buf_addc(b, ',');
			codec_put_version(b, items[i].version);
		} else
			codec_put_item(b, items[i].key, items[i].klen, items[i].val,
			    items[i].vlen, items[i].expires, items[i].version);
		buf_addc(b, '}');
	}
	buf_adds(b, "],\"cursor\":");
	/* The store says where to resume: after the last key it examined. */
	if (more && next != NULL) {
		buf_addc(b, '"');
		cursor_encode(b, next, nlen);
		buf_addc(b, '"');
	} else
		buf_adds(b, "null");
	buf_addc(b, '}');
	store_items_free(items, n);
	free(next);
}

void
handler_root_get(const struct ctx *c, const struct req *r, struct resp *resp)
{
	if (req_query(r, "key", NULL) != NULL)
		handler_get(c, r, resp);
	else
		handler_list(c, r, resp);
}

void
handler_set(const struct ctx *c, const struct req *r, struct resp *resp)
{
	struct op_result res;
	struct body_op bo;
	struct op op;
	struct buf *b;

	memset(&res, 0, sizeof(res));
	memset(&bo, 0, sizeof(bo));
	if (run_single(c, r, OP_SET, &bo, &op, &res, resp) != 0)
		goto out;
	b = reply_ok(resp);
	buf_adds(b, "{\"success\":true,");
	codec_put_item(b, op.key, op.klen, op.val, op.vlen, res.expires,
	    res.version);
	buf_addc(b, '}');
out:
	op_result_clear(&res);
	codec_op_free(&bo);
}

/* DELETE: idempotent; If-Match / If-None-Match make it conditional. */
void
handler_delete(const struct ctx *c, const struct req *r, struct resp *resp)
{
	struct op_result res;
	struct op op;
	struct buf *b;
	const char *why;
	int status;

	memset(&op, 0, sizeof(op));
	memset(&res, 0, sizeof(res));
	op.type = OP_DELETE;
	if (request_key(r, resp, &op.key, &op.klen) != 0)
		return;
	if ((status = header_cond(r, &op, &why)) != 0) {
		resp_error(resp, status, why);
		return;
	}
	if (exec_single(c, &op, &res, resp) != 0)
		goto out;
	b = reply_ok(resp);
	buf_adds(b, "{\"success\":true,\"key\":");
	codec_put_str(b, op.key, op.klen);
	buf_adds(b, ",\"deleted\":true}");
out:
	op_result_clear(&res);
}

void
handler_tas(const struct ctx *c, const struct req *r, struct resp *resp)
{
	struct op_result res;
	struct body_op bo;
	struct op op;
	struct buf *b;

	memset(&res, 0, sizeof(res));
	memset(&bo, 0, sizeof(bo));
	if (run_single(c, r, OP_TAS, &bo, &op, &res, resp) != 0)
		goto out;
	b = reply_ok(resp);
	if (res.cond_met) {
		buf_adds(b, "{\"success\":true,\"conditionMet\":true,");
		codec_put_item(b, op.key, op.klen, op.val, op.vlen, res.expires,
		    res.version);
		buf_addc(b, '}');
		goto out;
	}
	buf_adds(b, "{\"success\":false,\"conditionMet\":false,\"key\":");
	codec_put_str(b, op.key, op.klen);
	buf_adds(b, ",\"message\":\"Condition not met, value was not updated\","
	    "\"current\":");
	put_current(b, &res);
	buf_addc(b, '}');
out:
	op_result_clear(&res);
	codec_op_free(&bo);
}

/* POST /incr: adds `by` to a number in one transaction. */
void
handler_incr(const struct ctx *c, const struct req *r, struct resp *resp)
{
	struct op_result res;
	struct body_op bo;
	struct op op;
	struct buf *b;

	memset(&res, 0, sizeof(res));
	memset(&bo, 0, sizeof(bo));
	if (run_single(c, r, OP_INCR, &bo, &op, &res, resp) != 0)
		goto out;
	b = reply_ok(resp);
	buf_adds(b, "{\"success\":true,");
	codec_put_item(b, op.key, op.klen, res.val, res.vlen, res.expires,
	    res.version);
	buf_addc(b, '}');
out:
	op_result_clear(&res);
	codec_op_free(&bo);
}

/* Appends "key":K,"expires":E,"version":N: what a touch shows. */
static void
put_touched(struct buf *b, const struct op *op, const struct op_result *res)
{
	buf_adds(b, "\"key\":");
	codec_put_str(b, op->key, op->klen);
	buf_addc(b, ',');
	codec_put_expires(b, res->found ? res->expires : 0);
	buf_addc(b, ',');
	codec_put_version(b, res->found ? res->version : 0);
}

/* POST /touch: changes the expiry (and so the version) of a live key. */
void
handler_touch(const struct ctx *c, const struct req *r, struct resp *resp)
{
	struct op_result res;
	struct body_op bo;
	struct op op;
	struct buf *b;

	memset(&res, 0, sizeof(res));
	memset(&bo, 0, sizeof(bo));
	if (run_single(c, r, OP_TOUCH, &bo, &op, &res, resp) != 0)
		goto out;
	if (!res.found) {
		resp_store_error(resp, STORE_NOTFOUND);
		goto out;
	}
	b = reply_ok(resp);
	buf_adds(b, "{\"success\":true,");
	put_touched(b, &op, &res);
	buf_addc(b, '}');
out:
	op_result_clear(&res);
	codec_op_free(&bo);
}

/*
 * POST /delete-prefix: deletes up to limit keys with a non-empty prefix in
 * one transaction; deleting everything takes deliberate calls.
 */
void
handler_delete_prefix(const struct ctx *c, const struct req *r,
    struct resp *resp)
{
	struct body_op bo;
	struct buf *b;
	char err[256];
	size_t deleted = 0, limit = DPFX_DEFAULT_LIMIT;
	int more = 0, rc;

	memset(&bo, 0, sizeof(bo));
	if (codec_decode_op(r->body, r->body_len, c->cfg->max_depth, &bo, err,
	    sizeof(err)) != 0) {
		resp_error(resp, 400, err);
		goto out;
	}
	if (bo.prefix.st == FIELD_ABSENT || bo.prefix.st == FIELD_NULL ||
	    (bo.prefix.st == FIELD_OK && bo.prefix.len == 0)) {
		resp_error(resp, 400, "Missing prefix parameter");
		goto out;
	}
	if (bo.prefix.st != FIELD_OK ||
	    req_key_check(bo.prefix.s, bo.prefix.len) != NULL) {
		resp_error(resp, 400, "Invalid prefix: must be a string of "
		    "valid UTF-8 without control characters, at most 512 bytes");
		goto out;
	}
	/* A token may delete only under one of its own prefixes. */
	if (auth_check_key(r, bo.prefix.s, bo.prefix.len, resp) != 0)
		goto out;
	if (bo.limit.st == FIELD_OK && bo.limit.v >= 1 &&
	    bo.limit.v <= DPFX_MAX_LIMIT)
		limit = (size_t)bo.limit.v;
	else if (bo.limit.st != FIELD_ABSENT && bo.limit.st != FIELD_NULL) {
		resp_error(resp, 400, "Invalid limit: must be an integer from "
		    "1 to 10000");
		goto out;
	}
	if ((rc = store_delete_prefix(c->store, bo.prefix.s, bo.prefix.len,
	    limit, &deleted, &more)) != 0) {
		resp_store_error(resp, rc);
		goto out;
	}
	b = reply_ok(resp);
	buf_adds(b, "{\"success\":true,\"prefix\":");
	codec_put_str(b, bo.prefix.s, bo.prefix.len);
	buf_addf(b, ",\"deleted\":%zu,\"more\":%s}", deleted,
	    more ? "true" : "false");
out:
	codec_op_free(&bo);
}

/* Returns the op type named by s (case-insensitive), or -1. */
static int
op_type_named(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++) {
		if (strlen(op_names[i].name) == len &&
		    strncasecmp(op_names[i].name, s, len) == 0)
			return (int)op_names[i].type;
	}
	return -1;
}

/* Checks every op of a decoded batch; 0 or -1 with resp set. */
static int
check_batch(const struct ctx *c, const struct body_batch *bb, struct op *ops,
    struct resp *resp)
{
	const struct body_op *bo;
	const char *why;
	int64_t now_ms = store_now_ms();
	size_t i;
	int type, status;

	for (i = 0; i < bb->ops_n; i++) {
		bo = &bb->ops[i];
		if (!bb->op_is_object[i]) {
			resp_errorf(resp, 400, "operations[%zu]: operation must "
			    "be an object", i);
			return -1;
		}
		if (bo->op.st == FIELD_ABSENT || bo->op.st == FIELD_NULL) {
			resp_errorf(resp, 400, "operations[%zu]: Missing op "
			    "parameter", i);
			return -1;
		}
		if (bo->op.st != FIELD_OK ||
		    (type = op_type_named(bo->op.s, bo->op.len)) < 0) {
			resp_errorf(resp, 400, "operations[%zu]: Invalid op: "
			    "must be one of set, get, delete, test-and-set, "
			    "incr, touch", i);
			return -1;
		}
		if ((status = check_op(c, (enum op_type)type, bo, now_ms,
		    &ops[i], &why)) == 413) {
			resp_errorf(resp, 413, "operations[%zu]: value too "
			    "large", i);
			return -1;
		} else if (status != 0) {
			resp_errorf(resp, status, "operations[%zu]: %s", i, why);
			return -1;
		}
	}
	return 0;
}

/*
 * Checks every op of a valid batch against r's token before any runs:
 * get needs read, every other op write, and each key must be within the
 * token's prefixes. 0, or -1 with a 403 naming the first forbidden op.
 */
static int
authorize_batch(const struct req *r, const struct op *ops, size_t n,
    struct resp *resp)
{
	char msg[64];
	unsigned need;
	size_t i;

	if (r->token == NULL)
		return 0;
	for (i = 0; i < n; i++) {
		need = ops[i].type == OP_GET ? TOKEN_READ : TOKEN_WRITE;
		if ((r->token->rights & need) == 0 ||
		    !auth_key_allowed(r->token, ops[i].key, ops[i].klen)) {
			snprintf(msg, sizeof(msg), "operations[%zu]: Forbidden",
			    i);
			auth_forbid(r, resp, msg);
			return -1;
		}
	}
	return 0;
}

/* Appends the result object of one batch op. */
static void
put_batch_result(struct buf *b, const struct op *op,
    const struct op_result *res)
{
	buf_addc(b, '{');
	if (res->version_unmet) {
		/* As an unmet test-and-set, with the key as it is. */
		buf_adds(b, "\"key\":");
		codec_put_str(b, op->key, op->klen);
		buf_adds(b, ",\"conditionMet\":false,\"current\":");
		put_current(b, res);
		buf_addc(b, '}');
		return;
	}
	switch (op->type) {
	case OP_GET:
		codec_put_item(b, op->key, op->klen, res->found ? res->val : NULL,
		    res->vlen, res->expires, res->version);
		break;
	case OP_SET:
		codec_put_item(b, op->key, op->klen, op->val, op->vlen,
		    res->expires, res->version);
		break;
	case OP_DELETE:
		buf_adds(b, "\"key\":");
		codec_put_str(b, op->key, op->klen);
		buf_adds(b, ",\"deleted\":true");
		break;
	case OP_TAS:
		if (res->cond_met)
			codec_put_item(b, op->key, op->klen, op->val, op->vlen,
			    res->expires, res->version);
		else
			codec_put_item(b, op->key, op->klen, NULL, 0, 0, 0);
		buf_adds(b, res->cond_met ? ",\"conditionMet\":true" :
		    ",\"conditionMet\":false");
		break;
	case OP_INCR:
		codec_put_item(b, op->key, op->klen, res->val, res->vlen,
		    res->expires, res->version);
		break;
	case OP_TOUCH:
		put_touched(b, op, res);
		break;
	}
	buf_addc(b, '}');
}

void
handler_batch(const struct ctx *c, const struct req *r, struct resp *resp)
{
	struct op_result *res = NULL;
	struct body_batch bb;
	struct op *ops = NULL;
	size_t i, failed = 0, held;
	struct buf *b;
	char err[256];
	int rc;

	memset(&bb, 0, sizeof(bb));
	if (codec_decode_batch(r->body, r->body_len, c->cfg->max_depth,
	    c->cfg->max_batch_ops, &bb, err, sizeof(err)) != 0) {
		resp_error(resp, 400, err);
		goto out;
	}
	if (bb.ops_st != FIELD_OK) {
		resp_error(resp, 400, "Missing or invalid operations array");
		goto out;
	}
	if (bb.ops_n > c->cfg->max_batch_ops) {
		resp_errorf(resp, 400, "Too many operations. Maximum of %zu "
		    "operations per request.", c->cfg->max_batch_ops);
		goto out;
	}
	if (bb.atomic_st == FIELD_BADTYPE) {
		resp_error(resp, 400, "Invalid atomic: must be a boolean");
		goto out;
	}
	ops = xcalloc(bb.ops_n, sizeof(*ops));
	res = xcalloc(bb.ops_n, sizeof(*res));
	if (check_batch(c, &bb, ops, resp) != 0)
		goto out;
	if (authorize_batch(r, ops, bb.ops_n, resp) != 0)
		goto out;

	rc = store_exec(c->store, ops, bb.ops_n,
	    bb.atomic_st == FIELD_OK && bb.atomic, codec_equal, res, &failed);
	if (rc == STORE_CONDITION) {
		b = reply_ok(resp);
		buf_addf(b, "{\"success\":false,\"conditionMet\":false,"
		    "\"failedOperation\":%zu,\"message\":\"Condition not met "
		    "at operations[%zu], batch rolled back\"}", failed, failed);
		goto out;
	}
	if (rc == STORE_CONFLICT) {
		/* As every batch error, it names the op; nothing was applied. */
		resp_errorf(resp, 409, "operations[%zu]: %s", failed,
		    res[failed].err == OP_ERR_OVERFLOW ?
		    "Increment would overflow" : "Value is not a number");
		goto out;
	}
	if (rc != 0) {
		resp_store_error(resp, rc);
		goto out;
	}
	for (i = 0, held = 0; i < bb.ops_n; i++)
		held += REPLY_ITEM_BYTES(ops[i].klen, ops[i].vlen + res[i].vlen);
	if (resp_hold(resp, held) != 0)
		goto out;
	b = reply_ok(resp);
	buf_adds(b, "{\"success\":true,\"results\":[");
	for (i = 0; i < bb.ops_n; i++) {
		if (i > 0)
			buf_addc(b, ',');
		put_batch_result(b, &ops[i], &res[i]);
	}
	buf_adds(b, "]}");
out:
	for (i = 0; res != NULL && i < bb.ops_n; i++)
		op_result_clear(&res[i]);
	free(res);
	free(ops);
	codec_batch_free(&bb);
}

void
handler_health(const struct ctx *c, const struct req *r, struct resp *resp)
{
	struct buf *b;
	int rc;

	if ((rc = store_check(c->store)) != 0) {
		resp->status = 503;
		resp->retry_after = 1;
		buf_reset(&resp->body);
		buf_adds(&resp->body, "{\"status\":\"unhealthy\",\"error\":");
		codec_put_str(&resp->body, store_strerror(rc),
		    strlen(store_strerror(rc)));
		buf_addc(&resp->body, '}');
		return;
	}
	b = reply_ok(resp);
	buf_adds(b, "{\"status\":\"healthy\",\"kvStoreCheck\":\"ok\"}");
}

/*
 * GET /metrics: the Prometheus text exposition. Never touches a record:
 * the store's numbers are counters, file sizes and the last key count.
 */
void
handler_metrics(const struct ctx *c, const struct req *r, struct resp *resp)
{
	struct store_stats st;

	/* A failed statistic is logged there; the rest is still worth it. */
	(void)store_stats(c->store, 0, &st);
	resp->status = 200;
	resp->content_type = METRICS_CONTENT_TYPE;
	buf_reset(&resp->body);
	metrics_render(&resp->body, &st);
}
