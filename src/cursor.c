/*
 * cursor: the paging token of GET /list, a key in unpadded base64url
 * (RFC 4648 section 5, alphabet A-Z a-z 0-9 - _, no '=').
 *
 * Decoding is strict so that every key has exactly one token: any other
 * character, an impossible length (len % 4 == 1) or non-zero bits left
 * over in the last character are refused.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cursor.h"

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Returns the 6-bit value of a base64url character, or -1. */
static int
b64url_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Appends key[0..klen) to b as unpadded base64url. */
void
cursor_encode(struct buf *b, const char *key, size_t klen)
{
	const unsigned char *p = (const unsigned char *)key;
	char out[4];
	size_t i;
	unsigned long v;

	for (i = 0; i + 3 <= klen; i += 3) {
		v = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8 |
		    p[i + 2];
		out[0] = b64url[v >> 18 & 0x3f];
		out[1] = b64url[v >> 12 & 0x3f];
		out[2] = b64url[v >> 6 & 0x3f];
		out[3] = b64url[v & 0x3f];
		buf_add(b, out, 4);
	}
	if (klen - i == 1) {
		v = (unsigned long)p[i] << 16;
		out[0] = b64url[v >> 18 & 0x3f];
		out[1] = b64url[v >> 12 & 0x3f];
		buf_add(b, out, 2);
	} else if (klen - i == 2) {
		v = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8;
		out[0] = b64url[v >> 18 & 0x3f];
		out[1] = b64url[v >> 12 & 0x3f];
		out[2] = b64url[v >> 6 & 0x3f];
		buf_add(b, out, 3);
	}
	/* An empty key still leaves b holding a (NUL-terminated) string. */
	if (b->data == NULL)
		buf_add(b, "", 0);
}

/*
 * Decodes s[0..len) into a malloc'd *key of *klen bytes plus a trailing
 * NUL, owned by the caller. Returns 0, or -1 if s is empty or malformed;
 * then nothing is allocated and *key and *klen are untouched.
 */
int
cursor_decode(const char *s, size_t len, char **key, size_t *klen)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char *out;
	size_t i, n = 0, rem = len % 4;
	unsigned long v = 0;
	int d, bits = 0;

	if (s == NULL || len == 0 || rem == 1)
		return -1;
	for (i = 0; i < len; i++)
		if (b64url_val(p[i]) == -1)
			return -1;
	/* The bits below the last whole byte must be zero (canonical form). */
	d = b64url_val(p[len - 1]);
	if ((rem == 2 && (d & 0x0f) != 0) || (rem == 3 && (d & 0x03) != 0))
		return -1;

	out = xmalloc(len / 4 * 3 + (rem ? rem - 1 : 0) + 1);
	for (i = 0; i < len; i++) {
		v = (v << 6 | (unsigned long)b64url_val(p[i])) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(v >> bits & 0xff);
		}
	}
	out[n] = '\0';
	*key = (char *)out;
	*klen = n;
	return 0;
}
