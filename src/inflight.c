/*
 * inflight: one atomic counter of the bytes replies hold (see inflight.h).
 * The counter is checked after it is raised, so two threads racing for the
 * last room cannot both pass the limit; the loser gives its bytes back.
 */
#include <stdatomic.h>
#include <stddef.h>

#include "inflight.h"

/* 256 MiB unless configured (config.c has the same default). */
static _Atomic size_t	limit = (size_t)256 << 20;
static _Atomic size_t	held;

void
inflight_set_limit(size_t n)
{
	atomic_store(&limit, n);
}

enum inflight_result
inflight_take(size_t n)
{
	size_t before;

	if (n > INFLIGHT_REPLY_MAX)
		return INFLIGHT_TOO_LARGE;
	before = atomic_fetch_add(&held, n);
	if (before > 0 && before + n > atomic_load(&limit)) {
		atomic_fetch_sub(&held, n);
		return INFLIGHT_BUSY;
	}
	return INFLIGHT_OK;
}

void
inflight_give(size_t n)
{
	atomic_fetch_sub(&held, n);
}

size_t
inflight_held(void)
{
	return atomic_load(&held);
}
