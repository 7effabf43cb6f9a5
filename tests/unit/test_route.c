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

#include "auth.h"
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

/* What access control asks of (method, uri). */
static unsigned
need(const char *method, const char *uri)
{
	char m[64], u[1024];
	char *envp[] = { m, u, NULL };
	struct req r;
	unsigned n;

	snprintf(m, sizeof(m), "REQUEST_METHOD=%s", method);
	snprintf(u, sizeof(u), "REQUEST_URI=%s", uri);
	req_parse(&r, envp, NULL, 0);
	n = route_need(&r);
	req_free(&r);
	return n;
}

static void
route_need__rights_per_route_and_method(void **state)
{
	assert_int_equal(need("GET", "/?key=a"), AUTH_READ);
	assert_int_equal(need("GET", "/"), AUTH_READ);
	assert_int_equal(need("POST", "/"), AUTH_WRITE);
	assert_int_equal(need("DELETE", "/?key=a"), AUTH_WRITE);
	assert_int_equal(need("GET", "/get/a"), AUTH_READ);
	assert_int_equal(need("GET", "/list"), AUTH_READ);
	assert_int_equal(need("POST", "/set"), AUTH_WRITE);
	assert_int_equal(need("POST", "/test-and-set"), AUTH_WRITE);
	assert_int_equal(need("POST", "/batch"), AUTH_TOKEN);
	assert_int_equal(need("DELETE", "/delete/a"), AUTH_WRITE);
	assert_int_equal(need("GET", "/health"), AUTH_OPEN);
	assert_int_equal(need("GET", "/metrics"), AUTH_METRICS);
	/* Only OPTIONS and GET /health are open; 404 and 405 need a token. */
	assert_int_equal(need("OPTIONS", "/set"), AUTH_OPEN);
	assert_int_equal(need("POST", "/health"), AUTH_TOKEN);
	assert_int_equal(need("GET", "/nope"), AUTH_TOKEN);
	assert_int_equal(need("PUT", "/health"), AUTH_TOKEN);
}

/* A route added without its rights would be closed to every token. */
static void
route_need__every_served_method__has_its_rights(void **state)
{
	static const char *const methods[] = { "GET", "POST", "DELETE" };
	const char *allow, *name;
	char uri[256];
	size_t id, i;
	int status;

	for (id = 0; (name = route_name(id)) != NULL; id++) {
		if (strcmp(name, "other") == 0)
			continue;
		snprintf(uri, sizeof(uri), "%s%s", name,
		    strlen(name) > 1 && name[strlen(name) - 1] == '/' ? "k" : "");
		for (i = 0; i < 3; i++) {
			if (find(methods[i], uri, &status, &allow) == NULL)
				continue;
			if (need(methods[i], uri) == AUTH_UNSET)
				fail_msg("%s %s: no rights in the route table",
				    methods[i], uri);
			if (need(methods[i], uri) == AUTH_OPEN &&
			    strcmp(uri, "/health") != 0)
				fail_msg("%s %s is open to everyone", methods[i],
				    uri);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(route_find__every_endpoint__its_handler),
		cmocka_unit_test(route_need__rights_per_route_and_method),
		cmocka_unit_test(route_need__every_served_method__has_its_rights),
		cmocka_unit_test(route_find__known_path_wrong_method__405_with_path_allow),
		cmocka_unit_test(route_find__unknown_method__405_everywhere),
		cmocka_unit_test(route_find__options__204_on_any_path),
		cmocka_unit_test(route_find__unknown_path__404),
		cmocka_unit_test(route_dispatch__404__json_body),
		cmocka_unit_test(route_dispatch__405__json_body_and_allow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
