/*
 * request: CGI parameters to struct req, query decoding, path keys, the
 * key rule and strict number parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "request.h"

static void
parse(struct req *r, const char *method, const char *uri, const char *script)
{
	static char m[64], u[8192], s[256];
	char *envp[] = { m, u, s, NULL };

	snprintf(m, sizeof(m), "REQUEST_METHOD=%s", method);
	snprintf(u, sizeof(u), "REQUEST_URI=%s", uri);
	snprintf(s, sizeof(s), "SCRIPT_NAME=%s", script ? script : "");
	req_parse(r, envp, NULL, 0);
}

static void
req_parse__methods__mapped_and_unknown_is_other(void **state)
{
	struct req r;

	parse(&r, "GET", "/", NULL);
	assert_int_equal(r.method, M_GET);
	req_free(&r);
	parse(&r, "DELETE", "/", NULL);
	assert_int_equal(r.method, M_DELETE);
	req_free(&r);
	parse(&r, "OPTIONS", "/", NULL);
	assert_int_equal(r.method, M_OPTIONS);
	req_free(&r);
	parse(&r, "PUT", "/", NULL);
	assert_int_equal(r.method, M_OTHER);
	req_free(&r);
	parse(&r, "get", "/", NULL);
	assert_int_equal(r.method, M_OTHER);
	req_free(&r);
}

static void
req_parse__headers__exact_names_first_wins(void **state)
{
	char *envp[] = { "REQUEST_URIX=/list", "HTTP_IF_MATCH_X=\"9\"",
	    "REQUEST_METHOD=GET", "REQUEST_URI=/get?key=a", "R=", "",
	    "HTTP_IF_NONE_MATCH=*", "REQUEST_METHOD=POST", "REMOTE_ADDR=::1",
	    "HTTP_AUTHORIZATION=Bearer t", "HTTP_IF_MATCH=\"2\"",
	    "REQUEST_URI=/set", NULL };
	struct req r;

	req_parse(&r, envp, NULL, 0);
	assert_int_equal(r.method, M_GET);
	assert_string_equal(r.path, "/get");
	assert_string_equal(r.if_match, "\"2\"");
	assert_string_equal(r.if_none_match, "*");
	assert_string_equal(r.remote_addr, "::1");
	assert_string_equal(r.authorization, "Bearer t");
	req_free(&r);
}

static void
req_parse__no_params__root_path_and_other_method(void **state)
{
	char *envp[] = { NULL };
	struct req r;

	req_parse(&r, envp, NULL, 0);
	assert_int_equal(r.method, M_OTHER);
	assert_string_equal(r.path, "/");
	assert_int_equal(r.nq, 0);
	req_free(&r);
}

static void
req_parse__query__split_from_path(void **state)
{
	struct req r;
	size_t len;

	parse(&r, "GET", "/list?prefix=user_&limit=10", NULL);
	assert_string_equal(r.path, "/list");
	assert_string_equal(req_query(&r, "prefix", &len), "user_");
	assert_int_equal(len, 5);
	assert_string_equal(req_query(&r, "limit", NULL), "10");
	assert_null(req_query(&r, "cursor", NULL));
	req_free(&r);
}

static void
req_parse__query_plus_and_percent__decoded_like_forms(void **state)
{
	struct req r;
	size_t len;
	const char *v;

	parse(&r, "GET", "/get?key=a+b%2Bc%20d%C3%A9", NULL);
	v = req_query(&r, "key", &len);
	assert_non_null(v);
	assert_int_equal(len, strlen("a b+c d\xc3\xa9"));
	assert_memory_equal(v, "a b+c d\xc3\xa9", len);
	assert_int_equal(r.query_bad, 0);
	req_free(&r);
}

static void
req_parse__query_encoded_nul__kept_with_length(void **state)
{
	struct req r;
	size_t len;
	const char *v;

	parse(&r, "GET", "/get?key=a%00b", NULL);
	v = req_query(&r, "key", &len);
	assert_int_equal(len, 3);
	assert_memory_equal(v, "a\0b", 3);
	req_free(&r);
}

static void
req_parse__malformed_percent__flags_query_bad(void **state)
{
	struct req r;

	parse(&r, "GET", "/get?key=abc%2", NULL);
	assert_int_equal(r.query_bad, 1);
	req_free(&r);
	parse(&r, "GET", "/get?key=%zz", NULL);
	assert_int_equal(r.query_bad, 1);
	req_free(&r);
}

static void
req_parse__empty_and_valueless_params__present_and_empty(void **state)
{
	struct req r;
	size_t len = 99;

	parse(&r, "GET", "/get?&&key&x=1", NULL);
	assert_non_null(req_query(&r, "key", &len));
	assert_int_equal(len, 0);
	assert_string_equal(req_query(&r, "x", NULL), "1");
	req_free(&r);
}

static void
req_parse__duplicate_param__first_wins(void **state)
{
	struct req r;

	parse(&r, "GET", "/get?key=one&key=two", NULL);
	assert_string_equal(req_query(&r, "key", NULL), "one");
	req_free(&r);
}

static void
req_parse__path_key__decoded_from_raw_uri(void **state)
{
	struct req r;

	/* nginx would have turned this into /get/a/b/c; the raw URI keeps it. */
	parse(&r, "GET", "/get/a%2Fb//c/../d?x=1", NULL);
	assert_string_equal(r.path, "/get/a%2Fb//c/../d");
	assert_non_null(r.path_key);
	assert_string_equal(r.path_key, "a/b//c/../d");
	assert_int_equal(r.path_key_len, strlen("a/b//c/../d"));
	req_free(&r);
}

static void
req_parse__path_key_plus__stays_plus(void **state)
{
	struct req r;

	parse(&r, "DELETE", "/delete/a+b%20c", NULL);
	assert_string_equal(r.path_key, "a+b c");
	req_free(&r);
}

static void
req_parse__path_key_bad_escape__flagged(void **state)
{
	struct req r;

	parse(&r, "GET", "/get/abc%G1", NULL);
	assert_null(r.path_key);
	assert_int_equal(r.path_key_bad, 1);
	req_free(&r);
}

static void
req_parse__plain_get__no_path_key(void **state)
{
	struct req r;

	parse(&r, "GET", "/get?key=x", NULL);
	assert_null(r.path_key);
	req_free(&r);
}

static void
req_parse__script_name__stripped_as_mount_point(void **state)
{
	struct req r;

	parse(&r, "GET", "/kv/get/x?y=1", "/kv");
	assert_string_equal(r.path, "/get/x");
	assert_string_equal(r.path_key, "x");
	req_free(&r);
	parse(&r, "GET", "/kv", "/kv/");
	assert_string_equal(r.path, "/");
	req_free(&r);
	/* Not a path-segment prefix: left alone. */
	parse(&r, "GET", "/kvx/get", "/kv");
	assert_string_equal(r.path, "/kvx/get");
	req_free(&r);
}

static void
req_parse__body__borrowed(void **state)
{
	char *envp[] = { "REQUEST_METHOD=POST", "REQUEST_URI=/set", NULL };
	const char body[] = "{}";
	struct req r;

	req_parse(&r, envp, body, 2);
	assert_ptr_equal(r.body, body);
	assert_int_equal(r.body_len, 2);
	assert_int_equal(r.method, M_POST);
	req_free(&r);
}

static void
req_env__lookup__exact_name_only(void **state)
{
	char *envp[] = { "KEYX=1", "KEY=2", "K=3", NULL };

	assert_string_equal(req_env(envp, "KEY"), "2");
	assert_string_equal(req_env(envp, "K"), "3");
	assert_null(req_env(envp, "KE"));
	assert_null(req_env(NULL, "KEY"));
}

static void
req_key_check__valid_keys__accepted(void **state)
{
	char big[512];

	memset(big, 'k', sizeof(big));
	assert_null(req_key_check("a", 1));
	assert_null(req_key_check("user:42/profile", 15));
	assert_null(req_key_check("caf\xc3\xa9 \xf0\x9f\x98\x80", 10));
	assert_null(req_key_check(big, 512));
}

static void
req_key_check__bad_keys__reason(void **state)
{
	char big[513];

	memset(big, 'k', sizeof(big));
	assert_string_equal(req_key_check(NULL, 0), "Missing key parameter");
	assert_string_equal(req_key_check("", 0), "Missing key parameter");
	assert_non_null(strstr(req_key_check(big, 513), "512"));
	assert_non_null(strstr(req_key_check("a\tb", 3), "control"));
	assert_non_null(strstr(req_key_check("a\0b", 3), "control"));
	assert_non_null(strstr(req_key_check("a\x7f", 2), "control"));
	assert_non_null(strstr(req_key_check("\xff", 1), "UTF-8"));
	/* Overlong '/', an encoded surrogate, a truncated sequence. */
	assert_non_null(strstr(req_key_check("\xc0\xaf", 2), "UTF-8"));
	assert_non_null(strstr(req_key_check("\xed\xa0\x80", 3), "UTF-8"));
	assert_non_null(strstr(req_key_check("\xe2\x82", 2), "UTF-8"));
	assert_non_null(strstr(req_key_check("\xf4\x90\x80\x80", 4), "UTF-8"));
}

static void
req_parse_size__digits_only__parsed(void **state)
{
	size_t v = 0;

	assert_int_equal(req_parse_size("0", 1, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(req_parse_size("2097152", 7, &v), 0);
	assert_int_equal(v, 2097152);
}

static void
req_parse_size__junk_or_overflow__rejected(void **state)
{
	size_t v = 7;

	assert_int_equal(req_parse_size("", 0, &v), -1);
	assert_int_equal(req_parse_size("-1", 2, &v), -1);
	assert_int_equal(req_parse_size("+1", 2, &v), -1);
	assert_int_equal(req_parse_size(" 1", 2, &v), -1);
	assert_int_equal(req_parse_size("1x", 2, &v), -1);
	assert_int_equal(req_parse_size("99999999999999999999999", 23, &v), -1);
	assert_int_equal(v, 7);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(req_parse__methods__mapped_and_unknown_is_other),
		cmocka_unit_test(req_parse__headers__exact_names_first_wins),
		cmocka_unit_test(req_parse__no_params__root_path_and_other_method),
		cmocka_unit_test(req_parse__query__split_from_path),
		cmocka_unit_test(req_parse__query_plus_and_percent__decoded_like_forms),
		cmocka_unit_test(req_parse__query_encoded_nul__kept_with_length),
		cmocka_unit_test(req_parse__malformed_percent__flags_query_bad),
		cmocka_unit_test(req_parse__empty_and_valueless_params__present_and_empty),
		cmocka_unit_test(req_parse__duplicate_param__first_wins),
		cmocka_unit_test(req_parse__path_key__decoded_from_raw_uri),
		cmocka_unit_test(req_parse__path_key_plus__stays_plus),
		cmocka_unit_test(req_parse__path_key_bad_escape__flagged),
		cmocka_unit_test(req_parse__plain_get__no_path_key),
		cmocka_unit_test(req_parse__script_name__stripped_as_mount_point),
		cmocka_unit_test(req_parse__body__borrowed),
		cmocka_unit_test(req_env__lookup__exact_name_only),
		cmocka_unit_test(req_key_check__valid_keys__accepted),
		cmocka_unit_test(req_key_check__bad_keys__reason),
		cmocka_unit_test(req_parse_size__digits_only__parsed),
		cmocka_unit_test(req_parse_size__junk_or_overflow__rejected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
