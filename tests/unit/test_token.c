/*
 * token: the tokens file format (every malformed form is refused with its
 * line number), writing it back, and making and hashing tokens.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "token.h"

#define H64	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define H64B	"fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define WHEN	"2026-12-03T22:18:24Z"
#define GOOD	"reader read user_ " WHEN " sha256:" H64 "\n"

static int
setup(void **state)
{
	return token_init();
}

static int
parse(const char *text, struct token_list *l, char *err, size_t errlen)
{
	return token_parse(text, strlen(text), l, err, errlen);
}

static void
token_parse__comments_blanks_and_one_token__parsed(void **state)
{
	struct token_list l;
	char err[256];

	assert_int_equal(parse("# header\n\n   \t\n  # indented comment\n"
	    GOOD, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].name, "reader");
	assert_int_equal(l.v[0].rights, TOKEN_READ);
	assert_int_equal(l.v[0].nprefixes, 1);
	assert_string_equal(l.v[0].prefixes[0].s, "user_");
	assert_int_equal(l.v[0].created, 1796336304);
	assert_int_equal(l.v[0].hash[0], 0x01);
	assert_int_equal(l.v[0].hash[31], 0xef);
	token_list_free(&l);
}

static void
token_parse__star_rights_and_escapes__decoded(void **state)
{
	struct token_list l;
	char err[256];

	assert_int_equal(parse("all\tmetrics,write,read\t*\t" WHEN "\tsha256:"
	    H64 "\r\nesc write a%2Cb,%25x,%20sp,%2A,caf%C3%A9 " WHEN
	    " sha256:" H64B, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.v[0].rights, TOKEN_READ | TOKEN_WRITE |
	    TOKEN_METRICS);
	assert_int_equal(l.v[0].nprefixes, 1);
	assert_int_equal(l.v[0].prefixes[0].len, 0);
	assert_int_equal(l.v[1].nprefixes, 5);
	assert_string_equal(l.v[1].prefixes[0].s, "a,b");
	assert_string_equal(l.v[1].prefixes[1].s, "%x");
	assert_string_equal(l.v[1].prefixes[2].s, " sp");
	assert_string_equal(l.v[1].prefixes[3].s, "*");
	assert_string_equal(l.v[1].prefixes[4].s, "caf\xc3\xa9");
	token_list_free(&l);
}

static void
token_parse__empty_file__no_tokens(void **state)
{
	struct token_list l;
	char err[256];

	assert_int_equal(token_parse("", 0, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 0);
	token_list_free(&l);
}

/* Every way a line can be wrong, each on line 3 after two good lines. */
static const struct {
	const char	*line;
	const char	*why;		/* part of the message */
} malformed[] = {
	{ "x read", "fewer than five fields" },
	{ "x read user_ " WHEN " sha256:" H64 " extra", "more than five" },
	{ "bad/name read user_ " WHEN " sha256:" H64, "invalid NAME" },
	{ "n\xc3\xa9 read user_ " WHEN " sha256:" H64, "invalid NAME" },
	{ "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx "
	    "read user_ " WHEN " sha256:" H64, "invalid NAME" },
	{ "x admin user_ " WHEN " sha256:" H64, "unknown right" },
	{ "x READ user_ " WHEN " sha256:" H64, "unknown right" },
	{ "x read,,write user_ " WHEN " sha256:" H64, "empty right" },
	{ "x read, user_ " WHEN " sha256:" H64, "empty right" },
	{ "x read,read user_ " WHEN " sha256:" H64, "listed twice" },
	{ "x read a,,b " WHEN " sha256:" H64, "empty prefix" },
	{ "x read a, " WHEN " sha256:" H64, "empty prefix" },
	{ "x read a,* " WHEN " sha256:" H64, "must be the whole" },
	{ "x read a%2 " WHEN " sha256:" H64, "escape" },
	{ "x read a%zz " WHEN " sha256:" H64, "escape" },
	{ "x read a%0A " WHEN " sha256:" H64, "not a valid key" },
	{ "x read a%FF " WHEN " sha256:" H64, "not a valid key" },
	{ "x read \xc3 " WHEN " sha256:" H64, "not a valid key" },
	{ "x read user_ 2026-12-03 sha256:" H64, "invalid CREATED" },
	{ "x read user_ 2026-02-30T00:00:00Z sha256:" H64, "invalid CREATED" },
	{ "x read user_ 2026-12-03T22:18:24+01 sha256:" H64, "invalid CREATED" },
	{ "x read user_ " WHEN " " H64, "invalid HASH" },
	{ "x read user_ " WHEN " md5:" H64, "invalid HASH" },
	{ "x read user_ " WHEN " sha256:" H64 "0", "invalid HASH" },
	{ "x read user_ " WHEN " sha256:0123", "invalid HASH" },
	{ "x read user_ " WHEN " sha256:"
	    "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
	    "invalid HASH" },
	{ "x read user_ " WHEN " sha256:"
	    "g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	    "invalid HASH" },
	{ "reader write * " WHEN " sha256:" H64B, "NAME already used" },
	{ "other write * " WHEN " sha256:" H64, "HASH already used" },
};

static void
token_parse__every_malformed_line__refused_with_line_number(void **state)
{
	struct token_list l;
	char text[4096], err[256];
	size_t i;

	for (i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		snprintf(text, sizeof(text), "# comment\n" GOOD "%s\n"
		    "later read * " WHEN " sha256:" H64B "\n", malformed[i].line);
		l.n = 99;
		if (parse(text, &l, err, sizeof(err)) != -1)
			fail_msg("accepted: %s", malformed[i].line);
		assert_int_equal(l.n, 0);
		assert_null(l.v);
		if (strncmp(err, "line 3: ", 8) != 0 ||
		    strstr(err, malformed[i].why) == NULL)
			fail_msg("line %s: error '%s', want line 3 and '%s'",
			    malformed[i].line, err, malformed[i].why);
	}
}

static void
token_parse__nul_byte__refused(void **state)
{
	static const char text[] = GOOD "x read\0 user_\n";
	struct token_list l;
	char err[256];

	assert_int_equal(token_parse(text, sizeof(text) - 1, &l, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "line 2: NUL byte");
}

static void
token_parse__too_many_prefixes__refused(void **state)
{
	struct token_list l;
	char text[4096], err[256];
	size_t o, i;

	o = (size_t)snprintf(text, sizeof(text), "x read ");
	for (i = 0; i < TOKEN_PREFIXES_MAX + 1; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "%sp%zu",
		    i ? "," : "", i);
	snprintf(text + o, sizeof(text) - o, " " WHEN " sha256:" H64 "\n");
	assert_int_equal(parse(text, &l, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than 64 prefixes"));
}

static void
token_format__parses_back_to_the_same_tokens(void **state)
{
	struct token_list l, back;
	struct buf b;
	char err[256];

	assert_int_equal(parse("esc write a%2Cb,%25x,%20sp,%2A,%23h " WHEN
	    " sha256:" H64 "\nall read,metrics * " WHEN " sha256:" H64B "\n",
	    &l, err, sizeof(err)), 0);
	buf_init(&b);
	token_format(&l, &b);
	assert_memory_equal(b.data, TOKEN_FILE_HEADER,
	    strlen(TOKEN_FILE_HEADER));
	assert_string_equal(b.data + strlen(TOKEN_FILE_HEADER),
	    "esc write a%2Cb,%25x,%20sp,%2A,%23h " WHEN " sha256:" H64 "\n"
	    "all read,metrics * " WHEN " sha256:" H64B "\n");
	assert_int_equal(token_parse(b.data, b.len, &back, err, sizeof(err)),
	    0);
	assert_int_equal(back.n, 2);
	assert_string_equal(back.v[0].prefixes[0].s, "a,b");
	assert_string_equal(back.v[0].prefixes[4].s, "#h");
	assert_memory_equal(back.v[1].hash, l.v[1].hash, TOKEN_HASH_BYTES);
	token_list_free(&back);
	token_list_free(&l);
	buf_free(&b);
}

static void
token_generate__kvs_prefix_base64url_256_bits_and_its_hash(void **state)
{
	unsigned char h1[TOKEN_HASH_BYTES], h2[TOKEN_HASH_BYTES],
	    again[TOKEN_HASH_BYTES];
	char t1[TOKEN_TEXT_LEN + 1], t2[TOKEN_TEXT_LEN + 1];
	size_t i;

	token_generate(t1, h1);
	token_generate(t2, h2);
	assert_int_equal(strlen(t1), 47);
	assert_memory_equal(t1, "kvs_", 4);
	for (i = 4; i < 47; i++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
		    "opqrstuvwxyz0123456789-_", t1[i]));
	assert_string_not_equal(t1, t2);
	token_hash(t1, strlen(t1), again);
	assert_true(token_hash_equal(h1, again));
	assert_false(token_hash_equal(h1, h2));
}

static void
token_hash__sha256_test_vector(void **state)
{
	/* SHA-256("abc"), FIPS 180-2 appendix B.1. */
	static const unsigned char want[TOKEN_HASH_BYTES] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41,
		0x40, 0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3,
		0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00,
		0x15, 0xad,
	};
	unsigned char h[TOKEN_HASH_BYTES];

	token_hash("abc", 3, h);
	assert_memory_equal(h, want, TOKEN_HASH_BYTES);
}

static void
token_file__shipped_empty_file__is_the_header_and_parses(void **state)
{
	const char *top = getenv("KV_TOP_SRCDIR");
	struct token_list l;
	char path[4096], text[8192], err[512];
	size_t n;
	FILE *f;

	if (top == NULL)
		skip();
	snprintf(path, sizeof(path), "%s/systemd/tokens", top);
	assert_non_null(f = fopen(path, "r"));
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	assert_string_equal(text, TOKEN_FILE_HEADER);
	assert_int_equal(token_load(path, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 0);
}

static void
token_load__missing_file__error_names_it(void **state)
{
	struct token_list l;
	char err[512];

	assert_int_equal(token_load("/nonexistent/tokens", &l, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "/nonexistent/tokens: No such file or "
	    "directory");
}

static void
token_name_check__allowed_characters_and_length(void **state)
{
	assert_int_equal(token_name_check("ci-reader_2.x", 13), 0);
	assert_int_equal(token_name_check("", 0), -1);
	assert_int_equal(token_name_check("a b", 3), -1);
	assert_int_equal(token_name_check("a,b", 3), -1);
	assert_int_equal(token_name_check("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 64), 0);
	assert_int_equal(token_name_check("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 65), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(token_parse__comments_blanks_and_one_token__parsed),
		cmocka_unit_test(token_parse__star_rights_and_escapes__decoded),
		cmocka_unit_test(token_parse__empty_file__no_tokens),
		cmocka_unit_test(token_parse__every_malformed_line__refused_with_line_number),
		cmocka_unit_test(token_parse__nul_byte__refused),
		cmocka_unit_test(token_parse__too_many_prefixes__refused),
		cmocka_unit_test(token_format__parses_back_to_the_same_tokens),
		cmocka_unit_test(token_generate__kvs_prefix_base64url_256_bits_and_its_hash),
		cmocka_unit_test(token_hash__sha256_test_vector),
		cmocka_unit_test(token_file__shipped_empty_file__is_the_header_and_parses),
		cmocka_unit_test(token_load__missing_file__error_names_it),
		cmocka_unit_test(token_name_check__allowed_characters_and_length),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
