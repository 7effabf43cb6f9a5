/*
 * admin_backup: `kvstore-admin backup DIR`, a verified copy of the store,
 * running or not, that replaces an earlier backup in DIR.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "backup.h"
#include "buf.h"

#define BACKUP_TRIES	3

/*
 * Decides where a backup into dest is staged: dest must not exist, be
 * empty, or hold an earlier backup. Returns the staging path (dest.new,
 * malloc'd) or NULL after saying why.
 */
static char *
backup_target(const char *dest)
{
	struct dirent *e;
	struct stat st;
	struct buf b;
	DIR *d;
	int empty = 1;

	if (stat(dest, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			admin_warn("%s: not a directory", dest);
			return NULL;
		}
		if ((d = opendir(dest)) == NULL) {
			admin_warn("%s: %s", dest, strerror(errno));
			return NULL;
		}
		while ((e = readdir(d)) != NULL)
			if (strcmp(e->d_name, ".") != 0 &&
			    strcmp(e->d_name, "..") != 0)
				empty = 0;
		closedir(d);
		if (!empty && !admin_exists_in(dest, BACKUP_INFO_FILE)) {
			admin_warn("%s: neither empty nor an earlier backup; "
			    "refusing to replace it", dest);
			return NULL;
		}
	} else if (errno != ENOENT) {
		admin_warn("%s: %s", dest, strerror(errno));
		return NULL;
	}
	buf_init(&b);
	buf_addf(&b, "%s.new", dest);
	/* What a failed run left behind is ours to clear. */
	admin_remove_copy(b.data);
	if (mkdir(b.data, 0700) != 0) {
		admin_warn("%s: %s", b.data, strerror(errno));
		buf_free(&b);
		return NULL;
	}
	return b.data;
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
	rc = 0;
out:
	free(p);
	return rc;
}

/* Makes one attempt at a backup of the store into stage. */
static int
backup_once(struct admin *a, const char *stage, int live,
    struct store_audit *au)
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
	} else {
		if (admin_open_store(a, a->data_dir, STORE_MODE_OWN, &s) != 0)
			return -1;
		rc = store_backup(s, stage);
		store_close(s);
		if (rc != STORE_OK) {
			admin_warn("%s: backup failed: %s", stage,
			    store_strerror(rc));
			return -1;
		}
	}
	return admin_recover_and_check(a, stage, au);
}

/* Moves the finished stage into place, replacing an earlier backup. */
static int
backup_commit(const char *stage, const char *dest)
{
	admin_remove_copy(dest);
	if (rename(stage, dest) != 0) {
		admin_warn("rename %s to %s: %s", stage, dest, strerror(errno));
		return -1;
	}
	return 0;
}

/* Backs the store up into argv[0], replacing an earlier backup there. */
static int
cmd_backup(struct admin *a, int argc, char **argv)
{
	struct store_audit au;
	int64_t started = store_now_ms();
	char *stage = NULL, when[32];
	int live, tries, r;

	if (admin_check_store_dir(a->data_dir) != 0)
		return 1;
	if ((r = admin_try_lock(a->data_dir, &a->lock_fd)) < 0)
		return 1;
	live = r == 1;
	if ((stage = backup_target(argv[0])) == NULL)
		return 1;
	/* A live copy whose check fails (a torn read) is simply taken again. */
	for (tries = 1;; tries++) {
		if (backup_once(a, stage, live, &au) == 0)
			break;
		admin_remove_copy(stage);
		if (!live || tries == BACKUP_TRIES ||
		    mkdir(stage, 0700) != 0) {
			admin_warn("backup of %s failed", a->data_dir);
			free(stage);
			return 1;
		}
		admin_warn("trying again (%d of %d)", tries + 1, BACKUP_TRIES);
	}
	if (write_info(stage, a->data_dir, started, &au) != 0 ||
	    backup_commit(stage, argv[0]) != 0) {
		admin_remove_copy(stage);
		free(stage);
		return 1;
	}
	free(stage);
	printf("backup of %s (%s) in %s: %" PRIu64 " keys, started %s, "
	    "verified\n", a->data_dir, live ? "running" : "stopped", argv[0],
	    au.live, admin_fmt_time(started, when, sizeof(when)));
	return 0;
}

const struct admin_cmd admin_backup_cmd = {
	.name = "backup", .fn = cmd_backup, .nargs = 1, .args = "DIR",
	.help = "hot backup of the store, running or not, into DIR",
};
