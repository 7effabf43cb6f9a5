/*
 * Unit tests for codec: strict validation, body decoding, string escaping
 * and JSON equality. Each test checks one behaviour; the name says which.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "codec.h"

#define DEPTH	64
#define LIT(s)	(s), (sizeof(s) - 1)

/* Validation of s[0..len) with the default depth; returns the message. */
static int
validate(const char *s, size_t len, char *err, size_t errlen)
{
	err[0] = '\0';
	return codec_validate(s, len, DEPTH, err, errlen);
}

static void
assert_valid_len(const char *s, size_t len)
{
	char err[256];

	if (validate(s, len, err, sizeof(err)) != 0)
		fail_msg("rejected %s: %s", s, err);
}

static void
assert_valid(const char *s)
{
	assert_valid_len(s, strlen(s));
}

static void
assert_rejected_len(const char *s, size_t len, const char *want)
{
	char err[256];

	assert_int_equal(validate(s, len, err, sizeof(err)), -1);
	assert_string_equal(err, want);
}

static void
assert_rejected(const char *s, const char *want)
{
	assert_rejected_len(s, strlen(s), want);
}

/* Decodes s as a single-op body; fails the test if that fails. */
static void
decode(const char *s, struct body_op *op)
{
	char err[256] = "";

	if (codec_decode_op(s, strlen(s), DEPTH, op, err, sizeof(err)) != 0)
		fail_msg("decode of %s failed: %s", s, err);
}

/* The compact serialization of {"value": <v>} as decoded. */
static void
assert_value_text(const char *body, const char *want)
{
	struct body_op op;

	decode(body, &op);
	assert_int_equal(op.value.st, FIELD_OK);
	assert_string_equal(op.value.text, want);
	assert_int_equal(op.value.len, strlen(want));
	codec_op_free(&op);
}

static void
assert_ttl(const char *body, enum field_state st, int64_t v)
{
	struct body_op op;

	decode(body, &op);
	assert_int_equal(op.ttl.st, st);
	if (st == FIELD_OK)
		assert_true(op.ttl.v == v);
	codec_op_free(&op);
}

static int
eq(const char *a, const char *b)
{
	return codec_equal(a, strlen(a), b, strlen(b));
}

/* ---- codec_validate: accepted documents ---- */

static void
codec_validate__nested_document__accepted(void **state)
{
	assert_valid("{\"a\":{\"b\":[1,[2,{\"c\":[]}],{}]},\"d\":null,"
	    "\"e\":true,\"f\":false,\"g\":\"s\"}");
}

static void
codec_validate__whitespace_around_tokens__accepted(void **state)
{
	assert_valid(" \t\r\n{ \"a\" : [ 1 , 2 ] , \"b\" :\n{ } }\n ");
}

static void
codec_validate__top_level_scalars__accepted(void **state)
{
	assert_valid("1");
	assert_valid("\"x\"");
	assert_valid("null");
	assert_valid("true");
	assert_valid("false");
}

static void
codec_validate__raw_utf8_of_every_length__accepted(void **state)
{
	/* U+00E9, U+20AC, U+FFFD, U+1F600, U+10FFFF, U+E000, U+D7FF. */
	assert_valid("[\"\xc3\xa9\",\"\xe2\x82\xac\",\"\xef\xbf\xbd\","
	    "\"\xf0\x9f\x98\x80\",\"\xf4\x8f\xbf\xbf\",\"\xee\x80\x80\","
	    "\"\xed\x9f\xbf\"]");
}

static void
codec_validate__all_simple_escapes__accepted(void **state)
{
	assert_valid("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0000 \\u00e9 "
	    "\\uFFFF \\uabCD\"");
}

static void
codec_validate__surrogate_pair_escape__accepted(void **state)
{
	assert_valid("\"\\ud83d\\ude00\"");
	assert_valid("\"\\uDBFF\\uDFFF\"");
}

static void
codec_validate__number_forms__accepted(void **state)
{
	assert_valid("[0,-0,1,-1,10,0.5,-0.0,1.5E+10,1e5,1E-5,2.50,"
	    "123456789012345678901234567890]");
}

static void
codec_validate__underflow_to_zero__accepted(void **state)
{
	assert_valid("1e-400");
	assert_valid("-1e-400");
}

static void
codec_validate__largest_double__accepted(void **state)
{
	assert_valid("1.7976931348623157e308");
	assert_valid("-1.7976931348623157e308");
}

static void
codec_validate__del_in_string__accepted(void **state)
{
	assert_valid("\"a\x7f" "b\"");
}

/* ---- codec_validate: rejections ---- */

static void
codec_validate__empty_input__rejected(void **state)
{
	assert_rejected("", "Invalid JSON body: unexpected end of data");
}

static void
codec_validate__whitespace_only__rejected(void **state)
{
	assert_rejected(" \n\t\r ", "Invalid JSON body: unexpected end of data");
}

static void
codec_validate__nan__rejected(void **state)
{
	assert_rejected("{\"value\":NaN}",
	    "Invalid JSON body: unexpected character 'N' at offset 9");
}

static void
codec_validate__infinity__rejected(void **state)
{
	assert_rejected("[Infinity]",
	    "Invalid JSON body: unexpected character 'I' at offset 1");
	assert_rejected("[-Infinity]",
	    "Invalid JSON body: invalid number at offset 1");
}

static void
codec_validate__single_quoted_name__rejected(void **state)
{
	assert_rejected("{'key':1}",
	    "Invalid JSON body: unexpected character ''' at offset 1");
}

static void
codec_validate__single_quoted_value__rejected(void **state)
{
	assert_rejected("{\"key\":'a'}",
	    "Invalid JSON body: unexpected character ''' at offset 7");
}

static void
codec_validate__misspelt_literal__rejected(void **state)
{
	assert_rejected("[True]",
	    "Invalid JSON body: unexpected character 'T' at offset 1");
	assert_rejected("[tru]",
	    "Invalid JSON body: unexpected character ']' at offset 4");
	assert_rejected("[nul", "Invalid JSON body: unexpected end of data");
	assert_rejected("[falsy]",
	    "Invalid JSON body: unexpected character 'y' at offset 5");
	assert_rejected("[nullx]",
	    "Invalid JSON body: unexpected character 'x' at offset 5");
}

static void
codec_validate__raw_tab_in_string__rejected(void **state)
{
	assert_rejected("[\"a\tb\"]",
	    "Invalid JSON body: control character in string at offset 3");
}

static void
codec_validate__raw_newline_in_string__rejected(void **state)
{
	assert_rejected("\"\n\"",
	    "Invalid JSON body: control character in string at offset 1");
}

static void
codec_validate__raw_nul_in_string__rejected(void **state)
{
	assert_rejected_len(LIT("[\"a\0\"]"),
	    "Invalid JSON body: control character in string at offset 3");
}

static void
codec_validate__nul_byte_between_tokens__rejected(void **state)
{
	assert_rejected_len(LIT("{\"a\":\0 1}"),
	    "Invalid JSON body: unexpected byte 0x00 at offset 5");
}

static void
codec_validate__nul_byte_after_value__rejected(void **state)
{
	assert_rejected_len(LIT("{}\0"),
	    "Invalid JSON body: trailing data at offset 2");
}

static void
codec_validate__overlong_two_byte_utf8__rejected(void **state)
{
	assert_rejected("[\"\xc0\xaf\"]",
	    "Invalid JSON body: invalid UTF-8 at offset 2");
	assert_rejected("\"\xc1\xbf\"",
	    "Invalid JSON body: invalid UTF-8 at offset 1");
}

static void
codec_validate__overlong_three_and_four_byte_utf8__rejected(void **state)
{
	assert_rejected("\"\xe0\x80\xaf\"",
	    "Invalid JSON body: invalid UTF-8 at offset 1");
	assert_rejected("\"\xf0\x80\x80\xaf\"",
	    "Invalid JSON body: invalid UTF-8 at offset 1");
}

static void
codec_validate__encoded_surrogate_utf8__rejected(void **state)
{
	assert_rejected("\"\xed\xa0\x80\"",
	    "Invalid JSON body: invalid UTF-8 at offset 1");
	assert_rejected("\"\xed\xbf\xbf\"",
	    "Invalid JSON body: invalid UTF-8 at offset 1");
}

static void
codec_validate__utf8_above_max_code_point__rejected(void **state)
{
	assert_rejected("\"\xf4\x90\x80\x80\"",
	    "Invalid JSON body: invalid UTF-8 at offset 1");
	assert_rejected("\"\xf5\x80\x80\x80\"",
	    "Invalid JSON body: invalid UTF-8 at offset 1");
	assert_rejected("\"\xff\"", "Invalid JSON body: invalid UTF-8 at offset 1");
}

static void
codec_validate__truncated_utf8_sequence__rejected(void **state)
{
	assert_rejected("\"\xe2\x82\"",
	    "Invalid JSON body: invalid UTF-8 at offset 1");
	assert_rejected("\"ab\xf0\x9f\x98",
	    "Invalid JSON body: invalid UTF-8 at offset 3");
}

static void
codec_validate__stray_continuation_byte__rejected(void **state)
{
	assert_rejected("\"a\x80\"", "Invalid JSON body: invalid UTF-8 at offset 2");
}

static void
codec_validate__non_ascii_outside_string__rejected(void **state)
{
	assert_rejected("[\xc3\xa9]",
	    "Invalid JSON body: unexpected byte 0xc3 at offset 1");
}

static void
codec_validate__invalid_escape__rejected(void **state)
{
	assert_rejected("\"a\\x\"", "Invalid JSON body: invalid escape at offset 2");
	assert_rejected("\"\\U0041\"",
	    "Invalid JSON body: invalid escape at offset 1");
	assert_rejected("\"\\u00g1\"",
	    "Invalid JSON body: invalid escape at offset 1");
	assert_rejected("\"\\'\"", "Invalid JSON body: invalid escape at offset 1");
}

static void
codec_validate__truncated_unicode_escape__rejected(void **state)
{
	assert_rejected("\"\\u12", "Invalid JSON body: unexpected end of data");
}

static void
codec_validate__lone_high_surrogate__rejected(void **state)
{
	assert_rejected("{\"a\":\"\\ud800\"}",
	    "Invalid JSON body: unpaired surrogate escape at offset 6");
}

static void
codec_validate__high_surrogate_then_non_low__rejected(void **state)
{
	assert_rejected("\"\\ud800\\u0041\"",
	    "Invalid JSON body: unpaired surrogate escape at offset 1");
	assert_rejected("\"\\ud800\\ud800\"",
	    "Invalid JSON body: unpaired surrogate escape at offset 1");
	assert_rejected("\"\\ud800x\"",
	    "Invalid JSON body: unpaired surrogate escape at offset 1");
}

static void
codec_validate__lone_low_surrogate__rejected(void **state)
{
	assert_rejected("\"x\\udc00\"",
	    "Invalid JSON body: unpaired surrogate escape at offset 2");
}

static void
codec_validate__reversed_surrogate_pair__rejected(void **state)
{
	assert_rejected("\"\\ude00\\ud83d\"",
	    "Invalid JSON body: unpaired surrogate escape at offset 1");
}

static void
codec_validate__leading_zero__rejected(void **state)
{
	assert_rejected("[01]", "Invalid JSON body: invalid number at offset 1");
	assert_rejected("[-01]", "Invalid JSON body: invalid number at offset 1");
}

static void
codec_validate__plus_sign__rejected(void **state)
{
	assert_rejected("[+1]",
	    "Invalid JSON body: unexpected character '+' at offset 1");
}

static void
codec_validate__missing_integer_part__rejected(void **state)
{
	assert_rejected("[.5]",
	    "Invalid JSON body: unexpected character '.' at offset 1");
}

static void
codec_validate__missing_fraction_digits__rejected(void **state)
{
	assert_rejected("[1.]", "Invalid JSON body: invalid number at offset 1");
	assert_rejected("1.", "Invalid JSON body: invalid number at offset 0");
}

static void
codec_validate__bare_minus__rejected(void **state)
{
	assert_rejected("-", "Invalid JSON body: invalid number at offset 0");
	assert_rejected("[-]", "Invalid JSON body: invalid number at offset 1");
}

static void
codec_validate__missing_exponent_digits__rejected(void **state)
{
	assert_rejected("1e", "Invalid JSON body: invalid number at offset 0");
	assert_rejected("[1e+]", "Invalid JSON body: invalid number at offset 1");
}

static void
codec_validate__hex_number__rejected(void **state)
{
	assert_rejected("0x10",
	    "Invalid JSON body: trailing data at offset 1");
}

static void
codec_validate__exponent_overflow__rejected(void **state)
{
	assert_rejected("{\"value\":1e400}",
	    "Invalid JSON body: number out of range at offset 9");
	assert_rejected("[-1e400]",
	    "Invalid JSON body: number out of range at offset 1");
	assert_rejected("1.8e308",
	    "Invalid JSON body: number out of range at offset 0");
}

static void
codec_validate__long_integer_overflowing_double__rejected(void **state)
{
	char s[402];

	memset(s, '9', 400);
	s[400] = '\0';
	assert_rejected(s, "Invalid JSON body: number out of range at offset 0");
}

static void
codec_validate__long_integer_within_double__accepted(void **state)
{
	char s[309];

	memset(s, '9', 308);
	s[308] = '\0';
	assert_valid(s);
}

static void
codec_validate__trailing_garbage__rejected(void **state)
{
	assert_rejected("{\"key\":\"a\"} x",
	    "Invalid JSON body: trailing data at offset 12");
}

static void
codec_validate__second_value__rejected(void **state)
{
	assert_rejected("{}{}", "Invalid JSON body: trailing data at offset 2");
	assert_rejected("1 2", "Invalid JSON body: trailing data at offset 2");
}

static void
codec_validate__unterminated_containers__rejected(void **state)
{
	assert_rejected("[1,", "Invalid JSON body: unexpected end of data");
	assert_rejected("{\"a\"", "Invalid JSON body: unexpected end of data");
	assert_rejected("{\"a\":1", "Invalid JSON body: unexpected end of data");
	assert_rejected("\"abc", "Invalid JSON body: unexpected end of data");
}

static void
codec_validate__trailing_comma__rejected(void **state)
{
	assert_rejected("[1,]",
	    "Invalid JSON body: unexpected character ']' at offset 3");
	assert_rejected("{\"a\":1,}",
	    "Invalid JSON body: unexpected character '}' at offset 7");
}

static void
codec_validate__malformed_members__rejected(void **state)
{
	assert_rejected("{1:2}",
	    "Invalid JSON body: unexpected character '1' at offset 1");
	assert_rejected("{\"a\" 1}",
	    "Invalid JSON body: unexpected character '1' at offset 5");
	assert_rejected("{\"a\":}",
	    "Invalid JSON body: unexpected character '}' at offset 5");
	assert_rejected("{,}",
	    "Invalid JSON body: unexpected character ',' at offset 1");
	assert_rejected("[1 2]",
	    "Invalid JSON body: unexpected character '2' at offset 3");
	assert_rejected("[1}",
	    "Invalid JSON body: unexpected character '}' at offset 2");
}

/* n nested arrays around 0, in a malloc'd string. */
static char *
nested(size_t n, char open, char close)
{
	char *s = malloc(2 * n + 2);
	size_t i;

	assert_non_null(s);
	for (i = 0; i < n; i++)
		s[i] = open;
	s[n] = '0';
	for (i = 0; i < n; i++)
		s[n + 1 + i] = close;
	s[2 * n + 1] = '\0';
	return s;
}

static void
codec_validate__depth_64__accepted(void **state)
{
	char *s = nested(64, '[', ']');

	assert_valid(s);
	free(s);
}

static void
codec_validate__depth_65__rejected(void **state)
{
	char *s = nested(65, '[', ']');

	assert_rejected(s, "Invalid JSON body: nesting deeper than 64 levels");
	free(s);
}

static void
codec_validate__depth_counts_objects_and_arrays__rejected(void **state)
{
	struct buf b;
	int i;

	buf_init(&b);
	for (i = 0; i < 33; i++)
		buf_adds(&b, "{\"a\":[");
	assert_rejected(b.data,
	    "Invalid JSON body: nesting deeper than 64 levels");
	buf_free(&b);
}

static void
codec_validate__sibling_containers_do_not_add_depth__accepted(void **state)
{
	char *a = nested(63, '[', ']');
	struct buf b;

	buf_init(&b);
	buf_addf(&b, "[%s,%s,{\"x\":%s}]", a, a, "{}");
	assert_valid(b.data);
	buf_free(&b);
	free(a);
}

static void
codec_validate__megabyte_of_open_brackets__rejected_quickly(void **state)
{
	size_t n = 1 << 20;
	char *s = malloc(n), err[128];
	clock_t t0 = clock();

	assert_non_null(s);
	memset(s, '[', n);
	assert_int_equal(codec_validate(s, n, DEPTH, err, sizeof(err)), -1);
	assert_string_equal(err,
	    "Invalid JSON body: nesting deeper than 64 levels");
	/* Even with no depth limit the scan is iterative: no stack overflow. */
	assert_int_equal(codec_validate(s, n, UINT_MAX, err, sizeof(err)), -1);
	assert_string_equal(err, "Invalid JSON body: unexpected end of data");
	assert_true(clock() - t0 < 2 * CLOCKS_PER_SEC);
	free(s);
}

static void
codec_validate__depth_zero__refuses_any_container(void **state)
{
	char err[128];

	assert_int_equal(codec_validate(LIT("{}"), 0, err, sizeof(err)), -1);
	assert_string_equal(err,
	    "Invalid JSON body: nesting deeper than 0 levels");
	assert_int_equal(codec_validate(LIT("1"), 0, err, sizeof(err)), 0);
}

static void
codec_validate__null_or_tiny_err_buffer__is_safe(void **state)
{
	char err[8];

	assert_int_equal(codec_validate(LIT("[nope]"), DEPTH, NULL, 0), -1);
	memset(err, 'x', sizeof(err));
	assert_int_equal(codec_validate(LIT("[nope]"), DEPTH, err, sizeof(err)),
	    -1);
	assert_string_equal(err, "Invalid");
}

/* ---- codec_decode_op ---- */

static void
codec_decode_op__all_fields__decoded(void **state)
{
	struct body_op op;

	decode("{\"key\":\"k\",\"value\":{\"a\":1},\"oldValue\":[1],"
	    "\"newValue\":\"n\",\"ttl\":60}", &op);
	assert_int_equal(op.key.st, FIELD_OK);
	assert_string_equal(op.key.s, "k");
	assert_int_equal(op.key.len, 1);
	assert_string_equal(op.value.text, "{\"a\":1}");
	assert_string_equal(op.old_value.text, "[1]");
	assert_string_equal(op.new_value.text, "\"n\"");
	assert_int_equal(op.ttl.st, FIELD_OK);
	assert_true(op.ttl.v == 60);
	assert_int_equal(op.op.st, FIELD_ABSENT);
	codec_op_free(&op);
}

static void
codec_decode_op__empty_object__all_absent(void **state)
{
	struct body_op op;

	decode("{}", &op);
	assert_int_equal(op.key.st, FIELD_ABSENT);
	assert_null(op.key.s);
	assert_int_equal(op.value.st, FIELD_ABSENT);
	assert_null(op.value.text);
	assert_int_equal(op.old_value.st, FIELD_ABSENT);
	assert_int_equal(op.new_value.st, FIELD_ABSENT);
	assert_int_equal(op.ttl.st, FIELD_ABSENT);
	codec_op_free(&op);
}

static void
codec_decode_op__non_object_body__rejected(void **state)
{
	static const char *const bodies[] = {
		"[]", "\"str\"", "1", "null", "true", "[{\"key\":\"a\"}]",
	};
	struct body_op op;
	char err[128];
	size_t i;

	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		err[0] = '\0';
		assert_int_equal(codec_decode_op(bodies[i], strlen(bodies[i]),
		    DEPTH, &op, err, sizeof(err)), -1);
		assert_string_equal(err, "Request body must be a JSON object");
		assert_int_equal(op.key.st, FIELD_ABSENT);
		codec_op_free(&op);
	}
}

static void
codec_decode_op__invalid_json__rejected_with_reason(void **state)
{
	struct body_op op;
	char err[128];

	assert_int_equal(codec_decode_op(LIT("{\"key\":NaN}"), DEPTH, &op,
	    err, sizeof(err)), -1);
	assert_string_equal(err,
	    "Invalid JSON body: unexpected character 'N' at offset 7");
	assert_null(op.key.s);
	assert_int_equal(op.key.st, FIELD_ABSENT);
}

static void
codec_decode_op__embedded_nul_after_body__rejected(void **state)
{
	struct body_op op;
	char err[128];

	assert_int_equal(codec_decode_op(LIT("{\"key\":\"a\"}\0{}"), DEPTH, &op,
	    err, sizeof(err)), -1);
	assert_string_equal(err, "Invalid JSON body: trailing data at offset 11");
}

static void
codec_decode_op__depth_over_limit__rejected(void **state)
{
	struct body_op op;
	struct buf b;
	char err[128], *arr = nested(64, '[', ']');

	buf_init(&b);
	buf_addf(&b, "{\"key\":\"k\",\"value\":%s}", arr);
	assert_int_equal(codec_decode_op(b.data, b.len, DEPTH, &op, err,
	    sizeof(err)), -1);
	assert_string_equal(err,
	    "Invalid JSON body: nesting deeper than 64 levels");
	buf_free(&b);
	free(arr);
}

static void
codec_decode_op__depth_at_limit__decoded(void **state)
{
	struct body_op op;
	struct buf b;
	char *arr = nested(63, '[', ']');

	buf_init(&b);
	buf_addf(&b, "{\"value\":%s}", arr);
	decode(b.data, &op);
	assert_string_equal(op.value.text, arr);
	codec_op_free(&op);
	buf_free(&b);
	free(arr);
}

static void
codec_decode_op__key_null__null(void **state)
{
	struct body_op op;

	decode("{\"key\":null}", &op);
	assert_int_equal(op.key.st, FIELD_NULL);
	assert_null(op.key.s);
	codec_op_free(&op);
}

static void
codec_decode_op__key_not_string__badtype(void **state)
{
	static const char *const bodies[] = {
		"{\"key\":1}", "{\"key\":true}", "{\"key\":[\"a\"]}",
		"{\"key\":{}}", "{\"key\":1.5}",
	};
	struct body_op op;
	size_t i;

	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		decode(bodies[i], &op);
		assert_int_equal(op.key.st, FIELD_BADTYPE);
		assert_null(op.key.s);
		codec_op_free(&op);
	}
}

static void
codec_decode_op__key_with_escaped_nul__keeps_length(void **state)
{
	struct body_op op;

	decode("{\"key\":\"a\\u0000b\"}", &op);
	assert_int_equal(op.key.st, FIELD_OK);
	assert_int_equal(op.key.len, 3);
	assert_memory_equal(op.key.s, "a\0b", 4);
	codec_op_free(&op);
}

static void
codec_decode_op__key_escapes__decoded_to_utf8(void **state)
{
	struct body_op op;

	decode("{\"key\":\"\\u00e9\\ud83d\\ude00\\/\\\"\xe2\x82\xac\"}", &op);
	assert_int_equal(op.key.st, FIELD_OK);
	assert_string_equal(op.key.s, "\xc3\xa9\xf0\x9f\x98\x80/\"\xe2\x82\xac");
	assert_int_equal(op.key.len, 11);
	codec_op_free(&op);
}

/* Decodes s as a request (op or batch) and expects err to be want. */
static void
assert_refused(const char *s, int batch, const char *want)
{
	struct body_batch b;
	struct body_op op;
	char err[256] = "";
	int rc;

	if (batch) {
		rc = codec_decode_batch(s, strlen(s), DEPTH, 128, &b, err,
		    sizeof(err));
		assert_int_equal(b.ops_n, 0);
		assert_null(b.ops);
	} else {
		rc = codec_decode_op(s, strlen(s), DEPTH, &op, err, sizeof(err));
		assert_int_equal(op.key.st, FIELD_ABSENT);
	}
	assert_int_equal(rc, -1);
	assert_string_equal(err, want);
}

static void
codec_decode_op__duplicate_member__refused(void **state)
{
	/* Last-one-wins would turn this into create-if-absent. */
	assert_refused("{\"key\":\"a\",\"oldValue\":1,\"oldValue\":null,"
	    "\"newValue\":2}", 0, "Duplicate member: oldValue");
	assert_refused("{\"key\":\"first\",\"key\":\"second\"}", 0,
	    "Duplicate member: key");
	/* Names are compared decoded: \u0061 is "a". */
	assert_refused("{\"a\":1, \"\\u0061\" : 2}", 0, "Duplicate member: a");
	/* The name used twice first is named, wherever it sorts. */
	assert_refused("{\"z\":1,\"b\":1,\"z\":2,\"b\":2,\"b\":3}", 0,
	    "Duplicate member: z");
	/* Unknown members count too: the object is the request. */
	assert_refused("{\"key\":\"k\",\"x\":[{\"y\":1}],\"x\":2}", 0,
	    "Duplicate member: x");
}

static void
codec_decode_batch__duplicate_member__refused(void **state)
{
	assert_refused("{\"operations\":[],\"atomic\":true,\"atomic\":false}",
	    1, "Duplicate member: atomic");
	assert_refused("{\"operations\":[{\"op\":\"set\",\"key\":\"a\","
	    "\"value\":1}],\"operations\":[]}", 1,
	    "Duplicate member: operations");
	assert_refused("{\"operations\":[{\"op\":\"get\",\"key\":\"a\"},"
	    "1,[{\"k\":1,\"k\":2}],{\"op\":\"test-and-set\",\"key\":\"b\","
	    "\"oldValue\":1,\"oldValue\":null,\"newValue\":2}]}", 1,
	    "Duplicate member: oldValue");
}

static void
codec_decode__duplicate_member_inside_value__last_wins(void **state)
{
	static const char batch[] = "{\"operations\":[{\"op\":\"set\","
	    "\"key\":\"k\",\"value\":{\"op\":1,\"op\":2}}],\"x\":{\"y\":1,"
	    "\"y\":2}}";
	struct body_batch b;
	char err[256] = "";

	/* A stored value is the client's document: json-c's rule stands. */
	assert_value_text("{\"key\":\"k\",\"value\":{\"a\":1,\"a\":2}}",
	    "{\"a\":2}");
	assert_value_text("{\"value\":[{\"op\":1,\"op\":2}]}", "[{\"op\":2}]");
	assert_int_equal(codec_decode_batch(batch, sizeof(batch) - 1, DEPTH, 128,
	    &b, err, sizeof(err)), 0);
	assert_int_equal(b.ops_n, 1);
	assert_string_equal(b.ops[0].value.text, "{\"op\":2}");
	codec_batch_free(&b);
}

/*
 * json-c 0.17 and later refuse integers beyond 64 bits in strict mode;
 * the codec must not depend on that mode (its own validator is strict).
 */
static void
codec_decode_op__integer_beyond_64_bits__accepted_with_its_text(void **state)
{
	struct body_op op;

	decode("{\"key\":\"a\",\"value\":100000000000000000000}", &op);
	assert_int_equal(op.key.st, FIELD_OK);
	assert_string_equal(op.key.s, "a");
	assert_int_equal(op.value.st, FIELD_OK);
	assert_string_equal(op.value.text, "100000000000000000000");
	codec_op_free(&op);
	assert_int_equal(codec_equal("100000000000000000000", 21,
	    "100000000000000000000", 21), 1);
	assert_int_equal(codec_equal("100000000000000000000", 21,
	    "100000000000000000001", 21), 0);
}

static void
codec_decode_op__member_name_with_nul__rejected(void **state)
{
	static const char body[] = "{\"key\":\"k\",\"value\":{\"a\\u0000b\":1,\"a\":2}}";
	struct body_op op;
	char err[256];

	/* json-c would cut the name at the NUL and merge it into "a". */
	assert_int_equal(codec_decode_op(body, sizeof(body) - 1, 64, &op, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "member name"));
	assert_int_equal(strncmp(err, "Invalid JSON body: ", 19), 0);
	codec_op_free(&op);
}

static void
codec_decode_op__value_null__null(void **state)
{
	struct body_op op;

	decode("{\"key\":\"k\",\"value\":null}", &op);
	assert_int_equal(op.value.st, FIELD_NULL);
	assert_null(op.value.text);
	codec_op_free(&op);
}

static void
codec_decode_op__value_scalars__serialized(void **state)
{
	assert_value_text("{\"value\":\"hi\"}", "\"hi\"");
	assert_value_text("{\"value\":false}", "false");
	assert_value_text("{\"value\":true}", "true");
	assert_value_text("{\"value\":0}", "0");
	assert_value_text("{\"value\":-17}", "-17");
	assert_value_text("{\"value\":[]}", "[]");
	assert_value_text("{\"value\":{}}", "{}");
}

static void
codec_decode_op__value_serialization__compact_and_keeps_number_text(void **state)
{
	assert_value_text("{\"value\": {\"a\": [1, 2.50, \"x/y\"]}}",
	    "{\"a\":[1,2.50,\"x/y\"]}");
}

static void
codec_decode_op__double_literals__keep_their_text(void **state)
{
	assert_value_text("{\"value\":1.50}", "1.50");
	assert_value_text("{\"value\":1e2}", "1e2");
	assert_value_text("{\"value\":1E+2}", "1E+2");
	assert_value_text("{\"value\":-0.0}", "-0.0");
	assert_value_text("{\"value\":1e-400}", "1e-400");
	assert_value_text("{\"value\":1.5E+10}", "1.5E+10");
	assert_value_text("{\"value\":0.1}", "0.1");
}

static void
codec_decode_op__minus_zero_integer__serialized_as_zero(void **state)
{
	/* json-c holds -0 as the integer 0; numerically the same value. */
	assert_value_text("{\"value\":-0}", "0");
}

static void
codec_decode_op__uint64_range_integers__keep_their_text(void **state)
{
	assert_value_text("{\"value\":9223372036854775807}",
	    "9223372036854775807");
	assert_value_text("{\"value\":9223372036854775808}",
	    "9223372036854775808");
	assert_value_text("{\"value\":18446744073709551615}",
	    "18446744073709551615");
	assert_value_text("{\"value\":-9223372036854775808}",
	    "-9223372036854775808");
}

static void
codec_decode_op__integers_beyond_uint64__keep_their_text(void **state)
{
	/* json-c alone would write 18446744073709551615 and INT64_MIN. */
	assert_value_text("{\"value\":99999999999999999999}",
	    "99999999999999999999");
	assert_value_text("{\"value\":18446744073709551616}",
	    "18446744073709551616");
	assert_value_text("{\"value\":-9223372036854775809}",
	    "-9223372036854775809");
	assert_value_text("{\"value\":[1,{\"b\":-99999999999999999999},"
	    "123456789012345678901234567890]}",
	    "[1,{\"b\":-99999999999999999999},123456789012345678901234567890]");
}

static void
codec_decode_op__big_integer_in_overridden_duplicate__not_leaked(void **state)
{
	assert_value_text("{\"value\":{\"a\":[99999999999999999999],\"a\":[5]}}",
	    "{\"a\":[5]}");
	assert_value_text("{\"value\":{\"a\":[5],\"a\":[99999999999999999999]}}",
	    "{\"a\":[99999999999999999999]}");
}

static void
codec_decode_op__string_value__escaped_for_json(void **state)
{
	assert_value_text("{\"value\":\"a/b\\u0001\\n\\\"\xc3\xa9\\u00e9\"}",
	    "\"a/b\\u0001\\n\\\"\xc3\xa9\xc3\xa9\"");
}

static void
codec_decode_op__string_value_with_nul__kept(void **state)
{
	assert_value_text("{\"value\":\"a\\u0000b\"}", "\"a\\u0000b\"");
}

static void
codec_decode_op__old_and_new_value_states__decoded(void **state)
{
	struct body_op op;

	decode("{\"oldValue\":null,\"newValue\":0}", &op);
	assert_int_equal(op.old_value.st, FIELD_NULL);
	assert_null(op.old_value.text);
	assert_int_equal(op.new_value.st, FIELD_OK);
	assert_string_equal(op.new_value.text, "0");
	codec_op_free(&op);
	decode("{\"oldValue\":\"x\"}", &op);
	assert_int_equal(op.old_value.st, FIELD_OK);
	assert_string_equal(op.old_value.text, "\"x\"");
	assert_int_equal(op.new_value.st, FIELD_ABSENT);
	codec_op_free(&op);
}

static void
codec_decode_op__ttl_integer__ok(void **state)
{
	assert_ttl("{\"ttl\":10}", FIELD_OK, 10);
	assert_ttl("{\"ttl\":0}", FIELD_OK, 0);
	assert_ttl("{\"ttl\":-5}", FIELD_OK, -5);
	assert_ttl("{\"ttl\":315360000}", FIELD_OK, 315360000);
}

static void
codec_decode_op__ttl_fraction__badtype(void **state)
{
	assert_ttl("{\"ttl\":1.5}", FIELD_BADTYPE, 0);
	assert_ttl("{\"ttl\":10.0}", FIELD_BADTYPE, 0);
}

static void
codec_decode_op__ttl_exponent__badtype(void **state)
{
	assert_ttl("{\"ttl\":1e3}", FIELD_BADTYPE, 0);
	assert_ttl("{\"ttl\":1E0}", FIELD_BADTYPE, 0);
}

static void
codec_decode_op__ttl_string_or_bool__badtype(void **state)
{
	assert_ttl("{\"ttl\":\"10\"}", FIELD_BADTYPE, 0);
	assert_ttl("{\"ttl\":true}", FIELD_BADTYPE, 0);
	assert_ttl("{\"ttl\":[10]}", FIELD_BADTYPE, 0);
	assert_ttl("{\"ttl\":{}}", FIELD_BADTYPE, 0);
}

static void
codec_decode_op__ttl_null__null(void **state)
{
	assert_ttl("{\"ttl\":null}", FIELD_NULL, 0);
}

static void
codec_decode_op__ttl_beyond_int64__saturated_not_small(void **state)
{
	assert_ttl("{\"ttl\":99999999999999999999}", FIELD_OK, INT64_MAX);
	assert_ttl("{\"ttl\":9223372036854775808}", FIELD_OK, INT64_MAX);
	assert_ttl("{\"ttl\":18446744073709551616}", FIELD_OK, INT64_MAX);
	assert_ttl("{\"ttl\":-99999999999999999999}", FIELD_OK, INT64_MIN);
}

static void
codec_decode_op__expiration_ttl__used_without_ttl(void **state)
{
	assert_ttl("{\"expirationTtl\":30}", FIELD_OK, 30);
	assert_ttl("{\"expirationTtl\":\"30\"}", FIELD_BADTYPE, 0);
}

static void
codec_decode_op__ttl__wins_over_expiration_ttl(void **state)
{
	assert_ttl("{\"expirationTtl\":30,\"ttl\":20}", FIELD_OK, 20);
	assert_ttl("{\"ttl\":null,\"expirationTtl\":30}", FIELD_NULL, 0);
}

static void
codec_decode_op__op_member__ignored(void **state)
{
	struct body_op op;

	decode("{\"op\":\"set\"}", &op);
	assert_int_equal(op.op.st, FIELD_ABSENT);
	assert_null(op.op.s);
	codec_op_free(&op);
}

static void
codec_op_free__twice_and_null__safe(void **state)
{
	struct body_op op;

	decode("{\"key\":\"k\",\"value\":1,\"oldValue\":2,\"newValue\":3}", &op);
	codec_op_free(&op);
	assert_null(op.key.s);
	assert_int_equal(op.key.st, FIELD_ABSENT);
	codec_op_free(&op);
	codec_op_free(NULL);
	memset(&op, 0, sizeof(op));
	codec_op_free(&op);
}

/* ---- codec_decode_batch ---- */

static void
decode_batch(const char *s, size_t max_ops, struct body_batch *b)
{
	char err[256] = "";

	if (codec_decode_batch(s, strlen(s), DEPTH, max_ops, b, err,
	    sizeof(err)) != 0)
		fail_msg("batch decode of %s failed: %s", s, err);
}

static void
codec_decode_batch__operations__decoded_in_order(void **state)
{
	struct body_batch b;

	decode_batch("{\"operations\":[{\"op\":\"set\",\"key\":\"a\",\"value\":1,"
	    "\"ttl\":5},{\"op\":\"GET\",\"key\":\"b\"},{\"op\":\"testAndSet\","
	    "\"key\":\"c\",\"oldValue\":null,\"newValue\":[2]}],\"atomic\":true}",
	    128, &b);
	assert_int_equal(b.ops_st, FIELD_OK);
	assert_int_equal(b.ops_n, 3);
	assert_int_equal(b.op_is_object[0], 1);
	assert_string_equal(b.ops[0].op.s, "set");
	assert_string_equal(b.ops[0].key.s, "a");
	assert_string_equal(b.ops[0].value.text, "1");
	assert_true(b.ops[0].ttl.v == 5);
	assert_string_equal(b.ops[1].op.s, "GET");
	assert_int_equal(b.ops[1].value.st, FIELD_ABSENT);
	assert_string_equal(b.ops[2].op.s, "testAndSet");
	assert_int_equal(b.ops[2].old_value.st, FIELD_NULL);
	assert_string_equal(b.ops[2].new_value.text, "[2]");
	assert_int_equal(b.atomic_st, FIELD_OK);
	assert_int_equal(b.atomic, 1);
	codec_batch_free(&b);
}

static void
codec_decode_batch__op_field_states__decoded(void **state)
{
	struct body_batch b;

	decode_batch("{\"operations\":[{\"op\":null},{\"op\":1},{}]}", 128, &b);
	assert_int_equal(b.ops[0].op.st, FIELD_NULL);
	assert_int_equal(b.ops[1].op.st, FIELD_BADTYPE);
	assert_int_equal(b.ops[2].op.st, FIELD_ABSENT);
	codec_batch_free(&b);
}

static void
codec_decode_batch__non_object_entries__flagged_and_zeroed(void **state)
{
	struct body_batch b;

	decode_batch("{\"operations\":[1,{\"key\":\"k\"},null,\"set\",[]]}",
	    128, &b);
	assert_int_equal(b.ops_n, 5);
	assert_int_equal(b.op_is_object[0], 0);
	assert_int_equal(b.op_is_object[1], 1);
	assert_int_equal(b.op_is_object[2], 0);
	assert_int_equal(b.op_is_object[3], 0);
	assert_int_equal(b.op_is_object[4], 0);
	assert_int_equal(b.ops[0].key.st, FIELD_ABSENT);
	assert_null(b.ops[0].key.s);
	assert_string_equal(b.ops[1].key.s, "k");
	codec_batch_free(&b);
}

static void
codec_decode_batch__too_many_operations__capped_at_max_plus_one(void **state)
{
	struct body_batch b;

	decode_batch("{\"operations\":[{},{},{},{},{\"key\":\"x\"}]}", 2, &b);
	assert_int_equal(b.ops_st, FIELD_OK);
	assert_int_equal(b.ops_n, 3);
	codec_batch_free(&b);
}

static void
codec_decode_batch__empty_operations__ok_with_none(void **state)
{
	struct body_batch b;

	decode_batch("{\"operations\":[]}", 128, &b);
	assert_int_equal(b.ops_st, FIELD_OK);
	assert_int_equal(b.ops_n, 0);
	codec_batch_free(&b);
}

static void
codec_decode_batch__operations_absent__absent(void **state)
{
	struct body_batch b;

	decode_batch("{\"atomic\":false}", 128, &b);
	assert_int_equal(b.ops_st, FIELD_ABSENT);
	assert_int_equal(b.ops_n, 0);
	assert_null(b.ops);
	codec_batch_free(&b);
}

static void
codec_decode_batch__operations_null__null(void **state)
{
	struct body_batch b;

	decode_batch("{\"operations\":null}", 128, &b);
	assert_int_equal(b.ops_st, FIELD_NULL);
	assert_int_equal(b.ops_n, 0);
	codec_batch_free(&b);
}

static void
codec_decode_batch__operations_not_array__badtype(void **state)
{
	static const char *const bodies[] = {
		"{\"operations\":{}}", "{\"operations\":\"[]\"}",
		"{\"operations\":1}", "{\"operations\":true}",
	};
	struct body_batch b;
	size_t i;

	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		decode_batch(bodies[i], 128, &b);
		assert_int_equal(b.ops_st, FIELD_BADTYPE);
		assert_int_equal(b.ops_n, 0);
		codec_batch_free(&b);
	}
}

static void
codec_decode_batch__atomic_states__decoded(void **state)
{
	struct body_batch b;

	decode_batch("{\"atomic\":false}", 128, &b);
	assert_int_equal(b.atomic_st, FIELD_OK);
	assert_int_equal(b.atomic, 0);
	codec_batch_free(&b);
	decode_batch("{}", 128, &b);
	assert_int_equal(b.atomic_st, FIELD_ABSENT);
	codec_batch_free(&b);
	decode_batch("{\"atomic\":null}", 128, &b);
	assert_int_equal(b.atomic_st, FIELD_NULL);
	codec_batch_free(&b);
	decode_batch("{\"atomic\":\"true\"}", 128, &b);
	assert_int_equal(b.atomic_st, FIELD_BADTYPE);
	codec_batch_free(&b);
	decode_batch("{\"atomic\":1}", 128, &b);
	assert_int_equal(b.atomic_st, FIELD_BADTYPE);
	codec_batch_free(&b);
}

static void
codec_decode_batch__non_object_body__rejected(void **state)
{
	struct body_batch b;
	char err[128];

	assert_int_equal(codec_decode_batch(LIT("[{\"op\":\"get\"}]"), DEPTH, 128,
	    &b, err, sizeof(err)), -1);
	assert_string_equal(err, "Request body must be a JSON object");
	assert_int_equal(b.ops_n, 0);
	assert_null(b.ops);
}

static void
codec_decode_batch__invalid_json__rejected(void **state)
{
	struct body_batch b;
	char err[128];

	assert_int_equal(codec_decode_batch(LIT("{\"operations\":[{\"op\":"
	    "\"get\",\"key\":\"\\ud800\"}]}"), DEPTH, 128, &b, err,
	    sizeof(err)), -1);
	assert_string_equal(err,
	    "Invalid JSON body: unpaired surrogate escape at offset 34");
	assert_null(b.ops);
}

static void
codec_batch_free__twice_and_null__safe(void **state)
{
	struct body_batch b;

	decode_batch("{\"operations\":[{\"key\":\"a\",\"value\":\"v\"}]}", 128, &b);
	codec_batch_free(&b);
	assert_null(b.ops);
	assert_int_equal(b.ops_n, 0);
	codec_batch_free(&b);
	codec_batch_free(NULL);
}

/* ---- codec_put_str ---- */

static void
assert_put_str(const char *s, size_t len, const char *want)
{
	struct buf b;

	buf_init(&b);
	codec_put_str(&b, s, len);
	assert_string_equal(b.data, want);
	assert_int_equal(b.len, strlen(want));
	buf_free(&b);
}

static void
codec_put_str__plain__quoted(void **state)
{
	assert_put_str(LIT("hello"), "\"hello\"");
}

static void
codec_put_str__empty__two_quotes(void **state)
{
	assert_put_str("", 0, "\"\"");
}

static void
codec_put_str__quote_and_backslash__escaped(void **state)
{
	assert_put_str(LIT("a\"b\\c"), "\"a\\\"b\\\\c\"");
}

static void
codec_put_str__named_controls__short_escapes(void **state)
{
	assert_put_str(LIT("\n\r\t\b\f"), "\"\\n\\r\\t\\b\\f\"");
}

static void
codec_put_str__other_controls__unicode_escapes(void **state)
{
	assert_put_str(LIT("\x01x\x1f"), "\"\\u0001x\\u001f\"");
}

static void
codec_put_str__nul__escaped_and_kept(void **state)
{
	assert_put_str(LIT("a\0b"), "\"a\\u0000b\"");
}

static void
codec_put_str__del__escaped(void **state)
{
	assert_put_str(LIT("a\x7f"), "\"a\\u007f\"");
}

static void
codec_put_str__slash_and_non_ascii__untouched(void **state)
{
	assert_put_str(LIT("/a/\xc3\xa9\xf0\x9f\x98\x80"),
	    "\"/a/\xc3\xa9\xf0\x9f\x98\x80\"");
}

static void
codec_put_str__appends_to_existing_buffer(void **state)
{
	struct buf b;

	buf_init(&b);
	buf_adds(&b, "{\"k\":");
	codec_put_str(&b, LIT("v"));
	buf_addc(&b, '}');
	assert_string_equal(b.data, "{\"k\":\"v\"}");
	buf_free(&b);
}

static void
codec_put_str__every_ascii_byte__round_trips(void **state)
{
	struct body_op op;
	char raw[128];
	struct buf b;
	int i;

	for (i = 0; i < 128; i++)
		raw[i] = (char)i;
	buf_init(&b);
	buf_adds(&b, "{\"key\":");
	codec_put_str(&b, raw, sizeof(raw));
	buf_addc(&b, '}');
	decode(b.data, &op);
	assert_int_equal(op.key.len, sizeof(raw));
	assert_memory_equal(op.key.s, raw, sizeof(raw));
	codec_op_free(&op);
	buf_free(&b);
}

/* ---- codec_equal ---- */

static void
codec_equal__objects_in_any_member_order__equal(void **state)
{
	assert_true(eq("{\"a\":1,\"b\":[true,null]}",
	    "{ \"b\" : [true, null], \"a\" : 1 }"));
}

static void
codec_equal__objects_with_different_members__not_equal(void **state)
{
	assert_false(eq("{\"a\":1}", "{\"a\":1,\"b\":2}"));
	assert_false(eq("{\"a\":1,\"b\":2}", "{\"a\":1}"));
	assert_false(eq("{\"a\":1}", "{\"b\":1}"));
	assert_false(eq("{\"a\":1}", "{\"a\":2}"));
}

static void
codec_equal__arrays_order__matters(void **state)
{
	assert_true(eq("[1,2]", "[1,2]"));
	assert_false(eq("[1,2]", "[2,1]"));
	assert_false(eq("[1,2]", "[1,2,3]"));
}

static void
codec_equal__int_and_double_same_value__equal(void **state)
{
	assert_true(eq("1", "1.0"));
	assert_true(eq("1", "1e0"));
	assert_true(eq("100", "1E2"));
	assert_true(eq("2.50", "2.5"));
}

static void
codec_equal__zero_and_minus_zero__equal(void **state)
{
	assert_true(eq("0", "-0.0"));
	assert_true(eq("-0", "0"));
	assert_true(eq("0.0", "-0e0"));
}

static void
codec_equal__different_numbers__not_equal(void **state)
{
	assert_false(eq("1", "2"));
	assert_false(eq("1", "1.000001"));
	assert_false(eq("-1", "1"));
}

static void
codec_equal__large_integers__compared_exactly(void **state)
{
	/* Both pairs are equal as doubles; they must not be equal here. */
	assert_false(eq("9223372036854775807", "9223372036854775806"));
	assert_false(eq("18446744073709551615", "18446744073709551614"));
	assert_false(eq("9223372036854775807", "9223372036854775808"));
	assert_true(eq("18446744073709551615", "18446744073709551615"));
	assert_false(eq("-9223372036854775808", "9223372036854775807"));
}

static void
codec_equal__integers_beyond_uint64__compared_by_value(void **state)
{
	assert_true(eq("99999999999999999999", "99999999999999999999"));
	assert_false(eq("99999999999999999999", "99999999999999999998"));
	assert_false(eq("99999999999999999999", "18446744073709551615"));
	assert_false(eq("-99999999999999999999", "-9223372036854775808"));
	assert_true(eq("[99999999999999999999]", "[1e20]"));
}

static void
codec_equal__bool_and_number__not_equal(void **state)
{
	assert_false(eq("true", "1"));
	assert_false(eq("false", "0"));
	assert_true(eq("true", "true"));
	assert_false(eq("true", "false"));
}

static void
codec_equal__string_and_number__not_equal(void **state)
{
	assert_false(eq("\"1\"", "1"));
}

static void
codec_equal__null__equal_only_to_null(void **state)
{
	assert_true(eq("null", "null"));
	assert_false(eq("null", "false"));
	assert_false(eq("null", "0"));
	assert_false(eq("null", "\"\""));
}

static void
codec_equal__strings_byte_for_byte__with_nul(void **state)
{
	assert_true(eq("\"a\\u0000b\"", "\"a\\u0000b\""));
	assert_false(eq("\"a\"", "\"a\\u0000\""));
	assert_false(eq("\"a\\u0000b\"", "\"a\\u0000c\""));
	assert_false(eq("\"a\"", "\"A\""));
}

static void
codec_equal__differently_escaped_strings__equal(void **state)
{
	assert_true(eq("\"\\u0041\\/\"", "\"A/\""));
	assert_true(eq("\"\\u00e9\"", "\"\xc3\xa9\""));
}

static void
codec_equal__nested__compared_deeply(void **state)
{
	assert_true(eq("{\"a\":[{\"b\":1,\"c\":[1.0,{}]}],\"d\":\"x\"}",
	    "{\"d\":\"x\",\"a\":[{\"c\":[1,{}],\"b\":1e0}]}"));
	assert_false(eq("{\"a\":[{\"b\":1,\"c\":[1.0,{}]}]}",
	    "{\"a\":[{\"b\":1,\"c\":[1.0,[]]}]}"));
}

static void
codec_equal__empty_containers__by_type(void **state)
{
	assert_true(eq("{}", "{}"));
	assert_true(eq("[]", "[]"));
	assert_false(eq("[]", "{}"));
}

static void
codec_equal__unparsable_text__not_equal(void **state)
{
	assert_false(eq("{", "{"));
	assert_false(eq("NaN", "NaN"));
	assert_false(eq("1", ""));
	assert_false(eq("[1] x", "[1]"));
}

/* The fields of versions, increments and expiry control */

static void
codec_decode_op__if_version_expires_at_keep_ttl__are_read(void **state)
{
	struct body_op op;

	decode("{\"key\":\"k\",\"ifVersion\":9007199254740991,"
	    "\"expiresAt\":1795000000000,\"keepTtl\":true}", &op);
	assert_int_equal(op.if_version.st, FIELD_OK);
	assert_int_equal(op.if_version.v, INT64_C(9007199254740991));
	assert_int_equal(op.expires_at.st, FIELD_OK);
	assert_int_equal(op.expires_at.v, INT64_C(1795000000000));
	assert_int_equal(op.keep_ttl.st, FIELD_OK);
	assert_int_equal(op.keep_ttl.v, 1);
	codec_op_free(&op);
	decode("{\"ifVersion\":\"1\",\"expiresAt\":1.5,\"keepTtl\":1}", &op);
	assert_int_equal(op.if_version.st, FIELD_BADTYPE);
	assert_int_equal(op.expires_at.st, FIELD_BADTYPE);
	assert_int_equal(op.keep_ttl.st, FIELD_BADTYPE);
	codec_op_free(&op);
}

static void
codec_decode_op__by_and_initial__keep_their_number_text(void **state)
{
	struct body_op op;

	decode("{\"by\":9223372036854775808,\"initial\":0.10}", &op);
	assert_int_equal(op.by.st, FIELD_OK);
	assert_string_equal(op.by.text, "9223372036854775808");
	assert_int_equal(op.initial.st, FIELD_OK);
	assert_string_equal(op.initial.text, "0.10");
	codec_op_free(&op);
	decode("{\"by\":\"1\",\"initial\":[1]}", &op);
	assert_int_equal(op.by.st, FIELD_BADTYPE);
	assert_int_equal(op.initial.st, FIELD_BADTYPE);
	codec_op_free(&op);
	decode("{\"by\":null}", &op);
	assert_int_equal(op.by.st, FIELD_NULL);
	codec_op_free(&op);
}

static void
codec_decode_op__prefix_and_limit__are_read(void **state)
{
	struct body_op op;

	decode("{\"prefix\":\"user_\",\"limit\":10000}", &op);
	assert_int_equal(op.prefix.st, FIELD_OK);
	assert_string_equal(op.prefix.s, "user_");
	assert_int_equal(op.limit.v, 10000);
	codec_op_free(&op);
}

static void
codec_put_item__version__follows_expires(void **state)
{
	struct buf b;

	buf_init(&b);
	codec_put_item(&b, "k", 1, "1", 1, 5, 7);
	buf_addc(&b, '\0');
	assert_string_equal(b.data,
	    "\"key\":\"k\",\"value\":1,\"expires\":5,\"version\":7");
	buf_reset(&b);
	codec_put_item(&b, "k", 1, NULL, 0, 5, 7);
	buf_addc(&b, '\0');
	assert_string_equal(b.data,
	    "\"key\":\"k\",\"value\":null,\"expires\":null,\"version\":null");
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    codec_decode_op__if_version_expires_at_keep_ttl__are_read),
		cmocka_unit_test(
		    codec_decode_op__by_and_initial__keep_their_number_text),
		cmocka_unit_test(codec_decode_op__prefix_and_limit__are_read),
		cmocka_unit_test(codec_put_item__version__follows_expires),
		cmocka_unit_test(codec_validate__nested_document__accepted),
		cmocka_unit_test(codec_validate__whitespace_around_tokens__accepted),
		cmocka_unit_test(codec_validate__top_level_scalars__accepted),
		cmocka_unit_test(codec_validate__raw_utf8_of_every_length__accepted),
		cmocka_unit_test(codec_validate__all_simple_escapes__accepted),
		cmocka_unit_test(codec_validate__surrogate_pair_escape__accepted),
		cmocka_unit_test(codec_validate__number_forms__accepted),
		cmocka_unit_test(codec_validate__underflow_to_zero__accepted),
		cmocka_unit_test(codec_validate__largest_double__accepted),
		cmocka_unit_test(codec_validate__del_in_string__accepted),
		cmocka_unit_test(codec_validate__empty_input__rejected),
		cmocka_unit_test(codec_validate__whitespace_only__rejected),
		cmocka_unit_test(codec_validate__nan__rejected),
		cmocka_unit_test(codec_validate__infinity__rejected),
		cmocka_unit_test(codec_validate__single_quoted_name__rejected),
		cmocka_unit_test(codec_validate__single_quoted_value__rejected),
		cmocka_unit_test(codec_validate__misspelt_literal__rejected),
		cmocka_unit_test(codec_validate__raw_tab_in_string__rejected),
		cmocka_unit_test(codec_validate__raw_newline_in_string__rejected),
		cmocka_unit_test(codec_validate__raw_nul_in_string__rejected),
		cmocka_unit_test(codec_validate__nul_byte_between_tokens__rejected),
		cmocka_unit_test(codec_validate__nul_byte_after_value__rejected),
		cmocka_unit_test(codec_validate__overlong_two_byte_utf8__rejected),
		cmocka_unit_test(codec_validate__overlong_three_and_four_byte_utf8__rejected),
		cmocka_unit_test(codec_validate__encoded_surrogate_utf8__rejected),
		cmocka_unit_test(codec_validate__utf8_above_max_code_point__rejected),
		cmocka_unit_test(codec_validate__truncated_utf8_sequence__rejected),
		cmocka_unit_test(codec_validate__stray_continuation_byte__rejected),
		cmocka_unit_test(codec_validate__non_ascii_outside_string__rejected),
		cmocka_unit_test(codec_validate__invalid_escape__rejected),
		cmocka_unit_test(codec_validate__truncated_unicode_escape__rejected),
		cmocka_unit_test(codec_validate__lone_high_surrogate__rejected),
		cmocka_unit_test(codec_validate__high_surrogate_then_non_low__rejected),
		cmocka_unit_test(codec_validate__lone_low_surrogate__rejected),
		cmocka_unit_test(codec_validate__reversed_surrogate_pair__rejected),
		cmocka_unit_test(codec_validate__leading_zero__rejected),
		cmocka_unit_test(codec_validate__plus_sign__rejected),
		cmocka_unit_test(codec_validate__missing_integer_part__rejected),
		cmocka_unit_test(codec_validate__missing_fraction_digits__rejected),
		cmocka_unit_test(codec_validate__bare_minus__rejected),
		cmocka_unit_test(codec_validate__missing_exponent_digits__rejected),
		cmocka_unit_test(codec_validate__hex_number__rejected),
		cmocka_unit_test(codec_validate__exponent_overflow__rejected),
		cmocka_unit_test(codec_validate__long_integer_overflowing_double__rejected),
		cmocka_unit_test(codec_validate__long_integer_within_double__accepted),
		cmocka_unit_test(codec_validate__trailing_garbage__rejected),
		cmocka_unit_test(codec_validate__second_value__rejected),
		cmocka_unit_test(codec_validate__unterminated_containers__rejected),
		cmocka_unit_test(codec_validate__trailing_comma__rejected),
		cmocka_unit_test(codec_validate__malformed_members__rejected),
		cmocka_unit_test(codec_validate__depth_64__accepted),
		cmocka_unit_test(codec_validate__depth_65__rejected),
		cmocka_unit_test(codec_validate__depth_counts_objects_and_arrays__rejected),
		cmocka_unit_test(codec_validate__sibling_containers_do_not_add_depth__accepted),
		cmocka_unit_test(codec_validate__megabyte_of_open_brackets__rejected_quickly),
		cmocka_unit_test(codec_validate__depth_zero__refuses_any_container),
		cmocka_unit_test(codec_validate__null_or_tiny_err_buffer__is_safe),
		cmocka_unit_test(codec_decode_op__all_fields__decoded),
		cmocka_unit_test(codec_decode_op__empty_object__all_absent),
		cmocka_unit_test(codec_decode_op__non_object_body__rejected),
		cmocka_unit_test(codec_decode_op__invalid_json__rejected_with_reason),
		cmocka_unit_test(codec_decode_op__embedded_nul_after_body__rejected),
		cmocka_unit_test(codec_decode_op__depth_over_limit__rejected),
		cmocka_unit_test(codec_decode_op__depth_at_limit__decoded),
		cmocka_unit_test(codec_decode_op__key_null__null),
		cmocka_unit_test(codec_decode_op__key_not_string__badtype),
		cmocka_unit_test(codec_decode_op__key_with_escaped_nul__keeps_length),
		cmocka_unit_test(codec_decode_op__key_escapes__decoded_to_utf8),
		cmocka_unit_test(codec_decode_op__duplicate_member__refused),
		cmocka_unit_test(codec_decode_batch__duplicate_member__refused),
		cmocka_unit_test(codec_decode__duplicate_member_inside_value__last_wins),
		cmocka_unit_test(codec_decode_op__integer_beyond_64_bits__accepted_with_its_text),
		cmocka_unit_test(codec_decode_op__member_name_with_nul__rejected),
		cmocka_unit_test(codec_decode_op__value_null__null),
		cmocka_unit_test(codec_decode_op__value_scalars__serialized),
		cmocka_unit_test(codec_decode_op__value_serialization__compact_and_keeps_number_text),
		cmocka_unit_test(codec_decode_op__double_literals__keep_their_text),
		cmocka_unit_test(codec_decode_op__minus_zero_integer__serialized_as_zero),
		cmocka_unit_test(codec_decode_op__uint64_range_integers__keep_their_text),
		cmocka_unit_test(codec_decode_op__integers_beyond_uint64__keep_their_text),
		cmocka_unit_test(codec_decode_op__big_integer_in_overridden_duplicate__not_leaked),
		cmocka_unit_test(codec_decode_op__string_value__escaped_for_json),
		cmocka_unit_test(codec_decode_op__string_value_with_nul__kept),
		cmocka_unit_test(codec_decode_op__old_and_new_value_states__decoded),
		cmocka_unit_test(codec_decode_op__ttl_integer__ok),
		cmocka_unit_test(codec_decode_op__ttl_fraction__badtype),
		cmocka_unit_test(codec_decode_op__ttl_exponent__badtype),
		cmocka_unit_test(codec_decode_op__ttl_string_or_bool__badtype),
		cmocka_unit_test(codec_decode_op__ttl_null__null),
		cmocka_unit_test(codec_decode_op__ttl_beyond_int64__saturated_not_small),
		cmocka_unit_test(codec_decode_op__expiration_ttl__used_without_ttl),
		cmocka_unit_test(codec_decode_op__ttl__wins_over_expiration_ttl),
		cmocka_unit_test(codec_decode_op__op_member__ignored),
		cmocka_unit_test(codec_op_free__twice_and_null__safe),
		cmocka_unit_test(codec_decode_batch__operations__decoded_in_order),
		cmocka_unit_test(codec_decode_batch__op_field_states__decoded),
		cmocka_unit_test(codec_decode_batch__non_object_entries__flagged_and_zeroed),
		cmocka_unit_test(codec_decode_batch__too_many_operations__capped_at_max_plus_one),
		cmocka_unit_test(codec_decode_batch__empty_operations__ok_with_none),
		cmocka_unit_test(codec_decode_batch__operations_absent__absent),
		cmocka_unit_test(codec_decode_batch__operations_null__null),
		cmocka_unit_test(codec_decode_batch__operations_not_array__badtype),
		cmocka_unit_test(codec_decode_batch__atomic_states__decoded),
		cmocka_unit_test(codec_decode_batch__non_object_body__rejected),
		cmocka_unit_test(codec_decode_batch__invalid_json__rejected),
		cmocka_unit_test(codec_batch_free__twice_and_null__safe),
		cmocka_unit_test(codec_put_str__plain__quoted),
		cmocka_unit_test(codec_put_str__empty__two_quotes),
		cmocka_unit_test(codec_put_str__quote_and_backslash__escaped),
		cmocka_unit_test(codec_put_str__named_controls__short_escapes),
		cmocka_unit_test(codec_put_str__other_controls__unicode_escapes),
		cmocka_unit_test(codec_put_str__nul__escaped_and_kept),
		cmocka_unit_test(codec_put_str__del__escaped),
		cmocka_unit_test(codec_put_str__slash_and_non_ascii__untouched),
		cmocka_unit_test(codec_put_str__appends_to_existing_buffer),
		cmocka_unit_test(codec_put_str__every_ascii_byte__round_trips),
		cmocka_unit_test(codec_equal__objects_in_any_member_order__equal),
		cmocka_unit_test(codec_equal__objects_with_different_members__not_equal),
		cmocka_unit_test(codec_equal__arrays_order__matters),
		cmocka_unit_test(codec_equal__int_and_double_same_value__equal),
		cmocka_unit_test(codec_equal__zero_and_minus_zero__equal),
		cmocka_unit_test(codec_equal__different_numbers__not_equal),
		cmocka_unit_test(codec_equal__large_integers__compared_exactly),
		cmocka_unit_test(codec_equal__integers_beyond_uint64__compared_by_value),
		cmocka_unit_test(codec_equal__bool_and_number__not_equal),
		cmocka_unit_test(codec_equal__string_and_number__not_equal),
		cmocka_unit_test(codec_equal__null__equal_only_to_null),
		cmocka_unit_test(codec_equal__strings_byte_for_byte__with_nul),
		cmocka_unit_test(codec_equal__differently_escaped_strings__equal),
		cmocka_unit_test(codec_equal__nested__compared_deeply),
		cmocka_unit_test(codec_equal__empty_containers__by_type),
		cmocka_unit_test(codec_equal__unparsable_text__not_equal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
