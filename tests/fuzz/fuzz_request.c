/*
 * fuzz_request: the CGI side of a request, as nginx hands it over.
 *
 * Input: up to four lines, "METHOD\nREQUEST_URI\nSCRIPT_NAME\nBODY"; a
 * missing line leaves that parameter out of envp, a NUL ends a parameter
 * early (FastCGI values reach the service as C strings). The body is also
 * read as a CONTENT_LENGTH text.
 *
 * Invariants: req_parse never fails and leaves a consistent struct req;
 * a malformed escape is flagged, never half-decoded; every decoded
 * parameter is NUL-terminated at its length; route_find answers with a
 * handler or 204/404/405; req_key_check agrees with the JSON validator on
 * what valid UTF-8 is; req_unescape inverts percent-encoding; and
 * req_parse_size accepts exactly the digit strings that fit a size_t.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "codec.h"
#include "fuzz.h"
#include "request.h"
#include "route.h"

#define KEY_MAX	512

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

/*
 * The key rule written out independently: 1..512 bytes, no control
 * characters, and valid UTF-8 as the JSON validator sees it (a key is
 * written back escaped by codec_put_str, so the JSON text is valid exactly
 * when the key's bytes are valid UTF-8).
 */
static int
key_ok_reference(const char *k, size_t len)
{
	struct buf b;
	size_t i;
	int ok;

	if (len == 0 || len > KEY_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)k[i] < 0x20 || (unsigned char)k[i] == 0x7f)
			return 0;
	buf_init(&b);
	codec_put_str(&b, k, len);
	ok = codec_validate(b.data, b.len, 4, NULL, 0) == 0;
	buf_free(&b);
	return ok;
}

static void
check_key(const char *k, size_t len)
{
	const char *why = req_key_check(k, len);

	FUZZ_CHECK((why == NULL) == key_ok_reference(k, len));
}

/* Percent-encodes every byte of s, then checks req_unescape restores it. */
static void
check_unescape_roundtrip(const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	char *enc, *dec;
	size_t i, dlen = 0;

	enc = xmalloc(3 * len + 1);
	for (i = 0; i < len; i++) {
		enc[3 * i] = '%';
		enc[3 * i + 1] = hex[(unsigned char)s[i] >> 4];
		enc[3 * i + 2] = hex[(unsigned char)s[i] & 15];
	}
	dec = req_unescape(enc, 3 * len, 1, &dlen);
	FUZZ_CHECK(dec != NULL);
	FUZZ_CHECK(dlen == len && memcmp(dec, s, len) == 0);
	FUZZ_CHECK(dec[dlen] == '\0');
	free(dec);
	free(enc);
}

/* req_parse_size against a plain reading with strtoull. */
static void
check_parse_size(const char *s, size_t len)
{
	unsigned long long ref = 0;
	char *copy, *end;
	size_t got = 0, i;
	int digits = len > 0, ok;

	for (i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			digits = 0;
	ok = 0;
	if (digits) {
		copy = xmemdup(s, len);
		errno = 0;
		ref = strtoull(copy, &end, 10);
		ok = errno == 0 && ref <= SIZE_MAX;
		free(copy);
	}
	FUZZ_CHECK((req_parse_size(s, len, &got) == 0) == ok);
	if (ok)
		FUZZ_CHECK(got == ref);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {
		"REQUEST_METHOD", "REQUEST_URI", "SCRIPT_NAME",
	};
	const char *p = (const char *)data, *end = p + size, *nl, *allow;
	char *envp[4], *field;
	const char *body = NULL, *v;
	size_t nenv = 0, i, body_len = 0, vlen, n;
	struct req r;
	int status = 0;
	handler_fn h;

	for (i = 0; i < 3 && p < end; i++) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		field = xmalloc(strlen(names[i]) + 1 + n + 1);
		strcpy(field, names[i]);
		strcat(field, "=");
		memcpy(field + strlen(names[i]) + 1, p, n);
		field[strlen(names[i]) + 1 + n] = '\0';
		envp[nenv++] = field;
		p += n + (nl != NULL);
	}
	envp[nenv] = NULL;
	if (p < end) {
		body = p;
		body_len = (size_t)(end - p);
	}

	req_parse(&r, envp, body, body_len);
	FUZZ_CHECK(r.path != NULL);
	FUZZ_CHECK(r.body == body && r.body_len == body_len);
	FUZZ_CHECK(r.method >= M_GET && r.method <= M_OTHER);
	if (r.path_key != NULL) {
		FUZZ_CHECK(!r.path_key_bad);
		FUZZ_CHECK(r.path_key[r.path_key_len] == '\0');
		FUZZ_CHECK(r.path_key_len <= strlen(r.path));
		check_key(r.path_key, r.path_key_len);
		check_unescape_roundtrip(r.path_key, r.path_key_len);
	}
	if (r.path_key_bad)
		FUZZ_CHECK(r.path_key == NULL);
	for (i = 0; i < r.nq; i++) {
		FUZZ_CHECK(r.q[i].name != NULL && r.q[i].val != NULL);
		FUZZ_CHECK(r.q[i].val[r.q[i].vlen] == '\0');
		FUZZ_CHECK(strlen(r.q[i].val) <= r.q[i].vlen);
		check_key(r.q[i].val, r.q[i].vlen);
	}
	if ((v = req_query(&r, "key", &vlen)) != NULL)
		check_key(v, vlen);

	h = route_find(&r, &status, &allow);
	if (h == NULL)
		FUZZ_CHECK(status == 204 || status == 404 || status == 405);
	if (status == 405)
		FUZZ_CHECK(allow != NULL);
	req_free(&r);

	check_parse_size(body, body_len);
	check_key(body, body_len);
	for (i = 0; i < nenv; i++)
		free(envp[i]);
	return 0;
}
