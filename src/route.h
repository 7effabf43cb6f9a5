/*
 * route: the route table. Maps (method, path) to a handler, and answers
 * OPTIONS, 404 and 405 itself.
 */
#ifndef KV_ROUTE_H
#define KV_ROUTE_H

#include "handler.h"

/*
 * Checks r's access (auth.c; it sets r->token for the handler), then
 * dispatches r to its handler, or fills resp with 204/401/403/404/405.
 * Returns the route id of r's path, for metrics (see route_name).
 */
size_t	route_dispatch(const struct ctx *, struct req *, struct resp *);

/*
 * What r needs to pass access control (enum auth_need): its row's need
 * for its method, AUTH_OPEN for OPTIONS, AUTH_TOKEN for an unknown path
 * or method.
 */
unsigned route_need(const struct req *);

/*
 * Route ids are 0..route_count()-1: one per row of the table, named by
 * its path ("/get/" stands for /get/KEY), then "other" for every path the
 * table does not know. route_name returns NULL for any other id.
 */
size_t	route_count(void);
const char *route_name(size_t id);

/*
 * Looks up r's route without running it. Returns the handler, or NULL with
 * *status set to 204 (OPTIONS), 404 or 405 and *allow to the Allow value.
 */
handler_fn route_find(const struct req *, int *status, const char **allow);

#endif
