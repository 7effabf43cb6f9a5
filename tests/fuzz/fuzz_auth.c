/*
 * fuzz_auth: the Authorization header, from the bytes a client sends to
 * the decision of the service.
 *
 * Input: the header's value. The service gets FastCGI values as C
 * strings, so auth_request sees the input up to its first NUL;
 * auth_parse_bearer also sees all of it, NULs included.
 *
 * The tokens table holds one known token (KNOWN). Invariants:
 * - auth_parse_bearer either refuses, or returns a non-empty token inside
 *   the input made of b64token characters with '=' only at its end, and
 *   "Bearer " + that token parses back to the same token;
 * - auth_request accepts exactly when the parsed token is KNOWN, and
 *   otherwise answers 401 with the Bearer challenge (never 403: the
 *   route needs no right here beyond a valid token), and leaves no token
 *   set after auth_request_end;
 * - the refusal is counted: missing when nothing parsed, unknown else.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "fuzz.h"
#include "log.h"

#define KNOWN	"kvs_Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5"
#define MAXLEN	8192

static char dir[64], path[128];

static void
cleanup(void)
{
	auth_close();
	unlink(path);
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	unsigned char h[TOKEN_HASH_BYTES];
	char err[512];
	FILE *f;
	size_t i;

	log_set_level(LOG_LVL_ERROR);
	strcpy(dir, "/tmp/kv-fuzz-auth-XXXXXX");
	if (mkdtemp(dir) == NULL || token_init() != 0)
		abort();
	snprintf(path, sizeof(path), "%s/tokens", dir);
	token_hash(KNOWN, strlen(KNOWN), h);
	if ((f = fopen(path, "w")) == NULL)
		abort();
	fprintf(f, "known read,write,metrics * 2026-01-01T00:00:00Z sha256:");
	for (i = 0; i < TOKEN_HASH_BYTES; i++)
		fprintf(f, "%02x", h[i]);
	fprintf(f, "\n");
	fclose(f);
	if (auth_open(path, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	atexit(cleanup);
	return 0;
}

static int
b64token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~' || c == '+' || c == '/';
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data, *tok, *tok2;
	char *env, *again, *envp[4];
	unsigned long long missing, unknown;
	size_t len, len2, i, clen;
	struct resp resp;
	struct req r;
	int parsed, rc;

	if (size > MAXLEN)
		return 0;

	/* The parser on the raw bytes. */
	if (auth_parse_bearer(in, size, &tok, &len) == 0) {
		FUZZ_CHECK(len > 0 && tok >= in && tok + len <= in + size);
		for (i = 0; i < len && tok[i] != '='; i++)
			FUZZ_CHECK(b64token_char(tok[i]));
		FUZZ_CHECK(i > 0);
		for (; i < len; i++)
			FUZZ_CHECK(tok[i] == '=');
		again = malloc(len + 8);
		memcpy(again, "Bearer ", 7);
		memcpy(again + 7, tok, len);
		FUZZ_CHECK(auth_parse_bearer(again, len + 7, &tok2, &len2) == 0);
		FUZZ_CHECK(len2 == len && memcmp(tok2, tok, len) == 0);
		free(again);
	}

	/* The service's view: a C string, up to the first NUL. */
	clen = strnlen(in, size);
	env = malloc(clen + sizeof("HTTP_AUTHORIZATION="));
	memcpy(env, "HTTP_AUTHORIZATION=", 19);
	memcpy(env + 19, in, clen);
	env[19 + clen] = '\0';
	envp[0] = "REQUEST_METHOD=GET";
	envp[1] = "REQUEST_URI=/nowhere";
	envp[2] = env;
	envp[3] = NULL;
	parsed = auth_parse_bearer(env + 19, clen, &tok, &len) == 0;
	missing = auth_denied(AUTH_MISSING);
	unknown = auth_denied(AUTH_UNKNOWN);
	resp_init(&resp);
	req_parse(&r, envp, NULL, 0);
	rc = auth_request(&r, AUTH_TOKEN, &resp);
	if (parsed && len == strlen(KNOWN) && memcmp(tok, KNOWN, len) == 0) {
		FUZZ_CHECK(rc == 0 && r.token != NULL &&
		    strcmp(r.token->name, "known") == 0);
	} else {
		FUZZ_CHECK(rc == -1 && resp.status == 401 && resp.challenge);
		FUZZ_CHECK(auth_denied(parsed ? AUTH_UNKNOWN : AUTH_MISSING) ==
		    (parsed ? unknown : missing) + 1);
	}
	auth_request_end(&r);
	FUZZ_CHECK(r.token == NULL);
	req_free(&r);
	resp_free(&resp);
	free(env);
	return 0;
}
