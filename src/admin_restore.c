/*
 * admin_restore: `kvstore-admin restore DIR`, the backup in DIR copied into
 * an empty data directory and recovered.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "backup.h"

/*
 * Checks that dir holds nothing but perhaps the lock files (taking the
 * service's lock), creating it if missing. Says why not.
 */
static int
restore_target(struct admin *a)
{
	struct dirent *e;
	DIR *d;
	int r, other = 0;

	if (mkdir(a->data_dir, 0700) != 0 && errno != EEXIST) {
		admin_warn("%s: %s", a->data_dir, strerror(errno));
		return -1;
	}
	if ((d = opendir(a->data_dir)) == NULL) {
		admin_warn("%s: %s", a->data_dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0
		    && strcmp(e->d_name, STORE_LOCK_FILE) != 0 &&
		    strcmp(e->d_name, BACKUP_LOGS_LOCK_FILE) != 0)
			other = 1;
	closedir(d);
	if ((r = admin_try_lock(a->data_dir, &a->lock_fd)) < 0)
		return -1;
	if (r == 1) {
		admin_warn("%s: kvstore-fcgi is running on it; refusing to restore "
		    "over a live store", a->data_dir);
		return -1;
	}
	if (other) {
		admin_warn("%s: not empty; restore only into an empty directory "
		    "(move the old data away first)", a->data_dir);
		return -1;
	}
	return 0;
}

/* Restores the backup in argv[0] into the empty data directory. */
static int
cmd_restore(struct admin *a, int argc, char **argv)
{
	struct store_audit au;
	char err[512];

	if (admin_check_store_dir(argv[0]) != 0)
		return 1;
	if (!admin_exists_in(argv[0], BACKUP_INFO_FILE)) {
		admin_warn("%s: not a backup made by kvstore-admin (no %s)",
		    argv[0], BACKUP_INFO_FILE);
		return 1;
	}
	if (restore_target(a) != 0)
		return 1;
	if (backup_copy_files(argv[0], a->data_dir, err, sizeof(err)) != 0) {
		admin_warn("copying %s: %s", argv[0], err);
		goto fail;
	}
	if (admin_recover_and_check(a, a->data_dir, &au) != 0)
		goto fail;
	printf("restored %s into %s: %" PRIu64 " keys, verified\n", argv[0],
	    a->data_dir, au.live);
	return 0;
fail:
	admin_warn("restore failed; %s holds a partial copy: empty it before "
	    "trying again", a->data_dir);
	return 1;
}

const struct admin_cmd admin_restore_cmd = {
	.name = "restore", .fn = cmd_restore, .nargs = 1, .args = "DIR",
	.help = "restore the backup in DIR into the data directory, which "
	    "must be empty",
};
