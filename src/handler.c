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

static const char msg_bad_ttl[] = "Invalid ttl: must be an integer number of "
    "seconds from 1 to 315360000 (0 or null for no expiry)";

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
};

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

/*
 * Checks one decoded operation object against the rules for its type and
 * fills *op (pointing into bo). Returns 0, or the HTTP status (400/413)
 * with *why set to a static message.
 */
static int
check_op(const struct ctx *c, enum op_type type, const struct body_op *bo,
    struct op *op, const char **why)
{
	const struct field_json *v = NULL;

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
	default:
		return 0;
	}

	if ((op->ttl = ttl_seconds(&bo->ttl)) < 0) {
		*why = msg_bad_ttl;
		return 400;
	}
	if (v->st == FIELD_OK) {
		if (v->len > c->cfg->max_value) {
			*why = "Value too large";
			return 413;
		}
		op->val = v->text;
		op->vlen = v->len;
	}
	return 0;
}

/* Decodes a single-operation body and checks it; 0 or -1 with resp set. */
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
	if ((status = check_op(c, type, bo, op, &why)) != 0) {
		resp_error(resp, status, why);
		return -1;
	}
	return 0;
}

/*
 * Decodes, checks and runs a single-operation body (set, test-and-set) in
 * one transaction. Returns 0 with *res filled, or -1 with the error reply
 * in resp. The caller frees bo and res either way.
 */
static int
run_single(const struct ctx *c, const struct req *r, enum op_type type,
    struct body_op *bo, struct op *op, struct op_result *res,
    struct resp *resp)
{
	int rc;

	if (decode_single(c, r, type, bo, op, resp) != 0)
		return -1;
	if (auth_check_key(r, op->key, op->klen, resp) != 0)
		return -1;
	if ((rc = store_exec(c->store, op, 1, 0, codec_equal, res, NULL)) != 0) {
		resp_store_error(resp, rc);
		return -1;
	}
	return 0;
}

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
	if (resp_hold(resp, REPLY_ITEM_BYTES(klen, res.vlen)) != 0) {
		op_result_clear(&res);
		return;
	}
	b = reply_ok(resp);
	buf_adds(b, "{\"success\":true,");
	codec_put_item(b, key, klen, res.val, res.vlen, res.expires);
	buf_addc(b, '}');
	op_result_clear(&res);
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
	int more = 0, rc;

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
	if ((cursor_s = req_query(r, "cursor", &clen)) != NULL && clen > 0) {
		if (cursor_decode(cursor_s, clen, &after, &alen) != 0) {
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

	rc = store_list(c->store, prefix, plen, after, alen, limit, &items,
	    &n, &more, &next, &nlen);
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
		codec_put_item(b, items[i].key, items[i].klen, items[i].val,
		    items[i].vlen, items[i].expires);
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
	codec_put_item(b, op.key, op.klen, op.val, op.vlen, res.expires);
	buf_addc(b, '}');
out:
	op_result_clear(&res);
	codec_op_free(&bo);
}

void
handler_delete(const struct ctx *c, const struct req *r, struct resp *resp)
{
	struct op_result res;
	struct op op;
	struct buf *b;
	int rc;

	memset(&op, 0, sizeof(op));
	memset(&res, 0, sizeof(res));
	op.type = OP_DELETE;
	if (request_key(r, resp, &op.key, &op.klen) != 0)
		return;
	if ((rc = store_exec(c->store, &op, 1, 0, codec_equal, &res, NULL)) != 0) {
		resp_store_error(resp, rc);
		return;
	}
	b = reply_ok(resp);
	buf_adds(b, "{\"success\":true,\"key\":");
	codec_put_str(b, op.key, op.klen);
	buf_adds(b, ",\"deleted\":true}");
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
		codec_put_item(b, op.key, op.klen, op.val, op.vlen,
		    res.expires);
		buf_addc(b, '}');
		goto out;
	}
	buf_adds(b, "{\"success\":false,\"conditionMet\":false,\"key\":");
	codec_put_str(b, op.key, op.klen);
	buf_adds(b, ",\"message\":\"Condition not met, value was not updated\","
	    "\"current\":");
	if (res.found) {
		buf_adds(b, "{\"value\":");
		buf_add(b, res.val, res.vlen);
		buf_addc(b, ',');
		codec_put_expires(b, res.expires);
		buf_addc(b, '}');
	} else
		buf_adds(b, "null");
	buf_addc(b, '}');
out:
	op_result_clear(&res);
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
			    "must be one of set, get, delete, test-and-set", i);
			return -1;
		}
		if ((status = check_op(c, (enum op_type)type, bo, &ops[i],
		    &why)) == 413) {
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
	switch (op->type) {
	case OP_GET:
		codec_put_item(b, op->key, op->klen,
		    res->found ? res->val : NULL, res->vlen, res->expires);
		break;
	case OP_SET:
		codec_put_item(b, op->key, op->klen, op->val, op->vlen,
		    res->expires);
		break;
	case OP_DELETE:
		buf_adds(b, "\"key\":");
		codec_put_str(b, op->key, op->klen);
		buf_adds(b, ",\"deleted\":true");
		break;
	case OP_TAS:
		if (res->cond_met)
			codec_put_item(b, op->key, op->klen, op->val, op->vlen,
			    res->expires);
		else
			codec_put_item(b, op->key, op->klen, NULL, 0, 0);
		buf_adds(b, res->cond_met ? ",\"conditionMet\":true" :
		    ",\"conditionMet\":false");
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
