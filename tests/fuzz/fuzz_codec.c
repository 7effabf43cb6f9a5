/*
 * fuzz_codec: the strict JSON validator, the body decoders and JSON
 * equality, on arbitrary bytes.
 *
 * Input: one body. A NUL byte (never valid inside JSON) splits it into two
 * texts, A and B, for the equality checks; without one, A and B are the
 * same text.
 *
 * Invariants:
 * - codec_validate's error message is "Invalid JSON body: ..." and fits in
 *   a JSON reply (it is valid UTF-8 once escaped).
 * - Differential: every text codec_validate accepts, json-c parses in
 *   strict mode to the very end.
 * - codec_decode_op, codec_decode_batch and codec_decode_item (a dump
 *   line) accept exactly the valid texts whose value is an object.
 * - Every value a decoder hands out (what the store would keep) is itself
 *   valid strict JSON, equal to what was sent (codec_equal), and a fixed
 *   point: decoding it again gives the same bytes.
 * - codec_equal is reflexive and symmetric.
 */
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "codec.h"
#include "fuzz.h"

#define DEPTH		64
#define ERR_PREFIX	"Invalid JSON body: "
#define DUP_PREFIX	"Duplicate member: "

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

/*
 * json-c, with the flags the codec uses (not its strict mode, which
 * changes between releases), must parse text[0..len) to its very end.
 */
static void
check_jsonc_accepts(const char *text, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o;
	char *copy;

	copy = xmemdup(text, len);
	tok = json_tokener_new_ex(DEPTH + 2);
	FUZZ_CHECK(tok != NULL);
	json_tokener_set_flags(tok, JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, copy, (int)len + 1);
	FUZZ_CHECK(json_tokener_get_error(tok) == json_tokener_success);
	FUZZ_CHECK(json_tokener_get_parse_end(tok) == len);
	json_object_put(o);
	json_tokener_free(tok);
	free(copy);
}

/* An error message must read "Invalid JSON body: ..." and escape cleanly. */
static void
check_err(const char *err)
{
	struct buf b;

	FUZZ_CHECK(strncmp(err, ERR_PREFIX, strlen(ERR_PREFIX)) == 0 ||
	    strncmp(err, DUP_PREFIX, strlen(DUP_PREFIX)) == 0 ||
	    strcmp(err, "Request body must be a JSON object") == 0);
	buf_init(&b);
	codec_put_str(&b, err, strlen(err));
	FUZZ_CHECK(codec_validate(b.data, b.len, 1, NULL, 0) == 0);
	buf_free(&b);
}

/* Returns 1 if err refuses a request object for a repeated member name. */
static int
is_dup(const char *err)
{
	return strncmp(err, DUP_PREFIX, strlen(DUP_PREFIX)) == 0;
}

/* Returns 1 if the first non-blank byte of a valid text opens an object. */
static int
is_object_text(const char *t, size_t len)
{
	size_t i = 0;

	while (i < len && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' ||
	    t[i] == '\r'))
		i++;
	return i < len && t[i] == '{';
}

/*
 * A decoded value text: strict JSON, equal to the text it came from (orig
 * when known), and decoding {"value":text} gives the same bytes back.
 */
static void
check_value_text(const struct field_json *f, const char *orig, size_t olen)
{
	struct body_op again;
	struct buf b;
	char err[256];

	if (f->st != FIELD_OK)
		return;
	FUZZ_CHECK(f->text != NULL && f->text[f->len] == '\0');
	FUZZ_CHECK(codec_validate(f->text, f->len, DEPTH, NULL, 0) == 0);
	FUZZ_CHECK(codec_equal(f->text, f->len, f->text, f->len) == 1);
	if (orig != NULL)
		FUZZ_CHECK(codec_equal(orig, olen, f->text, f->len) == 1);

	buf_init(&b);
	buf_adds(&b, "{\"value\":");
	buf_add(&b, f->text, f->len);
	buf_addc(&b, '}');
	FUZZ_CHECK(codec_decode_op(b.data, b.len, DEPTH + 1, &again, err,
	    sizeof(err)) == 0);
	FUZZ_CHECK(again.value.st == FIELD_OK);
	FUZZ_CHECK(again.value.len == f->len &&
	    memcmp(again.value.text, f->text, f->len) == 0);
	codec_op_free(&again);
	buf_free(&b);
}

static void
check_op_fields(const struct body_op *bo)
{
	if (bo->key.st == FIELD_OK)
		FUZZ_CHECK(bo->key.s != NULL && bo->key.s[bo->key.len] == '\0');
	if (bo->op.st == FIELD_OK)
		FUZZ_CHECK(bo->op.s != NULL && bo->op.s[bo->op.len] == '\0');
	check_value_text(&bo->value, NULL, 0);
	check_value_text(&bo->old_value, NULL, 0);
	check_value_text(&bo->new_value, NULL, 0);
}

/* Validates one text and checks everything the decoders do with it. */
static int
check_text(const char *t, size_t len)
{
	struct body_batch bb;
	struct body_item item;
	struct body_op bo;
	struct buf wrap;
	char err[256];
	size_t i;
	int valid, rc;

	err[0] = '\0';
	valid = codec_validate(t, len, DEPTH, err, sizeof(err)) == 0;
	if (!valid)
		check_err(err);
	else
		check_jsonc_accepts(t, len);

	rc = codec_decode_op(t, len, DEPTH, &bo, err, sizeof(err));
	FUZZ_CHECK(rc == 0 ? valid && is_object_text(t, len) :
	    !valid || !is_object_text(t, len) || is_dup(err));
	if (rc == 0)
		check_op_fields(&bo);
	else
		check_err(err);
	codec_op_free(&bo);

	rc = codec_decode_batch(t, len, DEPTH, 4, &bb, err, sizeof(err));
	FUZZ_CHECK(rc == 0 ? valid && is_object_text(t, len) :
	    !valid || !is_object_text(t, len) || is_dup(err));
	if (rc == 0) {
		FUZZ_CHECK(bb.ops_n <= 5);
		FUZZ_CHECK(bb.ops_st == FIELD_OK || bb.ops_n == 0);
		for (i = 0; i < bb.ops_n; i++)
			if (bb.op_is_object[i])
				check_op_fields(&bb.ops[i]);
	} else
		check_err(err);
	codec_batch_free(&bb);

	rc = codec_decode_item(t, len, DEPTH, &item, err, sizeof(err));
	FUZZ_CHECK((rc == 0) == (valid && is_object_text(t, len)));
	if (rc == 0) {
		if (item.key.st == FIELD_OK)
			FUZZ_CHECK(item.key.s[item.key.len] == '\0');
		check_value_text(&item.value, NULL, 0);
	} else
		check_err(err);
	codec_item_free(&item);

	/* The whole text as a value: what the store keeps must equal it. */
	if (valid) {
		buf_init(&wrap);
		buf_adds(&wrap, "{\"value\":");
		buf_add(&wrap, t, len);
		buf_addc(&wrap, '}');
		FUZZ_CHECK(codec_decode_op(wrap.data, wrap.len, DEPTH + 1, &bo,
		    err, sizeof(err)) == 0);
		FUZZ_CHECK(bo.value.st != FIELD_ABSENT);
		check_value_text(&bo.value, t, len);
		codec_op_free(&bo);
		buf_free(&wrap);
	}
	return valid;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *a = (const char *)data, *b, *nul;
	size_t alen = size, blen;
	int va, vb;

	if ((nul = memchr(a, '\0', size)) != NULL) {
		alen = (size_t)(nul - a);
		b = nul + 1;
		blen = size - alen - 1;
	} else {
		b = a;
		blen = alen;
	}
	va = check_text(a, alen);
	vb = b == a ? va : check_text(b, blen);
	if (va)
		FUZZ_CHECK(codec_equal(a, alen, a, alen) == 1);
	if (va && vb)
		FUZZ_CHECK(codec_equal(a, alen, b, blen) ==
		    codec_equal(b, blen, a, alen));
	return 0;
}
