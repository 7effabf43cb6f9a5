/*
 * Unit tests for num: increments on JSON number texts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "num.h"

/* Asserts that a + b is NUM_OK and reads want. */
static void
assert_sum(const char *a, const char *b, const char *want)
{
	char out[NUM_TEXT_MAX];

	assert_int_equal(num_add(a, strlen(a), b, strlen(b), out), NUM_OK);
	assert_string_equal(out, want);
}

static int
add_rc(const char *a, const char *b)
{
	char out[NUM_TEXT_MAX];

	return num_add(a, strlen(a), b, strlen(b), out);
}

static void
num_add__small_integers__add_exactly(void **state)
{
	assert_sum("1", "1", "2");
	assert_sum("-5", "3", "-2");
	assert_sum("0", "-0", "0");
}

static void
num_add__integers_beyond_2_53__stay_exact(void **state)
{
	assert_sum("9007199254740993", "0", "9007199254740993");
	assert_sum("9007199254740992", "1", "9007199254740993");
}

static void
num_add__int64_edges__are_reached_exactly(void **state)
{
	assert_sum("9223372036854775806", "1", "9223372036854775807");
	assert_sum("-9223372036854775807", "-1", "-9223372036854775808");
	assert_sum("-9223372036854775808", "9223372036854775807", "-1");
}

static void
num_add__past_int64__overflows(void **state)
{
	assert_int_equal(add_rc("9223372036854775807", "1"), NUM_OVERFLOW);
	assert_int_equal(add_rc("-9223372036854775808", "-1"), NUM_OVERFLOW);
}

static void
num_add__integer_literal_beyond_int64__overflows_rather_than_rounds(
    void **state)
{
	assert_int_equal(add_rc("9223372036854775808", "0"), NUM_OVERFLOW);
	assert_int_equal(add_rc("1", "-99999999999999999999"), NUM_OVERFLOW);
	assert_int_equal(add_rc("99999999999999999999", "0.5"), NUM_OVERFLOW);
}

static void
num_add__fractions__give_the_shortest_round_trip(void **state)
{
	assert_sum("0.1", "0.2", "0.30000000000000004");
	assert_sum("0.1", "0.1", "0.2");
	assert_sum("1", "0.5", "1.5");
	assert_sum("1.5", "1.5", "3");
	assert_sum("10", "-0.25", "9.75");
	assert_sum("1e2", "1", "101");
}

static void
num_add__large_doubles__use_an_exponent(void **state)
{
	assert_sum("1e20", "1", "1e+20");
	assert_sum("1.5e300", "1e300", "2.5e+300");
}

static void
num_add__negative_zero__is_written_as_zero(void **state)
{
	assert_sum("-0.0", "-0.0", "0");
	assert_sum("-0.5", "0.5", "0");
	assert_sum("-0", "0", "0");
}

static void
num_add__double_overflow__is_refused(void **state)
{
	assert_int_equal(add_rc("1e308", "1e308"), NUM_OVERFLOW);
	assert_int_equal(add_rc("-1.7976931348623157e308", "-1e308"),
	    NUM_OVERFLOW);
}

static void
num_add__not_a_number__is_nan(void **state)
{
	assert_int_equal(add_rc("\"1\"", "1"), NUM_NAN);
	assert_int_equal(add_rc("true", "1"), NUM_NAN);
	assert_int_equal(add_rc("[1]", "1"), NUM_NAN);
	assert_int_equal(add_rc("1", "01"), NUM_NAN);
	assert_int_equal(add_rc("1.", "1"), NUM_NAN);
	assert_int_equal(add_rc("", "1"), NUM_NAN);
	assert_int_equal(add_rc("1e400", "1"), NUM_NAN);
}

static void
num_is_number__json_grammar__is_followed(void **state)
{
	assert_true(num_is_number("-0.5e-3", 7));
	assert_false(num_is_number("+1", 2));
	assert_false(num_is_number(" 1", 2));
	assert_false(num_is_number(".5", 2));
	assert_false(num_is_number(NULL, 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(num_add__small_integers__add_exactly),
		cmocka_unit_test(num_add__integers_beyond_2_53__stay_exact),
		cmocka_unit_test(num_add__int64_edges__are_reached_exactly),
		cmocka_unit_test(num_add__past_int64__overflows),
		cmocka_unit_test(
		    num_add__integer_literal_beyond_int64__overflows_rather_than_rounds),
		cmocka_unit_test(
		    num_add__fractions__give_the_shortest_round_trip),
		cmocka_unit_test(num_add__large_doubles__use_an_exponent),
		cmocka_unit_test(num_add__negative_zero__is_written_as_zero),
		cmocka_unit_test(num_add__double_overflow__is_refused),
		cmocka_unit_test(num_add__not_a_number__is_nan),
		cmocka_unit_test(num_is_number__json_grammar__is_followed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
