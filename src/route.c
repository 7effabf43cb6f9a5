/*
 * route: the route table. Adding an endpoint adds a row here.
 */
#include <string.h>

#include "auth.h"
#include "route.h"

#define ALLOW_ALL	"GET, POST, DELETE, OPTIONS"

struct route {
	const char	*path;
	int		 prefix;	/* matches path + anything (keys in the path) */
	handler_fn	 get;
	handler_fn	 post;
	handler_fn	 del;
	const char	*allow;
	unsigned	 need[3];	/* enum auth_need for GET, POST, DELETE */
};

/*
 * What a token needs for each method of a row (API.md, "Access
 * control"). A method a row leaves at 0 is refused to every token
 * (auth.h, AUTH_UNSET), so forgetting this column closes a route.
 */
#define NEED(get, post, del)	{ [M_GET] = (get), [M_POST] = (post), \
				  [M_DELETE] = (del) }

static const struct route routes[] = {
	{ "/", 0, handler_root_get, handler_set, handler_delete, ALLOW_ALL,
	    NEED(AUTH_READ, AUTH_WRITE, AUTH_WRITE) },
	{ "/get", 0, handler_get, NULL, NULL, "GET, OPTIONS",
	    NEED(AUTH_READ, 0, 0) },
	{ "/get/", 1, handler_get, NULL, NULL, "GET, OPTIONS",
	    NEED(AUTH_READ, 0, 0) },
	{ "/list", 0, handler_list, NULL, NULL, "GET, OPTIONS",
	    NEED(AUTH_READ, 0, 0) },
	{ "/set", 0, NULL, handler_set, NULL, "POST, OPTIONS",
	    NEED(0, AUTH_WRITE, 0) },
	{ "/test-and-set", 0, NULL, handler_tas, NULL, "POST, OPTIONS",
	    NEED(0, AUTH_WRITE, 0) },
	/* Each operation needs its own right: handler_batch checks them all. */
	{ "/batch", 0, NULL, handler_batch, NULL, "POST, OPTIONS",
	    NEED(0, AUTH_TOKEN, 0) },
	{ "/incr", 0, NULL, handler_incr, NULL, "POST, OPTIONS",
	    NEED(0, AUTH_WRITE, 0) },
	{ "/touch", 0, NULL, handler_touch, NULL, "POST, OPTIONS",
	    NEED(0, AUTH_WRITE, 0) },
	/* The prefix is checked against the token's prefixes in the handler. */
	{ "/delete-prefix", 0, NULL, handler_delete_prefix, NULL,
	    "POST, OPTIONS", NEED(0, AUTH_WRITE, 0) },
	{ "/delete", 0, NULL, NULL, handler_delete, "DELETE, OPTIONS",
	    NEED(0, 0, AUTH_WRITE) },
	{ "/delete/", 1, NULL, NULL, handler_delete, "DELETE, OPTIONS",
	    NEED(0, 0, AUTH_WRITE) },
	{ "/health", 0, handler_health, NULL, NULL, "GET, OPTIONS",
	    NEED(AUTH_OPEN, 0, 0) },
	{ "/metrics", 0, handler_metrics, NULL, NULL, "GET, OPTIONS",
	    NEED(AUTH_METRICS, 0, 0) },
};

#define NROUTES		(sizeof(routes) / sizeof(routes[0]))
#define ROUTE_OTHER	NROUTES		/* id of requests that match no row */

static const struct route *
route_lookup(const char *path)
{
	size_t i, n;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		n = strlen(routes[i].path);
		if (routes[i].prefix ? strncmp(path, routes[i].path, n) == 0 :
		    strcmp(path, routes[i].path) == 0)
			return &routes[i];
	}
	return NULL;
}

/* route_find for r, whose row (NULL: none) the caller has looked up. */
static handler_fn
find_in(const struct route *rt, const struct req *r, int *status,
    const char **allow)
{
	handler_fn h = NULL;

	*allow = ALLOW_ALL;
	/* CORS preflight and unknown methods are answered alike on every path. */
	if (r->method == M_OPTIONS) {
		*status = 204;
		return NULL;
	}
	if (r->method == M_OTHER) {
		*status = 405;
		return NULL;
	}
	if (rt == NULL) {
		*allow = NULL;
		*status = 404;
		return NULL;
	}
	switch (r->method) {
	case M_GET:
		h = rt->get;
		break;
	case M_POST:
		h = rt->post;
		break;
	case M_DELETE:
		h = rt->del;
		break;
	default:
		break;
	}
	if (h == NULL) {
		*allow = rt->allow;
		*status = 405;
	}
	return h;
}

handler_fn
route_find(const struct req *r, int *status, const char **allow)
{
	return find_in(route_lookup(r->path), r, status, allow);
}

size_t
route_count(void)
{
	return NROUTES + 1;
}

const char *
route_name(size_t id)
{
	if (id < NROUTES)
		return routes[id].path;
	return id == ROUTE_OTHER ? "other" : NULL;
}

/* route_need for r, whose row (NULL: none) the caller has looked up. */
static unsigned
need_in(const struct route *rt, const struct req *r)
{
	if (r->method == M_OPTIONS)
		return AUTH_OPEN;
	/* Unknown paths and methods still need a valid token for 404/405. */
	if (rt == NULL || r->method == M_OTHER)
		return AUTH_TOKEN;
	if ((r->method == M_GET && rt->get == NULL) ||
	    (r->method == M_POST && rt->post == NULL) ||
	    (r->method == M_DELETE && rt->del == NULL))
		return AUTH_TOKEN;
	return rt->need[r->method];
}

unsigned
route_need(const struct req *r)
{
	return need_in(route_lookup(r->path), r);
}

size_t
route_dispatch(const struct ctx *c, struct req *r, struct resp *resp)
{
	const struct route *rt;
	const char *allow;
	handler_fn h;
	size_t id;
	int status;

	/* Looked up once: the table is scanned by string comparisons. */
	rt = route_lookup(r->path);
	id = rt != NULL ? (size_t)(rt - routes) : ROUTE_OTHER;
	if (auth_request(r, need_in(rt, r), resp) != 0)
		goto out;
	if ((h = find_in(rt, r, &status, &allow)) != NULL) {
		h(c, r, resp);
		goto out;
	}
	switch (status) {
	case 204:
		resp->status = 204;
		resp->allow = allow;
		break;
	case 405:
		resp_error(resp, 405, "Method not allowed");
		resp->allow = allow;
		break;
	default:
		resp_error(resp, 404, "Not found");
		break;
	}
out:
	auth_request_end(r);
	return id;
}
