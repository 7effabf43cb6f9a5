/*
 * admin_backup: `kvstore-admin backup DIR`, a verified copy of the store,
 * running or not, that replaces an earlier backup in DIR.
 *
 * A backup never leaves the user with fewer good backups than before,
 * wherever it fails or is killed. The new copy is made and verified in
 * DIR.new, and marked finished by its info file, written last. Only then
 * is the earlier backup moved aside to DIR.old, DIR.new moved to DIR, and
 * DIR.old removed; each rename is made durable before the next step. A
 * run that finds DIR missing finishes the swap an interrupted run left:
 * it moves a finished DIR.new in, or else DIR.old back. A verified copy
 * is never removed on a failure, and a target holding anything that is
 * not part of a backup is refused before anything is touched.
 *
 * For tests only, KV_TEST_BACKUP_KILL_AT=STEP makes the command kill
 * itself with SIGKILL at a step: copied, verified, moved-aside, moved-in.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "backup.h"
#include "buf.h"

#define BACKUP_TRIES	3

/* What a directory a backup may replace or leave behind holds. */
enum dir_kind {
	DIR_ABSENT,
	DIR_EMPTY,
	DIR_BACKUP,	/* backup files, the info file among them: finished */
	DIR_PARTIAL,	/* backup files only, no info file: unfinished */
	DIR_FOREIGN,	/* anything else: never ours to replace or remove */
};

/* The three places of one backup: DIR, DIR.new and DIR.old, malloc'd. */
struct places {
	char	*dest;
	char	*stage;
	char	*old;
};

/* Stops here with SIGKILL when a test asks for this step (see above). */
static void
kill_point(const char *step)
{
	const char *v = getenv("KV_TEST_BACKUP_KILL_AT");

	if (v != NULL && strcmp(v, step) == 0)
		(void)kill(getpid(), SIGKILL);
}

/*
 * Tells what path holds. For DIR_FOREIGN, what names the first thing that
 * is not part of a backup. Returns -1 after saying why it cannot tell.
 */
static int
dir_kind(const char *path, enum dir_kind *kind, char *what, size_t wlen)
{
	struct dirent *e;
	struct stat st;
	DIR *d;
	int info = 0, files = 0;

	*what = '\0';
	if (lstat(path, &st) != 0) {
		if (errno != ENOENT) {
			admin_warn("%s: %s", path, strerror(errno));
			return -1;
		}
		*kind = DIR_ABSENT;
		return 0;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(what, wlen, "%s", "not a directory");
		*kind = DIR_FOREIGN;
		return 0;
	}
	if ((d = opendir(path)) == NULL) {
		admin_warn("%s: %s", path, strerror(errno));
		return -1;
	}
	*kind = DIR_EMPTY;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (!backup_is_store_file(e->d_name) ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0
		    || !S_ISREG(st.st_mode)) {
			snprintf(what, wlen, "%s", e->d_name);
			*kind = DIR_FOREIGN;
			break;
		}
		files = 1;
		if (strcmp(e->d_name, BACKUP_INFO_FILE) == 0)
			info = 1;
	}
	closedir(d);
	if (*kind != DIR_FOREIGN && files)
		*kind = info ? DIR_BACKUP : DIR_PARTIAL;
	return 0;
}

/* Fsyncs a directory, so that renames and new files in it are durable. */
static int
fsync_dir(const char *path)
{
	int fd, rc = 0;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fsync(fd) != 0) {
		admin_warn("fsync %s: %s", path, strerror(errno));
		rc = -1;
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Fsyncs the directory that holds path. */
static int
fsync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int rc;

	if (slash == NULL)
		return fsync_dir(".");
	if (slash == path)
		return fsync_dir("/");
	dir = xmemdup(path, (size_t)(slash - path));
	rc = fsync_dir(dir);
	free(dir);
	return rc;
}

/* Renames from to to and makes it durable; says why not. */
static int
move(const char *from, const char *to)
{
	if (rename(from, to) != 0) {
		admin_warn("rename %s to %s: %s", from, to, strerror(errno));
		return -1;
	}
	return fsync_parent(to);
}

/* Fills p with DIR (without trailing slashes), DIR.new and DIR.old. */
static void
places_init(struct places *p, const char *dir)
{
	size_t n = strlen(dir);
	struct buf b;

	while (n > 1 && dir[n - 1] == '/')
		n--;
	p->dest = xmemdup(dir, n);
	buf_init(&b);
	buf_addf(&b, "%s.new", p->dest);
	p->stage = b.data;
	buf_init(&b);
	buf_addf(&b, "%s.old", p->dest);
	p->old = b.data;
}

static void
places_free(struct places *p)
{
	free(p->dest);
	free(p->stage);
	free(p->old);
}

/*
 * Replaces the backup in DIR (if any) by the finished DIR.new: DIR to
 * DIR.old, DIR.new to DIR, DIR.old removed. On a failure the new backup
 * stays in DIR.new and the earlier one in DIR (or DIR.old): says where.
 */
static int
commit(const struct places *p)
{
	struct stat st;
	int aside = 0;

	if (lstat(p->dest, &st) == 0) {
		if (move(p->dest, p->old) != 0)
			goto fail;
		aside = 1;
		kill_point("moved-aside");
	}
	if (move(p->stage, p->dest) != 0) {
		if (aside && rename(p->old, p->dest) == 0)
			aside = 0;
		goto fail;
	}
	kill_point("moved-in");
	if (aside) {
		admin_remove_copy(p->old);
		if (lstat(p->old, &st) == 0)
			admin_warn("%s: could not remove the earlier backup; "
			    "remove it by hand", p->old);
	}
	return 0;
fail:
	admin_warn("the new backup is verified and kept in %s; the earlier "
	    "one is in %s", p->stage, aside ? p->old : p->dest);
	return -1;
}

/*
 * Checks the three places and puts right what an interrupted run left,
 * then creates an empty DIR.new. Refuses, touching nothing, when any of
 * them holds something not part of a backup, or DIR holds an unfinished
 * one. Returns 0, or -1 after saying why.
 */
static int
prepare(const struct places *p)
{
	const char *names[3] = { p->dest, p->stage, p->old };
	enum dir_kind k[3];
	char what[256];
	int i;

	for (i = 0; i < 3; i++) {
		if (dir_kind(names[i], &k[i], what, sizeof(what)) != 0)
			return -1;
		if (k[i] == DIR_FOREIGN) {
			admin_warn("%s: holds %s, which is not part of a "
			    "kvstore-admin backup; refusing to replace it "
			    "(nothing was changed)", names[i], what);
			return -1;
		}
	}
	if (k[0] == DIR_PARTIAL) {
		admin_warn("%s: holds store files but no %s, so it is not a "
		    "finished backup; refusing to replace it (nothing was "
		    "changed)", p->dest, BACKUP_INFO_FILE);
		return -1;
	}
	if (k[1] == DIR_BACKUP) {
		/*
		 * A finished, verified copy that an interrupted run did not
		 * move in yet: the newest backup there is. Finish that run
		 * first; DIR.old, if any, is older than both.
		 */
		admin_warn("%s: finishing an interrupted backup: moving %s "
		    "into place", p->dest, p->stage);
		if (k[0] != DIR_ABSENT && k[2] != DIR_ABSENT) {
			admin_remove_copy(p->old);
			k[2] = DIR_ABSENT;
		}
		if (commit(p) != 0)
			return -1;
		k[0] = DIR_BACKUP;
		k[1] = DIR_ABSENT;
	} else if (k[0] != DIR_BACKUP && k[2] == DIR_BACKUP) {
		/* DIR moved aside by an interrupted run: move it back. */
		admin_warn("%s: undoing an interrupted backup: moving %s back",
		    p->dest, p->old);
		if (k[0] == DIR_EMPTY && rmdir(p->dest) != 0) {
			admin_warn("%s: %s", p->dest, strerror(errno));
			return -1;
		}
		if (move(p->old, p->dest) != 0)
			return -1;
		k[0] = DIR_BACKUP;
		k[2] = DIR_ABSENT;
	}
	/*
	 * Now DIR holds the newest finished backup, if there is any. What is
	 * left in DIR.new is an unfinished copy, and in DIR.old a backup DIR
	 * superseded or what remains of one being removed.
	 */
	if (k[1] != DIR_ABSENT)
		admin_remove_copy(p->stage);
	if (k[2] != DIR_ABSENT)
		admin_remove_copy(p->old);
	if (mkdir(p->stage, 0700) != 0) {
		admin_warn("%s: %s", p->stage, strerror(errno));
		return -1;
	}
	return 0;
}

/* Writes the description of a finished backup into dir. */
static int
write_info(const char *dir, const char *source, int64_t started,
    const struct store_audit *au)
{
	char *p = admin_path(dir, BACKUP_INFO_FILE);
	FILE *f;
	int fd, rc = -1;

	if ((fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
	    (f = fdopen(fd, "w")) == NULL) {
		admin_warn("%s: %s", p, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	fprintf(f, "kvstore-backup 1\nversion %s\nsource %s\n"
	    "started_ms %" PRId64 "\nfinished_ms %" PRId64 "\n"
	    "keys %" PRIu64 "\n", PACKAGE_VERSION, source, started,
	    store_now_ms(), au->live);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		admin_warn("%s: %s", p, strerror(errno));
		fclose(f);
		goto out;
	}
	if (fclose(f) != 0) {
		admin_warn("%s: %s", p, strerror(errno));
		goto out;
	}
	rc = fsync_dir(dir);
out:
	free(p);
	return rc;
}

/* Makes one attempt at a copy of the store into stage, not yet checked. */
static int
copy_once(struct admin *a, const char *stage, int live)
{
	struct store *s;
	char err[512];
	int rc;

	if (live) {
		if (backup_copy_live(a->data_dir, stage, ADMIN_SETTLE_MS, err,
		    sizeof(err)) != 0) {
			admin_warn("copying the live store: %s", err);
			return -1;
		}
		return 0;
	}
	if (admin_open_store(a, a->data_dir, STORE_MODE_OWN, &s) != 0)
		return -1;
	rc = store_backup(s, stage);
	store_close(s);
	if (rc != STORE_OK) {
		admin_warn("%s: backup failed: %s", stage, store_strerror(rc));
		return -1;
	}
	return 0;
}

/* Backs the store up into argv[0], replacing an earlier backup there. */
static int
cmd_backup(struct admin *a, int argc, char **argv)
{
	struct store_audit au;
	struct places p;
	int64_t started = store_now_ms();
	char when[32];
	int live, tries, r, rc = 1;

	if (admin_check_store_dir(a->data_dir) != 0)
		return 1;
	if ((r = admin_try_lock(a->data_dir, &a->lock_fd)) < 0)
		return 1;
	live = r == 1;
	places_init(&p, argv[0]);
	if (prepare(&p) != 0)
		goto out;
	/*
	 * A live copy whose check fails (a torn read) is simply taken again.
	 * Until its info file is written, DIR.new is not a backup: removing
	 * it on a failure loses nothing.
	 */
	for (tries = 1;; tries++) {
		if (copy_once(a, p.stage, live) == 0) {
			kill_point("copied");
			if (admin_recover_and_check(a, p.stage, &au) == 0)
				break;
		}
		admin_remove_copy(p.stage);
		if (!live || tries == BACKUP_TRIES ||
		    mkdir(p.stage, 0700) != 0) {
			admin_warn("backup of %s failed; %s is unchanged",
			    a->data_dir, p.dest);
			goto out;
		}
		admin_warn("trying again (%d of %d)", tries + 1, BACKUP_TRIES);
	}
	if (write_info(p.stage, a->data_dir, started, &au) != 0) {
		admin_remove_copy(p.stage);
		admin_warn("backup of %s failed; %s is unchanged", a->data_dir,
		    p.dest);
		goto out;
	}
	kill_point("verified");
	if (commit(&p) != 0)
		goto out;
	printf("backup of %s (%s) in %s: %" PRIu64 " keys, started %s, "
	    "verified\n", a->data_dir, live ? "running" : "stopped", p.dest,
	    au.live, admin_fmt_time(started, when, sizeof(when)));
	rc = 0;
out:
	places_free(&p);
	return rc;
}

const struct admin_cmd admin_backup_cmd = {
	.name = "backup", .fn = cmd_backup, .nargs = 1, .args = "DIR",
	.help = "hot backup of the store, running or not, into DIR",
};
