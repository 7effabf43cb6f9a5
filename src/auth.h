/*
 * auth: access control in the service (API.md, "Access control"). Holds
 * the table of tokens loaded from the tokens file, reloads it when the
 * file changes, and decides each request: 401 without a known bearer
 * token, 403 without the right or outside the token's key prefixes.
 *
 * With no tokens file (auth_open never called) access control is off:
 * every request passes and req->token stays NULL.
 */
#ifndef KV_AUTH_H
#define KV_AUTH_H

#include <stddef.h>

#include "request.h"
#include "response.h"
#include "token.h"

/*
 * What a route needs, per method (route.c). AUTH_UNSET is the zero of a
 * row that forgot to say: refused for every token, so a new route is
 * closed until someone decides.
 */
enum auth_need {
	AUTH_UNSET	= 0,
	AUTH_READ	= TOKEN_READ,
	AUTH_WRITE	= TOKEN_WRITE,
	AUTH_METRICS	= TOKEN_METRICS,
	AUTH_TOKEN	= 1 << 8,	/* any valid token; the handler checks more (batch) */
	AUTH_OPEN	= 1 << 9,	/* no token needed (GET /health) */
};

/* Why a request was refused: the label of kvstore_auth_denied_total. */
enum auth_denial { AUTH_MISSING, AUTH_UNKNOWN, AUTH_FORBIDDEN, AUTH_NDENIALS };

/*
 * Turns access control on with the tokens file at path (kept, not
 * copied) and loads it. Returns 0, or -1 with err set to the reason,
 * with the line number for a malformed file. Once, before the workers.
 */
int	auth_open(const char *path, char *err, size_t errlen);

/* Whether access control is on, and how many tokens are loaded now. */
int	auth_enabled(void);
size_t	auth_count(void);

/*
 * Re-reads the tokens file: at once when force is set (SIGHUP), else only
 * if it changed since the last look (stat: inode, size, times). Called
 * by one thread, at most about once a second; never on the request path.
 * A file that fails to parse is logged with its line number and the
 * tokens loaded before stay in force. Returns 1 if a new table was
 * installed, 0 if nothing changed, -1 on a failed reload.
 *
 * The table is swapped by pointer; the old one is freed only after every
 * worker that might still hold it has finished its request.
 */
int	auth_reload(int force);

/* Frees the table (at exit, after the workers are gone). */
void	auth_close(void);

/*
 * Decides a request before its handler runs, given what its route needs
 * for its method (0 when the path or method is unknown: a valid token is
 * still required). On success returns 0 with r->token set (NULL when
 * access control is off or the route is open). Otherwise returns -1 with
 * the 401 or 403 reply in resp, counted and logged.
 *
 * Every call must be paired with auth_request_end(r) once the reply is
 * built: until then r->token points into the table in force.
 */
int	auth_request(struct req *r, unsigned need, struct resp *resp);
void	auth_request_end(struct req *r);

/*
 * Whether token t may touch key (or list the prefix) s of len bytes:
 * s must start with one of t's prefixes (the empty prefix: every key).
 * t NULL (access control off) allows everything.
 */
int	auth_key_allowed(const struct token *t, const char *s, size_t len);

/*
 * The check inside handlers: 0 if r's token may reach key s, else -1 with
 * a 403 in resp (message "Forbidden"), counted and logged.
 */
int	auth_check_key(const struct req *r, const char *s, size_t len,
	    struct resp *resp);

/*
 * Refuses r with 403 and the given message (e.g. "operations[2]:
 * Forbidden"), counting and logging it.
 */
void	auth_forbid(const struct req *r, struct resp *resp, const char *msg);

/*
 * Parses an Authorization header value (RFC 6750 section 2.1: "Bearer",
 * case-insensitive, then one or more spaces and a b64token, optional
 * trailing spaces). Returns 0 with *tok and *len pointing into h, or -1
 * when there is no usable bearer token.
 */
int	auth_parse_bearer(const char *h, size_t hlen, const char **tok,
	    size_t *len);

/* Count of refusals for one reason since the start, for /metrics. */
unsigned long long auth_denied(enum auth_denial);

#endif
