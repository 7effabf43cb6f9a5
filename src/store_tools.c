/*
 * store_tools: the store's operations side, next to the engine in
 * store.c: statistics and disk use, checkpoints, Berkeley DB's own backup,
 * the audit walk, structural verification and bulk loading. Every
 * transaction still goes through store_run() (store_impl.h), so the
 * tooling retries, maps errors and logs exactly as the engine does.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <db.h>

#include "backup.h"
#include "log.h"
#include "store.h"
#include "store_impl.h"

/*
 * Counts the records of both trees with a full statistics walk at
 * read-committed isolation, for store_stats. Fast statistics would not
 * do: without record numbers, Berkeley DB only reports the count saved by
 * the last full walk (seen: 0 for a fresh store of 1000 keys).
 */
int
count_keys(struct store *s)
{
	DB_BTREE_STAT *pst = NULL, *est = NULL;
	int ret;

	if ((ret = s->db->stat(s->db, NULL, &pst, DB_READ_COMMITTED)) != 0 ||
	    (ret = s->exp->stat(s->exp, NULL, &est, DB_READ_COMMITTED)) != 0)
		goto done;
	atomic_store_explicit(&s->ctr.keys, pst->bt_nkeys,
	    memory_order_relaxed);
	atomic_store_explicit(&s->ctr.keys_expiring, est->bt_ndata,
	    memory_order_relaxed);
	atomic_store_explicit(&s->ctr.keys_counted, 1, memory_order_relaxed);
done:
	free(pst);
	free(est);
	/* A conflict with a writer is not worth more than a note. */
	if (ret == DB_LOCK_DEADLOCK || ret == DB_LOCK_NOTGRANTED)
		log_debug("%s: %s, counting again later", __func__,
		    db_strerror(ret));
	else if (ret != 0)
		log_warn("%s: %s", __func__, db_strerror(ret));
	return ret;
}

/* Returns 1 if name is a log file of the environment: "log." + 10 digits. */
int
store_is_log_file(const char *name)
{
	size_t i;

	if (strncmp(name, "log.", 4) != 0 || strlen(name) != 14)
		return 0;
	for (i = 4; i < 14; i++)
		if (name[i] < '0' || name[i] > '9')
			return 0;
	return 1;
}

/* Adds up the disk space of the database and log files in home. */
static int
file_sizes(const char *home, struct store_stats *out)
{
	struct dirent *e;
	struct stat st;
	DIR *d;

	if ((d = opendir(home)) == NULL)
		return errno;
	while ((e = readdir(d)) != NULL) {
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0
		    || !S_ISREG(st.st_mode))
			continue;
		/* Blocks, not sizes: BDB creates log files sparse, at full size. */
		if (strcmp(e->d_name, STORE_PRIMARY_FILE) == 0 ||
		    strcmp(e->d_name, STORE_EXPIRY_FILE) == 0 ||
		    strcmp(e->d_name, STORE_META_FILE) == 0)
			out->data_bytes += (uint64_t)st.st_blocks * 512;
		else if (store_is_log_file(e->d_name)) {
			out->log_bytes += (uint64_t)st.st_blocks * 512;
			out->log_files++;
		}
	}
	closedir(d);
	return 0;
}

/* Collects counters, file sizes and cache statistics (see store.h). */
int
store_stats(struct store *s, int count, struct store_stats *out)
{
	DB_MPOOL_STAT *mst = NULL;
	char ebuf[128];
	int ret, rc = STORE_OK;

	memset(out, 0, sizeof(*out));
	if (count && count_keys(s) != 0)
		rc = STORE_ERROR;
	out->commits = atomic_load_explicit(&s->ctr.commits,
	    memory_order_relaxed);
	out->aborts = atomic_load_explicit(&s->ctr.aborts,
	    memory_order_relaxed);
	out->deadlocks = atomic_load_explicit(&s->ctr.deadlocks,
	    memory_order_relaxed);
	out->busy = atomic_load_explicit(&s->ctr.busy, memory_order_relaxed);
	out->nospace = atomic_load_explicit(&s->ctr.nospace,
	    memory_order_relaxed);
	out->swept = atomic_load_explicit(&s->ctr.swept, memory_order_relaxed);
	out->keys = atomic_load_explicit(&s->ctr.keys, memory_order_relaxed);
	out->keys_expiring = atomic_load_explicit(&s->ctr.keys_expiring,
	    memory_order_relaxed);
	out->keys_counted = atomic_load_explicit(&s->ctr.keys_counted,
	    memory_order_relaxed);
	if ((ret = file_sizes(s->home, out)) != 0) {
		log_warn("%s: %s: %s", __func__, s->home,
		    log_strerror(ret, ebuf, sizeof(ebuf)));
		rc = STORE_ERROR;
	}
	if ((ret = s->env->memp_stat(s->env, &mst, NULL, 0)) != 0) {
		log_warn("%s: memp_stat: %s", __func__, db_strerror(ret));
		rc = STORE_ERROR;
	} else {
		out->cache_hits = mst->st_cache_hit;
		out->cache_misses = mst->st_cache_miss;
		free(mst);
	}
	return rc;
}

/* Forces a checkpoint, then removes the log files it freed. */
int
store_checkpoint(struct store *s)
{
	int ret;

	if ((ret = s->env->txn_checkpoint(s->env, 0, 0, DB_FORCE)) != 0) {
		log_error("%s: %s", __func__, db_strerror(ret));
		return ret == ENOSPC ? STORE_NOSPACE : STORE_ERROR;
	}
	store_log_trim(s);
	return STORE_OK;
}

/*
 * Removes unneeded log files, never from under a hot backup (see
 * store_impl.h). Failures are logged: the files stay until next time.
 */
void
store_log_trim(struct store *s)
{
	char eb[128];
	int fd = -1, n, ret;

	if (s->guard_logs) {
		fd = backup_logs_lock_try(s->home);
		if (fd < 0 && errno == EWOULDBLOCK)
			return;		/* a backup is copying the log */
		/*
		 * A lock file that cannot be created on a full disk cannot be
		 * held by a backup either: removing log files is safe then,
		 * and frees the space the service needs most.
		 */
		if (fd < 0 && errno != ENOSPC && errno != EDQUOT) {
			log_warn("%s: %s/%s: %s; log files are kept", __func__,
			    s->home, BACKUP_LOGS_LOCK_FILE,
			    log_strerror(errno, eb, sizeof(eb)));
			return;
		}
		if (fd >= 0 && (n = backup_clean_staging(s->home)) > 0)
			log_info("%s: removed %d staging director%s of "
			    "interrupted backups", __func__, n,
			    n == 1 ? "y" : "ies");
	}
	if ((ret = s->env->log_archive(s->env, NULL, DB_ARCH_REMOVE)) != 0)
		log_warn("%s: log_archive: %s", __func__, db_strerror(ret));
	if (fd >= 0)
		close(fd);
}

/*
 * Checkpoints, then lets Berkeley DB copy the databases and the log into
 * dir. The checkpoint also flushes the log buffer, so commits made in
 * write mode are in the copy too.
 */
int
store_backup(struct store *s, const char *dir)
{
	int ret;

	if ((ret = store_checkpoint(s)) != STORE_OK)
		return ret;
	if ((ret = s->env->backup(s->env, dir, DB_CREATE |
	    DB_BACKUP_CLEAN)) != 0) {
		log_error("%s: %s: %s", __func__, dir, db_strerror(ret));
		return ret == ENOSPC || ret == EDQUOT ? STORE_NOSPACE :
		    STORE_ERROR;
	}
	return STORE_OK;
}

struct audit_ctx {
	int64_t			 now_ms;
	int			 check_index;
	uint64_t		 indexed;	/* records with expiry, any age */
	struct store_audit	*out;
};

/*
 * Checks that the index holds (expiry -> key) for one record. Returns a
 * BDB code; a missing entry is counted, not an error.
 */
static int
audit_index(struct store *s, DB_TXN *txn, struct audit_ctx *c,
    const DBT *k, const unsigned char *hdr)
{
	DBT sk, pk, pd;
	unsigned char exp[EXP_LEN];
	int ret;

	memcpy(exp, hdr, EXP_LEN);
	memset(&sk, 0, sizeof(sk));
	memset(&pk, 0, sizeof(pk));
	memset(&pd, 0, sizeof(pd));
	sk.data = exp;
	sk.size = EXP_LEN;
	pk.data = k->data;
	pk.size = k->size;
	pk.ulen = k->size;
	sk.ulen = EXP_LEN;
	/* DB_THREAD wants every DBT to say who owns its memory. */
	sk.flags = DB_DBT_USERMEM;
	pk.flags = DB_DBT_USERMEM;
	pd.flags = DB_DBT_USERMEM | DB_DBT_PARTIAL;
	ret = s->exp->pget(s->exp, txn, &sk, &pk, &pd, DB_GET_BOTH);
	if (ret == DB_NOTFOUND) {
		c->out->index_missing++;
		return 0;
	}
	return ret;
}

/* Walks the primary, counting; then, with check_index, sizes the index. */
static int
audit_body(struct store *s, DB_TXN *txn, int64_t now_ms, void *arg,
    int *rollback)
{
	struct audit_ctx *c = arg;
	struct store_audit *a = c->out;
	DB_BTREE_STAT *est = NULL;
	DBC *cur = NULL;
	DBT k, d;
	int64_t expires;
	int ret, tret;

	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.flags = DB_DBT_REALLOC;
	d.flags = DB_DBT_REALLOC;
	if ((ret = s->db->cursor(s->db, txn, &cur, 0)) != 0)
		goto done;
	while ((ret = cur->get(cur, &k, &d, DB_NEXT)) == 0) {
		a->records++;
		if (d.size < HDR_LEN) {
			a->bad_records++;
			continue;
		}
		expires = (int64_t)be64_get(d.data);
		if (expires != 0) {
			c->indexed++;
			if (c->check_index &&
			    (ret = audit_index(s, txn, c, &k, d.data)) != 0)
				break;
		}
		if (is_expired(expires, c->now_ms)) {
			a->expired++;
			continue;
		}
		a->live++;
		a->key_bytes += k.size;
		a->value_bytes += d.size - HDR_LEN;
		if (expires == 0)
			continue;
		a->expiring++;
		if (a->first_expiry == 0 || expires < a->first_expiry)
			a->first_expiry = expires;
		if (expires > a->last_expiry)
			a->last_expiry = expires;
	}
	if (ret == DB_NOTFOUND)
		ret = 0;
	if (ret == 0 && c->check_index &&
	    (ret = s->exp->stat(s->exp, txn, &est, 0)) == 0) {
		if (est->bt_ndata > c->indexed - a->index_missing)
			a->index_extra = est->bt_ndata -
			    (c->indexed - a->index_missing);
		free(est);
	}
done:
	if (cur != NULL && (tret = cur->close(cur)) != 0 && ret == 0)
		ret = tret;
	free(k.data);
	free(d.data);
	return ret;
}

/* Forgets what an aborted walk counted. */
static void
audit_reset(void *arg)
{
	struct audit_ctx *c = arg;

	memset(c->out, 0, sizeof(*c->out));
	c->indexed = 0;
}

/* Counts every record, checking the index if asked (see store.h). */
int
store_audit(struct store *s, int64_t now_ms, int check_index,
    struct store_audit *out)
{
	struct audit_ctx c;

	memset(out, 0, sizeof(*out));
	c.now_ms = now_ms;
	c.check_index = check_index;
	c.indexed = 0;
	c.out = out;
	return store_run(s, RUN_READ_COMMITTED, audit_body, audit_reset, &c,
	    __func__);
}

/* Verifies both database files of a closed environment (see store.h). */
int
store_verify(const char *home)
{
	static const char *const files[] = {
		STORE_PRIMARY_FILE, STORE_EXPIRY_FILE, STORE_META_FILE,
	};
	char path[4096];
	DB *db;
	size_t i;
	int ret;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", home,
		    files[i]) >= sizeof(path)) {
			ret = ENAMETOOLONG;
			goto fail;
		}
		/*
		 * A store of the first release has no meta.db until the
		 * new release opens it (and converts it): nothing to check.
		 */
		if (strcmp(files[i], STORE_META_FILE) == 0 &&
		    access(path, F_OK) != 0 && errno == ENOENT)
			continue;
		if ((ret = db_create(&db, NULL, 0)) != 0)
			goto fail;
		db->set_errcall(db, store_errcall);
		/* The handle is gone after verify, whatever it returns. */
		if ((ret = db->verify(db, path, NULL, NULL, 0)) != 0)
			goto fail;
	}
	return STORE_OK;
fail:
	log_error("%s: %s: %s", __func__, path, db_strerror(ret));
	return STORE_ERROR;
}

struct load_ctx {
	const struct store_item	*items;
	size_t			 n;
};

/* Writes every item with the expiry and version it carries. */
static int
load_body(struct store *s, DB_TXN *txn, int64_t now_ms, void *arg,
    int *rollback)
{
	struct load_ctx *c = arg;
	const struct store_item *it;
	uint64_t version;
	size_t i;
	int ret;

	for (i = 0; i < c->n; i++) {
		it = &c->items[i];
		/* Lines without a version (older dumps) get a new one. */
		version = it->version;
		if (version == 0 && (ret = version_next(s, &version)) != 0)
			return ret;
		if ((ret = rec_put(s, txn, it->key, it->klen, it->val,
		    it->vlen, it->expires, version)) != 0)
			return ret;
	}
	return 0;
}

/* store_load keeps no state between attempts. */
static void
load_reset(void *arg)
{
}

/*
 * Writes items in one transaction, keeping their expiry and version (see
 * store.h).
 */
int
store_load(struct store *s, const struct store_item *items, size_t n)
{
	struct load_ctx c;
	uint64_t top = 0;
	size_t i;
	int ret;

	if (n == 0)
		return STORE_OK;
	for (i = 0; i < n; i++)
		if (items[i].version > top)
			top = items[i].version;
	if (top > VERSION_MAX)
		return STORE_ERROR;
	/*
	 * First the sequence, then the records: a crash in between leaves
	 * numbers unused, never a record whose version the sequence can
	 * hand out again.
	 */
	if ((ret = version_raise(s, top)) != STORE_OK)
		return ret;
	c.items = items;
	c.n = n;
	return store_run(s, 0, load_body, load_reset, &c, __func__);
}

/* Measures the files of a store that need not be open (see store.h). */
int
store_disk_usage(const char *home, struct store_stats *out)
{
	int ret;

	memset(out, 0, sizeof(*out));
	if ((ret = file_sizes(home, out)) != 0) {
		log_error("%s: %s: %s", __func__, home, strerror(ret));
		return STORE_ERROR;
	}
	return STORE_OK;
}
