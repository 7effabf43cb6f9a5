/*
 * Unit tests for the operations side of the store (store_stats,
 * store_audit, store_load, store_checkpoint, store_backup, store_verify)
 * and for backup.c's copy of a live store. Each test opens a real Berkeley
 * DB environment in a fresh temporary directory, without the maintenance
 * thread.
 */
#define _GNU_SOURCE
#include <sys/file.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backup.h"
#include "op.h"
#include "store.h"

#define NOW	((int64_t)1700000000000)	/* a fixed "now" in ms */

struct fixture {
	char		 dir[64];
	char		 copy[80];	/* a second directory for copies */
	struct store	*s;
};

static int
eq_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

/* What the store's clock says: tests set it before each call. */
static _Atomic int64_t	test_now = NOW;

/* The store's clock in these tests. */
static int64_t
test_clock(void)
{
	return test_now;
}

static int
open_mode(const char *dir, enum store_mode mode, struct store **s)
{
	struct store_cfg cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.home = dir;
	/* Sync: a live copy holds what is on disk, and no thread flushes. */
	cfg.durability = STORE_DURABLE_SYNC;
	cfg.cache_bytes = 4 * 1024 * 1024;
	cfg.mode = mode;
	cfg.clock = test_clock;
	return store_open(&cfg, s);
}

static int
setup(void **state)
{
	struct fixture *f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_store_ops.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		goto fail;
	snprintf(f->copy, sizeof(f->copy), "%s.copy", f->dir);
	if (mkdir(f->copy, 0700) != 0 ||
	    open_mode(f->dir, STORE_MODE_OWN, &f->s) != STORE_OK)
		goto fail;
	*state = f;
	return 0;
fail:
	free(f);
	return -1;
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
	nftw(f->copy, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Sets k = v (a JSON text) with ttl seconds at now in a one-op batch. */
static int
set_s(struct store *s, const char *k, const char *v, int64_t ttl,
    int64_t now)
{
	struct op op;
	struct op_result r;
	int ret;

	memset(&op, 0, sizeof(op));
	memset(&r, 0, sizeof(r));
	op.type = OP_SET;
	op.key = k;
	op.klen = strlen(k);
	op.val = v;
	op.vlen = strlen(v);
	op.ttl = ttl;
	test_now = now;
	ret = store_exec(s, &op, 1, 0, eq_bytes, &r, NULL);
	op_result_clear(&r);
	return ret;
}

/* Returns 1 if k reads back as v at now. */
static int
has(struct store *s, const char *k, const char *v, int64_t now)
{
	struct op_result r;
	int ok;

	test_now = now;
	if (store_get(s, k, strlen(k), &r) != STORE_OK)
		return 0;
	ok = r.vlen == strlen(v) && memcmp(r.val, v, r.vlen) == 0;
	op_result_clear(&r);
	return ok;
}

static void
store_stats__commits_and_aborts__are_counted(void **state)
{
	struct fixture *f = *state;
	struct store_stats st;
	struct op op;
	struct op_result r;
	size_t failed;

	assert_int_equal(store_stats(f->s, 0, &st), STORE_OK);
	assert_int_equal(st.commits, 0);
	assert_int_equal(set_s(f->s, "a", "1", 0, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "b", "2", 0, NOW), STORE_OK);
	/* An atomic batch whose condition fails is rolled back. */
	memset(&op, 0, sizeof(op));
	memset(&r, 0, sizeof(r));
	op.type = OP_TAS;
	op.key = "a";
	op.klen = 1;
	op.old = "9";
	op.oldlen = 1;
	op.val = "3";
	op.vlen = 1;
	test_now = NOW;
	assert_int_equal(store_exec(f->s, &op, 1, 1, eq_bytes, &r,
	    &failed), STORE_CONDITION);
	op_result_clear(&r);
	assert_int_equal(store_stats(f->s, 0, &st), STORE_OK);
	assert_int_equal(st.commits, 2);
	assert_int_equal(st.aborts, 1);
	assert_int_equal(st.busy, 0);
	assert_int_equal(st.nospace, 0);
}

static void
store_stats__count__gives_keys_and_expiring(void **state)
{
	struct fixture *f = *state;
	struct store_stats st;

	assert_int_equal(set_s(f->s, "a", "1", 0, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "b", "2", 0, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "c", "3", 60, NOW), STORE_OK);
	/* Nothing counted yet: the number is marked as unknown. */
	assert_int_equal(store_stats(f->s, 0, &st), STORE_OK);
	assert_int_equal(st.keys_counted, 0);
	assert_int_equal(store_stats(f->s, 1, &st), STORE_OK);
	assert_int_equal(st.keys_counted, 1);
	assert_int_equal(st.keys, 3);
	assert_int_equal(st.keys_expiring, 1);
	assert_true(st.data_bytes > 0);
	assert_true(st.log_files >= 1);
	assert_true(st.log_bytes > 0);
	assert_true(st.cache_hits > 0);
}

static void
store_sweep__removed_records__are_counted(void **state)
{
	struct fixture *f = *state;
	struct store_stats st;
	size_t removed;

	assert_int_equal(set_s(f->s, "a", "1", 1, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "b", "2", 1, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "c", "3", 0, NOW), STORE_OK);
	assert_int_equal(store_sweep(f->s, NOW + 5000, 100, &removed),
	    STORE_OK);
	assert_int_equal(removed, 2);
	assert_int_equal(store_stats(f->s, 1, &st), STORE_OK);
	assert_int_equal(st.swept, 2);
	assert_int_equal(st.keys, 1);
}

static void
store_audit__counts_live_expired_and_expiry_range(void **state)
{
	struct fixture *f = *state;
	struct store_audit au;

	assert_int_equal(set_s(f->s, "a", "\"xyz\"", 0, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "b", "1", 10, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "c", "2", 20, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "d", "3", 1, NOW), STORE_OK);
	/* At NOW + 5 s, d has expired but is not swept. */
	assert_int_equal(store_audit(f->s, NOW + 5000, 1, &au), STORE_OK);
	assert_int_equal(au.records, 4);
	assert_int_equal(au.live, 3);
	assert_int_equal(au.expired, 1);
	assert_int_equal(au.expiring, 2);
	assert_int_equal(au.key_bytes, 3);
	assert_int_equal(au.value_bytes, 5 + 1 + 1);
	assert_int_equal(au.first_expiry, NOW + 10000);
	assert_int_equal(au.last_expiry, NOW + 20000);
	assert_int_equal(au.bad_records, 0);
	assert_int_equal(au.index_missing, 0);
	assert_int_equal(au.index_extra, 0);
}

static void
store_load__items__keep_their_absolute_expiry(void **state)
{
	struct fixture *f = *state;
	struct store_item items[2];
	struct op_result r;

	memset(items, 0, sizeof(items));
	items[0].key = "k1";
	items[0].klen = 2;
	items[0].val = "[1,2]";
	items[0].vlen = 5;
	items[0].expires = NOW + 1234;
	items[1].key = "k2";
	items[1].klen = 2;
	items[1].val = "true";
	items[1].vlen = 4;
	assert_int_equal(store_load(f->s, items, 2), STORE_OK);
	test_now = NOW;
	assert_int_equal(store_get(f->s, "k1", 2, &r), STORE_OK);
	assert_int_equal(r.expires, NOW + 1234);
	op_result_clear(&r);
	assert_true(has(f->s, "k2", "true", NOW));
	/* The expiry index knows the loaded expiry: the sweeper finds it. */
	test_now = NOW + 1234;
	assert_int_equal(store_get(f->s, "k1", 2, &r),
	    STORE_NOTFOUND);
	op_result_clear(&r);
}

/* Writes about mb MiB of log through s, in 256 KiB values. */
static void
write_log(struct store *s, int mb)
{
	char *v, key[32];
	int i;

	v = malloc(256 * 1024 + 3);
	assert_non_null(v);
	memset(v, 'x', 256 * 1024 + 2);
	v[0] = '"';
	v[256 * 1024 + 1] = '"';
	v[256 * 1024 + 2] = '\0';
	for (i = 0; i < mb * 4; i++) {
		snprintf(key, sizeof(key), "big%d", i % 10);
		assert_int_equal(set_s(s, key, v, 0, NOW), STORE_OK);
	}
	free(v);
}

static void
store_checkpoint__under_write_load__keeps_the_log_small(void **state)
{
	struct fixture *f = *state;
	struct store_stats st;

	/* About 30 MB of log: three 10 MB log files at least. */
	write_log(f->s, 30);
	assert_int_equal(store_stats(f->s, 0, &st), STORE_OK);
	assert_true(st.log_files >= 3);
	/* Log files before the checkpoint are no longer needed: removed. */
	assert_int_equal(store_checkpoint(f->s), STORE_OK);
	assert_int_equal(store_checkpoint(f->s), STORE_OK);
	assert_int_equal(store_stats(f->s, 0, &st), STORE_OK);
	assert_true(st.log_files <= 2);
}

static void
store_backup__then_restore_mode__gives_back_every_write(void **state)
{
	struct fixture *f = *state;
	struct store_audit au;
	struct store *r;

	assert_int_equal(set_s(f->s, "a", "1", 0, NOW), STORE_OK);
	assert_int_equal(set_s(f->s, "b", "{\"x\":2}", 60, NOW), STORE_OK);
	assert_int_equal(store_backup(f->s, f->copy), STORE_OK);
	/* Written after the backup: not in it. */
	assert_int_equal(set_s(f->s, "c", "3", 0, NOW), STORE_OK);
	assert_int_equal(open_mode(f->copy, STORE_MODE_RESTORE, &r), STORE_OK);
	assert_true(has(r, "a", "1", NOW));
	assert_true(has(r, "b", "{\"x\":2}", NOW));
	assert_false(has(r, "c", "3", NOW));
	assert_int_equal(store_audit(r, NOW, 1, &au), STORE_OK);
	assert_int_equal(au.records, 2);
	assert_int_equal(au.index_missing + au.index_extra, 0);
	store_close(r);
	assert_int_equal(store_verify(f->copy), STORE_OK);
}

static void
store_verify__missing_database__fails(void **state)
{
	struct fixture *f = *state;

	/* f->copy is an empty directory: nothing to verify. */
	assert_int_equal(store_verify(f->copy), STORE_ERROR);
}

struct writer {
	struct store	*s;
	_Atomic int	 stop;
	_Atomic int	 written;	/* keys w0..w(written-1) committed */
	_Atomic int	 failed;
};

/* Writes w0, w1, ... until told to stop, counting what committed. */
static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	char key[32];
	int i;

	for (i = 0; !w->stop && i < 1000000; i++) {
		snprintf(key, sizeof(key), "w%d", i);
		if (set_s(w->s, key, "\"payload\"", 0, NOW) != STORE_OK) {
			w->failed = 1;
			break;
		}
		w->written = i + 1;
	}
	return NULL;
}

static void
backup_copy_live__while_writing__holds_every_earlier_write(void **state)
{
	struct fixture *f = *state;
	struct store_audit au;
	struct writer w;
	struct store *r;
	pthread_t t;
	char err[256], key[32];
	int before, i;

	memset(&w, 0, sizeof(w));
	w.s = f->s;
	assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
	while (w.written < 200)
		usleep(1000);
	before = w.written;
	assert_int_equal(backup_copy_live(f->dir, f->copy, 300, err,
	    sizeof(err)), 0);
	w.stop = 1;
	pthread_join(t, NULL);
	assert_false(w.failed);
	assert_true(w.written > before);
	assert_int_equal(open_mode(f->copy, STORE_MODE_RESTORE, &r), STORE_OK);
	for (i = 0; i < before; i++) {
		snprintf(key, sizeof(key), "w%d", i);
		assert_true(has(r, key, "\"payload\"", NOW));
	}
	assert_int_equal(store_audit(r, NOW, 1, &au), STORE_OK);
	assert_true(au.records >= (uint64_t)before);
	assert_int_equal(au.index_missing + au.index_extra + au.bad_records,
	    0);
	store_close(r);
	assert_int_equal(store_verify(f->copy), STORE_OK);
}

static void
backup_copy_live__leaves_no_staging_directory(void **state)
{
	struct fixture *f = *state;
	char err[256], cmd[256];

	assert_int_equal(set_s(f->s, "a", "1", 0, NOW), STORE_OK);
	assert_int_equal(backup_copy_live(f->dir, f->copy, 0, err,
	    sizeof(err)), 0);
	snprintf(cmd, sizeof(cmd), "ls -a %s | grep -q kvstore-backup",
	    f->dir);
	assert_int_not_equal(system(cmd), 0);
}

static void
backup_copy_live__missing_destination__fails_with_reason(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";

	assert_int_equal(backup_copy_live(f->dir, "/nonexistent/dir", 0, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/dir"));
}

static void
store_checkpoint__while_a_backup_holds_the_log_lock__removes_no_log_file(
    void **state)
{
	struct fixture *f = *state;
	struct store_cfg cfg;
	struct store_stats st;
	struct store *s;
	char path[128];
	uint64_t files;
	FILE *c;
	int fd, i;

	/* The service's store (background), with 1 MiB log files. */
	snprintf(path, sizeof(path), "%s/DB_CONFIG", f->copy);
	assert_non_null(c = fopen(path, "w"));
	fputs("set_lg_max 1048576\n", c);
	fclose(c);
	memset(&cfg, 0, sizeof(cfg));
	cfg.home = f->copy;
	cfg.durability = STORE_DURABLE_SYNC;
	cfg.cache_bytes = 4 * 1024 * 1024;
	cfg.background = 1;
	/*
	 * Keep the maintenance thread's key count (a DB->stat walk, at start
	 * and at each checkpoint) away from the big writes below: under
	 * valgrind the two were seen to hang, the walk waiting on a page
	 * latch of a writer that waited on the walk's lock.
	 */
	setenv("KV_TEST_CHECKPOINT_S", "100000", 1);
	assert_int_equal(store_open(&cfg, &s), STORE_OK);
	unsetenv("KV_TEST_CHECKPOINT_S");
	for (i = 0; i < 600; i++) {
		assert_int_equal(store_stats(s, 0, &st), STORE_OK);
		if (st.keys_counted)
			break;
		usleep(50 * 1000);
	}
	assert_true(st.keys_counted);
	/* What kvstore-admin backup does for as long as it copies. */
	snprintf(path, sizeof(path), "%s/%s", f->copy, BACKUP_LOGS_LOCK_FILE);
	assert_true((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0);
	assert_int_equal(flock(fd, LOCK_SH), 0);
	write_log(s, 4);
	assert_int_equal(store_stats(s, 0, &st), STORE_OK);
	files = st.log_files;
	assert_true(files >= 4);
	assert_int_equal(store_checkpoint(s), STORE_OK);
	assert_int_equal(store_checkpoint(s), STORE_OK);
	assert_int_equal(store_stats(s, 0, &st), STORE_OK);
	assert_int_equal(st.log_files, files);
	/* The backup is done: the next checkpoint removes them. */
	close(fd);
	assert_int_equal(store_checkpoint(s), STORE_OK);
	assert_int_equal(store_stats(s, 0, &st), STORE_OK);
	assert_true(st.log_files <= 2);
	store_close(s);
}

/* Makes a staging directory in dir holding a link to its first log file. */
static void
make_staging(const char *dir, const char *name, char *path, size_t len)
{
	char from[160], to[200];

	snprintf(path, len, "%s/%s", dir, name);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(from, sizeof(from), "%s/log.0000000001", dir);
	snprintf(to, sizeof(to), "%s/log.0000000001", path);
	assert_int_equal(link(from, to), 0);
}

static void
backup_clean_staging__removes_only_directories_no_backup_holds(void **state)
{
	struct fixture *f = *state;
	char left[128], held[128];
	int fd;

	make_staging(f->dir, ".kvstore-backup.AAAAAA", left, sizeof(left));
	make_staging(f->dir, ".kvstore-backup.BBBBBB", held, sizeof(held));
	/* A running backup holds its staging directory locked. */
	assert_true((fd = open(held, O_RDONLY | O_DIRECTORY)) >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	assert_int_equal(backup_clean_staging(f->dir), 1);
	assert_int_not_equal(access(left, F_OK), 0);
	assert_int_equal(access(held, F_OK), 0);
	/* Killed: its lock is gone, and so is the directory next time. */
	close(fd);
	assert_int_equal(backup_clean_staging(f->dir), 1);
	assert_int_not_equal(access(held, F_OK), 0);
}

static void
backup_is_store_file__names(void **state)
{
	assert_true(backup_is_store_file("kv.db"));
	assert_true(backup_is_store_file("expiry.db"));
	assert_true(backup_is_store_file("log.0000000001"));
	assert_true(backup_is_store_file(BACKUP_INFO_FILE));
	assert_false(backup_is_store_file("log.1"));
	assert_false(backup_is_store_file("log.000000000x"));
	assert_false(backup_is_store_file("__db.001"));
	assert_false(backup_is_store_file("kvstore.lock"));
	assert_false(backup_is_store_file("notes.txt"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name)	cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(store_stats__commits_and_aborts__are_counted),
		T(store_stats__count__gives_keys_and_expiring),
		T(store_sweep__removed_records__are_counted),
		T(store_audit__counts_live_expired_and_expiry_range),
		T(store_load__items__keep_their_absolute_expiry),
		T(store_checkpoint__under_write_load__keeps_the_log_small),
		T(store_backup__then_restore_mode__gives_back_every_write),
		T(store_verify__missing_database__fails),
		T(backup_copy_live__while_writing__holds_every_earlier_write),
		T(backup_copy_live__leaves_no_staging_directory),
		T(backup_copy_live__missing_destination__fails_with_reason),
		T(store_checkpoint__while_a_backup_holds_the_log_lock__removes_no_log_file),
		T(backup_clean_staging__removes_only_directories_no_backup_holds),
		cmocka_unit_test(backup_is_store_file__names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
