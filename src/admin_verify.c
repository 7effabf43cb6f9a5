/*
 * admin_verify: `kvstore-admin verify [DIR]`, Berkeley DB's verification
 * and a check of every record against the expiry index, on the stopped
 * store or a backup.
 */
#include <inttypes.h>
#include <stdio.h>

#include "admin.h"
#include "backup.h"

/*
 * Verifies a backup read-only (it is consistent as it is), or the stopped
 * store after taking its lock.
 */
static int
cmd_verify(struct admin *a, int argc, char **argv)
{
	struct store_audit au;
	const char *dir = argc > 0 ? argv[0] : a->data_dir;

	if (admin_check_store_dir(dir) != 0)
		return 1;
	if (argc > 0 && admin_exists_in(dir, BACKUP_INFO_FILE)) {
		if (store_verify(dir) != STORE_OK) {
			admin_warn("%s: Berkeley DB verification failed", dir);
			return 1;
		}
		printf("%s: backup verified\n", dir);
		return 0;
	}
	a->data_dir = dir;
	if (admin_require_stopped(a, "verify it (or verify a backup of it)")
	    != 0 || admin_check_store(a, dir, STORE_MODE_OWN, &au) != 0)
		return 1;
	printf("%s: verified, %" PRIu64 " records, expiry index consistent\n",
	    dir, au.records);
	return 0;
}

const struct admin_cmd admin_verify_cmd = {
	.name = "verify", .fn = cmd_verify, .nargs = -1, .own_dir = 1,
	.args = "[DIR]",
	.help = "verify the stopped store, or the backup in DIR",
};
