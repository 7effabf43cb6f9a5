/*
 * admin_dir: the data directory protocol every kvstore-admin command
 * follows.
 *
 * The service holds an exclusive flock on DATADIR/kvstore.lock while it
 * runs, and keeps its Berkeley DB regions private. So every command first
 * tries that lock: when it is free the service is stopped, the command
 * keeps the lock (no service can start meanwhile) and opens the store
 * itself; when it is held, commands that may run against a live store
 * (backup, dump, stats) work on a copy of its files (backup.c), and the
 * others (restore, load, verify) refuse.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "backup.h"
#include "buf.h"

void
admin_warn(const char *fmt, ...)
{
	va_list ap;

	fputs("kvstore-admin: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

char *
admin_path(const char *dir, const char *name)
{
	struct buf b;

	buf_init(&b);
	buf_addf(&b, "%s/%s", dir, name);
	return b.data;
}

int
admin_exists_in(const char *dir, const char *name)
{
	char *p = admin_path(dir, name);
	struct stat st;
	int r;

	r = stat(p, &st) == 0;
	free(p);
	return r;
}

const char *
admin_fmt_time(int64_t ms, char *out, size_t len)
{
	struct tm tm;
	time_t t = (time_t)(ms / 1000);

	if (ms == 0 || gmtime_r(&t, &tm) == NULL)
		snprintf(out, len, "none");
	else
		strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return out;
}

int
admin_try_lock(const char *dir, int *fd)
{
	char *p = admin_path(dir, STORE_LOCK_FILE);
	int rc = -1;

	*fd = open(p, O_RDONLY | O_CLOEXEC);
	if (*fd < 0 && errno == ENOENT)
		*fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*fd < 0) {
		admin_warn("%s: %s", p, strerror(errno));
		goto out;
	}
	if (flock(*fd, LOCK_EX | LOCK_NB) == 0)
		rc = 0;
	else if (errno == EWOULDBLOCK) {
		close(*fd);
		*fd = -1;
		rc = 1;
	} else {
		admin_warn("%s: %s", p, strerror(errno));
		close(*fd);
		*fd = -1;
	}
out:
	free(p);
	return rc;
}

int
admin_require_stopped(struct admin *a, const char *why)
{
	int r;

	if ((r = admin_try_lock(a->data_dir, &a->lock_fd)) < 0)
		return -1;
	if (r == 1) {
		admin_warn("%s: kvstore-fcgi is running; stop it to %s",
		    a->data_dir, why);
		return -1;
	}
	return 0;
}

int
admin_check_store_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) != 0) {
		admin_warn("%s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		admin_warn("%s: not a directory", dir);
		return -1;
	}
	if (access(dir, R_OK | X_OK) != 0) {
		admin_warn("%s: %s", dir, strerror(errno));
		return -1;
	}
	if (!admin_exists_in(dir, STORE_PRIMARY_FILE)) {
		admin_warn("%s: not a kvstore-fcgi data directory (no %s)", dir,
		    STORE_PRIMARY_FILE);
		return -1;
	}
	return 0;
}

int
admin_open_store(struct admin *a, const char *dir, enum store_mode mode,
    struct store **s)
{
	struct store_cfg cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.home = dir;
	cfg.durability = STORE_DURABLE_SYNC;
	cfg.cache_bytes = a->cache_bytes;
	cfg.mode = mode;
	if (store_open(&cfg, s) != STORE_OK) {
		admin_warn("%s: cannot open the store", dir);
		return -1;
	}
	return 0;
}

int
admin_check_store(struct admin *a, const char *dir, enum store_mode mode,
    struct store_audit *au)
{
	struct store *s;
	int rc;

	if (admin_open_store(a, dir, mode, &s) != 0)
		return -1;
	rc = store_audit(s, store_now_ms(), 1, au);
	store_close(s);
	if (rc != STORE_OK) {
		admin_warn("%s: reading every record failed: %s", dir,
		    store_strerror(rc));
		return -1;
	}
	if (au->bad_records || au->index_missing || au->index_extra) {
		admin_warn("%s: damaged: %" PRIu64 " bad records, %" PRIu64
		    " records missing from the expiry index, %" PRIu64
		    " index entries without a record", dir, au->bad_records,
		    au->index_missing, au->index_extra);
		return -1;
	}
	if (store_verify(dir) != STORE_OK) {
		admin_warn("%s: Berkeley DB verification failed", dir);
		return -1;
	}
	return 0;
}

int
admin_recover_and_check(struct admin *a, const char *dir,
    struct store_audit *au)
{
	return admin_check_store(a, dir, STORE_MODE_RESTORE, au);
}

void
admin_remove_copy(const char *dir)
{
	struct dirent *e;
	DIR *d;

	if (dir == NULL || (d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL)
		if (backup_is_store_file(e->d_name))
			(void)unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	(void)rmdir(dir);
}

/*
 * Makes a consistent, verified copy of the live store in a new temporary
 * directory under $TMPDIR (or /tmp); *out is its malloc'd path.
 */
static int
snapshot_live(struct admin *a, char **out)
{
	struct store_audit au;
	const char *tmp = getenv("TMPDIR");
	char err[512];
	struct buf b;

	buf_init(&b);
	buf_addf(&b, "%s/kvstore-snapshot.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(b.data) == NULL) {
		admin_warn("%s: %s", b.data, strerror(errno));
		buf_free(&b);
		return -1;
	}
	if (backup_copy_live(a->data_dir, b.data, ADMIN_SETTLE_MS, err,
	    sizeof(err)) != 0) {
		admin_warn("copying the live store: %s", err);
		goto fail;
	}
	if (admin_recover_and_check(a, b.data, &au) != 0)
		goto fail;
	*out = b.data;
	return 0;
fail:
	admin_remove_copy(b.data);
	buf_free(&b);
	return -1;
}

int
admin_open_for_reading(struct admin *a, struct admin_handle *h)
{
	int r;

	memset(h, 0, sizeof(*h));
	if (admin_check_store_dir(a->data_dir) != 0)
		return -1;
	if ((r = admin_try_lock(a->data_dir, &a->lock_fd)) < 0)
		return -1;
	if (r == 0)
		return admin_open_store(a, a->data_dir, STORE_MODE_OWN,
		    &h->store);
	h->live = 1;
	if (snapshot_live(a, &h->snapshot) != 0)
		return -1;
	return admin_open_store(a, h->snapshot, STORE_MODE_OWN, &h->store);
}

void
admin_handle_close(struct admin_handle *h)
{
	store_close(h->store);
	h->store = NULL;
	admin_remove_copy(h->snapshot);
	free(h->snapshot);
	h->snapshot = NULL;
}

/*
 * Run as root on the data directory of a service running as another
 * user, a command would otherwise leave files that service cannot write.
 */
void
admin_give_back_files(const char *dir)
{
	struct dirent *e;
	struct stat dst, st;
	DIR *d;

	if (geteuid() != 0 || stat(dir, &dst) != 0 || dst.st_uid == 0 ||
	    (d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode) || st.st_uid == dst.st_uid)
			continue;
		if (fchownat(dirfd(d), e->d_name, dst.st_uid, dst.st_gid,
		    AT_SYMLINK_NOFOLLOW) != 0)
			admin_warn("%s/%s: chown: %s", dir, e->d_name,
			    strerror(errno));
	}
	closedir(d);
}
