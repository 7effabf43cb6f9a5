/*
 * backup: copying a store's files, while its service runs or not. Only
 * files and directories here: Berkeley DB itself is store.c's business.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "buf.h"
#include "store.h"

#define CHUNK		(64 * 1024)
#define REREADS_MAX	1000	/* a chunk still changing after this: give up */
#define STAGING		".kvstore-backup.XXXXXX"
#define STAGING_PREFIX	".kvstore-backup."
#define STAGING_TRIES	10

/* The database files store.c creates, copied first. */
/* meta.db holds the format marker and the version sequence. */
static const char *const db_files[] = {
	STORE_PRIMARY_FILE, STORE_EXPIRY_FILE, STORE_META_FILE,
};

static void __attribute__((format(printf, 3, 4)))
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int
backup_is_store_file(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(db_files) / sizeof(db_files[0]); i++)
		if (strcmp(name, db_files[i]) == 0)
			return 1;
	return store_is_log_file(name) || strcmp(name, BACKUP_INFO_FILE) == 0;
}

/* Writes all of p[0..n) at off. Returns 0 or -1 with errno set. */
static int
pwrite_all(int fd, const char *p, size_t n, off_t off)
{
	ssize_t w;

	while (n > 0) {
		if ((w = pwrite(fd, p, n, off)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

/* Returns 1 if p[0..n) holds only zero bytes. */
static int
all_zero(const char *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* Reads up to n bytes at off, retrying short reads until EOF. */
static ssize_t
pread_full(int fd, char *p, size_t n, off_t off)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		if ((r = pread(fd, p + got, n - got, off + (off_t)got)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/*
 * For tests only: KV_TEST_BACKUP_DELAY_MS=N makes a live copy sleep N ms
 * before each chunk of a database file, so that a test can stretch a hot
 * backup over many checkpoints, or kill it while it copies.
 */
static void
test_delay(void)
{
	const char *v = getenv("KV_TEST_BACKUP_DELAY_MS");
	struct timespec ts;
	long ms;

	if (v == NULL || (ms = strtol(v, NULL, 10)) <= 0 || ms > 60000)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	nanosleep(&ts, NULL);
}

/*
 * Copies name from sdir to ddir (created 0600, must not exist) to the
 * end of the source, then fsyncs it. With stable, each chunk is read
 * again until two reads agree: a page the service writes meanwhile is
 * never copied half old, half new.
 */
static int
copy_one(int sdir, int ddir, const char *name, int stable, char *err,
    size_t errlen)
{
	char *a = NULL, *b = NULL;
	ssize_t na, nb;
	off_t off = 0;
	int sfd = -1, dfd = -1, tries, rc = -1;

	a = xmalloc(CHUNK);
	b = xmalloc(CHUNK);
	if ((sfd = openat(sdir, name, O_RDONLY | O_CLOEXEC)) < 0) {
		set_err(err, errlen, "%s: %s", name, strerror(errno));
		goto fail;
	}
	if ((dfd = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) < 0) {
		set_err(err, errlen, "create %s: %s", name, strerror(errno));
		goto fail;
	}
	for (;;) {
		if (stable)
			test_delay();
		if ((na = pread_full(sfd, a, CHUNK, off)) < 0)
			goto read_fail;
		for (tries = 0; stable && na > 0; tries++) {
			if (tries == REREADS_MAX) {
				set_err(err, errlen, "%s: keeps changing at "
				    "offset %lld", name, (long long)off);
				goto fail;
			}
			if ((nb = pread_full(sfd, b, CHUNK, off)) < 0)
				goto read_fail;
			if (nb == na && memcmp(a, b, (size_t)na) == 0)
				break;
			memcpy(a, b, (size_t)nb);
			na = nb;
		}
		if (na == 0)
			break;
		/* Keep holes: BDB creates its log files sparse, at full size. */
		if (!all_zero(a, (size_t)na) &&
		    pwrite_all(dfd, a, (size_t)na, off) != 0) {
			set_err(err, errlen, "write %s: %s", name,
			    strerror(errno));
			goto fail;
		}
		off += na;
	}
	if (ftruncate(dfd, off) != 0 || fsync(dfd) != 0) {
		set_err(err, errlen, "fsync %s: %s", name, strerror(errno));
		goto fail;
	}
	rc = 0;
	goto fail;
read_fail:
	set_err(err, errlen, "read %s: %s", name, strerror(errno));
fail:
	if (sfd >= 0)
		close(sfd);
	if (dfd >= 0 && close(dfd) != 0 && rc == 0) {
		set_err(err, errlen, "close %s: %s", name, strerror(errno));
		rc = -1;
	}
	free(a);
	free(b);
	return rc;
}

/*
 * Opens a stream over the entries of the directory dfd, from the first,
 * leaving dfd itself open. Returns NULL with errno set on failure.
 */
static DIR *
dir_stream(int dfd)
{
	DIR *d;
	int fd, saved;

	if ((fd = dup(dfd)) < 0)
		return NULL;
	if ((d = fdopendir(fd)) == NULL) {
		saved = errno;
		close(fd);
		errno = saved;
		return NULL;
	}
	rewinddir(d);
	return d;
}

/*
 * Hard-links every log file of hdir into sdir; one already linked or
 * removed meanwhile (no longer needed) is skipped.
 */
static int
link_logs(int hdir, int sdir, char *err, size_t errlen)
{
	struct dirent *e;
	DIR *d;
	int rc = 0;

	if ((d = dir_stream(hdir)) == NULL) {
		set_err(err, errlen, "read directory: %s", strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (!store_is_log_file(e->d_name))
			continue;
		if (linkat(hdir, e->d_name, sdir, e->d_name, 0) != 0 &&
		    errno != EEXIST && errno != ENOENT) {
			set_err(err, errlen, "link %s: %s", e->d_name,
			    strerror(errno));
			rc = -1;
			break;
		}
	}
	closedir(d);
	return rc;
}

/* Copies every file of sdir that keep() accepts into ddir. */
static int
copy_matching(int sdir, int ddir, int (*keep)(const char *), char *err,
    size_t errlen)
{
	struct dirent *e;
	DIR *d;
	int rc = 0;

	if ((d = dir_stream(sdir)) == NULL) {
		set_err(err, errlen, "read directory: %s", strerror(errno));
		return -1;
	}
	while (rc == 0 && (e = readdir(d)) != NULL)
		if (keep(e->d_name))
			rc = copy_one(sdir, ddir, e->d_name, 0, err, errlen);
	closedir(d);
	return rc;
}

/* Removes every entry of the staging directory, then the directory. */
static void
remove_staging(int hdir, const char *name)
{
	struct dirent *e;
	DIR *d;
	int fd;

	if ((fd = openat(hdir, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		if ((d = fdopendir(fd)) != NULL) {
			while ((e = readdir(d)) != NULL)
				if (store_is_log_file(e->d_name))
					(void)unlinkat(dirfd(d), e->d_name, 0);
			closedir(d);
		} else
			close(fd);
	}
	(void)unlinkat(hdir, name, AT_REMOVEDIR);
}

/* flock() that waits through signals. Returns 0 or -1 with errno set. */
static int
flock_wait(int fd, int op)
{
	int r;

	while ((r = flock(fd, op)) != 0 && errno == EINTR)
		;
	return r;
}

/* Opens (creating it if needed) the log lock of the store in hdir. */
static int
open_logs_lock(int hdir)
{
	return openat(hdir, BACKUP_LOGS_LOCK_FILE, O_RDONLY | O_CREAT |
	    O_CLOEXEC, 0644);
}

/* Takes the log lock of home for removing log files (see backup.h). */
int
backup_logs_lock_try(const char *home)
{
	int hdir, fd, saved;

	if ((hdir = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	fd = open_logs_lock(hdir);
	saved = errno;
	close(hdir);
	if (fd < 0) {
		errno = saved;
		return -1;
	}
	if (flock_wait(fd, LOCK_EX | LOCK_NB) != 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/*
 * Removes the staging directories in hdir that no running backup holds.
 * A running backup holds an exclusive flock on its staging directory
 * from before it links anything into it until it has removed it, so one
 * we can lock is left over from a backup that was killed. Returns how
 * many were removed.
 */
static int
clean_staging(int hdir)
{
	struct dirent *e;
	DIR *d;
	int sfd, n = 0;

	if ((d = dir_stream(hdir)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, STAGING_PREFIX, strlen(STAGING_PREFIX))
		    != 0 || strlen(e->d_name) != strlen(STAGING))
			continue;
		if ((sfd = openat(hdir, e->d_name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC)) < 0)
			continue;
		if (flock(sfd, LOCK_EX | LOCK_NB) == 0) {
			remove_staging(hdir, e->d_name);
			n++;
		}
		close(sfd);
	}
	closedir(d);
	return n;
}

/* Removes what interrupted backups left in home (see backup.h). */
int
backup_clean_staging(const char *home)
{
	int hdir, n;

	if ((hdir = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return 0;
	n = clean_staging(hdir);
	close(hdir);
	return n;
}

/*
 * Creates a staging directory in home and locks it (see clean_staging).
 * A cleaner may remove a new directory between its creation and our
 * lock; a directory found unlinked once locked is therefore made again.
 * Fills name (STAGING's size) and *sdir. Returns 0, or -1 with err set.
 */
static int
make_staging(const char *home, int hdir, char *name, int *sdir, char *err,
    size_t errlen)
{
	char path[4096];
	struct stat st;
	int tries;

	for (tries = 0; tries < STAGING_TRIES; tries++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", home,
		    STAGING) >= sizeof(path) || mkdtemp(path) == NULL) {
			set_err(err, errlen, "%s: cannot create a staging "
			    "directory: %s", home, strerror(errno));
			return -1;
		}
		memcpy(name, path + strlen(path) - strlen(STAGING),
		    strlen(STAGING) + 1);
		if ((*sdir = openat(hdir, name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC)) < 0)
			continue;
		if (flock_wait(*sdir, LOCK_EX) == 0 && fstat(*sdir, &st) == 0
		    && st.st_nlink > 0)
			return 0;
		close(*sdir);
		*sdir = -1;
	}
	set_err(err, errlen, "%s: cannot hold a staging directory", home);
	return -1;
}

/* Milliseconds on the monotonic clock. */
static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps until the monotonic clock reads at least until_ms. */
static void
sleep_until(long long until_ms)
{
	struct timespec ts;
	long long left;

	while ((left = until_ms - mono_ms()) > 0) {
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000;
		nanosleep(&ts, NULL);
	}
}

/* Copies a live store: databases first, then the log (see backup.h). */
int
backup_copy_live(const char *home, const char *dest, unsigned settle_ms,
    char *err, size_t errlen)
{
	char staging[sizeof(STAGING)];
	long long start = mono_ms();
	int hdir = -1, ddir = -1, sdir = -1, lfd = -1, rc = -1;
	size_t i;

	if ((hdir = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		set_err(err, errlen, "%s: %s", home, strerror(errno));
		goto out;
	}
	if ((ddir = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		set_err(err, errlen, "%s: %s", dest, strerror(errno));
		goto out;
	}
	/*
	 * From here to the end the service removes no log file: whatever
	 * log file appears while the databases are copied is still there
	 * to be linked and copied after them.
	 */
	if ((lfd = open_logs_lock(hdir)) < 0 ||
	    flock_wait(lfd, LOCK_SH) != 0) {
		set_err(err, errlen, "%s/%s: %s", home, BACKUP_LOGS_LOCK_FILE,
		    strerror(errno));
		goto out;
	}
	(void)clean_staging(hdir);
	/* Links must live on the store's file system: stage inside home. */
	if (make_staging(home, hdir, staging, &sdir, err, errlen) != 0)
		goto out;
	if (link_logs(hdir, sdir, err, errlen) != 0)
		goto out;
	for (i = 0; i < sizeof(db_files) / sizeof(db_files[0]); i++)
		if (copy_one(hdir, ddir, db_files[i], 1, err, errlen) != 0)
			goto out;
	sleep_until(start + settle_ms);
	if (link_logs(hdir, sdir, err, errlen) != 0 ||
	    copy_matching(sdir, ddir, store_is_log_file, err, errlen) != 0)
		goto out;
	if (fsync(ddir) != 0) {
		set_err(err, errlen, "fsync %s: %s", dest, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (sdir >= 0) {
		/* Removed while still locked: no cleaner races us. */
		remove_staging(hdir, staging);
		close(sdir);
	}
	if (lfd >= 0)
		close(lfd);
	if (hdir >= 0)
		close(hdir);
	if (ddir >= 0)
		close(ddir);
	return rc;
}

/* A database or log file: what a restore copies. */
static int
is_data_file(const char *name)
{
	return backup_is_store_file(name) &&
	    strcmp(name, BACKUP_INFO_FILE) != 0;
}

/* Copies a stopped store's or a backup's files (see backup.h). */
int
backup_copy_files(const char *src, const char *dest, char *err,
    size_t errlen)
{
	int sdir = -1, ddir = -1, rc = -1;

	if ((sdir = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		set_err(err, errlen, "%s: %s", src, strerror(errno));
		goto fail;
	}
	if ((ddir = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		set_err(err, errlen, "%s: %s", dest, strerror(errno));
		goto fail;
	}
	if (copy_matching(sdir, ddir, is_data_file, err, errlen) != 0)
		goto fail;
	if (fsync(ddir) != 0) {
		set_err(err, errlen, "fsync %s: %s", dest, strerror(errno));
		goto fail;
	}
	rc = 0;
fail:
	if (sdir >= 0)
		close(sdir);
	if (ddir >= 0)
		close(ddir);
	return rc;
}
