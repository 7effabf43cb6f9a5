/*
 * auth: the tokens table in force, its reload, and the decision on each
 * request.
 *
 * The request path takes no lock. The table is immutable once built and
 * reached through one atomic pointer; a reload builds a new table and
 * swaps the pointer. The old table may still be in use by workers that
 * loaded the pointer before the swap, so it is freed only after a grace
 * period: every worker thread owns a sequence counter that it increments
 * when it starts using the table (odd: inside) and again when its reply
 * is built (even: outside). After the swap the reloading thread waits,
 * for each counter that is odd, until it changes; a worker that enters
 * after the swap can only see the new pointer. Both sides use
 * sequentially consistent operations (counter store then pointer load in
 * the worker, pointer store then counter load in the reloader), so at
 * least one of them sees the other's store. Reloads are rare and wait at
 * most one request's duration; requests never wait for a reload.
 */
#include <sys/stat.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth.h"
#include "log.h"

#define READERS_MAX	1024	/* worker threads with their own counter */
#define CACHE_LINE	64

/* An immutable set of tokens with an open-addressing index on the hash. */
struct table {
	struct token_list	  list;
	const struct token	**slots;	/* mask + 1 entries, NULL = empty */
	size_t			  mask;
};

/* One worker's sequence counter, alone on its cache line. */
struct reader {
	_Atomic unsigned long	 seq;
	char			 pad[CACHE_LINE - sizeof(unsigned long)];
};

static const char		*tokens_path;
static int			 enabled;
static _Atomic(struct table *)	 current;

static struct reader		 readers[READERS_MAX];
static atomic_size_t		 nreaders;
/* Threads beyond READERS_MAX share one count of those inside. */
static _Atomic unsigned long	 overflow_inside;
static _Thread_local struct reader *me;
static _Thread_local int	 me_overflow;

/* Only the reloading thread touches these, under reload_lock. */
static pthread_mutex_t		 reload_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stat		 seen;
static int			 seen_errno;

static _Atomic unsigned long long denied[AUTH_NDENIALS];

static const char *const denial_names[AUTH_NDENIALS] = {
	"missing", "unknown", "forbidden",
};

static const char *const method_names[] = {
	[M_GET] = "GET", [M_POST] = "POST", [M_DELETE] = "DELETE",
	[M_OPTIONS] = "OPTIONS", [M_OTHER] = "other method",
};

/* Where a hash starts probing: its first bytes are uniformly random. */
static size_t
slot_of(const unsigned char *hash, size_t mask)
{
	uint64_t v;

	memcpy(&v, hash, sizeof(v));
	return (size_t)v & mask;
}

static void
table_free(struct table *t)
{
	if (t == NULL)
		return;
	token_list_free(&t->list);
	free(t->slots);
	free(t);
}

/* Takes ownership of l; hashes are unique (token_parse checks). */
static struct table *
table_build(struct token_list *l)
{
	struct table *t = xcalloc(1, sizeof(*t));
	size_t i, n = 8, j;

	while (n < 2 * l->n)
		n *= 2;
	t->list = *l;
	l->v = NULL;
	l->n = 0;
	t->mask = n - 1;
	t->slots = xcalloc(n, sizeof(*t->slots));
	for (i = 0; i < t->list.n; i++) {
		j = slot_of(t->list.v[i].hash, t->mask);
		while (t->slots[j] != NULL)
			j = (j + 1) & t->mask;
		t->slots[j] = &t->list.v[i];
	}
	return t;
}

/*
 * Finds the token with this hash. The table is at most half full, so a
 * probe ends after a couple of slots; each candidate is compared in
 * constant time. Which slot the probe starts from depends only on the
 * hash of what the client sent, which tells it nothing about the stored
 * hashes.
 */
static const struct token *
table_find(const struct table *t, const unsigned char *hash)
{
	size_t j;

	for (j = slot_of(hash, t->mask); t->slots[j] != NULL;
	    j = (j + 1) & t->mask)
		if (token_hash_equal(t->slots[j]->hash, hash))
			return t->slots[j];
	return NULL;
}

/* Marks this thread as using the table and returns the one in force. */
static struct table *
reader_enter(void)
{
	size_t i;

	if (me == NULL && !me_overflow) {
		i = atomic_fetch_add(&nreaders, 1);
		if (i < READERS_MAX)
			me = &readers[i];
		else
			me_overflow = 1;
	}
	if (me != NULL)
		atomic_fetch_add(&me->seq, 1);
	else
		atomic_fetch_add(&overflow_inside, 1);
	return atomic_load(&current);
}

static void
reader_leave(void)
{
	if (me != NULL)
		atomic_fetch_add(&me->seq, 1);
	else if (me_overflow)
		atomic_fetch_sub(&overflow_inside, 1);
}

/* Waits until no thread can still hold a table swapped out before the call. */
static void
wait_for_readers(void)
{
	struct timespec tick = { 0, 100 * 1000 };
	size_t i, n = atomic_load(&nreaders);
	unsigned long s;

	if (n > READERS_MAX)
		n = READERS_MAX;
	for (i = 0; i < n; i++) {
		s = atomic_load(&readers[i].seq);
		if ((s & 1) == 0)
			continue;
		while (atomic_load(&readers[i].seq) == s)
			nanosleep(&tick, NULL);
	}
	while (atomic_load(&overflow_inside) != 0)
		nanosleep(&tick, NULL);
}

static int
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	    a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

int
auth_open(const char *path, char *err, size_t errlen)
{
	struct token_list l;

	if (token_init() != 0) {
		snprintf(err, errlen, "libsodium failed to initialize");
		return -1;
	}
	if (stat(path, &seen) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (token_load(path, &l, err, errlen) != 0)
		return -1;
	tokens_path = path;
	atomic_store(&current, table_build(&l));
	enabled = 1;
	return 0;
}

int
auth_enabled(void)
{
	return enabled;
}

size_t
auth_count(void)
{
	struct table *t;
	size_t n;

	if (!enabled)
		return 0;
	t = reader_enter();
	n = t->list.n;
	reader_leave();
	return n;
}

int
auth_reload(int force)
{
	struct token_list l;
	struct table *old;
	struct stat st;
	char err[512];
	int rc = 0;

	if (!enabled)
		return 0;
	pthread_mutex_lock(&reload_lock);
	if (stat(tokens_path, &st) != 0) {
		/* Say it once, not every second; the tokens stay in force. */
		if (force || errno != seen_errno)
			log_error("tokens file %s: %s; the tokens loaded before "
			    "stay in force", tokens_path, strerror(errno));
		seen_errno = errno;
		rc = -1;
		goto out;
	}
	if (!force && seen_errno == 0 && same_file(&st, &seen))
		goto out;
	/* Stat before reading: a change made meanwhile is seen next time. */
	seen = st;
	seen_errno = 0;
	if (token_load(tokens_path, &l, err, sizeof(err)) != 0) {
		log_error("tokens file not reloaded, the tokens loaded before "
		    "stay in force: %s", err);
		rc = -1;
		goto out;
	}
	old = atomic_exchange(&current, table_build(&l));
	wait_for_readers();
	table_free(old);
	log_info("tokens reloaded from %s: %zu token%s", tokens_path,
	    auth_count(), auth_count() == 1 ? "" : "s");
	rc = 1;
out:
	pthread_mutex_unlock(&reload_lock);
	return rc;
}

void
auth_close(void)
{
	table_free(atomic_exchange(&current, NULL));
	enabled = 0;
	tokens_path = NULL;
	memset(&seen, 0, sizeof(seen));
	seen_errno = 0;
}

int
auth_parse_bearer(const char *h, size_t n, const char **tok, size_t *len)
{
	size_t i = 0, start;
	char c;

	if (h == NULL)
		return -1;
	while (i < n && (h[i] == ' ' || h[i] == '\t'))
		i++;
	if (n - i < 6 || strncasecmp(h + i, "Bearer", 6) != 0)
		return -1;
	i += 6;
	if (i == n || h[i] != ' ')
		return -1;
	while (i < n && h[i] == ' ')
		i++;
	start = i;
	/* b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
	while (i < n) {
		c = h[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~' || c == '+' || c == '/'))
			break;
		i++;
	}
	if (i == start)
		return -1;
	while (i < n && h[i] == '=')
		i++;
	*tok = h + start;
	*len = i - start;
	while (i < n && (h[i] == ' ' || h[i] == '\t'))
		i++;
	return i == n ? 0 : -1;
}

int
auth_key_allowed(const struct token *t, const char *s, size_t len)
{
	size_t i;

	if (t == NULL)
		return 1;
	for (i = 0; i < t->nprefixes; i++)
		if (t->prefixes[i].len <= len &&
		    memcmp(t->prefixes[i].s, s, t->prefixes[i].len) == 0)
			return 1;
	return 0;
}

/*
 * Counts and logs a refusal: the client's address and the token's name
 * when one was recognized, never what the client sent as a token.
 */
static void
note_denial(const struct req *r, enum auth_denial why, const char *detail)
{
	const struct token *t = r->token;
	char path[201];
	size_t i;

	atomic_fetch_add_explicit(&denied[why], 1, memory_order_relaxed);
	/* The path is the client's: no control characters into the log. */
	snprintf(path, sizeof(path), "%s", r->path != NULL ? r->path : "-");
	for (i = 0; path[i] != '\0'; i++)
		if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
			path[i] = '?';
	log_warn("access denied (%s): %s %s from %s%s%s%s%s",
	    denial_names[why], method_names[r->method], path,
	    r->remote_addr != NULL ? r->remote_addr : "unknown address",
	    t != NULL ? ", token " : "", t != NULL ? t->name : "",
	    detail != NULL ? ": " : "", detail != NULL ? detail : "");
}

static int
unauthorized(struct req *r, enum auth_denial why, struct resp *resp)
{
	note_denial(r, why, NULL);
	resp_error(resp, 401, "Unauthorized");
	resp->challenge = 1;
	return -1;
}

void
auth_forbid(const struct req *r, struct resp *resp, const char *msg)
{
	note_denial(r, AUTH_FORBIDDEN, strcmp(msg, "Forbidden") != 0 ? msg :
	    NULL);
	resp_error(resp, 403, msg);
}

int
auth_request(struct req *r, unsigned need, struct resp *resp)
{
	unsigned char hash[TOKEN_HASH_BYTES];
	const struct table *t;
	const char *tok;
	size_t len;
	unsigned want;

	r->token = NULL;
	if (!enabled)
		return 0;
	t = reader_enter();
	if (r->method == M_OPTIONS || (need & AUTH_OPEN))
		return 0;
	if (r->authorization == NULL || auth_parse_bearer(r->authorization,
	    strlen(r->authorization), &tok, &len) != 0)
		return unauthorized(r, AUTH_MISSING, resp);
	token_hash(tok, len, hash);
	if ((r->token = table_find(t, hash)) == NULL)
		return unauthorized(r, AUTH_UNKNOWN, resp);
	if (need & AUTH_TOKEN)
		return 0;
	want = need & (TOKEN_READ | TOKEN_WRITE | TOKEN_METRICS);
	if (want == 0 || (r->token->rights & want) != want) {
		auth_forbid(r, resp, "Forbidden");
		return -1;
	}
	return 0;
}

void
auth_request_end(struct req *r)
{
	r->token = NULL;
	if (enabled)
		reader_leave();
}

int
auth_check_key(const struct req *r, const char *s, size_t len,
    struct resp *resp)
{
	if (auth_key_allowed(r->token, s, len))
		return 0;
	auth_forbid(r, resp, "Forbidden");
	return -1;
}

unsigned long long
auth_denied(enum auth_denial why)
{
	return why < AUTH_NDENIALS ? atomic_load_explicit(&denied[why],
	    memory_order_relaxed) : 0;
}
