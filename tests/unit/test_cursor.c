/*
 * Unit tests for cursor: unpadded base64url paging tokens.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cursor.h"

#define LIT(s)	(s), (sizeof(s) - 1)

static void
assert_encodes(const char *key, size_t klen, const char *want)
{
	struct buf b;

	buf_init(&b);
	cursor_encode(&b, key, klen);
	assert_non_null(b.data);
	assert_string_equal(b.data, want);
	assert_int_equal(b.len, strlen(want));
	buf_free(&b);
}

static void
assert_decodes(const char *s, const char *want, size_t wlen)
{
	char *key = NULL;
	size_t klen = 0;

	assert_int_equal(cursor_decode(s, strlen(s), &key, &klen), 0);
	assert_int_equal(klen, wlen);
	assert_memory_equal(key, want, wlen);
	assert_int_equal(key[klen], '\0');
	free(key);
}

static void
assert_rejected_len(const char *s, size_t len)
{
	char *key = (char *)"untouched";
	size_t klen = 12345;

	assert_int_equal(cursor_decode(s, len, &key, &klen), -1);
	assert_string_equal(key, "untouched");
	assert_int_equal(klen, 12345);
}

static void
assert_rejected(const char *s)
{
	assert_rejected_len(s, strlen(s));
}

static void
assert_round_trip(const char *key, size_t klen)
{
	char *out = NULL;
	size_t olen = 0, i;
	struct buf b;

	buf_init(&b);
	cursor_encode(&b, key, klen);
	for (i = 0; i < b.len; i++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789-_", b.data[i]));
	assert_int_equal(cursor_decode(b.data, b.len, &out, &olen), 0);
	assert_int_equal(olen, klen);
	assert_memory_equal(out, key, klen);
	assert_int_equal(out[olen], '\0');
	free(out);
	buf_free(&b);
}

static void
cursor_encode__rfc4648_vectors__unpadded(void **state)
{
	assert_encodes(LIT("f"), "Zg");
	assert_encodes(LIT("fo"), "Zm8");
	assert_encodes(LIT("foo"), "Zm9v");
	assert_encodes(LIT("foob"), "Zm9vYg");
	assert_encodes(LIT("fooba"), "Zm9vYmE");
	assert_encodes(LIT("foobar"), "Zm9vYmFy");
}

static void
cursor_encode__url_alphabet__minus_and_underscore(void **state)
{
	/* Standard base64 would give "+/8=" and "//8=". */
	assert_encodes(LIT("\xfb\xff"), "-_8");
	assert_encodes(LIT("\xff\xff\xff"), "____");
	assert_encodes(LIT("\xfb\xef\xbe"), "----");
}

static void
cursor_encode__empty_key__empty_string(void **state)
{
	assert_encodes("", 0, "");
}

static void
cursor_encode__appends_to_buffer(void **state)
{
	struct buf b;

	buf_init(&b);
	buf_adds(&b, "\"");
	cursor_encode(&b, LIT("foo"));
	buf_adds(&b, "\"");
	assert_string_equal(b.data, "\"Zm9v\"");
	buf_free(&b);
}

static void
cursor_decode__rfc4648_vectors__decoded(void **state)
{
	assert_decodes("Zg", "f", 1);
	assert_decodes("Zm8", "fo", 2);
	assert_decodes("Zm9v", "foo", 3);
	assert_decodes("Zm9vYmFy", "foobar", 6);
	assert_decodes("-_8", "\xfb\xff", 2);
}

static void
cursor_round_trip__short_keys__identical(void **state)
{
	assert_round_trip(LIT("a"));
	assert_round_trip(LIT("ab"));
	assert_round_trip(LIT("abc"));
	assert_round_trip(LIT("user:42/profile"));
	assert_round_trip(LIT("\xc3\xa9t\xc3\xa9"));
}

static void
cursor_round_trip__key_with_nul_bytes__identical(void **state)
{
	assert_round_trip(LIT("\0"));
	assert_round_trip(LIT("a\0b"));
	assert_round_trip(LIT("\0\0\0\0"));
}

static void
cursor_round_trip__every_byte_value__identical(void **state)
{
	char key[256];
	int i;

	for (i = 0; i < 256; i++)
		key[i] = (char)i;
	assert_round_trip(key, sizeof(key));
}

static void
cursor_round_trip__512_byte_keys__identical(void **state)
{
	char key[512];
	unsigned x = 12345;
	size_t i, n;

	for (i = 0; i < sizeof(key); i++) {
		x = x * 1103515245 + 12345;
		key[i] = (char)(x >> 16);
	}
	/* 510, 511 and 512 bytes cover all three tail lengths. */
	for (n = 510; n <= 512; n++)
		assert_round_trip(key, n);
}

static void
cursor_decode__empty__rejected(void **state)
{
	assert_rejected("");
	assert_rejected_len(NULL, 0);
}

static void
cursor_decode__impossible_length__rejected(void **state)
{
	assert_rejected("A");
	assert_rejected("Zm9vY");
}

static void
cursor_decode__padding__rejected(void **state)
{
	assert_rejected("Zg==");
	assert_rejected("Zm8=");
}

static void
cursor_decode__standard_base64_characters__rejected(void **state)
{
	assert_rejected("+_8");
	assert_rejected("-/8");
}

static void
cursor_decode__other_characters__rejected(void **state)
{
	assert_rejected("Zm 9");
	assert_rejected("Zm.v");
	assert_rejected("Zm9v\n");
	assert_rejected("Z\xc3\xa9v");
	assert_rejected("%5A");
	assert_rejected_len(LIT("Zm\0v"));
}

static void
cursor_decode__non_zero_trailing_bits__rejected(void **state)
{
	/* "Zg" and "Zm8" are the only encodings of "f" and "fo". */
	assert_rejected("Zh");
	assert_rejected("Zv");
	assert_rejected("Zm9");
	assert_rejected("Zm_");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cursor_encode__rfc4648_vectors__unpadded),
		cmocka_unit_test(cursor_encode__url_alphabet__minus_and_underscore),
		cmocka_unit_test(cursor_encode__empty_key__empty_string),
		cmocka_unit_test(cursor_encode__appends_to_buffer),
		cmocka_unit_test(cursor_decode__rfc4648_vectors__decoded),
		cmocka_unit_test(cursor_round_trip__short_keys__identical),
		cmocka_unit_test(cursor_round_trip__key_with_nul_bytes__identical),
		cmocka_unit_test(cursor_round_trip__every_byte_value__identical),
		cmocka_unit_test(cursor_round_trip__512_byte_keys__identical),
		cmocka_unit_test(cursor_decode__empty__rejected),
		cmocka_unit_test(cursor_decode__impossible_length__rejected),
		cmocka_unit_test(cursor_decode__padding__rejected),
		cmocka_unit_test(cursor_decode__standard_base64_characters__rejected),
		cmocka_unit_test(cursor_decode__other_characters__rejected),
		cmocka_unit_test(cursor_decode__non_zero_trailing_bits__rejected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
