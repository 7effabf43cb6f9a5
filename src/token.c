/*
 * token: the tokens file format, and making and hashing tokens.
 *
 * Crypto comes from libsodium (Debian's libsodium23) rather than OpenSSL's
 * libcrypto. We need exactly three primitives: a hash, random bytes from
 * the kernel and a constant-time comparison. libsodium has each as one
 * call that cannot be misused (crypto_hash_sha256, randombytes_buf, which
 * uses getrandom(2), and sodium_memcmp), plus the base64url and hex codecs
 * we would otherwise write by hand; it is a small library with a stable
 * API and no configuration files or engines to load at run time.
 * libcrypto would do the same job through EVP contexts, whose
 * allocation, error queue and provider loading add failure paths and
 * memory that valgrind has to be taught about, for no gain here.
 *
 * The hash is a plain SHA-256, not a password hash: a token is 256
 * random bits, so no dictionary or brute-force search can reach it and
 * a salt or a slow hash would add nothing. An unsalted hash is also what
 * makes the service's O(1) lookup possible: it hashes the presented
 * token once and finds the entry by that hash.
 */
#define _GNU_SOURCE	/* strptime, timegm */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "request.h"
#include "token.h"

#define HASH_TAG	"sha256:"
#define TIME_LEN	20	/* 2026-12-03T22:18:24Z */
#define NFIELDS		5

const char TOKEN_FILE_HEADER[] =
"# kvstore-fcgi access tokens. Read by kvstore-fcgi (--tokens-file,\n"
"# KV_TOKENS_FILE), written by `kvstore-admin token add|revoke`; see\n"
"# kvstore-admin(8). The service re-reads this file within a second of a\n"
"# change, and at once on `systemctl reload kvstore-fcgi` (SIGHUP).\n"
"# With no token line, every request but OPTIONS and GET /health is\n"
"# refused with 401.\n"
"#\n"
"# One token a line, five fields separated by spaces:\n"
"#   NAME      1 to 64 letters, digits, '.', '_' or '-'; unique\n"
"#   RIGHTS    comma-separated: read (get, list), write (set, delete,\n"
"#             test-and-set, incr, touch, delete-prefix), metrics (GET /metrics)\n"
"#   PREFIXES  comma-separated key prefixes the token is limited to, each\n"
"#             percent-encoded (%2C for ',', %25 for '%', %20 for a space,\n"
"#             %2A for '*'); a lone '*' means every key\n"
"#   CREATED   creation time in UTC, like 2026-01-31T12:00:00Z\n"
"#   HASH      'sha256:' and the SHA-256 of the token in hex\n"
"# The token itself is never stored: `kvstore-admin token add` shows it\n"
"# once. This file holds no secret and may be world-readable; only root\n"
"# should be able to write it. Lines starting with '#' are ignored.\n";

static const struct {
	const char	*name;
	unsigned	 bit;
} rights[] = {
	{ "read", TOKEN_READ },
	{ "write", TOKEN_WRITE },
	{ "metrics", TOKEN_METRICS },
};

#define NRIGHTS	(sizeof(rights) / sizeof(rights[0]))

int
token_init(void)
{
	return sodium_init() < 0 ? -1 : 0;
}

void
token_hash(const char *s, size_t len, unsigned char hash[TOKEN_HASH_BYTES])
{
	crypto_hash_sha256(hash, (const unsigned char *)s, len);
}

int
token_hash_equal(const unsigned char *a, const unsigned char *b)
{
	return sodium_memcmp(a, b, TOKEN_HASH_BYTES) == 0;
}

void
token_generate(char text[TOKEN_TEXT_LEN + 1],
    unsigned char hash[TOKEN_HASH_BYTES])
{
	unsigned char raw[TOKEN_SECRET_BYTES];
	const size_t plen = sizeof(TOKEN_PREFIX) - 1;

	randombytes_buf(raw, sizeof(raw));
	memcpy(text, TOKEN_PREFIX, plen);
	sodium_bin2base64(text + plen, TOKEN_TEXT_LEN + 1 - plen, raw,
	    sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
	token_hash(text, TOKEN_TEXT_LEN, hash);
}

int
token_name_check(const char *name, size_t len)
{
	size_t i;
	char c;

	if (len == 0 || len > TOKEN_NAME_MAX)
		return -1;
	for (i = 0; i < len; i++) {
		c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return -1;
	}
	return 0;
}

void
token_rights_str(unsigned bits, char *out, size_t outlen)
{
	size_t i, o = 0;
	int n;

	out[0] = '\0';
	for (i = 0; i < NRIGHTS; i++) {
		if (!(bits & rights[i].bit))
			continue;
		n = snprintf(out + o, outlen - o, "%s%s", o ? "," : "",
		    rights[i].name);
		if (n < 0 || (size_t)n >= outlen - o)
			return;
		o += (size_t)n;
	}
}

long
token_find(const struct token_list *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].name, name) == 0)
			return (long)i;
	return -1;
}

static void
token_free(struct token *t)
{
	size_t i;

	free(t->name);
	for (i = 0; i < t->nprefixes; i++)
		free(t->prefixes[i].s);
	free(t->prefixes);
	memset(t, 0, sizeof(*t));
}

void
token_list_free(struct token_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		token_free(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* A field of a line: borrowed bytes. */
struct field {
	const char	*s;
	size_t		 len;
};

/* Parses the RIGHTS field; 0, or -1 with why set. */
static int
parse_rights(const struct field *f, unsigned *out, const char **why)
{
	const char *p = f->s, *end = f->s + f->len, *comma;
	size_t i, n;

	*out = 0;
	while (p <= end) {
		comma = memchr(p, ',', (size_t)(end - p));
		n = (size_t)((comma ? comma : end) - p);
		for (i = 0; i < NRIGHTS; i++)
			if (strlen(rights[i].name) == n &&
			    memcmp(rights[i].name, p, n) == 0)
				break;
		if (n == 0) {
			*why = "empty right in RIGHTS";
			return -1;
		}
		if (i == NRIGHTS) {
			*why = "unknown right in RIGHTS (read, write, metrics)";
			return -1;
		}
		if (*out & rights[i].bit) {
			*why = "a right is listed twice in RIGHTS";
			return -1;
		}
		*out |= rights[i].bit;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return 0;
}

/* Parses the PREFIXES field into t; 0, or -1 with why set. */
static int
parse_prefixes(const struct field *f, struct token *t, const char **why)
{
	const char *p = f->s, *end = f->s + f->len, *comma;
	struct token_prefix *tp;
	size_t n, dlen;
	char *d;

	if (f->len == 1 && f->s[0] == '*') {
		t->prefixes = xcalloc(1, sizeof(*t->prefixes));
		t->prefixes[0].s = xmemdup("", 0);
		t->nprefixes = 1;
		return 0;
	}
	t->prefixes = xcalloc(TOKEN_PREFIXES_MAX, sizeof(*t->prefixes));
	for (;;) {
		comma = memchr(p, ',', (size_t)(end - p));
		n = (size_t)((comma ? comma : end) - p);
		if (n == 0) {
			*why = "empty prefix in PREFIXES (a lone '*' means "
			    "every key)";
			return -1;
		}
		if (n == 1 && *p == '*') {
			*why = "'*' (every key) must be the whole PREFIXES field";
			return -1;
		}
		if (t->nprefixes == TOKEN_PREFIXES_MAX) {
			*why = "more than 64 prefixes";
			return -1;
		}
		if ((d = req_unescape(p, n, 0, &dlen)) == NULL) {
			*why = "malformed %XX escape in PREFIXES";
			return -1;
		}
		tp = &t->prefixes[t->nprefixes++];
		tp->s = d;
		tp->len = dlen;
		if (req_key_check(d, dlen) != NULL) {
			*why = "a prefix is not a valid key (1 to 512 bytes of "
			    "UTF-8 without control characters)";
			return -1;
		}
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return 0;
}

/* Parses CREATED (2026-12-03T22:18:24Z, UTC); 0, or -1. */
static int
parse_time(const struct field *f, int64_t *out)
{
	char buf[TIME_LEN + 1], back[TIME_LEN + 1];
	struct tm tm;
	time_t t;
	char *end;

	if (f->len != TIME_LEN)
		return -1;
	memcpy(buf, f->s, TIME_LEN);
	buf[TIME_LEN] = '\0';
	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(buf, "%Y-%m-%dT%H:%M:%SZ", &tm)) == NULL ||
	    *end != '\0')
		return -1;
	if ((t = timegm(&tm)) == (time_t)-1)
		return -1;
	/* strptime accepts 2026-02-31 and single digits: insist on the round trip. */
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(back, sizeof(back), "%Y-%m-%dT%H:%M:%SZ", &tm) != TIME_LEN ||
	    memcmp(back, buf, TIME_LEN) != 0)
		return -1;
	*out = (int64_t)t;
	return 0;
}

/* Parses HASH (sha256: + 64 lowercase hex digits); 0, or -1. */
static int
parse_hash(const struct field *f, unsigned char *out)
{
	const size_t tl = sizeof(HASH_TAG) - 1;
	size_t i, got = 0;

	if (f->len != tl + 2 * TOKEN_HASH_BYTES ||
	    memcmp(f->s, HASH_TAG, tl) != 0)
		return -1;
	for (i = tl; i < f->len; i++)
		if (!((f->s[i] >= '0' && f->s[i] <= '9') ||
		    (f->s[i] >= 'a' && f->s[i] <= 'f')))
			return -1;
	if (sodium_hex2bin(out, TOKEN_HASH_BYTES, f->s + tl, f->len - tl,
	    NULL, &got, NULL) != 0 || got != TOKEN_HASH_BYTES)
		return -1;
	return 0;
}

/*
 * Parses one token line (no newline) into t. Returns 0, or -1 with why
 * set; t is then partly filled and the caller frees it.
 */
static int
parse_line(const char *s, size_t len, struct token *t, const char **why)
{
	struct field f[NFIELDS];
	size_t i = 0, nf = 0, start;

	while (i < len) {
		while (i < len && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i == len)
			break;
		if (nf == NFIELDS) {
			*why = "more than five fields (NAME RIGHTS PREFIXES "
			    "CREATED HASH)";
			return -1;
		}
		start = i;
		while (i < len && s[i] != ' ' && s[i] != '\t')
			i++;
		f[nf].s = s + start;
		f[nf].len = i - start;
		nf++;
	}
	if (nf != NFIELDS) {
		*why = "fewer than five fields (NAME RIGHTS PREFIXES CREATED "
		    "HASH)";
		return -1;
	}
	if (token_name_check(f[0].s, f[0].len) != 0) {
		*why = "invalid NAME (1 to 64 letters, digits, '.', '_', '-')";
		return -1;
	}
	t->name = xmemdup(f[0].s, f[0].len);
	if (parse_rights(&f[1], &t->rights, why) != 0)
		return -1;
	if (parse_prefixes(&f[2], t, why) != 0)
		return -1;
	if (parse_time(&f[3], &t->created) != 0) {
		*why = "invalid CREATED (UTC, like 2026-01-31T12:00:00Z)";
		return -1;
	}
	if (parse_hash(&f[4], t->hash) != 0) {
		*why = "invalid HASH ('sha256:' and 64 lowercase hex digits)";
		return -1;
	}
	return 0;
}

int
token_parse(const char *text, size_t len, struct token_list *out, char *err,
    size_t errlen)
{
	struct token_list l = { NULL, 0 };
	const char *p = text, *end = text + len, *nl, *why = NULL;
	size_t cap = 0, lineno = 0, n, i, dup = 0;
	struct token t;

	out->v = NULL;
	out->n = 0;
	while (p < end) {
		lineno++;
		nl = memchr(p, '\n', (size_t)(end - p));
		n = (size_t)((nl ? nl : end) - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (memchr(p, '\0', n) != NULL) {
			why = "NUL byte";
			goto fail;
		}
		i = 0;
		while (i < n && (p[i] == ' ' || p[i] == '\t'))
			i++;
		if (i < n && p[i] != '#') {
			memset(&t, 0, sizeof(t));
			if (parse_line(p, n, &t, &why) != 0) {
				token_free(&t);
				goto fail;
			}
			for (i = 0; i < l.n; i++) {
				if (strcmp(l.v[i].name, t.name) == 0)
					why = "NAME already used on an earlier line";
				else if (token_hash_equal(l.v[i].hash, t.hash))
					why = "HASH already used on an earlier "
					    "line (the same token twice)";
				else
					continue;
				dup = 1;
				break;
			}
			if (dup) {
				token_free(&t);
				goto fail;
			}
			if (l.n == cap) {
				cap = cap ? cap * 2 : 8;
				l.v = xrealloc(l.v, cap * sizeof(*l.v));
			}
			l.v[l.n++] = t;
		}
		p = nl ? nl + 1 : end;
	}
	*out = l;
	return 0;
fail:
	snprintf(err, errlen, "line %zu: %s", lineno, why);
	token_list_free(&l);
	return -1;
}

int
token_load(const char *path, struct token_list *out, char *err, size_t errlen)
{
	struct stat st;
	char *text = NULL, why[200];
	size_t got = 0;
	ssize_t n;
	int fd, rc = -1;

	out->v = NULL;
	out->n = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if ((size_t)st.st_size > TOKEN_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %u bytes", path,
		    TOKEN_FILE_MAX);
		goto out;
	}
	text = xmalloc((size_t)st.st_size + 1);
	/* Read to the size seen; a file that grows meanwhile is re-read later. */
	while (got < (size_t)st.st_size) {
		n = read(fd, text + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (token_parse(text, got, out, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: %s", path, why);
		goto out;
	}
	rc = 0;
out:
	free(text);
	close(fd);
	return rc;
}

/* Appends a prefix percent-encoded so that it reads back as one field element. */
static void
put_prefix(struct buf *b, const struct token_prefix *p)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char c;
	size_t i;

	for (i = 0; i < p->len; i++) {
		c = (unsigned char)p->s[i];
		if (c <= 0x20 || c == 0x7f || c == '%' || c == ',' ||
		    c == '*' || c == '#') {
			buf_addc(b, '%');
			buf_addc(b, hex[c >> 4]);
			buf_addc(b, hex[c & 15]);
		} else
			buf_addc(b, (char)c);
	}
}

void
token_format_prefixes(const struct token *t, struct buf *b)
{
	size_t i;

	if (t->nprefixes == 1 && t->prefixes[0].len == 0) {
		buf_addc(b, '*');
		return;
	}
	for (i = 0; i < t->nprefixes; i++) {
		if (i > 0)
			buf_addc(b, ',');
		put_prefix(b, &t->prefixes[i]);
	}
}

void
token_format_line(const struct token *t, struct buf *b)
{
	char r[64], when[TIME_LEN + 1], hex[2 * TOKEN_HASH_BYTES + 1];
	time_t tt = (time_t)t->created;
	struct tm tm;

	token_rights_str(t->rights, r, sizeof(r));
	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) != TIME_LEN)
		strcpy(when, "1970-01-01T00:00:00Z");
	sodium_bin2hex(hex, sizeof(hex), t->hash, TOKEN_HASH_BYTES);
	buf_addf(b, "%s %s ", t->name, r);
	token_format_prefixes(t, b);
	buf_addf(b, " %s %s%s\n", when, HASH_TAG, hex);
}

void
token_format(const struct token_list *l, struct buf *b)
{
	size_t i;

	buf_adds(b, TOKEN_FILE_HEADER);
	for (i = 0; i < l->n; i++)
		token_format_line(&l->v[i], b);
}
