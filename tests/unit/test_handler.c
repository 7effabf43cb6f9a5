/*
 * handler: request in, reply out, over a real store in a temporary
 * directory. Exact reply bodies are asserted where API.md fixes them.
 */
#define _GNU_SOURCE
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "cursor.h"
#include "handler.h"
#include "inflight.h"
#include "route.h"

struct fixture {
	char		 dir[64];
	struct config	 cfg;
	struct store	*store;
	struct ctx	 ctx;
	struct resp	 resp;
};

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct store_cfg scfg = { 0 };

	strcpy(f->dir, "/tmp/kv-handler-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	config_defaults(&f->cfg);
	f->cfg.data_dir = f->dir;
	f->cfg.max_batch_ops = 4;
	f->cfg.max_value = 64;
	scfg.home = f->dir;
	scfg.durability = STORE_DURABLE_WRITE;
	if (store_open(&scfg, &f->store) != STORE_OK)
		return -1;
	f->ctx.store = f->store;
	f->ctx.cfg = &f->cfg;
	resp_init(&f->resp);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	resp_free(&f->resp);
	store_close(f->store);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Runs one request through the route table; returns the reply body. */
static const char *
call(struct fixture *f, const char *method, const char *uri, const char *body)
{
	char m[64], u[2048];
	char *envp[] = { m, u, NULL };
	struct req r;

	snprintf(m, sizeof(m), "REQUEST_METHOD=%s", method);
	snprintf(u, sizeof(u), "REQUEST_URI=%s", uri);
	resp_free(&f->resp);
	resp_init(&f->resp);
	req_parse(&r, envp, body, body ? strlen(body) : 0);
	route_dispatch(&f->ctx, &r, &f->resp);
	req_free(&r);
	return f->resp.body.data ? f->resp.body.data : "";
}

static void
set__then_get__exact_replies(void **state)
{
	struct fixture *f = *state;

	assert_string_equal(call(f, "POST", "/set",
	    "{\"key\":\"k\",\"value\":{\"a\": [1, 2.50, \"x/y\"]}}"),
	    "{\"success\":true,\"key\":\"k\",\"value\":{\"a\":[1,2.50,\"x/y\"]},"
	    "\"expires\":null,\"version\":1}");
	assert_int_equal(f->resp.status, 200);
	assert_string_equal(call(f, "GET", "/get?key=k", NULL),
	    "{\"success\":true,\"key\":\"k\",\"value\":{\"a\":[1,2.50,\"x/y\"]},"
	    "\"expires\":null,\"version\":1}");
	assert_string_equal(call(f, "GET", "/?key=k", NULL),
	    "{\"success\":true,\"key\":\"k\",\"value\":{\"a\":[1,2.50,\"x/y\"]},"
	    "\"expires\":null,\"version\":1}");
	assert_string_equal(call(f, "GET", "/get/k", NULL),
	    "{\"success\":true,\"key\":\"k\",\"value\":{\"a\":[1,2.50,\"x/y\"]},"
	    "\"expires\":null,\"version\":1}");
}

static void
set__ttl__expires_in_the_future(void **state)
{
	struct fixture *f = *state;
	int64_t before = store_now_ms(), exp;
	const char *p;

	p = call(f, "POST", "/", "{\"key\":\"t\",\"value\":1,\"expirationTtl\":60}");
	assert_int_equal(f->resp.status, 200);
	p = strstr(p, "\"expires\":");
	assert_non_null(p);
	exp = strtoll(p + 10, NULL, 10);
	assert_true(exp >= before + 60000);
	assert_true(exp <= store_now_ms() + 60000);
}

static void
set__bad_ttl__400_and_nothing_written(void **state)
{
	static const char *const bad[] = {
		"{\"key\":\"b\",\"value\":1,\"ttl\":-1}",
		"{\"key\":\"b\",\"value\":1,\"ttl\":1.5}",
		"{\"key\":\"b\",\"value\":1,\"ttl\":1e3}",
		"{\"key\":\"b\",\"value\":1,\"ttl\":\"10\"}",
		"{\"key\":\"b\",\"value\":1,\"ttl\":315360001}",
		"{\"key\":\"b\",\"value\":1,\"ttl\":true}",
	};
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		call(f, "POST", "/set", bad[i]);
		assert_int_equal(f->resp.status, 400);
		assert_non_null(strstr(f->resp.body.data, "Invalid ttl"));
	}
	call(f, "GET", "/get?key=b", NULL);
	assert_int_equal(f->resp.status, 404);
}

static void
set__missing_fields__exact_messages(void **state)
{
	struct fixture *f = *state;

	assert_string_equal(call(f, "POST", "/set", "{\"value\":1}"),
	    "{\"success\":false,\"error\":\"Missing key parameter\"}");
	assert_int_equal(f->resp.status, 400);
	assert_string_equal(call(f, "POST", "/set", "{\"key\":\"a\"}"),
	    "{\"success\":false,\"error\":\"Missing value parameter\"}");
	call(f, "POST", "/set", "{\"key\":5,\"value\":1}");
	assert_int_equal(f->resp.status, 400);
	call(f, "POST", "/set", "[1]");
	assert_int_equal(f->resp.status, 400);
	call(f, "POST", "/set", "{\"key\":\"a\",\"value\":NaN}");
	assert_int_equal(f->resp.status, 400);
	assert_non_null(strstr(f->resp.body.data, "Invalid JSON body"));
}

static void
set__value_over_limit__413(void **state)
{
	struct fixture *f = *state;
	char body[256];

	/* max_value is 64 in this fixture; "..." counts its quotes. */
	snprintf(body, sizeof(body), "{\"key\":\"v\",\"value\":\"%062d\"}", 0);
	call(f, "POST", "/set", body);
	assert_int_equal(f->resp.status, 200);
	snprintf(body, sizeof(body), "{\"key\":\"v\",\"value\":\"%063d\"}", 0);
	call(f, "POST", "/set", body);
	assert_int_equal(f->resp.status, 413);
}

static void
set__null_value__deletes(void **state)
{
	struct fixture *f = *state;

	call(f, "POST", "/set", "{\"key\":\"n\",\"value\":1}");
	assert_string_equal(call(f, "POST", "/set",
	    "{\"key\":\"n\",\"value\":null}"),
	    "{\"success\":true,\"key\":\"n\",\"value\":null,\"expires\":null,\"version\":null}");
	assert_string_equal(call(f, "GET", "/get?key=n", NULL),
	    "{\"success\":false,\"error\":\"Key not found\"}");
	assert_int_equal(f->resp.status, 404);
}

static void
get__missing_or_bad_key__400(void **state)
{
	struct fixture *f = *state;

	assert_string_equal(call(f, "GET", "/get", NULL),
	    "{\"success\":false,\"error\":\"Missing key parameter\"}");
	assert_int_equal(f->resp.status, 400);
	call(f, "GET", "/get?key=", NULL);
	assert_int_equal(f->resp.status, 400);
	call(f, "GET", "/get?key=%FF", NULL);
	assert_int_equal(f->resp.status, 400);
	call(f, "GET", "/get?key=%G0", NULL);
	assert_int_equal(f->resp.status, 400);
}

static void
delete__absent_key__idempotent(void **state)
{
	struct fixture *f = *state;

	assert_string_equal(call(f, "DELETE", "/delete?key=nothing", NULL),
	    "{\"success\":true,\"key\":\"nothing\",\"deleted\":true}");
	call(f, "POST", "/set", "{\"key\":\"d/x\",\"value\":true}");
	assert_string_equal(call(f, "DELETE", "/delete/d%2Fx", NULL),
	    "{\"success\":true,\"key\":\"d/x\",\"deleted\":true}");
	call(f, "GET", "/get?key=d/x", NULL);
	assert_int_equal(f->resp.status, 404);
}

static void
tas__mismatch__reports_current(void **state)
{
	struct fixture *f = *state;

	call(f, "POST", "/set", "{\"key\":\"c\",\"value\":{\"n\":1}}");
	assert_string_equal(call(f, "POST", "/test-and-set",
	    "{\"key\":\"c\",\"oldValue\":{\"n\":2},\"newValue\":3}"),
	    "{\"success\":false,\"conditionMet\":false,\"key\":\"c\","
	    "\"message\":\"Condition not met, value was not updated\","
	    "\"current\":{\"value\":{\"n\":1},\"expires\":null,\"version\":1}}");
	assert_string_equal(call(f, "POST", "/test-and-set",
	    "{\"key\":\"c\",\"oldValue\":{\"n\":1.0},\"newValue\":3}"),
	    "{\"success\":true,\"conditionMet\":true,\"key\":\"c\","
	    "\"value\":3,\"expires\":null,\"version\":2}");
	assert_string_equal(call(f, "POST", "/test-and-set",
	    "{\"key\":\"absent\",\"oldValue\":1,\"newValue\":3}"),
	    "{\"success\":false,\"conditionMet\":false,\"key\":\"absent\","
	    "\"message\":\"Condition not met, value was not updated\","
	    "\"current\":null}");
}

static void
tas__missing_fields__exact_messages(void **state)
{
	struct fixture *f = *state;

	assert_string_equal(call(f, "POST", "/test-and-set",
	    "{\"key\":\"c\",\"newValue\":1}"),
	    "{\"success\":false,\"error\":\"Missing oldValue parameter\"}");
	assert_string_equal(call(f, "POST", "/test-and-set",
	    "{\"key\":\"c\",\"oldValue\":null}"),
	    "{\"success\":false,\"error\":\"Missing newValue parameter\"}");
	assert_string_equal(call(f, "POST", "/test-and-set",
	    "{\"oldValue\":null,\"newValue\":1}"),
	    "{\"success\":false,\"error\":\"Missing key parameter\"}");
}

static void
batch__all_kinds__results_in_order(void **state)
{
	struct fixture *f = *state;

	call(f, "POST", "/set", "{\"key\":\"k3\",\"value\":\"old\"}");
	call(f, "POST", "/set", "{\"key\":\"k4\",\"value\":1}");
	assert_string_equal(call(f, "POST", "/batch",
	    "{\"operations\":["
	    "{\"op\":\"set\",\"key\":\"k1\",\"value\":\"v1\"},"
	    "{\"op\":\"GET\",\"key\":\"k1\"},"
	    "{\"op\":\"testAndSet\",\"key\":\"k3\",\"oldValue\":\"old\",\"newValue\":\"new\"},"
	    "{\"op\":\"delete\",\"key\":\"k4\"}]}"),
	    "{\"success\":true,\"results\":["
	    "{\"key\":\"k1\",\"value\":\"v1\",\"expires\":null,\"version\":3},"
	    "{\"key\":\"k1\",\"value\":\"v1\",\"expires\":null,\"version\":3},"
	    "{\"key\":\"k3\",\"value\":\"new\",\"expires\":null,\"version\":4,\"conditionMet\":true},"
	    "{\"key\":\"k4\",\"deleted\":true}]}");
}

static void
batch__bad_op__400_with_index_and_nothing_applied(void **state)
{
	struct fixture *f = *state;

	assert_string_equal(call(f, "POST", "/batch",
	    "{\"operations\":["
	    "{\"op\":\"set\",\"key\":\"a\",\"value\":1},"
	    "{\"op\":\"set\",\"key\":\"b\",\"value\":1},"
	    "{\"op\":\"get\",\"key\":\"c\"},"
	    "{\"op\":\"set\",\"value\":1}]}"),
	    "{\"success\":false,\"error\":\"operations[3]: Missing key parameter\"}");
	assert_int_equal(f->resp.status, 400);
	call(f, "GET", "/get?key=a", NULL);
	assert_int_equal(f->resp.status, 404);
}

static void
batch__limits_and_shape__exact_errors(void **state)
{
	struct fixture *f = *state;

	assert_string_equal(call(f, "POST", "/batch", "{\"operations\":{}}"),
	    "{\"success\":false,\"error\":\"Missing or invalid operations array\"}");
	assert_string_equal(call(f, "POST", "/batch", "{}"),
	    "{\"success\":false,\"error\":\"Missing or invalid operations array\"}");
	/* max_batch_ops is 4 in this fixture. */
	assert_string_equal(call(f, "POST", "/batch",
	    "{\"operations\":[{},{},{},{},{}]}"),
	    "{\"success\":false,\"error\":\"Too many operations. Maximum of 4 "
	    "operations per request.\"}");
	call(f, "POST", "/batch", "{\"operations\":[{\"op\":\"frob\",\"key\":\"a\"}]}");
	assert_int_equal(f->resp.status, 400);
	assert_string_equal(call(f, "POST", "/batch",
	    "{\"operations\":[{\"op\":\"get\",\"key\":\"a\"},{\"op\":\"set\","
	    "\"key\":\"a\",\"value\":\"0123456789012345678901234567890123456"
	    "789012345678901234567890123456789\"}]}"),
	    "{\"success\":false,\"error\":\"operations[1]: value too large\"}");
	assert_int_equal(f->resp.status, 413);
}

static void
batch__atomic_failed_tas__rolled_back(void **state)
{
	struct fixture *f = *state;

	assert_string_equal(call(f, "POST", "/batch",
	    "{\"atomic\":true,\"operations\":["
	    "{\"op\":\"set\",\"key\":\"x\",\"value\":1},"
	    "{\"op\":\"test-and-set\",\"key\":\"y\",\"oldValue\":5,\"newValue\":6}]}"),
	    "{\"success\":false,\"conditionMet\":false,\"failedOperation\":1,"
	    "\"message\":\"Condition not met at operations[1], batch rolled back\"}");
	assert_int_equal(f->resp.status, 200);
	call(f, "GET", "/get?key=x", NULL);
	assert_int_equal(f->resp.status, 404);
}

static void
batch__non_atomic_failed_tas__rest_applied(void **state)
{
	struct fixture *f = *state;

	assert_string_equal(call(f, "POST", "/batch",
	    "{\"operations\":["
	    "{\"op\":\"test-and-set\",\"key\":\"y\",\"oldValue\":5,\"newValue\":6},"
	    "{\"op\":\"set\",\"key\":\"x\",\"value\":1}]}"),
	    "{\"success\":true,\"results\":["
	    "{\"key\":\"y\",\"value\":null,\"expires\":null,\"version\":null,\"conditionMet\":false},"
	    "{\"key\":\"x\",\"value\":1,\"expires\":null,\"version\":1}]}");
	call(f, "GET", "/get?key=x", NULL);
	assert_int_equal(f->resp.status, 200);
}

static void
list__paging__every_key_once_then_null_cursor(void **state)
{
	struct fixture *f = *state;
	char body[128], uri[256], cursor[128];
	const char *p, *q;
	int i, seen = 0, pages = 0;

	for (i = 0; i < 7; i++) {
		snprintf(body, sizeof(body), "{\"key\":\"p%d\",\"value\":%d}", i, i);
		call(f, "POST", "/set", body);
	}
	call(f, "POST", "/set", "{\"key\":\"q\",\"value\":0}");
	snprintf(uri, sizeof(uri), "/list?prefix=p&limit=3");
	for (;;) {
		p = call(f, "GET", uri, NULL);
		assert_int_equal(f->resp.status, 200);
		pages++;
		for (q = p; (q = strstr(q, "\"key\":\"p")) != NULL; q++) {
			assert_int_equal(q[8] - '0', seen);
			seen++;
		}
		q = strstr(p, "\"cursor\":");
		assert_non_null(q);
		if (strcmp(q, "\"cursor\":null}") == 0)
			break;
		assert_int_equal(sscanf(q, "\"cursor\":\"%127[^\"]\"", cursor), 1);
		snprintf(uri, sizeof(uri), "/list?prefix=p&limit=3&cursor=%s", cursor);
		assert_true(pages < 10);
	}
	assert_int_equal(seen, 7);
	assert_int_equal(pages, 3);
}

static void
list__bad_parameters__400(void **state)
{
	struct fixture *f = *state;

	call(f, "GET", "/list?limit=0", NULL);
	assert_int_equal(f->resp.status, 400);
	call(f, "GET", "/list?limit=1001", NULL);
	assert_int_equal(f->resp.status, 400);
	call(f, "GET", "/list?limit=ten", NULL);
	assert_int_equal(f->resp.status, 400);
	call(f, "GET", "/list?cursor=***", NULL);
	assert_int_equal(f->resp.status, 400);
	/* Well-formed, but for a key no store holds: 1,200 bytes. */
	{
		struct buf cb, uri;
		char key[1200];

		memset(key, 'x', sizeof(key));
		buf_init(&cb);
		buf_init(&uri);
		cursor_encode(&cb, key, sizeof(key));
		buf_adds(&uri, "/list?cursor=");
		buf_add(&uri, cb.data, cb.len);
		assert_string_equal(call(f, "GET", uri.data, NULL),
		    "{\"success\":false,\"error\":\"Invalid cursor\"}");
		buf_free(&cb);
		buf_free(&uri);
	}
	assert_string_equal(call(f, "GET", "/list?limit=1000", NULL),
	    "{\"success\":true,\"count\":0,\"items\":[],\"cursor\":null}");
}

static void
health__open_store__healthy(void **state)
{
	struct fixture *f = *state;

	assert_string_equal(call(f, "GET", "/health", NULL),
	    "{\"status\":\"healthy\",\"kvStoreCheck\":\"ok\"}");
	assert_int_equal(f->resp.status, 200);
}

/*
 * Replies that read values take reply memory first: with the limit spent
 * by another reply in flight, get, list and a batch with a get answer 503
 * with Retry-After, and succeed once it is given back. What a reply took
 * is given back when it is freed.
 */
static void
reads__reply_memory_spent__503_then_200(void **state)
{
	static const char *const reads[][3] = {
		{ "GET", "/get?key=big", NULL },
		{ "GET", "/list?prefix=big", NULL },
		{ "POST", "/batch", "{\"operations\":[{\"op\":\"get\","
		    "\"key\":\"big\"}]}" },
	};
	struct fixture *f = *state;
	size_t i;

	assert_non_null(call(f, "POST", "/set",
	    "{\"key\":\"big\",\"value\":\"0123456789012345678901234567890"
	    "12345678901234567890\"}"));
	assert_int_equal(f->resp.status, 200);
	resp_free(&f->resp);
	resp_init(&f->resp);
	assert_int_equal(inflight_held(), 0);
	inflight_set_limit(100);
	assert_int_equal(inflight_take(90), INFLIGHT_OK);
	for (i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
		assert_string_equal(call(f, reads[i][0], reads[i][1],
		    reads[i][2]), "{\"success\":false,\"error\":\"Too much "
		    "reply data in flight, please retry\"}");
		assert_int_equal(f->resp.status, 503);
		assert_int_equal(f->resp.retry_after, 1);
	}
	resp_free(&f->resp);
	resp_init(&f->resp);
	assert_int_equal(inflight_held(), 90);
	inflight_give(90);
	/* Alone, a reply may pass the limit: a valid request always works. */
	for (i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
		call(f, reads[i][0], reads[i][1], reads[i][2]);
		assert_int_equal(f->resp.status, 200);
		assert_true(inflight_held() > 100);
	}
	resp_free(&f->resp);
	resp_init(&f->resp);
	assert_int_equal(inflight_held(), 0);
	assert_int_equal(inflight_take(INFLIGHT_REPLY_MAX + 1),
	    INFLIGHT_TOO_LARGE);
	assert_int_equal(inflight_held(), 0);
	inflight_set_limit((size_t)256 << 20);
}

#define T(name)	cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(set__then_get__exact_replies),
		T(set__ttl__expires_in_the_future),
		T(set__bad_ttl__400_and_nothing_written),
		T(set__missing_fields__exact_messages),
		T(set__value_over_limit__413),
		T(set__null_value__deletes),
		T(get__missing_or_bad_key__400),
		T(delete__absent_key__idempotent),
		T(tas__mismatch__reports_current),
		T(tas__missing_fields__exact_messages),
		T(batch__all_kinds__results_in_order),
		T(batch__bad_op__400_with_index_and_nothing_applied),
		T(batch__limits_and_shape__exact_errors),
		T(batch__atomic_failed_tas__rolled_back),
		T(batch__non_atomic_failed_tas__rest_applied),
		T(list__paging__every_key_once_then_null_cursor),
		T(list__bad_parameters__400),
		T(health__open_store__healthy),
		T(reads__reply_memory_spent__503_then_200),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
