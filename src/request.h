/*
 * request: turns FastCGI/CGI parameters and a body into a struct req.
 * Pure: no I/O, testable with a static envp.
 */
#ifndef KV_REQUEST_H
#define KV_REQUEST_H

#include <stddef.h>

struct token;

enum method { M_GET, M_POST, M_DELETE, M_OPTIONS, M_OTHER };

struct qparam {
	char	*name;		/* decoded, NUL-terminated */
	char	*val;		/* decoded, NUL-terminated, vlen bytes */
	size_t	 vlen;
};

struct req {
	enum method	 method;
	char		*path;		/* raw path below the mount point, no query */
	char		*path_key;	/* decoded key from /get/K or /delete/K, else NULL */
	size_t		 path_key_len;
	int		 path_key_bad;	/* the path segment had a malformed %XX */
	struct qparam	*q;
	size_t		 nq;
	int		 query_bad;	/* the query string had a malformed %XX */
	const char	*body;		/* borrowed; may be NULL when len is 0 */
	size_t		 body_len;
	/* Access control (auth.c): borrowed from envp, NULL when absent. */
	const char	*authorization;	/* HTTP_AUTHORIZATION */
	const char	*remote_addr;	/* REMOTE_ADDR, for the log */
	const struct token *token;	/* set by auth_request; NULL = no check */
	/* Conditional request headers, borrowed from envp; NULL if absent. */
	const char	*if_match;	/* HTTP_IF_MATCH */
	const char	*if_none_match;	/* HTTP_IF_NONE_MATCH */
};

/*
 * Fills r from envp (NULL-terminated "NAME=value" strings): REQUEST_METHOD,
 * REQUEST_URI (raw, as the client sent it) and SCRIPT_NAME (the mount point,
 * stripped from the path when it is a prefix). body, and the values of
 * HTTP_AUTHORIZATION and REMOTE_ADDR, are borrowed. Everything else in r
 * is malloc'd; free with req_free. Never fails on input: malformed
 * escapes set path_key_bad/query_bad for the handler to report.
 */
void	req_parse(struct req *r, char *const *envp, const char *body,
	    size_t body_len);
void	req_free(struct req *);

/* Looks up a parameter in envp; NULL if absent. */
const char *req_env(char *const *envp, const char *name);

/* First query parameter called name, or NULL. *len (may be NULL) gets its length. */
const char *req_query(const struct req *, const char *name, size_t *len);

/*
 * Decodes %XX escapes (and '+' as space when plus_space) from s[0..len)
 * into a malloc'd NUL-terminated string. Returns NULL on a malformed escape.
 */
char	*req_unescape(const char *s, size_t len, int plus_space, size_t *outlen);

/*
 * Checks the API's key rule: 1..512 bytes of valid UTF-8 without control
 * characters. Returns NULL if valid, else the reason ("Missing key
 * parameter", "Key too long: ...", ...).
 */
const char *req_key_check(const char *key, size_t len);

/*
 * Parses a decimal unsigned integer made of digits only (no sign, no
 * spaces), with overflow checking. Returns 0 and sets *out on success.
 */
int	req_parse_size(const char *s, size_t len, size_t *out);

#endif
