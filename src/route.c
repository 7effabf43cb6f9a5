/*
 * route: the route table. Adding an endpoint adds a row here.
 */
#include <string.h>

#include "route.h"

#define ALLOW_ALL	"GET, POST, DELETE, OPTIONS"

struct route {
	const char	*path;
	int		 prefix;	/* matches path + anything (keys in the path) */
	handler_fn	 get;
	handler_fn	 post;
	handler_fn	 del;
	const char	*allow;
};

static const struct route routes[] = {
	{ "/", 0, handler_root_get, handler_set, handler_delete, ALLOW_ALL },
	{ "/get", 0, handler_get, NULL, NULL, "GET, OPTIONS" },
	{ "/get/", 1, handler_get, NULL, NULL, "GET, OPTIONS" },
	{ "/list", 0, handler_list, NULL, NULL, "GET, OPTIONS" },
	{ "/set", 0, NULL, handler_set, NULL, "POST, OPTIONS" },
	{ "/test-and-set", 0, NULL, handler_tas, NULL, "POST, OPTIONS" },
	{ "/batch", 0, NULL, handler_batch, NULL, "POST, OPTIONS" },
	{ "/incr", 0, NULL, handler_incr, NULL, "POST, OPTIONS" },
	{ "/touch", 0, NULL, handler_touch, NULL, "POST, OPTIONS" },
	{ "/delete-prefix", 0, NULL, handler_delete_prefix, NULL,
	    "POST, OPTIONS" },
	{ "/delete", 0, NULL, NULL, handler_delete, "DELETE, OPTIONS" },
	{ "/delete/", 1, NULL, NULL, handler_delete, "DELETE, OPTIONS" },
	{ "/health", 0, handler_health, NULL, NULL, "GET, OPTIONS" },
	{ "/metrics", 0, handler_metrics, NULL, NULL, "GET, OPTIONS" },
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

handler_fn
route_find(const struct req *r, int *status, const char **allow)
{
	const struct route *rt;
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
	if ((rt = route_lookup(r->path)) == NULL) {
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

size_t
route_dispatch(const struct ctx *c, const struct req *r, struct resp *resp)
{
	const struct route *rt;
	const char *allow;
	handler_fn h;
	size_t id;
	int status;

	rt = route_lookup(r->path);
	id = rt != NULL ? (size_t)(rt - routes) : ROUTE_OTHER;
	if ((h = route_find(r, &status, &allow)) != NULL) {
		h(c, r, resp);
		return id;
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
	return id;
}
