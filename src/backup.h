/*
 * backup: file-level copies of a store's data directory for kvstore-admin.
 *
 * The service keeps its Berkeley DB regions private to its process (see
 * store.c), so no other process can join its environment to take a hot
 * backup. backup_copy_live() copies the files instead, in the order the
 * Berkeley DB manual gives for a hot backup: the database files first,
 * then every log file; catastrophic recovery of the copy (STORE_MODE_RESTORE)
 * then brings it to a consistent state holding every transaction whose
 * log records were on disk when the log was copied.
 */
#ifndef KV_BACKUP_H
#define KV_BACKUP_H

#include <stddef.h>

/*
 * Copies the store in home into dest, an existing empty directory, while
 * the service may go on writing:
 *
 * - every log file is first hard-linked into a staging directory inside
 *   home, so that the service removing a log file it no longer needs
 *   (DB_LOG_AUTO_REMOVE) cannot take it from the copy;
 * - the database files are copied in chunks that are each read twice
 *   until both reads agree, so that no page is copied half-written;
 * - after at least settle_ms since the start (the service in write mode
 *   flushes its log once a second), the log files, linked again to catch
 *   new ones, are copied last, so they cover every page copied before.
 *
 * Everything is fsync'ed. The staging directory is removed whatever
 * happens. Returns 0, or -1 with the reason in err.
 */
int	backup_copy_live(const char *home, const char *dest,
	    unsigned settle_ms, char *err, size_t errlen);

/*
 * Copies the database and log files of the stopped store or backup in
 * src into dest, an existing directory, fsync'ing them. Returns 0, or -1
 * with the reason in err.
 */
int	backup_copy_files(const char *src, const char *dest, char *err,
	    size_t errlen);

/*
 * Returns 1 if name is a file a backup consists of: a database file, a
 * log file, or the description written by kvstore-admin.
 */
int	backup_is_store_file(const char *name);

/* The file kvstore-admin writes into every finished backup. */
#define BACKUP_INFO_FILE	"kvstore-backup.info"

#endif
