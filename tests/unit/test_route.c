/*
 * route: which handler serves (method, path), and the 204/404/405 answers
 * given without one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "route.h"

static handler_fn
find(const char *method, const char *uri, int *status, const char **allow)
{
	char m[64], u[1024];
	char *envp[] = { m, u, NULL };
	struct req r;
	handler_fn h;

	snprintf(m, sizeof(m), "REQUEST_METHOD=%s", method);
	snprintf(u, sizeof(u), "REQUEST_URI=%s", uri);
	req_parse(&r, envp, NULL, 0);
	*status = 0;
	*allow = NULL;
	h = route_find(&r, status, allow);
	req_free(&r);
	return h;
}

static void
expect_handler(const char *method, const char *uri, handler_fn want)
{
	const char *allow;
	int status;

	assert_ptr_equal(find(method, uri, &status, &allow), want);
}

static void
expect_status(const char *method, const char *uri, int want_status,
    const char *want_allow)
{
	const char *allow;
	int status;

	assert_null(find(method, uri, &status, &allow));
	assert_int_equal(status, want_status);
	if (want_allow == NULL)
		assert_null(allow);
	else
		assert_string_equal(allow, want_allow);
}

static void
route_find__every_endpoint__its_handler(void **state)
{
	expect_handler("GET", "/", handler_root_get);
	expect_handler("GET", "/?key=a", handler_root_get);
	expect_handler("POST", "/", handler_set);
	expect_handler("DELETE", "/?key=a", handler_delete);
	expect_handler("GET", "/get?key=a", handler_get);
	expect_handler("GET", "/get/a", handler_get);
	expect_handler("GET", "/get/a%2Fb", handler_get);
	expect_handler("GET", "/list?prefix=x", handler_list);
	expect_handler("POST", "/set", handler_set);
	expect_handler("POST", "/test-and-set", handler_tas);
	expect_handler("POST", "/batch", handler_batch);
	expect_handler("DELETE", "/delete?key=a", handler_delete);
	expect_handler("DELETE", "/delete/a", handler_delete);
	expect_handler("GET", "/health", handler_health);
}

static void
route_find__known_path_wrong_method__405_with_path_allow(void **state)
{
	expect_status("GET", "/set", 405, "POST, OPTIONS");
	expect_status("POST", "/get", 405, "GET, OPTIONS");
	expect_status("POST", "/get/k", 405, "GET, OPTIONS");
	expect_status("DELETE", "/batch", 405, "POST, OPTIONS");
	expect_status("GET", "/delete/k", 405, "DELETE, OPTIONS");
	expect_status("POST", "/health", 405, "GET, OPTIONS");
}

static void
route_find__unknown_method__405_everywhere(void **state)
{
	expect_status("PUT", "/set", 405, "GET, POST, DELETE, OPTIONS");
	expect_status("PATCH", "/", 405, "GET, POST, DELETE, OPTIONS");
	expect_status("PUT", "/no/such/path", 405, "GET, POST, DELETE, OPTIONS");
}

static void
route_find__options__204_on_any_path(void **state)
{
	expect_status("OPTIONS", "/set", 204, "GET, POST, DELETE, OPTIONS");
	expect_status("OPTIONS", "/nowhere", 204, "GET, POST, DELETE, OPTIONS");
}

static void
route_find__unknown_path__404(void **state)
{
	expect_status("GET", "/nope", 404, NULL);
	expect_status("GET", "/set/", 404, NULL);
	expect_status("GET", "/gets", 404, NULL);
	expect_status("GET", "/GET?key=a", 404, NULL);
	expect_status("POST", "/batch/x", 404, NULL);
}

static void
route_dispatch__404__json_body(void **state)
{
	char *envp[] = { "REQUEST_METHOD=GET", "REQUEST_URI=/nope", NULL };
	struct resp resp;
	struct req r;

	req_parse(&r, envp, NULL, 0);
	resp_init(&resp);
	route_dispatch(NULL, &r, &resp);
	assert_int_equal(resp.status, 404);
	assert_string_equal(resp.body.data,
	    "{\"success\":false,\"error\":\"Not found\"}");
	resp_free(&resp);
	req_free(&r);
}

static void
route_dispatch__405__json_body_and_allow(void **state)
{
	char *envp[] = { "REQUEST_METHOD=GET", "REQUEST_URI=/batch", NULL };
	struct resp resp;
	struct req r;

	req_parse(&r, envp, NULL, 0);
	resp_init(&resp);
	route_dispatch(NULL, &r, &resp);
	assert_int_equal(resp.status, 405);
	assert_string_equal(resp.allow, "POST, OPTIONS");
	assert_string_equal(resp.body.data,
	    "{\"success\":false,\"error\":\"Method not allowed\"}");
	resp_free(&resp);
	req_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(route_find__every_endpoint__its_handler),
		cmocka_unit_test(route_find__known_path_wrong_method__405_with_path_allow),
		cmocka_unit_test(route_find__unknown_method__405_everywhere),
		cmocka_unit_test(route_find__options__204_on_any_path),
		cmocka_unit_test(route_find__unknown_path__404),
		cmocka_unit_test(route_dispatch__404__json_body),
		cmocka_unit_test(route_dispatch__405__json_body_and_allow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
