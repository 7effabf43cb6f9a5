/*
 * num: increments on JSON number texts.
 *
 * Values are stored as JSON text, so an increment reads a number from text
 * and writes one back. Parsing every number as a double would corrupt
 * integers above 2^53 (9007199254740993 + 0 would come back as ...992), so
 * integer literals are parsed exactly and added with overflow checking;
 * only a fraction or an exponent on either side makes the sum a double.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "num.h"

/* What a number text holds. */
enum num_kind {
	KIND_INT,	/* integer literal within int64: i */
	KIND_BIGINT,	/* integer literal beyond int64 */
	KIND_DOUBLE,	/* fraction or exponent: d */
};

struct num {
	enum num_kind	 kind;
	int64_t		 i;
	double		 d;
};

/*
 * Checks the RFC 8259 number grammar over all of s[0..len) and tells
 * whether a fraction or an exponent is present. Returns 0 or -1.
 */
static int
num_scan(const char *s, size_t len, int *is_int)
{
	size_t i = 0;

	*is_int = 1;
	if (i < len && s[i] == '-')
		i++;
	if (i >= len)
		return -1;
	if (s[i] == '0')
		i++;
	else if (s[i] >= '1' && s[i] <= '9') {
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
	} else
		return -1;
	if (i < len && s[i] == '.') {
		*is_int = 0;
		if (++i >= len || s[i] < '0' || s[i] > '9')
			return -1;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		*is_int = 0;
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= len || s[i] < '0' || s[i] > '9')
			return -1;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	return i == len ? 0 : -1;
}

int
num_is_number(const char *s, size_t len)
{
	int is_int;

	return s != NULL && num_scan(s, len, &is_int) == 0;
}

/*
 * Reads an integer literal that num_scan accepted, exactly. Returns 0, or
 * -1 if it lies outside int64.
 */
static int
parse_int(const char *s, size_t len, int64_t *out)
{
	int neg = s[0] == '-';
	uint64_t v = 0, limit;
	size_t i;

	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (i = neg; i < len; i++) {
		if (v > (limit - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (neg)
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	else
		*out = (int64_t)v;
	return 0;
}

/* Parses one number text into *n. Returns NUM_OK or NUM_NAN. */
static int
num_parse(const char *s, size_t len, struct num *n)
{
	char *copy;
	int is_int;

	if (s == NULL || num_scan(s, len, &is_int) != 0)
		return NUM_NAN;
	if (is_int) {
		n->kind = parse_int(s, len, &n->i) == 0 ? KIND_INT :
		    KIND_BIGINT;
		return NUM_OK;
	}
	/* strtod needs a terminated string; values may be long texts. */
	copy = xmemdup(s, len);
	errno = 0;
	n->d = strtod(copy, NULL);
	free(copy);
	n->kind = KIND_DOUBLE;
	/* Beyond the double range: refused at input, but not by every path. */
	if (!isfinite(n->d))
		return NUM_NAN;
	return NUM_OK;
}

/* Returns n as a double; only for KIND_INT and KIND_DOUBLE. */
static double
as_double(const struct num *n)
{
	return n->kind == KIND_INT ? (double)n->i : n->d;
}

/*
 * Writes d in the fewest significant digits that read back as d: "%.17g"
 * always round-trips, shorter forms are tried first so 0.1 + 0.2 reads
 * 0.30000000000000004 and 0.1 + 0.1 reads 0.2. Whole numbers below 2^53
 * are written as integers (1.5 + 1.5 reads 3), which a later increment
 * then adds exactly.
 */
static void
format_double(double d, char *out)
{
	int prec;

	if (d == 0) {
		strcpy(out, "0");
		return;
	}
	/* %g would write 100 as 1e+02: whole numbers print as integers. */
	if (fabs(d) < 9007199254740992.0 && d == trunc(d)) {
		snprintf(out, NUM_TEXT_MAX, "%.0f", d);
		return;
	}
	for (prec = 1; prec <= 17; prec++) {
		snprintf(out, NUM_TEXT_MAX, "%.*g", prec, d);
		if (strtod(out, NULL) == d)
			return;
	}
}

int
num_add(const char *a, size_t alen, const char *b, size_t blen, char *out)
{
	struct num x, y;
	int64_t sum;
	double d;

	if (num_parse(a, alen, &x) != NUM_OK ||
	    num_parse(b, blen, &y) != NUM_OK)
		return NUM_NAN;
	if (x.kind == KIND_BIGINT || y.kind == KIND_BIGINT)
		return NUM_OVERFLOW;
	if (x.kind == KIND_INT && y.kind == KIND_INT) {
		if (__builtin_add_overflow(x.i, y.i, &sum))
			return NUM_OVERFLOW;
		snprintf(out, NUM_TEXT_MAX, "%" PRId64, sum);
		return NUM_OK;
	}
	d = as_double(&x) + as_double(&y);
	if (!isfinite(d))
		return NUM_OVERFLOW;
	format_double(d, out);
	return NUM_OK;
}
