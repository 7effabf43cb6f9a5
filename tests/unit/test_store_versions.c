/*
 * Unit tests for the store's versions, conditional writes, increments,
 * touch, keys-only lists, delete by prefix and the upgrade of stores
 * written by the first release (no versions in the records).
 */
#define _GNU_SOURCE
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <db.h>

#include "op.h"
#include "store.h"

#define NOW	((int64_t)1700000000000)

struct fixture {
	char		 dir[64];
	struct store	*s;
};

/* What the store's clock says: the wrappers below set it for each call. */
static int64_t	test_now = NOW;

static int64_t
test_clock(void)
{
	return test_now;
}

/* The store's calls, with the time they run at as an argument. */
static int
xget(struct store *s, const char *k, size_t klen, int64_t now,
    struct op_result *r)
{
	test_now = now;
	return store_get(s, k, klen, r);
}

static int
xexec(struct store *s, const struct op *ops, size_t n, int atomic,
    int64_t now, store_eq_fn eq, struct op_result *r, size_t *failed)
{
	test_now = now;
	return store_exec(s, ops, n, atomic, eq, r, failed);
}

static int
xlist(struct store *s, const char *p, size_t plen, const char *after,
    size_t alen, size_t limit, int64_t now, struct store_item **items,
    size_t *n, int *more)
{
	test_now = now;
	return store_list(s, p, plen, after, alen, limit, items, n, more, NULL,
	    NULL);
}

static int
xlistk(struct store *s, const char *p, size_t plen, const char *after,
    size_t alen, size_t limit, int64_t now, struct store_item **items,
    size_t *n, int *more)
{
	test_now = now;
	return store_list_keys(s, p, plen, after, alen, limit, items, n, more,
	    NULL, NULL);
}

static int
xdp(struct store *s, const char *p, size_t plen, size_t limit, int64_t now,
    size_t *deleted, int *more)
{
	test_now = now;
	return store_delete_prefix(s, p, plen, limit, deleted, more);
}

static int
eq_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

static int
open_in(struct fixture *f)
{
	struct store_cfg cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.home = f->dir;
	cfg.durability = STORE_DURABLE_WRITE;
	cfg.cache_bytes = 4 * 1024 * 1024;
	cfg.clock = test_clock;
	test_now = NOW;
	return store_open(&cfg, &f->s);
}

static int
setup(void **state)
{
	struct fixture *f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_versions.XXXXXX");
	if (mkdtemp(f->dir) == NULL || open_in(f) != STORE_OK) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

/* A fresh directory without a store: the test makes one itself. */
static int
setup_empty(void **state)
{
	struct fixture *f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_versions.XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int
rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->s);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* An op on key k of the given type, everything else zero. */
static struct op
mkop(enum op_type type, const char *k)
{
	struct op op;

	memset(&op, 0, sizeof(op));
	op.type = type;
	op.key = k;
	op.klen = strlen(k);
	return op;
}

/* Runs one op; r receives the result (the caller clears it). */
static int
run1(struct store *s, const struct op *op, int64_t now, struct op_result *r)
{
	memset(r, 0, sizeof(*r));
	return xexec(s, op, 1, 0, now, eq_bytes, r, NULL);
}

/* Sets k = v and returns the new version (0 on failure). */
static uint64_t
set_v(struct store *s, const char *k, const char *v)
{
	struct op op = mkop(OP_SET, k);
	struct op_result r;
	uint64_t version;

	op.val = v;
	op.vlen = v != NULL ? strlen(v) : 0;
	if (run1(s, &op, NOW, &r) != STORE_OK)
		return 0;
	version = r.version;
	op_result_clear(&r);
	return version;
}

/* Increments k by `by` and returns the store's answer; r is the caller's. */
static int
incr(struct store *s, const char *k, const char *by, const char *initial,
    int64_t ttl, struct op_result *r)
{
	struct op op = mkop(OP_INCR, k);

	op.by = by;
	op.bylen = strlen(by);
	op.initial = initial;
	op.initlen = initial != NULL ? strlen(initial) : 0;
	op.ttl = ttl;
	return run1(s, &op, NOW, r);
}

/* Versions */

static void
store_exec__every_set__gets_a_greater_version(void **state)
{
	struct fixture *f = *state;
	uint64_t v1, v2, v3;

	v1 = set_v(f->s, "k", "1");
	v2 = set_v(f->s, "k", "2");
	v3 = set_v(f->s, "other", "3");
	assert_true(v1 > 0);
	assert_true(v2 > v1);
	assert_true(v3 > 0);
}

static void
store_get__live_key__reports_the_version_of_the_last_write(void **state)
{
	struct fixture *f = *state;
	struct op_result r;
	uint64_t v;

	v = set_v(f->s, "k", "1");
	assert_int_equal(xget(f->s, "k", 1, NOW, &r), STORE_OK);
	assert_int_equal(r.version, v);
	op_result_clear(&r);
}

static void
store_exec__set_after_delete__gets_a_greater_version(void **state)
{
	struct fixture *f = *state;
	uint64_t v1, v2;

	v1 = set_v(f->s, "k", "1");
	assert_int_equal(set_v(f->s, "k", NULL), 0);
	v2 = set_v(f->s, "k", "1");
	assert_true(v2 > v1);
}

static void
store_open__after_close__versions_go_on_growing(void **state)
{
	struct fixture *f = *state;
	uint64_t v1, v2;
	int i;

	for (i = 0; i < 5; i++) {
		v1 = set_v(f->s, "k", "1");
		store_close(f->s);
		f->s = NULL;
		assert_int_equal(open_in(f), STORE_OK);
		v2 = set_v(f->s, "k", "2");
		assert_true(v2 > v1);
	}
}

/* Conditional writes */

static void
store_exec__if_version_matches__writes(void **state)
{
	struct fixture *f = *state;
	struct op op = mkop(OP_SET, "k");
	struct op_result r;
	uint64_t v;

	v = set_v(f->s, "k", "1");
	op.val = "2";
	op.vlen = 1;
	op.cond = OP_COND_VERSION;
	op.if_version = v;
	assert_int_equal(run1(f->s, &op, NOW, &r), STORE_OK);
	assert_int_equal(r.version_unmet, 0);
	assert_true(r.version > v);
	op_result_clear(&r);
}

static void
store_exec__if_version_stale__reports_current_and_writes_nothing(void **state)
{
	struct fixture *f = *state;
	struct op op = mkop(OP_SET, "k");
	struct op_result r;
	uint64_t v1, v2;

	v1 = set_v(f->s, "k", "1");
	v2 = set_v(f->s, "k", "2");
	op.val = "3";
	op.vlen = 1;
	op.cond = OP_COND_VERSION;
	op.if_version = v1;
	assert_int_equal(run1(f->s, &op, NOW, &r), STORE_OK);
	assert_int_equal(r.version_unmet, 1);
	assert_int_equal(r.found, 1);
	assert_int_equal(r.version, v2);
	assert_string_equal(r.val, "2");
	op_result_clear(&r);
}

static void
store_exec__if_absent_on_live_key__is_unmet(void **state)
{
	struct fixture *f = *state;
	struct op op = mkop(OP_DELETE, "k");
	struct op_result r;

	set_v(f->s, "k", "1");
	op.cond = OP_COND_ABSENT;
	assert_int_equal(run1(f->s, &op, NOW, &r), STORE_OK);
	assert_int_equal(r.version_unmet, 1);
	op_result_clear(&r);
	assert_int_equal(xget(f->s, "k", 1, NOW, &r), STORE_OK);
	op_result_clear(&r);
}

static void
store_exec__atomic_batch_with_unmet_version__rolls_back(void **state)
{
	struct fixture *f = *state;
	struct op ops[2];
	struct op_result r[2];
	size_t failed = 99;

	ops[0] = mkop(OP_SET, "a");
	ops[0].val = "1";
	ops[0].vlen = 1;
	ops[1] = mkop(OP_SET, "b");
	ops[1].val = "1";
	ops[1].vlen = 1;
	ops[1].cond = OP_COND_VERSION;
	ops[1].if_version = 12345;
	assert_int_equal(xexec(f->s, ops, 2, 1, NOW, eq_bytes, r,
	    &failed), STORE_CONDITION);
	assert_int_equal(failed, 1);
	assert_int_equal(xget(f->s, "a", 1, NOW, &r[0]), STORE_NOTFOUND);
}

/* Increment */

static void
store_exec__incr_of_absent_key__starts_from_initial(void **state)
{
	struct fixture *f = *state;
	struct op_result r;

	assert_int_equal(incr(f->s, "n", "5", "10", 0, &r), STORE_OK);
	assert_string_equal(r.val, "15");
	assert_true(r.version > 0);
	op_result_clear(&r);
	assert_int_equal(incr(f->s, "n", "-20", "10", 0, &r), STORE_OK);
	assert_string_equal(r.val, "-5");
	op_result_clear(&r);
}

static void
store_exec__incr_ttl__applies_only_when_created(void **state)
{
	struct fixture *f = *state;
	struct op_result r;
	int64_t first;

	assert_int_equal(incr(f->s, "n", "1", NULL, 60, &r), STORE_OK);
	first = r.expires;
	assert_true(first > NOW);
	op_result_clear(&r);
	assert_int_equal(incr(f->s, "n", "1", NULL, 600, &r), STORE_OK);
	assert_int_equal(r.expires, first);
	assert_string_equal(r.val, "2");
	op_result_clear(&r);
}

static void
store_exec__incr_of_string__conflicts_with_current(void **state)
{
	struct fixture *f = *state;
	struct op op = mkop(OP_INCR, "s");
	struct op_result r;
	size_t failed = 99;

	set_v(f->s, "s", "\"x\"");
	op.by = "1";
	op.bylen = 1;
	memset(&r, 0, sizeof(r));
	assert_int_equal(xexec(f->s, &op, 1, 0, NOW, eq_bytes, &r,
	    &failed), STORE_CONFLICT);
	assert_int_equal(failed, 0);
	assert_int_equal(r.err, OP_ERR_NAN);
	assert_int_equal(r.found, 1);
	assert_string_equal(r.val, "\"x\"");
	op_result_clear(&r);
}

static void
store_exec__incr_past_int64__conflicts_and_rolls_back_batch(void **state)
{
	struct fixture *f = *state;
	struct op ops[2];
	struct op_result r[2];
	size_t failed = 99;

	set_v(f->s, "n", "9223372036854775807");
	ops[0] = mkop(OP_SET, "a");
	ops[0].val = "1";
	ops[0].vlen = 1;
	ops[1] = mkop(OP_INCR, "n");
	ops[1].by = "1";
	ops[1].bylen = 1;
	assert_int_equal(xexec(f->s, ops, 2, 0, NOW, eq_bytes, r,
	    &failed), STORE_CONFLICT);
	assert_int_equal(failed, 1);
	assert_int_equal(r[1].err, OP_ERR_OVERFLOW);
	op_result_clear(&r[1]);
	assert_int_equal(xget(f->s, "a", 1, NOW, &r[0]), STORE_NOTFOUND);
}

/* Touch and expiry control */

static void
store_exec__touch__changes_expiry_and_version_only(void **state)
{
	struct fixture *f = *state;
	struct op op = mkop(OP_TOUCH, "k");
	struct op_result r;
	uint64_t v;

	v = set_v(f->s, "k", "\"val\"");
	op.expires_at = NOW + 5000;
	assert_int_equal(run1(f->s, &op, NOW, &r), STORE_OK);
	assert_int_equal(r.found, 1);
	assert_int_equal(r.expires, NOW + 5000);
	assert_true(r.version > v);
	op_result_clear(&r);
	assert_int_equal(xget(f->s, "k", 1, NOW, &r), STORE_OK);
	assert_string_equal(r.val, "\"val\"");
	assert_int_equal(r.expires, NOW + 5000);
	op_result_clear(&r);
	assert_int_equal(xget(f->s, "k", 1, NOW + 5000, &r),
	    STORE_NOTFOUND);
}

static void
store_exec__touch_of_absent_key__reports_not_found(void **state)
{
	struct fixture *f = *state;
	struct op op = mkop(OP_TOUCH, "nope");
	struct op_result r;

	assert_int_equal(run1(f->s, &op, NOW, &r), STORE_OK);
	assert_int_equal(r.found, 0);
	assert_int_equal(xget(f->s, "nope", 4, NOW, &r), STORE_NOTFOUND);
}

static void
store_exec__keep_ttl__keeps_the_current_expiry(void **state)
{
	struct fixture *f = *state;
	struct op op = mkop(OP_SET, "k");
	struct op_result r;

	op.val = "1";
	op.vlen = 1;
	op.ttl = 60;
	assert_int_equal(run1(f->s, &op, NOW, &r), STORE_OK);
	op_result_clear(&r);
	op.val = "2";
	op.ttl = 0;
	op.keep_ttl = 1;
	assert_int_equal(run1(f->s, &op, NOW + 1000, &r), STORE_OK);
	assert_int_equal(r.expires, NOW + 60000);
	op_result_clear(&r);
}

/* Lists and delete by prefix */

static void
store_list_keys__items__have_versions_but_no_values(void **state)
{
	struct fixture *f = *state;
	struct store_item *items;
	size_t n;
	int more;
	uint64_t v;

	v = set_v(f->s, "a", "\"big\"");
	assert_int_equal(xlistk(f->s, "", 0, NULL, 0, 10, NOW, &items,
	    &n, &more), STORE_OK);
	assert_int_equal(n, 1);
	assert_null(items[0].val);
	assert_int_equal(items[0].version, v);
	store_items_free(items, n);
	assert_int_equal(xlist(f->s, "", 0, NULL, 0, 10, NOW, &items,
	    &n, &more), STORE_OK);
	assert_string_equal(items[0].val, "\"big\"");
	assert_int_equal(items[0].version, v);
	store_items_free(items, n);
}

static void
store_delete_prefix__limit__deletes_lowest_and_says_more(void **state)
{
	struct fixture *f = *state;
	struct op_result r;
	size_t deleted;
	int more;

	set_v(f->s, "p1", "1");
	set_v(f->s, "p2", "1");
	set_v(f->s, "p3", "1");
	set_v(f->s, "q", "1");
	assert_int_equal(xdp(f->s, "p", 1, 2, NOW, &deleted,
	    &more), STORE_OK);
	assert_int_equal(deleted, 2);
	assert_int_equal(more, 1);
	assert_int_equal(xget(f->s, "p2", 2, NOW, &r), STORE_NOTFOUND);
	assert_int_equal(xget(f->s, "p3", 2, NOW, &r), STORE_OK);
	op_result_clear(&r);
	assert_int_equal(xdp(f->s, "p", 1, 2, NOW, &deleted,
	    &more), STORE_OK);
	assert_int_equal(deleted, 1);
	assert_int_equal(more, 0);
	assert_int_equal(xget(f->s, "q", 1, NOW, &r), STORE_OK);
	op_result_clear(&r);
}

static void
store_delete_prefix__ten_thousand_keys__fit_one_transaction(void **state)
{
	struct fixture *f = *state;
	struct op ops[100];
	struct op_result r[100];
	char keys[100][16];
	size_t deleted, i, j;
	int more;

	for (j = 0; j < 100; j++) {
		for (i = 0; i < 100; i++) {
			snprintf(keys[i], sizeof(keys[i]), "d%05zu",
			    j * 100 + i);
			ops[i] = mkop(OP_SET, keys[i]);
			ops[i].val = "\"some value of a few bytes\"";
			ops[i].vlen = strlen(ops[i].val);
			ops[i].ttl = i % 2 ? 3600 : 0;
		}
		assert_int_equal(xexec(f->s, ops, 100, 0, NOW, eq_bytes,
		    r, NULL), STORE_OK);
		for (i = 0; i < 100; i++)
			op_result_clear(&r[i]);
	}
	assert_int_equal(xdp(f->s, "d", 1, 10000, NOW,
	    &deleted, &more), STORE_OK);
	assert_int_equal(deleted, 10000);
	assert_int_equal(more, 0);
}

/* Upgrade of a first-release store */

/* The first release's index callback: the 8 expiry bytes, if not 0. */
static int
legacy_expiry_key(DB *sec, const DBT *pkey, const DBT *pdata, DBT *skey)
{
	static const unsigned char zero[8];

	if (pdata->size < 8 || memcmp(pdata->data, zero, 8) == 0)
		return DB_DONOTINDEX;
	skey->data = pdata->data;
	skey->size = 8;
	return 0;
}

/*
 * Writes a store as the first release did: kv.db with an 8-byte expiry
 * before each value, expiry.db associated, no meta.db.
 */
static void
make_legacy_store(const char *dir, int records)
{
	DB_ENV *env;
	DB *db, *exp_db;
	DBT k, d;
	char key[32], val[32];
	unsigned char rec[64];
	int i, len;
	uint64_t exp;

	assert_int_equal(db_env_create(&env, 0), 0);
	assert_int_equal(env->open(env, dir, DB_CREATE | DB_INIT_TXN |
	    DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL | DB_PRIVATE, 0600), 0);
	assert_int_equal(db_create(&db, env, 0), 0);
	assert_int_equal(db->open(db, NULL, "kv.db", NULL, DB_BTREE,
	    DB_CREATE | DB_AUTO_COMMIT, 0600), 0);
	assert_int_equal(db_create(&exp_db, env, 0), 0);
	assert_int_equal(exp_db->set_flags(exp_db, DB_DUP | DB_DUPSORT), 0);
	assert_int_equal(exp_db->open(exp_db, NULL, "expiry.db", NULL,
	    DB_BTREE, DB_CREATE | DB_AUTO_COMMIT, 0600), 0);
	assert_int_equal(db->associate(db, NULL, exp_db, legacy_expiry_key,
	    0), 0);
	for (i = 0; i < records; i++) {
		snprintf(key, sizeof(key), "k%05d", i);
		len = snprintf(val, sizeof(val), "%d", i);
		exp = i % 3 == 0 ? (uint64_t)NOW + 3600000 : 0;
		for (int b = 7; b >= 0; b--, exp >>= 8)
			rec[b] = (unsigned char)(exp & 0xff);
		memcpy(rec + 8, val, (size_t)len);
		memset(&k, 0, sizeof(k));
		memset(&d, 0, sizeof(d));
		k.data = key;
		k.size = (u_int32_t)strlen(key);
		d.data = rec;
		d.size = (u_int32_t)(8 + len);
		assert_int_equal(db->put(db, NULL, &k, &d, DB_AUTO_COMMIT), 0);
	}
	assert_int_equal(exp_db->close(exp_db, 0), 0);
	assert_int_equal(db->close(db, 0), 0);
	assert_int_equal(env->txn_checkpoint(env, 0, 0, DB_FORCE), 0);
	assert_int_equal(env->close(env, 0), 0);
}

static void
store_open__first_release_store__is_upgraded_with_values_intact(void **state)
{
	struct fixture *f = *state;
	struct store_item *items;
	struct op_result r;
	size_t n, i;
	int more;
	uint64_t v;

	make_legacy_store(f->dir, 2500);
	assert_int_equal(open_in(f), STORE_OK);
	assert_int_equal(xget(f->s, "k00003", 6, NOW, &r), STORE_OK);
	assert_string_equal(r.val, "3");
	assert_int_equal(r.expires, NOW + 3600000);
	assert_true(r.version > 0);
	op_result_clear(&r);
	assert_int_equal(xlist(f->s, "k", 1, NULL, 0, 1000, NOW, &items,
	    &n, &more), STORE_OK);
	assert_int_equal(n, 1000);
	for (i = 0; i < n; i++) {
		assert_int_equal(atoi(items[i].val), (int)i);
		assert_true(items[i].version > 0);
	}
	store_items_free(items, n);
	/* Expiring records are still found by the sweeper's index. */
	assert_int_equal(store_sweep(f->s, NOW + 3600000, 10000, &n),
	    STORE_OK);
	assert_int_equal(n, 834);
	/* Reopening does not convert again: values and versions stay. */
	assert_int_equal(xget(f->s, "k00001", 6, NOW, &r), STORE_OK);
	v = r.version;
	op_result_clear(&r);
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(open_in(f), STORE_OK);
	assert_int_equal(xget(f->s, "k00001", 6, NOW, &r), STORE_OK);
	assert_string_equal(r.val, "1");
	assert_int_equal(r.version, v);
	op_result_clear(&r);
	assert_true(set_v(f->s, "k00001", "2") > v);
}

static void
store_verify__first_release_store__passes_without_meta(void **state)
{
	struct fixture *f = *state;

	make_legacy_store(f->dir, 10);
	assert_int_equal(store_verify(f->dir), STORE_OK);
	/* Opening converts it; then meta.db exists and is verified too. */
	assert_int_equal(open_in(f), STORE_OK);
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(store_verify(f->dir), STORE_OK);
}

/* Load keeps versions */

static void
store_load__versions__are_kept_and_later_writes_exceed_them(void **state)
{
	struct fixture *f = *state;
	struct store_item it;
	struct op_result r;

	memset(&it, 0, sizeof(it));
	it.key = "k";
	it.klen = 1;
	it.val = "1";
	it.vlen = 1;
	it.version = 5000000000ULL;
	assert_int_equal(store_load(f->s, &it, 1), STORE_OK);
	assert_int_equal(xget(f->s, "k", 1, NOW, &r), STORE_OK);
	assert_int_equal(r.version, 5000000000ULL);
	op_result_clear(&r);
	assert_true(set_v(f->s, "other", "1") > 5000000000ULL);
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(open_in(f), STORE_OK);
	assert_true(set_v(f->s, "k", "2") > 5000000000ULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(store_exec__every_set__gets_a_greater_version),
		T(store_get__live_key__reports_the_version_of_the_last_write),
		T(store_exec__set_after_delete__gets_a_greater_version),
		T(store_open__after_close__versions_go_on_growing),
		T(store_exec__if_version_matches__writes),
		T(store_exec__if_version_stale__reports_current_and_writes_nothing),
		T(store_exec__if_absent_on_live_key__is_unmet),
		T(store_exec__atomic_batch_with_unmet_version__rolls_back),
		T(store_exec__incr_of_absent_key__starts_from_initial),
		T(store_exec__incr_ttl__applies_only_when_created),
		T(store_exec__incr_of_string__conflicts_with_current),
		T(store_exec__incr_past_int64__conflicts_and_rolls_back_batch),
		T(store_exec__touch__changes_expiry_and_version_only),
		T(store_exec__touch_of_absent_key__reports_not_found),
		T(store_exec__keep_ttl__keeps_the_current_expiry),
		T(store_list_keys__items__have_versions_but_no_values),
		T(store_delete_prefix__limit__deletes_lowest_and_says_more),
		T(store_delete_prefix__ten_thousand_keys__fit_one_transaction),
		T(store_load__versions__are_kept_and_later_writes_exceed_them),
#undef T
		cmocka_unit_test_setup_teardown(
		    store_open__first_release_store__is_upgraded_with_values_intact,
		    setup_empty, teardown),
		cmocka_unit_test_setup_teardown(
		    store_verify__first_release_store__passes_without_meta,
		    setup_empty, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
