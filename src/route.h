/*
 * route: the route table. Maps (method, path) to a handler, and answers
 * OPTIONS, 404 and 405 itself.
 */
#ifndef KV_ROUTE_H
#define KV_ROUTE_H

#include "handler.h"

/* Dispatches r to its handler, or fills resp with 204/404/405. */
void	route_dispatch(const struct ctx *, const struct req *, struct resp *);

/*
 * Looks up r's route without running it. Returns the handler, or NULL with
 * *status set to 204 (OPTIONS), 404 or 405 and *allow to the Allow value.
 */
handler_fn route_find(const struct req *, int *status, const char **allow);

#endif
