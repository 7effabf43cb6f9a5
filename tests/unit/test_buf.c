/*
 * buf: appends keep the buffer NUL-terminated and grow it as needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"

static void
buf_add__mixed_appends__concatenated_and_terminated(void **state)
{
	struct buf b;

	buf_init(&b);
	buf_adds(&b, "ab");
	buf_addc(&b, 'c');
	buf_add(&b, "d\0e", 3);
	buf_addf(&b, "%d-%s", 42, "x");
	assert_int_equal(b.len, 10);
	assert_memory_equal(b.data, "abcd\0e42-x", 10);
	assert_int_equal(b.data[b.len], '\0');
	buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
}

static void
buf_add__large_appends__grow(void **state)
{
	char chunk[1000];
	struct buf b;
	int i;

	memset(chunk, 'z', sizeof(chunk));
	buf_init(&b);
	for (i = 0; i < 1000; i++)
		buf_add(&b, chunk, sizeof(chunk));
	assert_int_equal(b.len, 1000000);
	assert_true(b.cap > b.len);
	assert_int_equal(b.data[999999], 'z');
	assert_int_equal(b.data[1000000], '\0');
	buf_free(&b);
}

static void
buf_addf__longer_than_room__whole_line(void **state)
{
	char big[700];
	struct buf b;

	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_init(&b);
	buf_adds(&b, "ab");
	/* Past the first allocation: formatted again once it has grown. */
	buf_addf(&b, "<%s>", big);
	assert_int_equal(b.len, 2 + 2 + sizeof(big) - 1);
	assert_int_equal(b.data[2], '<');
	assert_int_equal(b.data[b.len - 2], 'q');
	assert_int_equal(b.data[b.len - 1], '>');
	assert_int_equal(b.data[b.len], '\0');
	buf_free(&b);
}

static void
buf_addu_addi__limits__as_printf(void **state)
{
	struct buf b;

	buf_init(&b);
	buf_addu(&b, 0);
	buf_addc(&b, ' ');
	buf_addu(&b, UINT64_MAX);
	buf_addc(&b, ' ');
	buf_addi(&b, INT64_MIN);
	buf_addc(&b, ' ');
	buf_addi(&b, INT64_MAX);
	buf_addc(&b, ' ');
	buf_addi(&b, -1);
	buf_addc(&b, ' ');
	buf_addi(&b, 1796435159123);
	assert_string_equal(b.data, "0 18446744073709551615 "
	    "-9223372036854775808 9223372036854775807 -1 1796435159123");
	buf_free(&b);
}

static void
buf_reset__keeps_allocation__empties(void **state)
{
	struct buf b;

	buf_init(&b);
	buf_adds(&b, "hello");
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	buf_adds(&b, "x");
	assert_string_equal(b.data, "x");
	buf_free(&b);
}

static void
buf_free__null_and_twice__harmless(void **state)
{
	struct buf b;

	buf_free(NULL);
	buf_init(&b);
	buf_free(&b);
	buf_free(&b);
	assert_null(b.data);
}

static void
xmemdup__binary__copied_with_nul(void **state)
{
	char *p = xmemdup("a\0b", 3);

	assert_memory_equal(p, "a\0b", 3);
	assert_int_equal(p[3], '\0');
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(buf_add__mixed_appends__concatenated_and_terminated),
		cmocka_unit_test(buf_add__large_appends__grow),
		cmocka_unit_test(buf_addf__longer_than_room__whole_line),
		cmocka_unit_test(buf_addu_addi__limits__as_printf),
		cmocka_unit_test(buf_reset__keeps_allocation__empties),
		cmocka_unit_test(buf_free__null_and_twice__harmless),
		cmocka_unit_test(xmemdup__binary__copied_with_nul),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
