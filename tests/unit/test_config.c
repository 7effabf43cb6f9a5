/*
 * config: defaults, environment variables, options overriding them, and
 * refusal of bad values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

static const char *const vars[] = {
	"KV_DATA_DIR", "STATE_DIRECTORY", "KV_THREADS", "KV_DURABILITY",
	"KV_MAX_BODY", "KV_MAX_VALUE", "KV_MAX_BATCH_OPS", "KV_LIST_MAX",
	"KV_MAX_DEPTH", "KV_CACHE_SIZE", "KV_CORS_ORIGIN", "KV_LOG_LEVEL",
	"KV_MAX_REPLY_MEMORY",
};

static int
clear_env(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	return 0;
}

static enum config_result
load(struct config *c, int argc, char **argv)
{
	return config_load(c, argc, argv);
}

static void
config_load__defaults__as_documented(void **state)
{
	char *argv[] = { "kvstore-fcgi", "--data-dir=/tmp/x", NULL };
	struct config c;

	assert_int_equal(load(&c, 2, argv), CONFIG_OK);
	assert_string_equal(c.data_dir, "/tmp/x");
	assert_int_equal(c.threads, 4);
	assert_int_equal(c.durability, STORE_DURABLE_SYNC);
	assert_int_equal(c.max_body, 2097152);
	assert_int_equal(c.max_value, 1048576);
	assert_int_equal(c.max_batch_ops, 128);
	assert_int_equal(c.list_max, 1000);
	assert_int_equal(c.max_depth, 64);
	assert_int_equal(c.cache_bytes, 24 << 20);
	assert_int_equal(c.max_reply_memory, 256 << 20);
	assert_string_equal(c.cors_origin, "*");
	assert_int_equal(c.log_level, LOG_LVL_INFO);
}

static void
config_load__write_durability__same_default_threads(void **state)
{
	char *argv[] = { "kvstore-fcgi", "--data-dir=/a", "--durability=write",
	    NULL };
	struct config c;

	assert_int_equal(load(&c, 3, argv), CONFIG_OK);
	assert_int_equal(c.threads, 4);
}

static void
config_load__threads_given__kept_whatever_the_durability(void **state)
{
	char *argv[] = { "kvstore-fcgi", "--data-dir=/a", "--durability=write",
	    "--threads=16", NULL };
	char *argv2[] = { "kvstore-fcgi", "--data-dir=/a", NULL };
	struct config c;

	assert_int_equal(load(&c, 4, argv), CONFIG_OK);
	assert_int_equal(c.threads, 16);
	setenv("KV_THREADS", "3", 1);
	assert_int_equal(load(&c, 2, argv2), CONFIG_OK);
	assert_int_equal(c.threads, 3);
}

static void
config_load__environment__read(void **state)
{
	char *argv[] = { "kvstore-fcgi", NULL };
	struct config c;

	setenv("KV_DATA_DIR", "/data", 1);
	setenv("KV_THREADS", "8", 1);
	setenv("KV_DURABILITY", "write", 1);
	setenv("KV_MAX_BATCH_OPS", "10", 1);
	setenv("KV_CORS_ORIGIN", "https://example.org", 1);
	setenv("KV_LOG_LEVEL", "debug", 1);
	assert_int_equal(load(&c, 1, argv), CONFIG_OK);
	assert_string_equal(c.data_dir, "/data");
	assert_int_equal(c.threads, 8);
	assert_int_equal(c.durability, STORE_DURABLE_WRITE);
	assert_int_equal(c.max_batch_ops, 10);
	assert_string_equal(c.cors_origin, "https://example.org");
	assert_int_equal(c.log_level, LOG_LVL_DEBUG);
}

static void
config_load__state_directory__fallback_for_data_dir(void **state)
{
	char *argv[] = { "kvstore-fcgi", NULL };
	struct config c;

	setenv("STATE_DIRECTORY", "/var/lib/kvstore-fcgi", 1);
	assert_int_equal(load(&c, 1, argv), CONFIG_OK);
	assert_string_equal(c.data_dir, "/var/lib/kvstore-fcgi");
	setenv("KV_DATA_DIR", "/elsewhere", 1);
	assert_int_equal(load(&c, 1, argv), CONFIG_OK);
	assert_string_equal(c.data_dir, "/elsewhere");
}

static void
config_load__option__overrides_environment(void **state)
{
	char *argv[] = { "kvstore-fcgi", "--threads", "2", "--data-dir=/a", NULL };
	struct config c;

	setenv("KV_THREADS", "16", 1);
	setenv("KV_DATA_DIR", "/b", 1);
	assert_int_equal(load(&c, 4, argv), CONFIG_OK);
	assert_int_equal(c.threads, 2);
	assert_string_equal(c.data_dir, "/a");
}

static void
config_load__bad_values__error(void **state)
{
	char *a1[] = { "kvstore-fcgi", "--data-dir=/a", "--threads=0", NULL };
	char *a2[] = { "kvstore-fcgi", "--data-dir=/a", "--durability=nosync", NULL };
	char *a3[] = { "kvstore-fcgi", "--data-dir=/a", "--max-body=12k", NULL };
	char *a4[] = { "kvstore-fcgi", "--data-dir=/a", "--bogus=1", NULL };
	char *a5[] = { "kvstore-fcgi", "--data-dir=/a", "extra", NULL };
	char *a6[] = { "kvstore-fcgi", NULL };
	struct config c;

	assert_int_equal(load(&c, 3, a1), CONFIG_ERROR);
	assert_int_equal(load(&c, 3, a2), CONFIG_ERROR);
	assert_int_equal(load(&c, 3, a3), CONFIG_ERROR);
	assert_int_equal(load(&c, 3, a4), CONFIG_ERROR);
	assert_int_equal(load(&c, 3, a5), CONFIG_ERROR);
	/* No data directory from anywhere. */
	assert_int_equal(load(&c, 1, a6), CONFIG_ERROR);
	setenv("KV_DATA_DIR", "/a", 1);
	setenv("KV_LOG_LEVEL", "loud", 1);
	assert_int_equal(load(&c, 1, a6), CONFIG_ERROR);
}

/* A batch larger than the lock table holds would be a 500, not a 400. */
static void
config_load__max_batch_ops__bounded_by_lock_table(void **state)
{
	char *ok[] = { "kvstore-fcgi", "--data-dir=/a", "--max-batch-ops=10000",
	    NULL };
	char *over[] = { "kvstore-fcgi", "--data-dir=/a",
	    "--max-batch-ops=10001", NULL };
	struct config c;

	assert_int_equal(load(&c, 3, ok), CONFIG_OK);
	assert_int_equal(c.max_batch_ops, 10000);
	assert_int_equal(load(&c, 3, over), CONFIG_ERROR);
}

static void
config_load__max_reply_memory__read(void **state)
{
	char *argv[] = { "kvstore-fcgi", "--data-dir=/a",
	    "--max-reply-memory=16777216", NULL };
	char *low[] = { "kvstore-fcgi", "--data-dir=/a",
	    "--max-reply-memory=1000", NULL };
	struct config c;

	assert_int_equal(load(&c, 3, argv), CONFIG_OK);
	assert_int_equal(c.max_reply_memory, 16 << 20);
	assert_int_equal(load(&c, 3, low), CONFIG_ERROR);
}

static void
config_load__help__exits_ok(void **state)
{
	char *argv[] = { "kvstore-fcgi", "--help", NULL };
	struct config c;

	assert_int_equal(load(&c, 2, argv), CONFIG_EXIT_OK);
}

static void
config_usage__lists_every_variable(void **state)
{
	char text[8192];
	size_t i, n;
	FILE *f;

	f = fmemopen(text, sizeof(text) - 1, "w");
	assert_non_null(f);
	config_usage(f);
	n = ftell(f);
	fclose(f);
	text[n] = '\0';
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		if (strcmp(vars[i], "STATE_DIRECTORY") == 0)
			continue;
		assert_non_null(strstr(text, vars[i]));
	}
	assert_non_null(strstr(text, "default 2097152"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(config_load__defaults__as_documented, clear_env),
		cmocka_unit_test_setup(config_load__write_durability__same_default_threads, clear_env),
		cmocka_unit_test_setup(config_load__threads_given__kept_whatever_the_durability, clear_env),
		cmocka_unit_test_setup(config_load__environment__read, clear_env),
		cmocka_unit_test_setup(config_load__state_directory__fallback_for_data_dir, clear_env),
		cmocka_unit_test_setup(config_load__option__overrides_environment, clear_env),
		cmocka_unit_test_setup(config_load__bad_values__error, clear_env),
		cmocka_unit_test_setup(config_load__max_batch_ops__bounded_by_lock_table,
		    clear_env),
		cmocka_unit_test_setup(config_load__max_reply_memory__read, clear_env),
		cmocka_unit_test_setup(config_load__help__exits_ok, clear_env),
		cmocka_unit_test_setup(config_usage__lists_every_variable, clear_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
