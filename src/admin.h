/*
 * admin: what kvstore-admin's commands share. admin.c parses the options
 * and runs one row of its command table; admin_dir.c holds the data
 * directory protocol every command follows; each command lives in its
 * own admin_<name>.c and exports one struct admin_cmd.
 *
 * Adding a command: write admin_<name>.c defining
 * `const struct admin_cmd admin_<name>_cmd`, add one row to the table in
 * admin.c, and the file to kvstore_admin_SOURCES in Makefile.am.
 *
 * Every function here reports its own failures on stderr (admin_warn)
 * and returns -1; callers only pass the failure up.
 */
#ifndef KV_ADMIN_H
#define KV_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define ADMIN_EXIT_USAGE	2	/* a command's fn may return it */
#define ADMIN_NARGS_ANY		(-2)	/* the command checks its operands */
#define ADMIN_SETTLE_MS	2000	/* a write-mode service flushes its log each second */

/* The options every command sees. */
struct admin {
	const char	*data_dir;
	size_t		 cache_bytes;
	size_t		 max_value;
	unsigned	 max_depth;
	int		 lock_fd;	/* held on a stopped store, else -1 */
};

/*
 * One command: its name and operands, its help line, and the function
 * that runs it with the operands after the name. The function returns 0
 * on success; anything else is exit status 1.
 */
struct admin_cmd {
	const char	*name;
	int		(*fn)(struct admin *, int argc, char **argv);
	int		 nargs;		/* operands after the name; -1: 0 or 1 */
	int		 own_dir;	/* an operand names the directory used */
	int		 no_store;	/* needs no data directory (token) */
	const char	*args;
	const char	*help;
};

/* A store opened for a command, and the copy it may have been taken from. */
struct admin_handle {
	struct store	*store;
	char		*snapshot;	/* temporary copy of a live store, or NULL */
	int		 live;		/* the service is running */
};

/* Prints "kvstore-admin: " and the message to stderr. */
void	admin_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Returns "dir/name", malloc'd: the caller frees it. */
char	*admin_path(const char *dir, const char *name);

/* Returns 1 if dir/name exists. */
int	admin_exists_in(const char *dir, const char *name);

/* Formats ms since the epoch as ISO 8601 UTC into out; 0 as "none". */
const char *admin_fmt_time(int64_t ms, char *out, size_t len);

/*
 * Tries the service's lock on dir without waiting. Returns 0 with *fd
 * holding it (the service is stopped), 1 if the service holds it, or -1
 * after saying why.
 */
int	admin_try_lock(const char *dir, int *fd);

/* Takes the lock of a store that must be stopped; says why not. */
int	admin_require_stopped(struct admin *, const char *why);

/* Checks that dir is a store's data directory; says why not. */
int	admin_check_store_dir(const char *dir);

/* Opens the store in dir with the given recovery; 0 or -1 (said). */
int	admin_open_store(struct admin *, const char *dir, enum store_mode,
	    struct store **);

/*
 * Opens the store in dir with the given recovery, checks every record
 * against the expiry index, closes it and verifies both database files.
 * Fills *au. Returns 0, or -1 after saying why.
 */
int	admin_check_store(struct admin *, const char *dir, enum store_mode,
	    struct store_audit *au);

/*
 * Brings a fresh copy of a store to a consistent state (catastrophic
 * recovery) and checks it as admin_check_store does.
 */
int	admin_recover_and_check(struct admin *, const char *dir,
	    struct store_audit *au);

/* Removes the database and log files of dir, then dir; NULL is ignored. */
void	admin_remove_copy(const char *dir);

/*
 * Opens the store for reading: directly when the service is stopped
 * (keeping its lock), else a verified snapshot of it in $TMPDIR.
 */
int	admin_open_for_reading(struct admin *, struct admin_handle *);

/* Closes the store and removes its snapshot, if any. */
void	admin_handle_close(struct admin_handle *);

/*
 * Gives the files of dir that this process created (a lock file, a new
 * log file) to the owner of dir, when run as root.
 */
void	admin_give_back_files(const char *dir);

#endif
