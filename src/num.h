/*
 * num: arithmetic on JSON number texts, for increments. Pure functions;
 * knows nothing of json-c, HTTP or the store.
 */
#ifndef KV_NUM_H
#define KV_NUM_H

#include <stddef.h>

enum num_rc {
	NUM_OK = 0,
	NUM_NAN,	/* a text is not exactly one JSON number */
	NUM_OVERFLOW,	/* the sum is out of range (see num_add) */
};

/* Room for any sum num_add writes, NUL included. */
#define NUM_TEXT_MAX	32

/*
 * Adds the JSON number texts a[0..alen) and b[0..blen) and writes the sum
 * as a NUL-terminated JSON number into out (NUM_TEXT_MAX bytes). The rules:
 *
 * - Two integer literals (no fraction, no exponent) add as exact 64-bit
 *   integers; a sum beyond int64 is NUM_OVERFLOW.
 * - An integer literal beyond int64 is never turned into a double (that
 *   would silently change it): any sum involving one is NUM_OVERFLOW.
 * - Otherwise both are doubles and the sum is written in its shortest form
 *   that reads back to the same double; an infinite sum (1e308 + 1e308)
 *   is NUM_OVERFLOW, and a zero sum is written 0 (never -0).
 *
 * Returns NUM_OK, NUM_NAN (out untouched) or NUM_OVERFLOW.
 */
int	num_add(const char *a, size_t alen, const char *b, size_t blen,
	    char *out);

/* Returns 1 if s[0..len) is exactly one JSON number, else 0. */
int	num_is_number(const char *s, size_t len);

#endif
