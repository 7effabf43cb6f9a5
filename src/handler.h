/*
 * handler: one handler_<op>() per endpoint: validate the request, call the
 * store, fill the response. Knows neither BDB nor FastCGI.
 */
#ifndef KV_HANDLER_H
#define KV_HANDLER_H

#include "config.h"
#include "request.h"
#include "response.h"
#include "store.h"

struct ctx {
	struct store		*store;
	const struct config	*cfg;
};

typedef void (*handler_fn)(const struct ctx *, const struct req *, struct resp *);

void	handler_root_get(const struct ctx *, const struct req *, struct resp *);
void	handler_get(const struct ctx *, const struct req *, struct resp *);
void	handler_list(const struct ctx *, const struct req *, struct resp *);
void	handler_set(const struct ctx *, const struct req *, struct resp *);
void	handler_delete(const struct ctx *, const struct req *, struct resp *);
void	handler_tas(const struct ctx *, const struct req *, struct resp *);
void	handler_batch(const struct ctx *, const struct req *, struct resp *);
void	handler_incr(const struct ctx *, const struct req *, struct resp *);
void	handler_touch(const struct ctx *, const struct req *, struct resp *);
void	handler_delete_prefix(const struct ctx *, const struct req *,
	    struct resp *);
void	handler_health(const struct ctx *, const struct req *, struct resp *);
void	handler_metrics(const struct ctx *, const struct req *, struct resp *);

#endif
