/*
 * codec: the only json-c user. Strict validation and decoding of request
 * bodies, JSON string escaping for replies, and JSON equality.
 *
 * json-c objects never leave this file: decoders hand out plain structs
 * whose strings are malloc'd copies owned by the decoded body.
 */
#ifndef KV_CODEC_H
#define KV_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum field_state {
	FIELD_ABSENT = 0,
	FIELD_NULL,	/* present, JSON null */
	FIELD_OK,	/* present with the expected type */
	FIELD_BADTYPE,	/* present with another type */
};

/* A JSON value kept as its compact serialization (no spaces, "/" unescaped). */
struct field_json {
	enum field_state st;	/* never BADTYPE: any JSON value is OK */
	char		*text;	/* NUL-terminated, len bytes; NULL unless OK */
	size_t		 len;
};

struct field_str {
	enum field_state st;
	char		*s;	/* NUL-terminated copy, len bytes (may hold NULs) */
	size_t		 len;
};

/* An integer literal: OK only for a JSON integer (no fraction, no exponent). */
struct field_int {
	enum field_state st;
	int64_t		 v;	/* saturated to INT64_MIN/MAX when out of range */
};

struct field_bool {
	enum field_state st;
	int		 v;
};

/*
 * The fields of one operation object, as found. "ttl" wins over
 * "expirationTtl" when both are present. Absent fields are FIELD_ABSENT.
 */
struct body_op {
	struct field_str	op;		/* batch only: "op" */
	struct field_str	key;
	struct field_json	value;
	struct field_json	old_value;	/* "oldValue" */
	struct field_json	new_value;	/* "newValue" */
	struct field_int	ttl;		/* "ttl", else "expirationTtl" */
	struct field_int	expires_at;	/* "expiresAt" */
	struct field_bool	keep_ttl;	/* "keepTtl" */
	struct field_int	if_version;	/* "ifVersion" */
	/* "by", "initial": OK only for a number, kept as its JSON text. */
	struct field_json	by;
	struct field_json	initial;
	struct field_str	prefix;		/* delete-prefix */
	struct field_int	limit;		/* delete-prefix */
};

struct body_batch {
	enum field_state	 ops_st;	/* "operations": OK only for an array */
	struct body_op		*ops;		/* ops_n entries */
	size_t			 ops_n;
	int			*op_is_object;	/* per entry: 0 if not a JSON object */
	enum field_state	 atomic_st;	/* "atomic": OK only for a boolean */
	int			 atomic;
};

/*
 * Checks that body[0..len) is one strict RFC 8259 JSON text: valid UTF-8
 * (no overlong forms or encoded surrogates), no unpaired \u surrogate
 * escapes, no control characters in strings, no NaN/Infinity or single
 * quotes, numbers within the double range, nothing after the value, and
 * nesting at most max_depth levels over the whole text. Returns 0 if so;
 * otherwise -1 with a message such as "Invalid JSON body: unexpected end
 * of data" written to err.
 */
int	codec_validate(const char *body, size_t len, unsigned max_depth,
	    char *err, size_t errlen);

/*
 * Validate and decode a single-operation body (set, test-and-set, incr,
 * touch, delete-prefix). Returns
 * 0 on success. Returns -1 with err set ("Invalid JSON body: ..." or
 * "Request body must be a JSON object") otherwise; out is then empty.
 * Free with codec_op_free.
 */
int	codec_decode_op(const char *body, size_t len, unsigned max_depth,
	    struct body_op *out, char *err, size_t errlen);
void	codec_op_free(struct body_op *);

/*
 * Validate and decode a batch body. Returns -1 with err set only for
 * invalid JSON or a non-object body; a missing or mistyped "operations"
 * is reported through ops_st, so the caller words the error. At most
 * max_ops + 1 entries are decoded (enough to tell "too many"); ops_n is
 * then max_ops + 1. Free with codec_batch_free.
 */
int	codec_decode_batch(const char *body, size_t len, unsigned max_depth,
	    size_t max_ops, struct body_batch *out, char *err, size_t errlen);
void	codec_batch_free(struct body_batch *);

/* Appends s[0..len) as a JSON string literal (quotes included). */
void	codec_put_str(struct buf *, const char *s, size_t len);

/* Appends "expires":E, where 0 (no expiry) is written as null. */
void	codec_put_expires(struct buf *, int64_t expires);

/* Appends "version":N, where 0 (no live key) is written as null. */
void	codec_put_version(struct buf *, uint64_t version);

/*
 * Appends "key":K,"value":V,"expires":E,"version":N, the members of an
 * item in every reply and dump line; the caller writes the braces around
 * them. A NULL val is written as null, with a null expiry and version.
 */
void	codec_put_item(struct buf *, const char *key, size_t klen,
	    const char *val, size_t vlen, int64_t expires, uint64_t version);

/*
 * JSON equality of two valid JSON texts, as the API defines it: objects
 * equal with the same members in any order, arrays element by element,
 * numbers by numeric value (1 == 1.0), strings byte for byte, true != 1.
 * Returns 1 if equal, 0 if not (or if either text does not parse).
 */
int	codec_equal(const char *a, size_t alen, const char *b, size_t blen);

/*
 * One line of `kvstore-admin dump`: {"key":K,"value":V,"expires":E,
 * "version":N}.
 */
struct body_item {
	struct field_str	key;
	struct field_json	value;
	struct field_int	expires;	/* ms since the epoch; null: none */
	struct field_int	version;	/* absent in older dumps */
};

/*
 * Validates and decodes one dump line as strictly as a request body, so
 * that `kvstore-admin load` accepts exactly what the API would. Returns 0,
 * or -1 with err set ("Invalid JSON body: ..." or "Request body must be a
 * JSON object"); out is then empty. Free with codec_item_free.
 */
int	codec_decode_item(const char *line, size_t len, unsigned max_depth,
	    struct body_item *out, char *err, size_t errlen);
void	codec_item_free(struct body_item *);

#endif
