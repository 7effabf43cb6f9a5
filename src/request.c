/*
 * request: CGI parameters + body -> struct req. Pure functions, no I/O.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "request.h"

#define KEY_MAX_BYTES	512

static const struct {
	const char	*name;
	enum method	 m;
} methods[] = {
	{ "GET", M_GET },
	{ "POST", M_POST },
	{ "DELETE", M_DELETE },
	{ "OPTIONS", M_OPTIONS },
};

/* The parameters req_parse reads, in the order of params[] below. */
enum param {
	P_METHOD,
	P_URI,
	P_SCRIPT,
	P_AUTHORIZATION,
	P_REMOTE_ADDR,
	P_IF_MATCH,
	P_IF_NONE_MATCH,
	P_N
};

#define PARAM(s)	{ s, sizeof(s) - 1 }

static const struct {
	const char	*name;
	size_t		 len;
} params[P_N] = {
	[P_METHOD] = PARAM("REQUEST_METHOD"),
	[P_URI] = PARAM("REQUEST_URI"),
	[P_SCRIPT] = PARAM("SCRIPT_NAME"),
	[P_AUTHORIZATION] = PARAM("HTTP_AUTHORIZATION"),
	[P_REMOTE_ADDR] = PARAM("REMOTE_ADDR"),
	[P_IF_MATCH] = PARAM("HTTP_IF_MATCH"),
	[P_IF_NONE_MATCH] = PARAM("HTTP_IF_NONE_MATCH"),
};

/* The value of the parameter e ("NAME=value") if it is called name. */
static const char *
env_value(const char *e, const char *name, size_t n)
{
	if (strncmp(e, name, n) == 0 && e[n] == '=')
		return e + n + 1;
	return NULL;
}

/*
 * Finds every parameter of params[] in one pass over envp, the first of
 * each name as req_env would: a look-up per name scanned the ~16
 * parameters nginx sends seven times over on every request.
 */
static void
env_scan(char *const *envp, const char *val[P_N])
{
	size_t i;

	for (i = 0; i < P_N; i++)
		val[i] = NULL;
	for (; envp != NULL && *envp != NULL; envp++)
		for (i = 0; i < P_N; i++)
			if (val[i] == NULL && (val[i] = env_value(*envp,
			    params[i].name, params[i].len)) != NULL)
				break;
}

const char *
req_env(char *const *envp, const char *name)
{
	size_t n = strlen(name);
	const char *v;

	for (; envp != NULL && *envp != NULL; envp++)
		if ((v = env_value(*envp, name, n)) != NULL)
			return v;
	return NULL;
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *
req_unescape(const char *s, size_t len, int plus_space, size_t *outlen)
{
	char *out = xmalloc(len + 1);
	size_t i, o = 0;
	int hi, lo;

	for (i = 0; i < len; i++) {
		if (s[i] == '%') {
			if (i + 2 >= len)
				goto bad;
			hi = hexval((unsigned char)s[i + 1]);
			lo = hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				goto bad;
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (s[i] == '+' && plus_space)
			out[o++] = ' ';
		else
			out[o++] = s[i];
	}
	out[o] = '\0';
	if (outlen != NULL)
		*outlen = o;
	return out;
bad:
	free(out);
	return NULL;
}

/* Splits the query string into decoded name/value pairs. */
static void
parse_query(struct req *r, const char *q)
{
	const char *p = q, *amp, *eq;
	size_t cap = 0, nlen, vlen;
	char *name, *val;

	while (*p != '\0') {
		amp = strchr(p, '&');
		if (amp == NULL)
			amp = p + strlen(p);
		if (amp == p) {
			p++;
			continue;
		}
		eq = memchr(p, '=', (size_t)(amp - p));
		nlen = (size_t)((eq ? eq : amp) - p);
		name = req_unescape(p, nlen, 1, NULL);
		val = eq ? req_unescape(eq + 1, (size_t)(amp - eq - 1), 1, &vlen)
		    : req_unescape("", 0, 1, &vlen);
		if (name == NULL || val == NULL) {
			free(name);
			free(val);
			r->query_bad = 1;
		} else {
			if (r->nq == cap) {
				cap = cap ? cap * 2 : 4;
				r->q = xrealloc(r->q, cap * sizeof(*r->q));
			}
			r->q[r->nq].name = name;
			r->q[r->nq].val = val;
			r->q[r->nq].vlen = vlen;
			r->nq++;
		}
		p = *amp ? amp + 1 : amp;
	}
}

/* Keys in the path: /get/K and /delete/K, K percent-encoded without '+'. */
static void
parse_path_key(struct req *r)
{
	static const char *const prefixes[] = { "/get/", "/delete/" };
	size_t i, n;

	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		n = strlen(prefixes[i]);
		if (strncmp(r->path, prefixes[i], n) != 0)
			continue;
		r->path_key = req_unescape(r->path + n, strlen(r->path + n), 0,
		    &r->path_key_len);
		if (r->path_key == NULL)
			r->path_key_bad = 1;
		return;
	}
}

void
req_parse(struct req *r, char *const *envp, const char *body, size_t body_len)
{
	const char *env[P_N], *m, *uri, *script, *qmark;
	size_t i, plen, slen;

	memset(r, 0, sizeof(*r));
	r->body = body;
	r->body_len = body_len;
	env_scan(envp, env);

	r->method = M_OTHER;
	if ((m = env[P_METHOD]) != NULL) {
		for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
			if (strcmp(m, methods[i].name) == 0)
				r->method = methods[i].m;
	}

	/*
	 * nginx normalizes $uri (decoding %2F, merging slashes), which would
	 * corrupt keys in the path, so routing uses the raw REQUEST_URI.
	 */
	if ((uri = env[P_URI]) == NULL || *uri == '\0')
		uri = "/";
	qmark = strchr(uri, '?');
	plen = qmark ? (size_t)(qmark - uri) : strlen(uri);
	script = env[P_SCRIPT];
	slen = script ? strlen(script) : 0;
	while (slen > 0 && script[slen - 1] == '/')
		slen--;
	if (slen > 0 && plen >= slen && strncmp(uri, script, slen) == 0 &&
	    (plen == slen || uri[slen] == '/')) {
		uri += slen;
		plen -= slen;
	}
	if (plen == 0)
		r->path = xmemdup("/", 1);
	else
		r->path = xmemdup(uri, plen);
	parse_path_key(r);
	if (qmark != NULL)
		parse_query(r, qmark + 1);
	r->authorization = env[P_AUTHORIZATION];
	r->remote_addr = env[P_REMOTE_ADDR];
	r->if_match = env[P_IF_MATCH];
	r->if_none_match = env[P_IF_NONE_MATCH];
}

void
req_free(struct req *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nq; i++) {
		free(r->q[i].name);
		free(r->q[i].val);
	}
	free(r->q);
	free(r->path);
	free(r->path_key);
	memset(r, 0, sizeof(*r));
}

const char *
req_query(const struct req *r, const char *name, size_t *len)
{
	size_t i;

	for (i = 0; i < r->nq; i++) {
		if (strcmp(r->q[i].name, name) == 0) {
			if (len != NULL)
				*len = r->q[i].vlen;
			return r->q[i].val;
		}
	}
	return NULL;
}

/*
 * Returns the length of the valid UTF-8 sequence at s (1..4), or 0 if it
 * is malformed, overlong, a surrogate or above U+10FFFF.
 */
static size_t
utf8_seq(const unsigned char *s, size_t left)
{
	uint32_t cp;
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (left < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

const char *
req_key_check(const char *key, size_t len)
{
	const unsigned char *s = (const unsigned char *)key;
	size_t i = 0, n;

	if (key == NULL || len == 0)
		return "Missing key parameter";
	if (len > KEY_MAX_BYTES)
		return "Invalid key: longer than 512 bytes";
	while (i < len) {
		if (s[i] < 0x20 || s[i] == 0x7f)
			return "Invalid key: control characters are not allowed";
		if ((n = utf8_seq(s + i, len - i)) == 0)
			return "Invalid key: not valid UTF-8";
		i += n;
	}
	return NULL;
}

int
req_parse_size(const char *s, size_t len, size_t *out)
{
	size_t v = 0, i;

	if (s == NULL || len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (SIZE_MAX - (size_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (size_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}
