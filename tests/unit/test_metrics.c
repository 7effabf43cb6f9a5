/*
 * Unit tests for metrics: what metrics_request counts and how
 * metrics_render writes it, checked line by line against the Prometheus
 * text format 0.0.4.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "metrics.h"

static const char *const names[] = { "/get", "/set", "we\"ird\\" };

/* Zeroes every counter and names three routes. */
static int
setup(void **state)
{
	metrics_init(names, 3);
	return 0;
}

/* Renders with store numbers st (zeroes when NULL) into a fresh buffer. */
static char *
render(const struct store_stats *st)
{
	struct store_stats zero;
	struct buf b;

	memset(&zero, 0, sizeof(zero));
	buf_init(&b);
	metrics_render(&b, st != NULL ? st : &zero);
	return b.data;
}

/*
 * Returns the value of the sample whose name-and-labels part is exactly
 * series, failing the test when there is none.
 */
static double
sample(const char *text, const char *series)
{
	const char *p = text;
	size_t n = strlen(series);

	while ((p = strstr(p, series)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p += n;
	}
	fail_msg("no sample %s", series);
	return -1;
}

/* Returns 1 if a sample line starts with series followed by a space. */
static int
has_sample(const char *text, const char *series)
{
	const char *p = text;
	size_t n = strlen(series);

	while ((p = strstr(p, series)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return 1;
		p += n;
	}
	return 0;
}

static void
metrics_request__counts_by_route_and_status(void **state)
{
	char *t;

	metrics_request(0, 200, 1000);
	metrics_request(0, 200, 1000);
	metrics_request(0, 404, 1000);
	metrics_request(1, 503, 1000);
	t = render(NULL);
	assert_true(sample(t, "kvstore_http_requests_total{route=\"/get\","
	    "code=\"200\"}") == 2);
	assert_true(sample(t, "kvstore_http_requests_total{route=\"/get\","
	    "code=\"404\"}") == 1);
	assert_true(sample(t, "kvstore_http_requests_total{route=\"/set\","
	    "code=\"503\"}") == 1);
	assert_false(has_sample(t, "kvstore_http_requests_total{route="
	    "\"/set\",code=\"200\"}"));
	free(t);
}

static void
metrics_request__out_of_range__is_ignored(void **state)
{
	char *t;

	metrics_request(3, 200, 1000);		/* not a named route */
	metrics_request(METRICS_ROUTES_MAX + 7, 200, 1000);
	metrics_request(0, 99, 1000);
	metrics_request(0, 600, 1000);
	t = render(NULL);
	assert_null(strstr(t, "kvstore_http_requests_total{"));
	assert_true(sample(t, "kvstore_http_request_duration_seconds_count"
	    "{route=\"/get\"}") == 0);
	free(t);
}

static void
metrics_request__latency__lands_in_the_first_bucket_not_below_it(void **state)
{
	char *t;

	metrics_request(0, 200, 100000);	/* exactly 0.0001 s: le 0.0001 */
	metrics_request(0, 200, 100001);	/* just above: le 0.00025 */
	metrics_request(0, 200, 20000000000ULL);	/* 20 s: only +Inf */
	t = render(NULL);
	assert_true(sample(t, "kvstore_http_request_duration_seconds_bucket"
	    "{route=\"/get\",le=\"0.0001\"}") == 1);
	assert_true(sample(t, "kvstore_http_request_duration_seconds_bucket"
	    "{route=\"/get\",le=\"0.00025\"}") == 2);
	assert_true(sample(t, "kvstore_http_request_duration_seconds_bucket"
	    "{route=\"/get\",le=\"10\"}") == 2);
	assert_true(sample(t, "kvstore_http_request_duration_seconds_bucket"
	    "{route=\"/get\",le=\"+Inf\"}") == 3);
	assert_true(sample(t, "kvstore_http_request_duration_seconds_count"
	    "{route=\"/get\"}") == 3);
	/* The sum is exact: nanoseconds printed as seconds. */
	assert_non_null(strstr(t, "\nkvstore_http_request_duration_seconds"
	    "_sum{route=\"/get\"} 20.000200001\n"));
	free(t);
}

static void
metrics_render__label_values__are_escaped(void **state)
{
	char *t;

	metrics_request(2, 200, 1);
	t = render(NULL);
	assert_true(sample(t, "kvstore_http_requests_total{route="
	    "\"we\\\"ird\\\\\",code=\"200\"}") == 1);
	free(t);
}

static void
metrics_render__store_numbers__appear_and_keys_only_once_counted(void **state)
{
	struct store_stats st;
	char *t;

	memset(&st, 0, sizeof(st));
	st.commits = 11;
	st.aborts = 2;
	st.deadlocks = 3;
	st.busy = 4;
	st.nospace = 5;
	st.swept = 6;
	st.keys = 7;
	st.keys_expiring = 1;
	st.data_bytes = 8192;
	st.log_bytes = 4096;
	st.log_files = 1;
	st.cache_hits = 9;
	st.cache_misses = 10;
	t = render(&st);
	assert_true(sample(t, "kvstore_txn_commits_total") == 11);
	assert_true(sample(t, "kvstore_txn_aborts_total") == 2);
	assert_true(sample(t, "kvstore_txn_deadlocks_total") == 3);
	assert_true(sample(t, "kvstore_store_unavailable_total"
	    "{reason=\"busy\"}") == 4);
	assert_true(sample(t, "kvstore_store_unavailable_total"
	    "{reason=\"nospace\"}") == 5);
	assert_true(sample(t, "kvstore_expired_swept_total") == 6);
	assert_true(sample(t, "kvstore_disk_bytes{kind=\"data\"}") == 8192);
	assert_true(sample(t, "kvstore_disk_bytes{kind=\"log\"}") == 4096);
	assert_true(sample(t, "kvstore_log_files") == 1);
	assert_true(sample(t, "kvstore_cache_hits_total") == 9);
	assert_true(sample(t, "kvstore_cache_misses_total") == 10);
	assert_true(sample(t, "kvstore_build_info{version=\"" PACKAGE_VERSION
	    "\"}") == 1);
	assert_true(sample(t, "kvstore_uptime_seconds") >= 0);
	/* Not counted yet: no number rather than a wrong one. */
	assert_false(has_sample(t, "kvstore_keys"));
	free(t);
	st.keys_counted = 1;
	t = render(&st);
	assert_true(sample(t, "kvstore_keys") == 7);
	assert_true(sample(t, "kvstore_keys_expiring") == 1);
	free(t);
}

/*
 * Every line is a HELP or TYPE comment naming the family that follows,
 * or a sample of the last TYPE'd family: name, optional {labels}, one
 * space, a number. The output ends with a newline.
 */
static void
metrics_render__every_line__is_exposition_format(void **state)
{
	char family[128] = "", *t, *line, *next, *sp;
	size_t n;
	int types = 0;

	metrics_request(0, 200, 5000);
	t = render(NULL);
	assert_true(strlen(t) > 0 && t[strlen(t) - 1] == '\n');
	for (line = t; *line != '\0'; line = next) {
		next = strchr(line, '\n');
		assert_non_null(next);
		*next++ = '\0';
		if (strncmp(line, "# HELP ", 7) == 0)
			continue;
		if (strncmp(line, "# TYPE ", 7) == 0) {
			sp = strchr(line + 7, ' ');
			assert_non_null(sp);
			n = (size_t)(sp - (line + 7));
			assert_true(n < sizeof(family));
			memcpy(family, line + 7, n);
			family[n] = '\0';
			assert_true(strcmp(sp + 1, "counter") == 0 ||
			    strcmp(sp + 1, "gauge") == 0 ||
			    strcmp(sp + 1, "histogram") == 0);
			types++;
			continue;
		}
		assert_int_not_equal(line[0], '#');
		assert_true(strncmp(line, family, strlen(family)) == 0);
		sp = strrchr(line, ' ');
		assert_non_null(sp);
		assert_true(strspn(sp + 1, "0123456789.") == strlen(sp + 1));
	}
	assert_int_equal(types, 15);	/* kvstore_keys* wait for a count */
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name)	cmocka_unit_test_setup(name, setup)
		T(metrics_request__counts_by_route_and_status),
		T(metrics_request__out_of_range__is_ignored),
		T(metrics_request__latency__lands_in_the_first_bucket_not_below_it),
		T(metrics_render__label_values__are_escaped),
		T(metrics_render__store_numbers__appear_and_keys_only_once_counted),
		T(metrics_render__every_line__is_exposition_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
