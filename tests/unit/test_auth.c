/*
 * auth: the Authorization header parser, the rights and prefix decision
 * table through the real route table and handlers, and reloading the
 * tokens file while other threads use the table.
 */
#define _GNU_SOURCE
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "handler.h"
#include "log.h"
#include "route.h"

/* Test tokens: any b64token works as a secret, the file holds its hash. */
#define T_ALL		"kvs_all"
#define T_READER	"kvs_reader"
#define T_WRITER	"kvs_writer"
#define T_METRICS	"kvs_metrics"
#define T_TWO		"kvs_two"
#define T_NEW		"kvs_new"

struct fixture {
	char		 dir[64];
	char		 path[128];
	struct config	 cfg;
	struct store	*store;
	struct ctx	 ctx;
	struct resp	 resp;
};

static struct fixture *F;

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* One token line: name, rights, prefixes (file syntax), secret. */
static void
put_token(struct buf *b, const char *name, const char *rights,
    const char *prefixes, const char *secret)
{
	unsigned char h[TOKEN_HASH_BYTES];
	size_t i;

	token_hash(secret, strlen(secret), h);
	buf_addf(b, "%s %s %s 2026-01-01T00:00:00Z sha256:", name, rights,
	    prefixes);
	for (i = 0; i < TOKEN_HASH_BYTES; i++)
		buf_addf(b, "%02x", h[i]);
	buf_addc(b, '\n');
}

/* Replaces the tokens file (temp + rename, as the admin tool does). */
static void
write_file(const char *text)
{
	char tmp[160];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", F->path);
	assert_non_null(f = fopen(tmp, "w"));
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, F->path), 0);
}

static void
write_tokens(int with_new, int without_reader)
{
	struct buf b;

	buf_init(&b);
	buf_adds(&b, TOKEN_FILE_HEADER);
	put_token(&b, "all", "read,write,metrics", "*", T_ALL);
	if (!without_reader)
		put_token(&b, "reader", "read", "user_", T_READER);
	put_token(&b, "writer", "write", "user_", T_WRITER);
	put_token(&b, "metrics", "metrics", "*", T_METRICS);
	put_token(&b, "two", "read,write", "a/,b%2C", T_TWO);
	if (with_new)
		put_token(&b, "new", "read", "*", T_NEW);
	write_file(b.data);
	buf_free(&b);
}

static int
setup(void **state)
{
	struct store_cfg scfg = { 0 };
	char err[512];

	log_set_level(LOG_LVL_ERROR);
	F = calloc(1, sizeof(*F));
	strcpy(F->dir, "/tmp/kv-auth-XXXXXX");
	if (mkdtemp(F->dir) == NULL)
		return -1;
	snprintf(F->path, sizeof(F->path), "%s/tokens", F->dir);
	if (token_init() != 0)
		return -1;
	write_tokens(0, 0);
	if (auth_open(F->path, err, sizeof(err)) != 0) {
		fprintf(stderr, "auth_open: %s\n", err);
		return -1;
	}
	config_defaults(&F->cfg);
	F->cfg.data_dir = F->dir;
	scfg.home = F->dir;
	scfg.durability = STORE_DURABLE_WRITE;
	if (store_open(&scfg, &F->store) != STORE_OK)
		return -1;
	F->ctx.store = F->store;
	F->ctx.cfg = &F->cfg;
	resp_init(&F->resp);
	*state = F;
	return 0;
}

static int
teardown(void **state)
{
	resp_free(&F->resp);
	store_close(F->store);
	auth_close();
	nftw(F->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(F);
	return 0;
}

/*
 * Runs one request through the route table with the given token (NULL:
 * no Authorization header; a string starting with a space: that header
 * value as is). Returns the status; the body is in F->resp.
 */
static int
call(const char *token, const char *method, const char *uri,
    const char *body)
{
	char m[64], u[2048], a[512];
	char *envp[] = { m, u, "REMOTE_ADDR=192.0.2.7", NULL, NULL };
	struct req r;

	snprintf(m, sizeof(m), "REQUEST_METHOD=%s", method);
	snprintf(u, sizeof(u), "REQUEST_URI=%s", uri);
	if (token != NULL) {
		if (token[0] == ' ')
			snprintf(a, sizeof(a), "HTTP_AUTHORIZATION=%s", token + 1);
		else
			snprintf(a, sizeof(a), "HTTP_AUTHORIZATION=Bearer %s",
			    token);
		envp[3] = a;
	}
	resp_free(&F->resp);
	resp_init(&F->resp);
	req_parse(&r, envp, body, body ? strlen(body) : 0);
	route_dispatch(&F->ctx, &r, &F->resp);
	assert_null(r.token);	/* auth_request_end ran */
	req_free(&r);
	return F->resp.status;
}

static const char *
body(void)
{
	return F->resp.body.data ? F->resp.body.data : "";
}

/* ---- the Authorization header ---- */

static void
auth_parse_bearer__rfc6750_forms(void **state)
{
	static const struct {
		const char	*h;
		const char	*tok;	/* NULL: refused */
	} cases[] = {
		{ "Bearer kvs_abc", "kvs_abc" },
		{ "bearer kvs_abc", "kvs_abc" },
		{ "BEARER   kvs_abc  ", "kvs_abc" },
		{ " Bearer kvs_abc\t", "kvs_abc" },
		{ "Bearer a-._~+/Z9==", "a-._~+/Z9==" },
		{ "Bearer", NULL },
		{ "Bearer ", NULL },
		{ "Bearerkvs_abc", NULL },
		{ "Bearer\tkvs_abc", NULL },
		{ "Basic dXNlcjpwYXNz", NULL },
		{ "Bearer kvs abc", NULL },
		{ "Bearer kvs_abc,x", NULL },
		{ "Bearer =abc", NULL },
		{ "Bearer ab=c", NULL },
		{ "Bearer kvs_\xc3\xa9", NULL },
		{ "", NULL },
		{ "Bear kvs_abc", NULL },
	};
	const char *tok;
	size_t i, len;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rc = auth_parse_bearer(cases[i].h, strlen(cases[i].h), &tok,
		    &len);
		if (cases[i].tok == NULL) {
			if (rc != -1)
				fail_msg("accepted '%s'", cases[i].h);
			continue;
		}
		if (rc != 0 || len != strlen(cases[i].tok) ||
		    memcmp(tok, cases[i].tok, len) != 0)
			fail_msg("'%s': rc %d, token '%.*s'", cases[i].h, rc,
			    (int)len, tok);
	}
	assert_int_equal(auth_parse_bearer(NULL, 0, &tok, &len), -1);
}

/* ---- the decision table ---- */

static void
auth_key_allowed__prefix_boundaries(void **state)
{
	struct token_prefix p[] = { { "user_", 5 }, { "a", 1 } };
	struct token t = { .prefixes = p, .nprefixes = 2 };
	struct token_prefix every = { "", 0 };
	struct token all = { .prefixes = &every, .nprefixes = 1 };

	assert_true(auth_key_allowed(&t, "user_", 5));
	assert_true(auth_key_allowed(&t, "user_1", 6));
	assert_false(auth_key_allowed(&t, "user", 4));
	assert_false(auth_key_allowed(&t, "use", 3));
	assert_false(auth_key_allowed(&t, "", 0));
	assert_false(auth_key_allowed(&t, "User_1", 6));
	assert_true(auth_key_allowed(&t, "abc", 3));
	assert_false(auth_key_allowed(&t, "b", 1));
	assert_true(auth_key_allowed(&all, "", 0));
	assert_true(auth_key_allowed(&all, "anything", 8));
	assert_true(auth_key_allowed(NULL, "x", 1));
}

static const struct {
	const char	*token;		/* see call() */
	const char	*method;
	const char	*uri;
	const char	*body;
	int		 status;
	const char	*reply;		/* exact body, or NULL */
} table[] = {
	/* Open: OPTIONS anywhere, GET /health. */
	{ NULL, "OPTIONS", "/set", NULL, 204, NULL },
	{ NULL, "OPTIONS", "/nowhere", NULL, 204, NULL },
	{ NULL, "GET", "/health", NULL, 200, NULL },
	{ "kvs_nobody", "GET", "/health", NULL, 200, NULL },
	/* 401: no header, not a bearer token, unknown token. */
	{ NULL, "GET", "/get?key=user_1", NULL, 401,
	    "{\"success\":false,\"error\":\"Unauthorized\"}" },
	{ " Basic dXNlcjpwYXNz", "GET", "/get?key=user_1", NULL, 401, NULL },
	{ " Bearer", "GET", "/get?key=user_1", NULL, 401, NULL },
	{ " kvs_all", "GET", "/get?key=user_1", NULL, 401, NULL },
	{ "kvs_nobody", "GET", "/get?key=user_1", NULL, 401, NULL },
	{ "kvs_all=", "GET", "/get?key=user_1", NULL, 401, NULL },
	{ NULL, "POST", "/health", NULL, 401, NULL },
	{ NULL, "GET", "/nowhere", NULL, 401, NULL },
	{ NULL, "PUT", "/set", NULL, 401, NULL },
	{ NULL, "GET", "/metrics", NULL, 401, NULL },
	/* A valid token reaches 404 and 405 with no right needed. */
	{ T_METRICS, "GET", "/nowhere", NULL, 404, NULL },
	{ T_METRICS, "GET", "/set", NULL, 405, NULL },
	{ T_METRICS, "PUT", "/set", NULL, 405, NULL },
	/* Rights per route. */
	{ T_READER, "GET", "/get?key=user_1", NULL, 404, NULL },
	{ T_READER, "GET", "/get/user_1", NULL, 404, NULL },
	{ T_READER, "GET", "/?key=user_1", NULL, 404, NULL },
	{ T_READER, "GET", "/list?prefix=user_", NULL, 200, NULL },
	{ T_READER, "POST", "/set", "{\"key\":\"user_1\",\"value\":1}", 403,
	    "{\"success\":false,\"error\":\"Forbidden\"}" },
	{ T_READER, "POST", "/", "{\"key\":\"user_1\",\"value\":1}", 403, NULL },
	{ T_READER, "DELETE", "/delete?key=user_1", NULL, 403, NULL },
	{ T_READER, "POST", "/test-and-set",
	    "{\"key\":\"user_1\",\"oldValue\":null,\"newValue\":1}", 403, NULL },
	{ T_READER, "GET", "/metrics", NULL, 403, NULL },
	{ T_WRITER, "GET", "/get?key=user_1", NULL, 403, NULL },
	{ T_WRITER, "GET", "/list?prefix=user_", NULL, 403, NULL },
	{ T_WRITER, "POST", "/set", "{\"key\":\"user_1\",\"value\":1}", 200,
	    NULL },
	{ T_WRITER, "DELETE", "/delete/user_1", NULL, 200, NULL },
	{ T_METRICS, "GET", "/metrics", NULL, 200, NULL },
	{ T_METRICS, "GET", "/get?key=x", NULL, 403, NULL },
	{ T_ALL, "GET", "/metrics", NULL, 200, NULL },
	/* Key prefixes: user_ reaches user_*, never user or use. */
	{ T_READER, "GET", "/get?key=user", NULL, 403, NULL },
	{ T_READER, "GET", "/get?key=use", NULL, 403, NULL },
	{ T_READER, "GET", "/get/user", NULL, 403, NULL },
	{ T_WRITER, "POST", "/set", "{\"key\":\"user\",\"value\":1}", 403,
	    NULL },
	{ T_WRITER, "DELETE", "/delete?key=use", NULL, 403, NULL },
	{ T_TWO, "GET", "/get?key=b%2Cc", NULL, 404, NULL },
	{ T_TWO, "GET", "/get?key=a%2Fz", NULL, 404, NULL },
	{ T_TWO, "GET", "/get?key=b", NULL, 403, NULL },
	/* Malformed input is still a 400 for a token that may act. */
	{ T_READER, "GET", "/get?key=", NULL, 400, NULL },
	/* List: the requested prefix must start with a token prefix. */
	{ T_READER, "GET", "/list", NULL, 403, NULL },
	{ T_READER, "GET", "/", NULL, 403, NULL },
	{ T_READER, "GET", "/list?prefix=user", NULL, 403, NULL },
	{ T_READER, "GET", "/list?prefix=user_a", NULL, 200, NULL },
	{ T_ALL, "GET", "/list", NULL, 200, NULL },
	/* Batch: each op by its own right and key. */
	{ T_READER, "POST", "/batch",
	    "{\"operations\":[{\"op\":\"get\",\"key\":\"user_1\"}]}", 200, NULL },
	{ T_READER, "POST", "/batch",
	    "{\"operations\":[{\"op\":\"get\",\"key\":\"user_1\"},"
	    "{\"op\":\"set\",\"key\":\"user_2\",\"value\":1}]}", 403,
	    "{\"success\":false,\"error\":\"operations[1]: Forbidden\"}" },
	{ T_WRITER, "POST", "/batch",
	    "{\"operations\":[{\"op\":\"set\",\"key\":\"user_2\",\"value\":1},"
	    "{\"op\":\"delete\",\"key\":\"use\"}]}", 403,
	    "{\"success\":false,\"error\":\"operations[1]: Forbidden\"}" },
	{ T_WRITER, "POST", "/batch",
	    "{\"operations\":[{\"op\":\"get\",\"key\":\"user_2\"}]}", 403,
	    "{\"success\":false,\"error\":\"operations[0]: Forbidden\"}" },
	{ NULL, "POST", "/batch",
	    "{\"operations\":[{\"op\":\"get\",\"key\":\"user_2\"}]}", 401, NULL },
	{ T_WRITER, "POST", "/batch", "{\"operations\":[{\"op\":\"set\"}]}",
	    400, NULL },
};

static void
route_dispatch__decision_table(void **state)
{
	size_t i;
	int st;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		st = call(table[i].token, table[i].method, table[i].uri,
		    table[i].body);
		if (st != table[i].status ||
		    (table[i].reply != NULL &&
		    strcmp(body(), table[i].reply) != 0))
			fail_msg("row %zu: %s %s with %s: %d %s, want %d %s", i,
			    table[i].method, table[i].uri,
			    table[i].token ? table[i].token : "no token", st,
			    body(), table[i].status,
			    table[i].reply ? table[i].reply : "");
		assert_int_equal(F->resp.challenge, st == 401);
	}
}

static void
batch__one_forbidden_op__nothing_applied(void **state)
{
	assert_int_equal(call(T_WRITER, "POST", "/batch",
	    "{\"operations\":[{\"op\":\"set\",\"key\":\"user_b1\",\"value\":1},"
	    "{\"op\":\"set\",\"key\":\"other\",\"value\":2},"
	    "{\"op\":\"set\",\"key\":\"user_b3\",\"value\":3}]}"), 403);
	assert_string_equal(body(),
	    "{\"success\":false,\"error\":\"operations[1]: Forbidden\"}");
	assert_int_equal(call(T_ALL, "GET", "/get?key=user_b1", NULL), 404);
	assert_int_equal(call(T_ALL, "GET", "/get?key=user_b3", NULL), 404);
	assert_int_equal(call(T_ALL, "GET", "/get?key=other", NULL), 404);
}

static void
forbidden__does_not_say_whether_the_key_exists(void **state)
{
	char absent[256];

	assert_int_equal(call(T_ALL, "POST", "/set",
	    "{\"key\":\"secret\",\"value\":1}"), 200);
	assert_int_equal(call(T_READER, "GET", "/get?key=secret", NULL), 403);
	assert_int_equal(call(T_READER, "GET", "/get?key=secreu", NULL), 403);
	snprintf(absent, sizeof(absent), "%s", body());
	call(T_READER, "GET", "/get?key=secret", NULL);
	assert_string_equal(body(), absent);
}

static void
denials__counted_by_reason(void **state)
{
	unsigned long long m = auth_denied(AUTH_MISSING),
	    u = auth_denied(AUTH_UNKNOWN), f = auth_denied(AUTH_FORBIDDEN);

	call(NULL, "GET", "/get?key=user_1", NULL);
	call("kvs_nobody", "GET", "/get?key=user_1", NULL);
	call("kvs_nobody", "GET", "/get?key=user_1", NULL);
	call(T_READER, "GET", "/get?key=zzz", NULL);
	call(T_READER, "POST", "/batch",
	    "{\"operations\":[{\"op\":\"delete\",\"key\":\"user_1\"}]}");
	call(T_ALL, "GET", "/get?key=zzz", NULL);
	assert_int_equal(auth_denied(AUTH_MISSING), m + 1);
	assert_int_equal(auth_denied(AUTH_UNKNOWN), u + 2);
	assert_int_equal(auth_denied(AUTH_FORBIDDEN), f + 2);
	/* The exposition names them. */
	call(T_METRICS, "GET", "/metrics", NULL);
	assert_non_null(strstr(body(), "kvstore_auth_denied_total"
	    "{reason=\"missing\"} "));
	assert_non_null(strstr(body(), "kvstore_auth_denied_total"
	    "{reason=\"unknown\"} "));
	assert_non_null(strstr(body(), "kvstore_auth_denied_total"
	    "{reason=\"forbidden\"} "));
}

/* ---- reload ---- */

static void
reload__unchanged_file__nothing_done(void **state)
{
	assert_int_equal(auth_reload(0), 0);
	assert_int_equal(auth_count(), 5);
}

static void
reload__added_and_revoked_tokens__take_effect(void **state)
{
	assert_int_equal(call(T_NEW, "GET", "/get?key=k", NULL), 401);
	write_tokens(1, 1);
	assert_int_equal(auth_reload(0), 1);
	assert_int_equal(auth_count(), 5);
	assert_int_equal(call(T_NEW, "GET", "/get?key=k", NULL), 404);
	assert_int_equal(call(T_READER, "GET", "/get?key=user_1", NULL), 401);
	write_tokens(0, 0);
	assert_int_equal(auth_reload(0), 1);
	assert_int_equal(call(T_NEW, "GET", "/get?key=k", NULL), 401);
	assert_int_equal(call(T_READER, "GET", "/get?key=user_1", NULL), 404);
}

static void
reload__malformed_file__old_tokens_stay(void **state)
{
	write_file("all read * 2026-01-01T00:00:00Z sha256:00\n");
	assert_int_equal(auth_reload(0), -1);
	assert_int_equal(call(T_READER, "GET", "/get?key=user_1", NULL), 404);
	/* Not retried until the file changes again. */
	assert_int_equal(auth_reload(0), 0);
	unlink(F->path);
	assert_int_equal(auth_reload(0), -1);
	assert_int_equal(call(T_READER, "GET", "/get?key=user_1", NULL), 404);
	write_tokens(0, 1);
	assert_int_equal(auth_reload(0), 1);
	assert_int_equal(call(T_READER, "GET", "/get?key=user_1", NULL), 401);
	write_tokens(0, 0);
	assert_int_equal(auth_reload(0), 1);
}

static void
reload__forced__reloads_unchanged_file(void **state)
{
	assert_int_equal(auth_reload(1), 1);
	assert_int_equal(call(T_READER, "GET", "/get?key=user_1", NULL), 404);
}

static void
auth_open__malformed_file__refused_with_line_number(void **state)
{
	char path[160], err[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/bad", F->dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("# x\n\nname read,admin * 2026-01-01T00:00:00Z sha256:00\n", f);
	fclose(f);
	auth_close();
	assert_false(auth_enabled());
	assert_int_equal(auth_open(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/bad: line 3: unknown right"));
	assert_false(auth_enabled());
	snprintf(path, sizeof(path), "%s/missing", F->dir);
	assert_int_equal(auth_open(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/missing: No such file or directory"));
	/* Open again for the tests after this one. */
	assert_int_equal(auth_open(F->path, err, sizeof(err)), 0);
	assert_int_equal(call(T_READER, "GET", "/get?key=user_1", NULL), 404);
}

/* Worker threads deciding requests while the table is swapped under them. */
struct racer {
	atomic_int	*stop;
	unsigned long	 ok;
	unsigned long	 bad;
};

static void *
race(void *arg)
{
	struct racer *rc = arg;
	char *envp[] = { "REQUEST_METHOD=GET", "REQUEST_URI=/get?key=user_1",
	    "HTTP_AUTHORIZATION=Bearer " T_WRITER, NULL };
	struct resp resp;
	struct req r;

	while (!atomic_load(rc->stop)) {
		resp_init(&resp);
		req_parse(&r, envp, NULL, 0);
		/* writer has no read right: 403 in every table version. */
		if (auth_request(&r, AUTH_READ, &resp) == -1 &&
		    resp.status == 403 && r.token != NULL &&
		    strcmp(r.token->name, "writer") == 0 &&
		    auth_key_allowed(r.token, "user_1", 6))
			rc->ok++;
		else
			rc->bad++;
		auth_request_end(&r);
		req_free(&r);
		resp_free(&resp);
	}
	return NULL;
}

static void
reload__while_threads_use_the_table__no_use_after_free(void **state)
{
	struct racer rc[4];
	pthread_t t[4];
	atomic_int stop = 0;
	int i, n;

	log_set_level(LOG_LVL_ERROR);
	for (i = 0; i < 4; i++) {
		rc[i].stop = &stop;
		rc[i].ok = rc[i].bad = 0;
		assert_int_equal(pthread_create(&t[i], NULL, race, &rc[i]), 0);
	}
	for (n = 0; n < 40; n++) {
		write_tokens(n & 1, 0);
		assert_int_equal(auth_reload(1), 1);
	}
	atomic_store(&stop, 1);
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(rc[i].bad, 0);
	}
	write_tokens(0, 0);
	assert_int_equal(auth_reload(1), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(auth_parse_bearer__rfc6750_forms),
		cmocka_unit_test(auth_key_allowed__prefix_boundaries),
		cmocka_unit_test(route_dispatch__decision_table),
		cmocka_unit_test(batch__one_forbidden_op__nothing_applied),
		cmocka_unit_test(forbidden__does_not_say_whether_the_key_exists),
		cmocka_unit_test(denials__counted_by_reason),
		cmocka_unit_test(reload__unchanged_file__nothing_done),
		cmocka_unit_test(reload__added_and_revoked_tokens__take_effect),
		cmocka_unit_test(reload__malformed_file__old_tokens_stay),
		cmocka_unit_test(reload__forced__reloads_unchanged_file),
		cmocka_unit_test(auth_open__malformed_file__refused_with_line_number),
		cmocka_unit_test(reload__while_threads_use_the_table__no_use_after_free),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
