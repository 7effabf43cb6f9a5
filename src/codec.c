/*
 * codec: strict JSON validation, request body decoding, JSON string
 * escaping and JSON equality. This is the only file that includes json-c;
 * json-c objects never leave it.
 *
 * Every body goes through two passes. scan_text() is a hand-written strict
 * RFC 8259 validator over the raw bytes, because json-c 0.16 in strict mode
 * still accepts NaN, single quotes, raw control characters and overlong
 * UTF-8, replaces unpaired surrogate escapes and turns 1e400 into inf. Only
 * a text that passed it is handed to json-c, which builds the tree the
 * decoders read fields from.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "codec.h"
#include "log.h"

#define ERR_PREFIX	"Invalid JSON body: "
#define SER_FLAGS	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* Numbers longer than this are checked with strtod() even without exponent. */
#define NUM_PLAIN_MAX	300

/* Integer literals json-c holds exactly: int64 below zero, uint64 above. */
#define INT_NEG_LIMIT	"9223372036854775808"
#define INT_POS_LIMIT	"18446744073709551615"

/* The state of one validation pass over a text. */
struct scan {
	const unsigned char	*p;
	size_t			 len;
	size_t			 pos;
	unsigned		 max_depth;
	unsigned		 depth;		/* containers open at pos */
	unsigned		 depth_seen;	/* deepest nesting reached */
	int			 big_ints;	/* saw an integer json-c saturates */
	int			 in_name;	/* scanning an object member name */
	char			*err;
	size_t			 errlen;
};

enum scan_state {
	SCAN_VALUE,	/* a value must start at pos */
	SCAN_MEMBER,	/* a member name must start at pos */
	SCAN_AFTER,	/* a value just ended */
};

/* Writes a formatted message to err, if the caller gave room for one. */
static void __attribute__((format(printf, 3, 4)))
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Records "Invalid JSON body: <reason>" and returns -1. */
static int __attribute__((format(printf, 2, 3)))
scan_fail(struct scan *s, const char *fmt, ...)
{
	char reason[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	set_err(s->err, s->errlen, ERR_PREFIX "%s", reason);
	return -1;
}

/*
 * Reports the byte at pos as unexpected, or the end of data. Bytes that are
 * not printable ASCII are shown in hex so the message stays valid UTF-8.
 */
static int
scan_unexpected(struct scan *s)
{
	unsigned char c;

	if (s->pos >= s->len)
		return scan_fail(s, "unexpected end of data");
	c = s->p[s->pos];
	if (c > 0x20 && c < 0x7f)
		return scan_fail(s, "unexpected character '%c' at offset %zu",
		    c, s->pos);
	return scan_fail(s, "unexpected byte 0x%02x at offset %zu", c, s->pos);
}

static int
is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static void
skip_ws(const unsigned char *p, size_t len, size_t *pos)
{
	while (*pos < len && is_ws(p[*pos]))
		(*pos)++;
}

/* Returns the value of 4 hex digits at p, or -1 if one is not hex. */
static long
hex4(const unsigned char *p)
{
	long v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		v <<= 4;
		if (p[i] >= '0' && p[i] <= '9')
			v |= p[i] - '0';
		else if (p[i] >= 'a' && p[i] <= 'f')
			v |= p[i] - 'a' + 10;
		else if (p[i] >= 'A' && p[i] <= 'F')
			v |= p[i] - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/*
 * Returns the length of the well-formed UTF-8 sequence of a non-ASCII lead
 * byte at p[0] (n bytes available), or 0 if it is not one: overlong forms,
 * encoded surrogates, code points above U+10FFFF, stray continuation bytes
 * and truncated sequences are all refused (Unicode table 3-7).
 */
static size_t
utf8_seq_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t need, i;

	if (c >= 0xc2 && c <= 0xdf)
		need = 1;
	else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < need + 1 || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i <= need; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return need + 1;
}

/*
 * Tells whether the integer literal t[0..n) (optional '-', digits, no
 * fraction or exponent) lies outside what json-c represents exactly.
 */
static int
int_literal_is_big(const unsigned char *t, size_t n)
{
	const char *limit = INT_POS_LIMIT;
	size_t llen;

	if (n > 0 && t[0] == '-') {
		limit = INT_NEG_LIMIT;
		t++;
		n--;
	}
	llen = strlen(limit);
	if (n != llen)
		return n > llen;
	return memcmp(t, limit, n) > 0;
}

/* Checks the escape sequence at pos (a backslash) and steps over it. */
static int
scan_escape(struct scan *s)
{
	const unsigned char *p = s->p;
	size_t start = s->pos;
	long cp, lowcp;

	if (start + 1 >= s->len)
		return scan_fail(s, "unexpected end of data");
	switch (p[start + 1]) {
	case '"': case '\\': case '/':
	case 'b': case 'f': case 'n': case 'r': case 't':
		s->pos += 2;
		return 0;
	case 'u':
		break;
	default:
		return scan_fail(s, "invalid escape at offset %zu", start);
	}
	if (start + 6 > s->len)
		return scan_fail(s, "unexpected end of data");
	if ((cp = hex4(p + start + 2)) == -1)
		return scan_fail(s, "invalid escape at offset %zu", start);
	/*
	 * json-c cuts member names at a NUL, which would silently merge
	 * {"a\u0000b":1} into "a": refuse rather than store altered data.
	 */
	if (cp == 0 && s->in_name)
		return scan_fail(s, "\\u0000 in a member name at offset %zu "
		    "is not supported", start);
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return scan_fail(s, "unpaired surrogate escape at offset %zu",
		    start);
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (start + 12 > s->len || p[start + 6] != '\\' ||
		    p[start + 7] != 'u' ||
		    (lowcp = hex4(p + start + 8)) < 0xdc00 || lowcp > 0xdfff)
			return scan_fail(s,
			    "unpaired surrogate escape at offset %zu", start);
		s->pos += 12;
		return 0;
	}
	s->pos += 6;
	return 0;
}

/* Checks the string starting at pos (a '"') and steps past its end. */
static int
scan_string(struct scan *s)
{
	unsigned char c;
	size_t n;

	s->pos++;
	for (;;) {
		if (s->pos >= s->len)
			return scan_fail(s, "unexpected end of data");
		c = s->p[s->pos];
		if (c == '"') {
			s->pos++;
			return 0;
		}
		if (c < 0x20)
			return scan_fail(s,
			    "control character in string at offset %zu", s->pos);
		if (c == '\\') {
			if (scan_escape(s) == -1)
				return -1;
		} else if (c < 0x80)
			s->pos++;
		else {
			n = utf8_seq_len(s->p + s->pos, s->len - s->pos);
			if (n == 0)
				return scan_fail(s, "invalid UTF-8 at offset %zu",
				    s->pos);
			s->pos += n;
		}
	}
}

/*
 * Returns 1 if the number text t[0..n) overflows a double. Underflow to
 * zero or a subnormal is fine.
 */
static int
number_overflows(const unsigned char *t, size_t n)
{
	char small[64], *copy;
	double d;
	int over;

	copy = n < sizeof(small) ? small : xmalloc(n + 1);
	memcpy(copy, t, n);
	copy[n] = '\0';
	errno = 0;
	d = strtod(copy, NULL);
	over = errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL);
	if (copy != small)
		free(copy);
	return over;
}

/* Checks the number starting at pos against the RFC 8259 grammar. */
static int
scan_number(struct scan *s)
{
	const unsigned char *p = s->p;
	size_t start = s->pos, len = s->len, pos = s->pos;
	int is_int = 1, has_exp = 0;

	if (p[pos] == '-')
		pos++;
	if (pos < len && p[pos] == '0') {
		pos++;
		if (pos < len && is_digit(p[pos]))
			goto bad;
	} else if (pos < len && is_digit(p[pos])) {
		while (pos < len && is_digit(p[pos]))
			pos++;
	} else
		goto bad;
	if (pos < len && p[pos] == '.') {
		is_int = 0;
		pos++;
		if (pos >= len || !is_digit(p[pos]))
			goto bad;
		while (pos < len && is_digit(p[pos]))
			pos++;
	}
	if (pos < len && (p[pos] == 'e' || p[pos] == 'E')) {
		is_int = 0;
		has_exp = 1;
		pos++;
		if (pos < len && (p[pos] == '+' || p[pos] == '-'))
			pos++;
		if (pos >= len || !is_digit(p[pos]))
			goto bad;
		while (pos < len && is_digit(p[pos]))
			pos++;
	}
	if ((has_exp || pos - start > NUM_PLAIN_MAX) &&
	    number_overflows(p + start, pos - start))
		return scan_fail(s, "number out of range at offset %zu", start);
	if (is_int && int_literal_is_big(p + start, pos - start))
		s->big_ints = 1;
	s->pos = pos;
	return 0;
bad:
	return scan_fail(s, "invalid number at offset %zu", start);
}

/* Checks that the literal lit (true, false or null) is at pos. */
static int
scan_literal(struct scan *s, const char *lit)
{
	size_t i;

	for (i = 0; lit[i] != '\0'; i++) {
		if (s->pos + i >= s->len || s->p[s->pos + i] != (unsigned char)lit[i]) {
			s->pos += i;
			return scan_unexpected(s);
		}
	}
	s->pos += i;
	return 0;
}

/* Checks the scalar value starting at pos. */
static int
scan_scalar(struct scan *s)
{
	switch (s->p[s->pos]) {
	case '"':
		return scan_string(s);
	case 't':
		return scan_literal(s, "true");
	case 'f':
		return scan_literal(s, "false");
	case 'n':
		return scan_literal(s, "null");
	case '-':
	case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		return scan_number(s);
	default:
		return scan_unexpected(s);
	}
}

/*
 * Validates the whole text of s. The container stack is explicit and on
 * the heap, so input depth cannot exhaust the C stack; it only grows as
 * deep as max_depth allows.
 */
static int
scan_text(struct scan *s)
{
	enum scan_state st = SCAN_VALUE;
	unsigned char *stack = NULL, c, top;
	size_t cap = 0;
	int rc = -1;

	skip_ws(s->p, s->len, &s->pos);
	for (;;) {
		if (st != SCAN_AFTER && s->pos >= s->len) {
			scan_unexpected(s);
			goto out;
		}
		switch (st) {
		case SCAN_VALUE:
			c = s->p[s->pos];
			if (c != '{' && c != '[') {
				if (scan_scalar(s) == -1)
					goto out;
				st = SCAN_AFTER;
				break;
			}
			if (s->depth >= s->max_depth) {
				scan_fail(s, "nesting deeper than %u levels",
				    s->max_depth);
				goto out;
			}
			if (s->depth == cap) {
				cap = cap ? cap * 2 : 64;
				stack = xrealloc(stack, cap);
			}
			stack[s->depth++] = c;
			if (s->depth > s->depth_seen)
				s->depth_seen = s->depth;
			s->pos++;
			skip_ws(s->p, s->len, &s->pos);
			if (s->pos < s->len &&
			    s->p[s->pos] == (c == '{' ? '}' : ']')) {
				s->depth--;
				s->pos++;
				st = SCAN_AFTER;
			} else if (c == '{')
				st = SCAN_MEMBER;
			break;
		case SCAN_MEMBER:
			if (s->p[s->pos] != '"') {
				scan_unexpected(s);
				goto out;
			}
			s->in_name = 1;
			if (scan_string(s) == -1)
				goto out;
			s->in_name = 0;
			skip_ws(s->p, s->len, &s->pos);
			if (s->pos >= s->len || s->p[s->pos] != ':') {
				scan_unexpected(s);
				goto out;
			}
			s->pos++;
			skip_ws(s->p, s->len, &s->pos);
			st = SCAN_VALUE;
			break;
		case SCAN_AFTER:
			skip_ws(s->p, s->len, &s->pos);
			if (s->depth == 0) {
				if (s->pos != s->len) {
					scan_fail(s, "trailing data at offset %zu",
					    s->pos);
					goto out;
				}
				rc = 0;
				goto out;
			}
			if (s->pos >= s->len) {
				scan_unexpected(s);
				goto out;
			}
			c = s->p[s->pos];
			top = stack[s->depth - 1];
			if (c == ',') {
				s->pos++;
				skip_ws(s->p, s->len, &s->pos);
				st = top == '{' ? SCAN_MEMBER : SCAN_VALUE;
			} else if (c == (top == '{' ? '}' : ']')) {
				s->pos++;
				s->depth--;
			} else {
				scan_unexpected(s);
				goto out;
			}
			break;
		}
	}
out:
	free(stack);
	return rc;
}

static void
scan_init(struct scan *s, const char *body, size_t len, unsigned max_depth,
    char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->p = (const unsigned char *)body;
	s->len = body == NULL ? 0 : len;
	s->max_depth = max_depth;
	s->err = err;
	s->errlen = errlen;
}

int
codec_validate(const char *body, size_t len, unsigned max_depth,
    char *err, size_t errlen)
{
	struct scan s;

	scan_init(&s, body, len, max_depth, err, errlen);
	return scan_text(&s);
}

/*
 * Decodes the string literal at *pos (validated text) into name, as bytes,
 * and steps past it. name->data is non-NULL afterwards.
 */
static void
decode_string(const unsigned char *p, size_t *pos, struct buf *name)
{
	unsigned char u[4];
	long cp;
	size_t i = *pos + 1, run;

	buf_reset(name);
	buf_add(name, "", 0);
	for (;;) {
		for (run = i; p[i] != '"' && p[i] != '\\'; i++)
			;
		buf_add(name, p + run, i - run);
		if (p[i] == '"')
			break;
		switch (p[i + 1]) {
		case 'b': buf_addc(name, '\b'); break;
		case 'f': buf_addc(name, '\f'); break;
		case 'n': buf_addc(name, '\n'); break;
		case 'r': buf_addc(name, '\r'); break;
		case 't': buf_addc(name, '\t'); break;
		case 'u':
			break;
		default:
			buf_addc(name, (char)p[i + 1]);
			break;
		}
		if (p[i + 1] != 'u') {
			i += 2;
			continue;
		}
		cp = hex4(p + i + 2);
		i += 6;
		if (cp >= 0xd800 && cp <= 0xdbff) {
			cp = 0x10000 + ((cp - 0xd800) << 10) +
			    (hex4(p + i + 2) - 0xdc00);
			i += 6;
		}
		if (cp < 0x80) {
			u[0] = (unsigned char)cp;
			buf_add(name, u, 1);
		} else if (cp < 0x800) {
			u[0] = (unsigned char)(0xc0 | (cp >> 6));
			u[1] = (unsigned char)(0x80 | (cp & 0x3f));
			buf_add(name, u, 2);
		} else if (cp < 0x10000) {
			u[0] = (unsigned char)(0xe0 | (cp >> 12));
			u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
			u[2] = (unsigned char)(0x80 | (cp & 0x3f));
			buf_add(name, u, 3);
		} else {
			u[0] = (unsigned char)(0xf0 | (cp >> 18));
			u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
			u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
			u[3] = (unsigned char)(0x80 | (cp & 0x3f));
			buf_add(name, u, 4);
		}
	}
	*pos = i + 1;
}

/*
 * json-c 0.16 saturates integer literals beyond int64 (negative) or uint64
 * (positive) and would serialize the saturated number, silently changing
 * a stored value. This walks the validated text p[*pos..] and the tree o
 * built from it side by side and gives each such integer node its literal
 * back as its serialization (and as userdata, which values_equal() reads).
 *
 * Duplicate member names make several text values map to one node (json-c
 * keeps the last, and truncates names at a NUL as lookups here do). Each
 * integer node reached is set or reset, and the text that produced the
 * node is always walked last, so every node ends up with its own literal.
 * Recursion is bounded by the validated nesting depth.
 */
static void
restore_big_ints(const unsigned char *p, size_t *pos, struct json_object *o,
    struct buf *name)
{
	struct json_object *child;
	size_t start, i;

	skip_ws(p, SIZE_MAX, pos);
	switch (p[*pos]) {
	case '{':
		(*pos)++;
		for (;;) {
			skip_ws(p, SIZE_MAX, pos);
			if (p[*pos] == '}')
				break;
			if (p[*pos] == ',') {
				(*pos)++;
				continue;
			}
			decode_string(p, pos, name);
			skip_ws(p, SIZE_MAX, pos);
			(*pos)++;	/* ':' */
			child = NULL;
			if (!json_object_is_type(o, json_type_object) ||
			    !json_object_object_get_ex(o, name->data, &child))
				child = NULL;
			restore_big_ints(p, pos, child, name);
		}
		(*pos)++;
		break;
	case '[':
		(*pos)++;
		for (i = 0;; i++) {
			skip_ws(p, SIZE_MAX, pos);
			if (p[*pos] == ']')
				break;
			if (p[*pos] == ',')
				(*pos)++;
			child = NULL;
			if (json_object_is_type(o, json_type_array) &&
			    i < json_object_array_length(o))
				child = json_object_array_get_idx(o, i);
			restore_big_ints(p, pos, child, name);
		}
		(*pos)++;
		break;
	case '"':
		decode_string(p, pos, name);
		break;
	case 't':
	case 'n':
		*pos += 4;
		break;
	case 'f':
		*pos += 5;
		break;
	default:
		start = *pos;
		while (is_digit(p[*pos]) || p[*pos] == '-' || p[*pos] == '+' ||
		    p[*pos] == '.' || p[*pos] == 'e' || p[*pos] == 'E')
			(*pos)++;
		if (!json_object_is_type(o, json_type_int))
			break;
		if (int_literal_is_big(p + start, *pos - start))
			json_object_set_serializer(o,
			    json_object_userdata_to_json_string,
			    xmemdup(p + start, *pos - start),
			    json_object_free_userdata);
		else if (json_object_get_userdata(o) != NULL)
			json_object_set_serializer(o, NULL, NULL, NULL);
		break;
	}
}

/*
 * Validates body[0..len) and parses it with json-c. Returns 0 and the tree
 * in *out (the caller puts it; NULL for the text "null"), or -1 with err
 * set and *out NULL. Integer literals json-c cannot hold exactly carry
 * their text as userdata (see restore_big_ints).
 */
static int
parse_text(const char *body, size_t len, unsigned max_depth,
    struct json_object **out, char *err, size_t errlen)
{
	struct json_tokener *tok = NULL;
	struct json_object *o = NULL;
	enum json_tokener_error jerr;
	struct buf name;
	struct scan s;
	char *copy = NULL;
	size_t pos = 0;
	int rc = -1;

	*out = NULL;
	buf_init(&name);
	scan_init(&s, body, len, max_depth, err, errlen);
	if (scan_text(&s) == -1)
		goto fail;
	if (len > INT_MAX - 1 || s.depth_seen > INT_MAX - 1) {
		set_err(err, errlen, ERR_PREFIX "too large to parse");
		goto fail;
	}
	if ((tok = json_tokener_new_ex((int)s.depth_seen + 1)) == NULL) {
		log_error("%s: json_tokener_new_ex failed", __func__);
		set_err(err, errlen, ERR_PREFIX "out of memory");
		goto fail;
	}
	/*
	 * Not JSON_TOKENER_STRICT: scan_text() has already enforced strict
	 * RFC 8259, and json-c's strict mode changes from one release to the
	 * next (0.17 refuses integers beyond 64 bits there, which API.md
	 * accepts and restore_big_ints() keeps exact). Without it, json-c
	 * 0.16 and later saturate such integers alike.
	 */
	json_tokener_set_flags(tok, JSON_TOKENER_VALIDATE_UTF8);
	copy = xmemdup(body, len);
	o = json_tokener_parse_ex(tok, copy, (int)len + 1);
	jerr = json_tokener_get_error(tok);
	if (jerr != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		/* The validator accepted what json-c refused: worth a look. */
		log_warn("%s: json-c refused a validated text: %s", __func__,
		    json_tokener_error_desc(jerr));
		set_err(err, errlen, ERR_PREFIX "%s",
		    jerr != json_tokener_success ?
		    json_tokener_error_desc(jerr) : "trailing data");
		json_object_put(o);
		o = NULL;
		goto fail;
	}
	if (s.big_ints)
		restore_big_ints((const unsigned char *)copy, &pos, o, &name);
	*out = o;
	rc = 0;
fail:
	/* json_tokener_free() in 0.16 does not accept NULL. */
	if (tok != NULL)
		json_tokener_free(tok);
	free(copy);
	buf_free(&name);
	return rc;
}

static void
field_str_get(struct json_object *obj, const char *member,
    struct field_str *f)
{
	struct json_object *v;
	int n;

	if (!json_object_object_get_ex(obj, member, &v))
		return;
	if (v == NULL)
		f->st = FIELD_NULL;
	else if (!json_object_is_type(v, json_type_string))
		f->st = FIELD_BADTYPE;
	else {
		n = json_object_get_string_len(v);
		f->len = n > 0 ? (size_t)n : 0;
		f->s = xmemdup(json_object_get_string(v), f->len);
		f->st = FIELD_OK;
	}
}

/* Copies the compact serialization of any value; the original is json-c's. */
static char *
serialize(struct json_object *v, size_t *lenp)
{
	const char *text;
	size_t n = 0;

	text = json_object_to_json_string_length(v, SER_FLAGS, &n);
	if (text == NULL) {
		log_error("%s: json-c could not serialize a value", __func__);
		abort();
	}
	*lenp = n;
	return xmemdup(text, n);
}

static void
field_json_get(struct json_object *obj, const char *member,
    struct field_json *f)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, member, &v))
		return;
	if (v == NULL) {
		f->st = FIELD_NULL;
		return;
	}
	f->text = serialize(v, &f->len);
	f->st = FIELD_OK;
}

/*
 * Classifies a member that is present (v may be JSON null) into f, so that
 * "ttl" and every other integer member are judged by the same rules.
 */
static void
field_int_set(struct json_object *v, struct field_int *f)
{
	if (v == NULL)
		f->st = FIELD_NULL;
	else if (!json_object_is_type(v, json_type_int))
		f->st = FIELD_BADTYPE;
	else {
		/* json-c saturates at INT64_MIN / INT64_MAX. */
		f->v = json_object_get_int64(v);
		f->st = FIELD_OK;
	}
}

/* "ttl" if present (even as null), else "expirationTtl". */
static void
field_ttl_get(struct json_object *obj, struct field_int *f)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, "ttl", &v) &&
	    !json_object_object_get_ex(obj, "expirationTtl", &v))
		return;
	field_int_set(v, f);
}

static void	field_int_get(struct json_object *, const char *,
		    struct field_int *);

/* Reads a boolean member. */
static void
field_bool_get(struct json_object *obj, const char *member,
    struct field_bool *f)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, member, &v))
		return;
	if (v == NULL)
		f->st = FIELD_NULL;
	else if (!json_object_is_type(v, json_type_boolean))
		f->st = FIELD_BADTYPE;
	else {
		f->v = json_object_get_boolean(v) ? 1 : 0;
		f->st = FIELD_OK;
	}
}

/*
 * Reads a member that must be a number, keeping its JSON text: the text,
 * not a double, is what an increment adds, so big integers stay exact.
 */
static void
field_num_get(struct json_object *obj, const char *member,
    struct field_json *f)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, member, &v))
		return;
	if (v == NULL)
		f->st = FIELD_NULL;
	else if (!json_object_is_type(v, json_type_int) &&
	    !json_object_is_type(v, json_type_double))
		f->st = FIELD_BADTYPE;
	else {
		f->text = serialize(v, &f->len);
		f->st = FIELD_OK;
	}
}

static void
decode_fields(struct json_object *obj, struct body_op *out, int with_op)
{
	if (with_op)
		field_str_get(obj, "op", &out->op);
	field_str_get(obj, "key", &out->key);
	field_json_get(obj, "value", &out->value);
	field_json_get(obj, "oldValue", &out->old_value);
	field_json_get(obj, "newValue", &out->new_value);
	field_ttl_get(obj, &out->ttl);
	field_int_get(obj, "expiresAt", &out->expires_at);
	field_bool_get(obj, "keepTtl", &out->keep_ttl);
	field_int_get(obj, "ifVersion", &out->if_version);
	field_num_get(obj, "by", &out->by);
	field_num_get(obj, "initial", &out->initial);
	field_str_get(obj, "prefix", &out->prefix);
	field_int_get(obj, "limit", &out->limit);
}

/*
 * Duplicate member names in a request object.
 *
 * json-c keeps the last of two members with one name, so
 * {"oldValue":1,"oldValue":null} would silently become a create-if-absent.
 * API.md refuses them in request objects (the envelope and each batch op);
 * inside a stored value the last one still wins, as json-c decides, since
 * the value is the client's own document. The walk reads the validated
 * text, so it needs no error handling of its own.
 */

/* One member name of an object: its decoded bytes, its position. */
struct member {
	const char	*name;	/* set once every name is in the buffer */
	size_t		 off;	/* of the name in that buffer */
	size_t		 len;
	size_t		 idx;
};

/* Steps *pos past the value that starts there (validated text). */
static void
skip_value(const unsigned char *p, size_t *pos)
{
	size_t depth = 0;

	skip_ws(p, SIZE_MAX, pos);
	do {
		switch (p[*pos]) {
		case '"':
			for ((*pos)++; p[*pos] != '"'; (*pos)++)
				if (p[*pos] == '\\')
					(*pos)++;
			(*pos)++;
			break;
		case '{':
		case '[':
			depth++;
			(*pos)++;
			break;
		case '}':
		case ']':
			depth--;
			(*pos)++;
			break;
		case ',':
		case ':':
		case ' ':
		case '\t':
		case '\n':
		case '\r':
			(*pos)++;
			break;
		default:
			while (p[*pos] != '\0' && p[*pos] != ',' &&
			    p[*pos] != '}' && p[*pos] != ']' && !is_ws(p[*pos]))
				(*pos)++;
			break;
		}
	} while (depth > 0);
}

/* Orders members by name, then by position (a qsort callback). */
static int
member_cmp(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	int c;

	c = memcmp(x->name, y->name, x->len < y->len ? x->len : y->len);
	if (c == 0 && x->len != y->len)
		c = x->len < y->len ? -1 : 1;
	if (c == 0)
		c = x->idx < y->idx ? -1 : x->idx > y->idx;
	return c;
}

/*
 * Reads the object at *pos and steps past it. Returns 0 if its member
 * names are distinct; else -1 with "Duplicate member: NAME" in err, naming
 * the name whose second use comes first in the text. If ops is set, the
 * position of the value of "operations" is stored there (0 = none).
 */
static int
object_members_distinct(const unsigned char *p, size_t *pos, size_t *ops,
    char *err, size_t errlen)
{
	struct member *m = NULL;
	struct buf names, name;
	size_t n = 0, cap = 0, i, dup = SIZE_MAX, dup_at = SIZE_MAX;
	int rc = 0;

	buf_init(&names);
	buf_init(&name);
	if (ops != NULL)
		*ops = 0;
	skip_ws(p, SIZE_MAX, pos);
	(*pos)++;	/* '{' */
	for (;;) {
		skip_ws(p, SIZE_MAX, pos);
		if (p[*pos] == '}')
			break;
		if (p[*pos] == ',') {
			(*pos)++;
			continue;
		}
		decode_string(p, pos, &name);
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			m = xrealloc(m, cap * sizeof(*m));
		}
		m[n].off = names.len;
		m[n].len = name.len;
		m[n].idx = n;
		n++;
		buf_add(&names, name.data, name.len);
		skip_ws(p, SIZE_MAX, pos);
		(*pos)++;	/* ':' */
		skip_ws(p, SIZE_MAX, pos);
		if (ops != NULL && name.len == 10 &&
		    memcmp(name.data, "operations", 10) == 0)
			*ops = *pos;
		skip_value(p, pos);
	}
	(*pos)++;	/* '}' */
	if (n > 1) {
		buf_add(&names, "", 0);
		for (i = 0; i < n; i++)
			m[i].name = names.data + m[i].off;
		/* Sorted, equal names are neighbours: n log n, not n^2. */
		qsort(m, n, sizeof(*m), member_cmp);
		for (i = 1; i < n; i++) {
			if (m[i].len == m[i - 1].len && memcmp(m[i].name,
			    m[i - 1].name, m[i].len) == 0 && m[i].idx < dup_at) {
				dup_at = m[i].idx;
				dup = i;
			}
		}
	}
	if (dup != SIZE_MAX) {
		set_err(err, errlen, "Duplicate member: %.*s", (int)m[dup].len,
		    m[dup].name);
		rc = -1;
	}
	free(m);
	buf_free(&names);
	buf_free(&name);
	return rc;
}

/*
 * Checks the request object body[0..len) (validated, an object) for
 * duplicate member names; with batch, also each object in its
 * "operations" array. Returns 0, or -1 with err set.
 */
static int
request_members_distinct(const char *body, size_t len, int batch,
    char *err, size_t errlen)
{
	const unsigned char *p = (const unsigned char *)body;
	size_t pos = 0, ops = 0;

	if (object_members_distinct(p, &pos, batch ? &ops : NULL, err,
	    errlen) != 0)
		return -1;
	if (ops == 0 || p[ops] != '[')
		return 0;
	pos = ops + 1;
	for (;;) {
		skip_ws(p, len, &pos);
		if (p[pos] == ']')
			return 0;
		if (p[pos] == ',') {
			pos++;
			continue;
		}
		if (p[pos] != '{')
			skip_value(p, &pos);
		else if (object_members_distinct(p, &pos, NULL, err,
		    errlen) != 0)
			return -1;
	}
}

/* Parses a body that must be a JSON object; NULL with err set otherwise. */
static struct json_object *
parse_object(const char *body, size_t len, unsigned max_depth,
    char *err, size_t errlen)
{
	struct json_object *root;

	if (parse_text(body, len, max_depth, &root, err, errlen) == -1)
		return NULL;
	if (!json_object_is_type(root, json_type_object)) {
		set_err(err, errlen, "Request body must be a JSON object");
		json_object_put(root);
		return NULL;
	}
	return root;
}

int
codec_decode_op(const char *body, size_t len, unsigned max_depth,
    struct body_op *out, char *err, size_t errlen)
{
	struct json_object *root;

	memset(out, 0, sizeof(*out));
	if ((root = parse_object(body, len, max_depth, err, errlen)) == NULL)
		return -1;
	if (request_members_distinct(body, len, 0, err, errlen) != 0) {
		json_object_put(root);
		return -1;
	}
	decode_fields(root, out, 0);
	json_object_put(root);
	return 0;
}

void
codec_op_free(struct body_op *op)
{
	if (op == NULL)
		return;
	free(op->op.s);
	free(op->key.s);
	free(op->value.text);
	free(op->old_value.text);
	free(op->new_value.text);
	free(op->by.text);
	free(op->initial.text);
	free(op->prefix.s);
	memset(op, 0, sizeof(*op));
}

int
codec_decode_batch(const char *body, size_t len, unsigned max_depth,
    size_t max_ops, struct body_batch *out, char *err, size_t errlen)
{
	struct json_object *root, *v, *e;
	size_t i, n;

	memset(out, 0, sizeof(*out));
	if ((root = parse_object(body, len, max_depth, err, errlen)) == NULL)
		return -1;
	if (request_members_distinct(body, len, 1, err, errlen) != 0) {
		json_object_put(root);
		return -1;
	}
	if (json_object_object_get_ex(root, "operations", &v)) {
		if (v == NULL)
			out->ops_st = FIELD_NULL;
		else if (!json_object_is_type(v, json_type_array))
			out->ops_st = FIELD_BADTYPE;
		else {
			out->ops_st = FIELD_OK;
			n = json_object_array_length(v);
			if (max_ops < SIZE_MAX && n > max_ops + 1)
				n = max_ops + 1;
			if (n > 0) {
				out->ops = xcalloc(n, sizeof(*out->ops));
				out->op_is_object = xcalloc(n,
				    sizeof(*out->op_is_object));
			}
			out->ops_n = n;
			for (i = 0; i < n; i++) {
				e = json_object_array_get_idx(v, i);
				if (!json_object_is_type(e, json_type_object))
					continue;
				out->op_is_object[i] = 1;
				decode_fields(e, &out->ops[i], 1);
			}
		}
	}
	if (json_object_object_get_ex(root, "atomic", &v)) {
		if (v == NULL)
			out->atomic_st = FIELD_NULL;
		else if (!json_object_is_type(v, json_type_boolean))
			out->atomic_st = FIELD_BADTYPE;
		else {
			out->atomic_st = FIELD_OK;
			out->atomic = json_object_get_boolean(v) ? 1 : 0;
		}
	}
	json_object_put(root);
	return 0;
}

void
codec_batch_free(struct body_batch *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->ops_n && b->ops != NULL; i++)
		codec_op_free(&b->ops[i]);
	free(b->ops);
	free(b->op_is_object);
	memset(b, 0, sizeof(*b));
}

void
codec_put_str(struct buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i, run = 0;
	const char *esc;
	char hex[8];

	buf_addc(b, '"');
	for (i = 0; i < len; i++) {
		switch (p[i]) {
		case '"':  esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		default:
			if (p[i] >= 0x20 && p[i] != 0x7f)
				continue;
			snprintf(hex, sizeof(hex), "\\u%04x", p[i]);
			esc = hex;
			break;
		}
		buf_add(b, s + run, i - run);
		buf_adds(b, esc);
		run = i + 1;
	}
	buf_add(b, s + run, len - run);
	buf_addc(b, '"');
}

/*
 * Compares two numbers by value. Integers json-c holds exactly compare
 * exactly (int64, or uint64 above INT64_MAX); integers beyond that carry
 * their literal, which is canonical, so two of them compare as text.
 * Everything else compares as double, so 1 == 1.0 == 1e0 and 0 == -0.0.
 */
static int
numbers_equal(struct json_object *a, struct json_object *b)
{
	const char *ta = NULL, *tb = NULL;
	double da, db;

	if (json_object_is_type(a, json_type_int))
		ta = json_object_get_userdata(a);
	if (json_object_is_type(b, json_type_int))
		tb = json_object_get_userdata(b);
	if (json_object_is_type(a, json_type_int) &&
	    json_object_is_type(b, json_type_int)) {
		if (ta != NULL || tb != NULL)
			return ta != NULL && tb != NULL && strcmp(ta, tb) == 0;
		return json_object_get_int64(a) == json_object_get_int64(b) &&
		    json_object_get_uint64(a) == json_object_get_uint64(b);
	}
	da = ta != NULL ? strtod(ta, NULL) : json_object_get_double(a);
	db = tb != NULL ? strtod(tb, NULL) : json_object_get_double(b);
	return da == db;
}

static int
is_number(struct json_object *o)
{
	return json_object_is_type(o, json_type_int) ||
	    json_object_is_type(o, json_type_double);
}

/* Recursive JSON equality; depth is bounded by the validated texts. */
static int
values_equal(struct json_object *a, struct json_object *b)
{
	struct json_object *bv;
	size_t i, n;
	int la, lb;

	if (is_number(a) && is_number(b))
		return numbers_equal(a, b);
	if (json_object_get_type(a) != json_object_get_type(b))
		return 0;
	switch (json_object_get_type(a)) {
	case json_type_null:
		return 1;
	case json_type_boolean:
		return !json_object_get_boolean(a) ==
		    !json_object_get_boolean(b);
	case json_type_string:
		la = json_object_get_string_len(a);
		lb = json_object_get_string_len(b);
		return la == lb && memcmp(json_object_get_string(a),
		    json_object_get_string(b), (size_t)la) == 0;
	case json_type_array:
		n = json_object_array_length(a);
		if (n != json_object_array_length(b))
			return 0;
		for (i = 0; i < n; i++)
			if (!values_equal(json_object_array_get_idx(a, i),
			    json_object_array_get_idx(b, i)))
				return 0;
		return 1;
	case json_type_object:
		if (json_object_object_length(a) !=
		    json_object_object_length(b))
			return 0;
		json_object_object_foreach(a, name, av) {
			if (!json_object_object_get_ex(b, name, &bv) ||
			    !values_equal(av, bv))
				return 0;
		}
		return 1;
	default:
		return 0;
	}
}

int
codec_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	struct json_object *ja = NULL, *jb = NULL;
	int eq = 0;

	if (parse_text(a, alen, UINT_MAX, &ja, NULL, 0) == -1 ||
	    parse_text(b, blen, UINT_MAX, &jb, NULL, 0) == -1)
		goto out;
	eq = values_equal(ja, jb);
out:
	json_object_put(ja);
	json_object_put(jb);
	return eq;
}

/* Reads an integer member into f, as field_ttl_get does for "ttl". */
static void
field_int_get(struct json_object *obj, const char *member,
    struct field_int *f)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, member, &v))
		return;
	field_int_set(v, f);
}

int
codec_decode_item(const char *line, size_t len, unsigned max_depth,
    struct body_item *out, char *err, size_t errlen)
{
	struct json_object *root;

	memset(out, 0, sizeof(*out));
	if ((root = parse_object(line, len, max_depth, err, errlen)) == NULL)
		return -1;
	field_str_get(root, "key", &out->key);
	field_json_get(root, "value", &out->value);
	field_int_get(root, "expires", &out->expires);
	field_int_get(root, "version", &out->version);
	json_object_put(root);
	return 0;
}

void
codec_item_free(struct body_item *it)
{
	if (it == NULL)
		return;
	free(it->key.s);
	free(it->value.text);
	memset(it, 0, sizeof(*it));
}

void
codec_put_expires(struct buf *b, int64_t expires)
{
	if (expires == 0)
		buf_addlit(b, "\"expires\":null");
	else {
		/* Not buf_addf: every reply with an item comes here. */
		buf_addlit(b, "\"expires\":");
		buf_addi(b, expires);
	}
}

void
codec_put_item(struct buf *b, const char *key, size_t klen, const char *val,
    size_t vlen, int64_t expires, uint64_t version)
{
	buf_addlit(b, "\"key\":");
	codec_put_str(b, key, klen);
	buf_addlit(b, ",\"value\":");
	if (val != NULL)
		buf_add(b, val, vlen);
	else
		buf_adds(b, "null");
	buf_addc(b, ',');
	codec_put_expires(b, val != NULL ? expires : 0);
	buf_addc(b, ',');
	codec_put_version(b, val != NULL ? version : 0);
}

void
codec_put_version(struct buf *b, uint64_t version)
{
	if (version == 0)
		buf_addlit(b, "\"version\":null");
	else {
		buf_addlit(b, "\"version\":");
		buf_addu(b, version);
	}
}
