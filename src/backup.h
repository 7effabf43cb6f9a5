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
 * - a shared flock on home/BACKUP_LOGS_LOCK_FILE is held from the start
 *   to the end: the service removes log files only while it holds that
 *   lock exclusively (see backup_logs_lock_try), so no log file written
 *   during the copy, however long it takes, can vanish before it is
 *   copied;
 * - every log file is hard-linked into a staging directory inside home,
 *   locked by this copy, at the start and again at the end;
 * - the database files are copied in chunks that are each read twice
 *   until both reads agree, so that no page is copied half-written;
 * - after at least settle_ms since the start (the service in write mode
 *   flushes its log once a second), the log files are copied last, from
 *   the first one present at the start to the last one, so they cover
 *   every page copied before.
 *
 * Staging directories that interrupted copies left behind (no running
 * copy holds their lock) are removed first. Everything is fsync'ed. This
 * copy's staging directory is removed whatever happens. Returns 0, or -1
 * with the reason in err.
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

/*
 * The lock that pauses log file removal in a store's home while a hot
 * backup copies it: backups hold it shared, the service exclusively only
 * while it removes log files.
 */
#define BACKUP_LOGS_LOCK_FILE	"kvstore-logs.lock"

/*
 * For the service, before it removes log files it no longer needs: takes
 * the log lock of home exclusively, without waiting. Returns a descriptor
 * holding it (close it once the files are removed), or -1 with errno set:
 * EWOULDBLOCK while a hot backup holds it (remove nothing then), anything
 * else if the lock file cannot be opened.
 */
int	backup_logs_lock_try(const char *home);

/*
 * Removes the staging directories in home that interrupted hot backups
 * left behind, and only those: a running backup holds a lock on its own.
 * Returns how many were removed.
 */
int	backup_clean_staging(const char *home);

/* The file kvstore-admin writes into every finished backup. */
#define BACKUP_INFO_FILE	"kvstore-backup.info"

#endif
