/*
 * token: the access tokens file, shared by the service (auth.c) and
 * kvstore-admin: its format, parsing and writing, and the tokens
 * themselves (generating one, hashing one). The only user of libsodium.
 *
 * The file holds one line per token:
 *
 *     NAME RIGHTS PREFIXES CREATED HASH
 *
 * e.g. "ci-reader read,metrics user_,cache%2Cx 2026-12-03T22:18:24Z
 * sha256:<64 hex digits>"; TOKEN_FILE_HEADER below is the reference.
 * Lines starting with '#' and blank lines are ignored.
 */
#ifndef KV_TOKEN_H
#define KV_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define TOKEN_HASH_BYTES	32	/* SHA-256 */
#define TOKEN_SECRET_BYTES	32	/* 256 bits from the kernel */
#define TOKEN_PREFIX		"kvs_"
/* "kvs_" + base64url of 32 bytes without padding (43 characters). */
#define TOKEN_TEXT_LEN		(sizeof(TOKEN_PREFIX) - 1 + 43)
#define TOKEN_NAME_MAX		64
#define TOKEN_PREFIXES_MAX	64	/* key prefixes of one token */
#define TOKEN_FILE_MAX		(16u << 20)	/* bytes; refuse anything larger */

/* Rights, as bits; a token has at least one. */
enum token_right {
	TOKEN_READ	= 1 << 0,	/* get, list */
	TOKEN_WRITE	= 1 << 1,	/* set, delete, test-and-set, incr, touch, delete-prefix */
	TOKEN_METRICS	= 1 << 2,	/* GET /metrics */
};

struct token_prefix {
	char	*s;		/* decoded, NUL-terminated; "" = every key */
	size_t	 len;
};

struct token {
	char			*name;
	unsigned		 rights;	/* enum token_right bits */
	struct token_prefix	*prefixes;
	size_t			 nprefixes;	/* at least 1 */
	int64_t			 created;	/* seconds since the Unix epoch */
	unsigned char		 hash[TOKEN_HASH_BYTES];
};

struct token_list {
	struct token	*v;
	size_t		 n;
};

/* The comment block that starts every file the admin tool writes. */
extern const char TOKEN_FILE_HEADER[];

/*
 * Initializes libsodium; call once before any other function here (more
 * calls are harmless). Returns 0, or -1 if the library cannot start (no
 * usable random source).
 */
int	token_init(void);

/*
 * Parses the text of a tokens file (len bytes, need not be NUL-terminated)
 * into *out, which the caller frees with token_list_free. Returns 0, or -1
 * with *out empty and err set to "line N: what is wrong" (or a reason for
 * the whole file). Every token is checked: names and hashes are unique,
 * rights known, prefixes valid keys once decoded.
 */
int	token_parse(const char *text, size_t len, struct token_list *out,
	    char *err, size_t errlen);

/*
 * Reads and parses the file at path. Returns 0, or -1 with err set to
 * "PATH: line N: ..." or "PATH: strerror". A missing file is an error.
 */
int	token_load(const char *path, struct token_list *out, char *err,
	    size_t errlen);

/* Frees every token of l and empties it; accepts an empty list. */
void	token_list_free(struct token_list *l);

/* Appends the whole file for l to b: the header, then one line per token. */
void	token_format(const struct token_list *l, struct buf *b);

/* Appends a token's PREFIXES field as the file writes it ("*" for every key). */
void	token_format_prefixes(const struct token *t, struct buf *b);

/* Appends one token's line (with its newline) to b. */
void	token_format_line(const struct token *t, struct buf *b);

/*
 * Draws a new token from the kernel's random source: text gets the
 * NUL-terminated secret ("kvs_..."), hash its SHA-256.
 */
void	token_generate(char text[TOKEN_TEXT_LEN + 1],
	    unsigned char hash[TOKEN_HASH_BYTES]);

/* SHA-256 of the len bytes at s. */
void	token_hash(const char *s, size_t len, unsigned char hash[TOKEN_HASH_BYTES]);

/* Constant-time comparison of two hashes: 1 when equal. */
int	token_hash_equal(const unsigned char *a, const unsigned char *b);

/* Checks a token name: 1..64 of [A-Za-z0-9._-]. Returns 0 if valid. */
int	token_name_check(const char *name, size_t len);

/*
 * Names the rights bits: "read,write,metrics" order, comma-separated,
 * into out (at least 32 bytes).
 */
void	token_rights_str(unsigned rights, char *out, size_t outlen);

/* Returns the index of the token called name in l, or -1. */
long	token_find(const struct token_list *l, const char *name);

#endif
