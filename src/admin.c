/*
 * kvstore-admin: operating a kvstore-fcgi data directory. Hot backup and
 * restore, dump and load as JSON lines, verification and statistics.
 *
 * The service holds an exclusive flock on DATADIR/kvstore.lock while it
 * runs, and keeps its Berkeley DB regions private. So every command first
 * tries that lock: when it is free the service is stopped, the command
 * keeps the lock (no service can start meanwhile) and opens the store
 * itself; when it is held, commands that may run against a live store
 * (backup, dump, stats) work on a copy of its files (backup.c), and the
 * others (restore, load, verify) refuse.
 *
 * Exit status: 0 success, 1 failure, 2 usage.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "buf.h"
#include "codec.h"
#include "log.h"
#include "request.h"
#include "store.h"

#define EXIT_USAGE	2
#define LOCK_FILE	"kvstore.lock"
#define PRIMARY_FILE	"kv.db"
#define LOAD_CHUNK	1000	/* records per load transaction */
#define DUMP_PAGE	1000	/* records per dump transaction */
#define SETTLE_MS	2000	/* a write-mode service flushes its log each second */
#define BACKUP_TRIES	3
#define BAD_LINES_SHOWN	100

struct admin {
	const char	*data_dir;
	size_t		 cache_bytes;
	size_t		 max_value;
	unsigned	 max_depth;
	int		 lock_fd;	/* held on a stopped store, else -1 */
};

/* A store opened for a command, and the copy it may have been taken from. */
struct handle {
	struct store	*store;
	char		*snapshot;	/* temporary copy of a live store, or NULL */
	int		 live;		/* the service is running */
};

typedef int (*command_fn)(struct admin *, int argc, char **argv);

static int	cmd_backup(struct admin *, int, char **);
static int	cmd_restore(struct admin *, int, char **);
static int	cmd_dump(struct admin *, int, char **);
static int	cmd_load(struct admin *, int, char **);
static int	cmd_verify(struct admin *, int, char **);
static int	cmd_stats(struct admin *, int, char **);

static const struct {
	const char	*name;
	command_fn	 fn;
	int		 nargs;		/* operands after the name; -1: 0 or 1 */
	int		 own_dir;	/* an operand names the directory used */
	const char	*args;
	const char	*help;
} commands[] = {
	{ "backup", cmd_backup, 1, 0, "DIR",
	    "hot backup of the store, running or not, into DIR" },
	{ "restore", cmd_restore, 1, 0, "DIR",
	    "restore the backup in DIR into the data directory, which must "
	    "be empty" },
	{ "dump", cmd_dump, 0, 0, "",
	    "write every live key to stdout, one JSON object a line" },
	{ "load", cmd_load, 0, 0, "",
	    "read dump lines from stdin into the stopped store" },
	{ "verify", cmd_verify, -1, 1, "[DIR]",
	    "verify the stopped store, or the backup in DIR" },
	{ "stats", cmd_stats, 0, 0, "",
	    "keys, sizes, log files, expiry range, cache hit rate" },
};

#define NCOMMANDS	(sizeof(commands) / sizeof(commands[0]))

static void __attribute__((format(printf, 1, 2)))
warnx(const char *fmt, ...)
{
	va_list ap;

	fputs("kvstore-admin: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: kvstore-admin [options] COMMAND [DIR]\n\n"
	    "Operates the data directory of kvstore-fcgi, running or not.\n\n"
	    "commands:\n");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %s%s%s\n      %s\n", commands[i].name,
		    *commands[i].args != '\0' ? " " : "", commands[i].args,
		    commands[i].help);
	fprintf(f, "\noptions:\n"
	    "  -d, --data-dir=DIR\n"
	    "      the data directory (env KV_DATA_DIR, else $STATE_DIRECTORY)\n"
	    "  --cache-size=BYTES\n"
	    "      Berkeley DB cache while the store is open (env "
	    "KV_CACHE_SIZE)\n"
	    "  --max-value=BYTES\n"
	    "      load: largest value accepted (env KV_MAX_VALUE, default "
	    "1048576)\n"
	    "  --max-depth=N\n"
	    "      load: deepest JSON nesting accepted (env KV_MAX_DEPTH, "
	    "default 64)\n"
	    "  -h, --help      print this help and exit\n"
	    "  -V, --version   print the version and exit\n\n"
	    "backup, dump and stats work on a running service (on a copy of "
	    "its\nfiles); restore, load and verify need it stopped.\n\n"
	    "exit status: 0 success, 1 failure, 2 usage error\n");
}

/* Parses a size setting; 0 on success. */
static int
parse_size(const char *what, const char *v, size_t min, size_t *out)
{
	size_t n;

	if (req_parse_size(v, strlen(v), &n) != 0 || n < min) {
		warnx("%s: '%s' must be an integer of at least %zu", what, v,
		    min);
		return -1;
	}
	*out = n;
	return 0;
}

/* Returns "dir/name", malloc'd: the caller frees it. */
static char *
path_join(const char *dir, const char *name)
{
	struct buf b;

	buf_init(&b);
	buf_addf(&b, "%s/%s", dir, name);
	return b.data;
}

/* Returns 1 if dir/name exists. */
static int
exists_in(const char *dir, const char *name)
{
	char *p = path_join(dir, name);
	struct stat st;
	int r;

	r = stat(p, &st) == 0;
	free(p);
	return r;
}

/*
 * Tries the service's lock on dir without waiting. Returns 0 with *fd
 * holding it (the service is stopped), 1 if the service holds it, or -1
 * after saying why.
 */
static int
try_lock(const char *dir, int *fd)
{
	char *p = path_join(dir, LOCK_FILE);
	int rc = -1;

	*fd = open(p, O_RDONLY | O_CLOEXEC);
	if (*fd < 0 && errno == ENOENT)
		*fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*fd < 0) {
		warnx("%s: %s", p, strerror(errno));
		goto out;
	}
	if (flock(*fd, LOCK_EX | LOCK_NB) == 0)
		rc = 0;
	else if (errno == EWOULDBLOCK) {
		close(*fd);
		*fd = -1;
		rc = 1;
	} else {
		warnx("%s: %s", p, strerror(errno));
		close(*fd);
		*fd = -1;
	}
out:
	free(p);
	return rc;
}

/* Checks that dir is a store's data directory; says why not. */
static int
check_store_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) != 0) {
		warnx("%s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		warnx("%s: not a directory", dir);
		return -1;
	}
	if (access(dir, R_OK | X_OK) != 0) {
		warnx("%s: %s", dir, strerror(errno));
		return -1;
	}
	if (!exists_in(dir, PRIMARY_FILE)) {
		warnx("%s: not a kvstore-fcgi data directory (no %s)", dir,
		    PRIMARY_FILE);
		return -1;
	}
	return 0;
}

/* Opens the store in dir with the given recovery; 0 or -1 (logged). */
static int
open_store(struct admin *a, const char *dir, enum store_mode mode,
    struct store **s)
{
	struct store_cfg cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.home = dir;
	cfg.durability = STORE_DURABLE_SYNC;
	cfg.cache_bytes = a->cache_bytes;
	cfg.mode = mode;
	if (store_open(&cfg, s) != STORE_OK) {
		warnx("%s: cannot open the store", dir);
		return -1;
	}
	return 0;
}

/* Removes the database and log files of dir, then dir; NULL is ignored. */
static void
remove_copy(const char *dir)
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
 * Brings a fresh copy of a store to a consistent state (catastrophic
 * recovery), checks every record against the index and verifies both
 * database files. Fills *au. Returns 0, or -1 after saying why.
 */
static int
recover_and_check(struct admin *a, const char *dir, struct store_audit *au)
{
	struct store *s;
	int rc;

	if (open_store(a, dir, STORE_MODE_RESTORE, &s) != 0)
		return -1;
	rc = store_audit(s, store_now_ms(), 1, au);
	store_close(s);
	if (rc != STORE_OK) {
		warnx("%s: reading every record failed: %s", dir,
		    store_strerror(rc));
		return -1;
	}
	if (au->bad_records || au->index_missing || au->index_extra) {
		warnx("%s: damaged: %" PRIu64 " bad records, %" PRIu64
		    " records missing from the expiry index, %" PRIu64
		    " index entries without a record", dir, au->bad_records,
		    au->index_missing, au->index_extra);
		return -1;
	}
	if (store_verify(dir) != STORE_OK) {
		warnx("%s: Berkeley DB verification failed", dir);
		return -1;
	}
	return 0;
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
		warnx("%s: %s", b.data, strerror(errno));
		buf_free(&b);
		return -1;
	}
	if (backup_copy_live(a->data_dir, b.data, SETTLE_MS, err,
	    sizeof(err)) != 0) {
		warnx("copying the live store: %s", err);
		goto fail;
	}
	if (recover_and_check(a, b.data, &au) != 0)
		goto fail;
	*out = b.data;
	return 0;
fail:
	remove_copy(b.data);
	buf_free(&b);
	return -1;
}

/*
 * Opens the store for reading: directly when the service is stopped
 * (keeping its lock), else a snapshot of it.
 */
static int
open_for_reading(struct admin *a, struct handle *h)
{
	int r;

	memset(h, 0, sizeof(*h));
	if (check_store_dir(a->data_dir) != 0)
		return -1;
	if ((r = try_lock(a->data_dir, &a->lock_fd)) < 0)
		return -1;
	if (r == 0)
		return open_store(a, a->data_dir, STORE_MODE_OWN, &h->store);
	h->live = 1;
	if (snapshot_live(a, &h->snapshot) != 0)
		return -1;
	return open_store(a, h->snapshot, STORE_MODE_OWN, &h->store);
}

static void
handle_close(struct handle *h)
{
	store_close(h->store);
	h->store = NULL;
	remove_copy(h->snapshot);
	free(h->snapshot);
	h->snapshot = NULL;
}

/* Takes the lock of a store that must be stopped; says why not. */
static int
require_stopped(struct admin *a, const char *why)
{
	int r;

	if ((r = try_lock(a->data_dir, &a->lock_fd)) < 0)
		return -1;
	if (r == 1) {
		warnx("%s: kvstore-fcgi is running; stop it to %s",
		    a->data_dir, why);
		return -1;
	}
	return 0;
}

/*
 * Gives the files of dir that this process created (a lock file, a new
 * log file) to the owner of dir. Run as root on the data directory of a
 * service running as another user, a command would otherwise leave files
 * that service cannot write.
 */
static void
give_back_files(const char *dir)
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
			warnx("%s/%s: chown: %s", dir, e->d_name,
			    strerror(errno));
	}
	closedir(d);
}

/* Formats ms since the epoch as ISO 8601 UTC; 0 as "none". */
static const char *
fmt_time(int64_t ms, char *out, size_t len)
{
	struct tm tm;
	time_t t = (time_t)(ms / 1000);

	if (ms == 0 || gmtime_r(&t, &tm) == NULL)
		snprintf(out, len, "none");
	else
		strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return out;
}

/* backup */

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
			warnx("%s: not a directory", dest);
			return NULL;
		}
		if ((d = opendir(dest)) == NULL) {
			warnx("%s: %s", dest, strerror(errno));
			return NULL;
		}
		while ((e = readdir(d)) != NULL)
			if (strcmp(e->d_name, ".") != 0 &&
			    strcmp(e->d_name, "..") != 0)
				empty = 0;
		closedir(d);
		if (!empty && !exists_in(dest, BACKUP_INFO_FILE)) {
			warnx("%s: neither empty nor an earlier backup; "
			    "refusing to replace it", dest);
			return NULL;
		}
	} else if (errno != ENOENT) {
		warnx("%s: %s", dest, strerror(errno));
		return NULL;
	}
	buf_init(&b);
	buf_addf(&b, "%s.new", dest);
	/* What a failed run left behind is ours to clear. */
	remove_copy(b.data);
	if (mkdir(b.data, 0700) != 0) {
		warnx("%s: %s", b.data, strerror(errno));
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
	char *p = path_join(dir, BACKUP_INFO_FILE);
	FILE *f;
	int fd, rc = -1;

	if ((fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
	    (f = fdopen(fd, "w")) == NULL) {
		warnx("%s: %s", p, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	fprintf(f, "kvstore-backup 1\nversion %s\nsource %s\n"
	    "started_ms %" PRId64 "\nfinished_ms %" PRId64 "\n"
	    "keys %" PRIu64 "\n", PACKAGE_VERSION, source, started,
	    store_now_ms(), au->live);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		warnx("%s: %s", p, strerror(errno));
		fclose(f);
		goto out;
	}
	if (fclose(f) != 0) {
		warnx("%s: %s", p, strerror(errno));
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
		if (backup_copy_live(a->data_dir, stage, SETTLE_MS, err,
		    sizeof(err)) != 0) {
			warnx("copying the live store: %s", err);
			return -1;
		}
	} else {
		if (open_store(a, a->data_dir, STORE_MODE_OWN, &s) != 0)
			return -1;
		rc = store_backup(s, stage);
		store_close(s);
		if (rc != STORE_OK) {
			warnx("%s: backup failed: %s", stage,
			    store_strerror(rc));
			return -1;
		}
	}
	return recover_and_check(a, stage, au);
}

/* Moves the finished stage into place, replacing an earlier backup. */
static int
backup_commit(const char *stage, const char *dest)
{
	remove_copy(dest);
	if (rename(stage, dest) != 0) {
		warnx("rename %s to %s: %s", stage, dest, strerror(errno));
		return -1;
	}
	return 0;
}

static int
cmd_backup(struct admin *a, int argc, char **argv)
{
	struct store_audit au;
	int64_t started = store_now_ms();
	char *stage = NULL, when[32];
	int live, tries, r;

	if (check_store_dir(a->data_dir) != 0)
		return 1;
	if ((r = try_lock(a->data_dir, &a->lock_fd)) < 0)
		return 1;
	live = r == 1;
	if ((stage = backup_target(argv[0])) == NULL)
		return 1;
	/* A live copy whose check fails (a torn read) is simply taken again. */
	for (tries = 1;; tries++) {
		if (backup_once(a, stage, live, &au) == 0)
			break;
		remove_copy(stage);
		if (!live || tries == BACKUP_TRIES ||
		    mkdir(stage, 0700) != 0) {
			warnx("backup of %s failed", a->data_dir);
			free(stage);
			return 1;
		}
		warnx("trying again (%d of %d)", tries + 1, BACKUP_TRIES);
	}
	if (write_info(stage, a->data_dir, started, &au) != 0 ||
	    backup_commit(stage, argv[0]) != 0) {
		remove_copy(stage);
		free(stage);
		return 1;
	}
	free(stage);
	printf("backup of %s (%s) in %s: %" PRIu64 " keys, started %s, "
	    "verified\n", a->data_dir, live ? "running" : "stopped", argv[0],
	    au.live, fmt_time(started, when, sizeof(when)));
	return 0;
}

/* restore */

/*
 * Checks that dir holds nothing but perhaps the lock file (taking the
 * lock), creating it if missing. Says why not.
 */
static int
restore_target(struct admin *a)
{
	struct dirent *e;
	DIR *d;
	int r, other = 0;

	if (mkdir(a->data_dir, 0700) != 0 && errno != EEXIST) {
		warnx("%s: %s", a->data_dir, strerror(errno));
		return -1;
	}
	if ((d = opendir(a->data_dir)) == NULL) {
		warnx("%s: %s", a->data_dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0
		    && strcmp(e->d_name, LOCK_FILE) != 0)
			other = 1;
	closedir(d);
	if ((r = try_lock(a->data_dir, &a->lock_fd)) < 0)
		return -1;
	if (r == 1) {
		warnx("%s: kvstore-fcgi is running on it; refusing to restore "
		    "over a live store", a->data_dir);
		return -1;
	}
	if (other) {
		warnx("%s: not empty; restore only into an empty directory "
		    "(move the old data away first)", a->data_dir);
		return -1;
	}
	return 0;
}

static int
cmd_restore(struct admin *a, int argc, char **argv)
{
	struct store_audit au;
	char err[512];

	if (check_store_dir(argv[0]) != 0)
		return 1;
	if (!exists_in(argv[0], BACKUP_INFO_FILE)) {
		warnx("%s: not a backup made by kvstore-admin (no %s)",
		    argv[0], BACKUP_INFO_FILE);
		return 1;
	}
	if (restore_target(a) != 0)
		return 1;
	if (backup_copy_files(argv[0], a->data_dir, err, sizeof(err)) != 0) {
		warnx("copying %s: %s", argv[0], err);
		goto fail;
	}
	if (recover_and_check(a, a->data_dir, &au) != 0)
		goto fail;
	printf("restored %s into %s: %" PRIu64 " keys, verified\n", argv[0],
	    a->data_dir, au.live);
	return 0;
fail:
	warnx("restore failed; %s holds a partial copy: empty it before "
	    "trying again", a->data_dir);
	return 1;
}

/* dump */

/* Writes one item as a dump line. */
static void
put_line(struct buf *b, const struct store_item *it)
{
	buf_adds(b, "{\"key\":");
	codec_put_str(b, it->key, it->klen);
	buf_adds(b, ",\"value\":");
	buf_add(b, it->val, it->vlen);
	if (it->expires == 0)
		buf_adds(b, ",\"expires\":null}\n");
	else
		buf_addf(b, ",\"expires\":%" PRId64 "}\n", it->expires);
}

static int
cmd_dump(struct admin *a, int argc, char **argv)
{
	struct store_item *items = NULL;
	struct handle h;
	struct buf line;
	char *after = NULL, *next = NULL;
	size_t n = 0, alen = 0, nlen = 0, i;
	int64_t now = store_now_ms();
	int more = 1, rc = 1, r;

	buf_init(&line);
	if (open_for_reading(a, &h) != 0)
		goto out;
	while (more) {
		r = store_list(h.store, "", 0, after, alen, DUMP_PAGE, now,
		    &items, &n, &more, &next, &nlen);
		/* A page may be short, even empty: resume where it stopped. */
		free(after);
		after = next;
		alen = nlen;
		next = NULL;
		if (r != STORE_OK) {
			warnx("reading the store: %s", store_strerror(r));
			goto out;
		}
		for (i = 0; i < n; i++) {
			buf_reset(&line);
			put_line(&line, &items[i]);
			if (fwrite(line.data, 1, line.len, stdout) != line.len) {
				warnx("writing: %s", strerror(errno));
				goto out;
			}
		}
		store_items_free(items, n);
		items = NULL;
		n = 0;
	}
	if (fflush(stdout) != 0) {
		warnx("writing: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	store_items_free(items, n);
	free(after);
	buf_free(&line);
	handle_close(&h);
	return rc;
}

/* load */

struct load_state {
	struct store_item	 items[LOAD_CHUNK];
	size_t			 n;
	unsigned long		 loaded, expired, bad;
	unsigned long		 first_line;	/* of the pending chunk */
};

/*
 * Checks one decoded line with the API's rules. Returns NULL and fills
 * *it (borrowing from bi) when it is good, else the reason.
 */
static const char *
check_item(const struct admin *a, const struct body_item *bi,
    struct store_item *it)
{
	const char *why;

	if (bi->key.st != FIELD_OK)
		return bi->key.st == FIELD_ABSENT || bi->key.st == FIELD_NULL ?
		    "Missing key parameter" : "key must be a string";
	if ((why = req_key_check(bi->key.s, bi->key.len)) != NULL)
		return why;
	if (bi->value.st != FIELD_OK)
		return "value missing or null";
	if (bi->value.len > a->max_value)
		return "value too large";
	if (bi->expires.st == FIELD_BADTYPE ||
	    (bi->expires.st == FIELD_OK && bi->expires.v <= 0))
		return "expires must be a positive integer (ms since the "
		    "epoch) or null";
	it->key = bi->key.s;
	it->klen = bi->key.len;
	it->val = bi->value.text;
	it->vlen = bi->value.len;
	it->expires = bi->expires.st == FIELD_OK ? bi->expires.v : 0;
	return NULL;
}

/* Commits the pending chunk; frees its copies either way. */
static int
load_flush(struct store *s, struct load_state *ls, unsigned long line)
{
	size_t i;
	int r;

	r = store_load(s, ls->items, ls->n);
	for (i = 0; i < ls->n; i++) {
		free(ls->items[i].key);
		free(ls->items[i].val);
	}
	if (r != STORE_OK) {
		warnx("lines %lu-%lu: %s; nothing of them was written, "
		    "everything before was", ls->first_line, line,
		    store_strerror(r));
		ls->n = 0;
		return -1;
	}
	ls->loaded += ls->n;
	ls->n = 0;
	return 0;
}

static int
cmd_load(struct admin *a, int argc, char **argv)
{
	struct load_state *ls;
	struct body_item bi;
	struct store_item it;
	struct store *s = NULL;
	const char *why;
	char *buf = NULL, err[256];
	size_t cap = 0, len;
	ssize_t got;
	unsigned long lineno = 0;
	int64_t now = store_now_ms();
	int rc = 1;

	ls = xcalloc(1, sizeof(*ls));
	if (mkdir(a->data_dir, 0700) != 0 && errno != EEXIST) {
		warnx("%s: %s", a->data_dir, strerror(errno));
		goto out;
	}
	if (require_stopped(a, "load into it") != 0 ||
	    open_store(a, a->data_dir, STORE_MODE_OWN, &s) != 0)
		goto out;
	while ((got = getline(&buf, &cap, stdin)) > 0) {
		lineno++;
		len = (size_t)got;
		if (buf[len - 1] == '\n')
			len--;
		if (len == 0)
			continue;
		if (codec_decode_item(buf, len, a->max_depth, &bi, err,
		    sizeof(err)) != 0)
			why = err;
		else if ((why = check_item(a, &bi, &it)) == NULL &&
		    it.expires != 0 && it.expires <= now) {
			ls->expired++;
			codec_item_free(&bi);
			continue;
		}
		if (why != NULL) {
			if (++ls->bad <= BAD_LINES_SHOWN)
				warnx("line %lu: %s", lineno, why);
			codec_item_free(&bi);
			continue;
		}
		/* The chunk keeps the strings; bi lets go of them. */
		if (ls->n == 0)
			ls->first_line = lineno;
		ls->items[ls->n++] = it;
		bi.key.s = NULL;
		bi.value.text = NULL;
		codec_item_free(&bi);
		if (ls->n == LOAD_CHUNK && load_flush(s, ls, lineno) != 0)
			goto out;
	}
	if (ferror(stdin)) {
		warnx("reading stdin: %s", strerror(errno));
		goto out;
	}
	if (ls->n > 0 && load_flush(s, ls, lineno) != 0)
		goto out;
	if (ls->bad > BAD_LINES_SHOWN)
		warnx("%lu more bad lines not shown",
		    ls->bad - BAD_LINES_SHOWN);
	printf("loaded %lu keys from %lu lines; %lu already expired, %lu "
	    "bad\n", ls->loaded, lineno, ls->expired, ls->bad);
	rc = ls->bad > 0 ? 1 : 0;
out:
	store_close(s);
	free(buf);
	free(ls);
	return rc;
}

/* verify */

static int
cmd_verify(struct admin *a, int argc, char **argv)
{
	struct store_audit au;
	struct store *s;
	const char *dir = argc > 0 ? argv[0] : a->data_dir;
	int r;

	if (check_store_dir(dir) != 0)
		return 1;
	if (argc > 0 && exists_in(dir, BACKUP_INFO_FILE)) {
		/* A finished backup is consistent as it is: read only. */
		if (store_verify(dir) != STORE_OK) {
			warnx("%s: Berkeley DB verification failed", dir);
			return 1;
		}
		printf("%s: backup verified\n", dir);
		return 0;
	}
	a->data_dir = dir;
	if (require_stopped(a, "verify it (or verify a backup of it)") != 0 ||
	    open_store(a, dir, STORE_MODE_OWN, &s) != 0)
		return 1;
	r = store_audit(s, store_now_ms(), 1, &au);
	store_close(s);
	if (r != STORE_OK) {
		warnx("%s: reading every record failed: %s", dir,
		    store_strerror(r));
		return 1;
	}
	if (au.bad_records || au.index_missing || au.index_extra) {
		warnx("%s: damaged: %" PRIu64 " bad records, %" PRIu64
		    " records missing from the expiry index, %" PRIu64
		    " index entries without a record", dir, au.bad_records,
		    au.index_missing, au.index_extra);
		return 1;
	}
	if (store_verify(dir) != STORE_OK) {
		warnx("%s: Berkeley DB verification failed", dir);
		return 1;
	}
	printf("%s: verified, %" PRIu64 " records, expiry index consistent\n",
	    dir, au.records);
	return 0;
}

/* stats */

static int
cmd_stats(struct admin *a, int argc, char **argv)
{
	struct store_stats st, live_st;
	struct store_audit au;
	struct handle h;
	char t1[32], t2[32];
	int rc = 1, r;

	if (open_for_reading(a, &h) != 0)
		goto out;
	if ((r = store_audit(h.store, store_now_ms(), 0, &au)) != STORE_OK) {
		warnx("reading the store: %s", store_strerror(r));
		goto out;
	}
	(void)store_stats(h.store, 0, &st);
	/* Disk use is that of the data directory, not of a snapshot. */
	if (h.live && store_disk_usage(a->data_dir, &live_st) == STORE_OK) {
		st.data_bytes = live_st.data_bytes;
		st.log_bytes = live_st.log_bytes;
		st.log_files = live_st.log_files;
	}
	printf("service %s\n", h.live ? "running" : "stopped");
	printf("keys %" PRIu64 "\n", au.live);
	printf("keys_expiring %" PRIu64 "\n", au.expiring);
	printf("keys_expired_unswept %" PRIu64 "\n", au.expired);
	printf("key_bytes %" PRIu64 "\n", au.key_bytes);
	printf("value_bytes %" PRIu64 "\n", au.value_bytes);
	printf("first_expiry %s\n", fmt_time(au.first_expiry, t1, sizeof(t1)));
	printf("last_expiry %s\n", fmt_time(au.last_expiry, t2, sizeof(t2)));
	printf("data_bytes %" PRIu64 "\n", st.data_bytes);
	printf("log_bytes %" PRIu64 "\n", st.log_bytes);
	printf("log_files %" PRIu64 "\n", st.log_files);
	/* A freshly opened cache says nothing about the service's. */
	if (h.live)
		printf("cache_hit_rate n/a (private to the service: see "
		    "kvstore_cache_hits_total in GET /metrics)\n");
	else if (st.cache_hits + st.cache_misses == 0)
		printf("cache_hit_rate n/a\n");
	else
		printf("cache_hit_rate %.4f (this command's own reads)\n",
		    (double)st.cache_hits /
		    (double)(st.cache_hits + st.cache_misses));
	rc = 0;
out:
	handle_close(&h);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "cache-size", required_argument, NULL, 'c' },
		{ "max-value", required_argument, NULL, 'm' },
		{ "max-depth", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct admin a;
	const char *v;
	size_t i, n;
	int ch, nargs, rc;

	memset(&a, 0, sizeof(a));
	a.lock_fd = -1;
	a.max_value = 1048576;
	a.max_depth = 64;
	if ((v = getenv("STATE_DIRECTORY")) != NULL && *v != '\0')
		a.data_dir = v;
	if ((v = getenv("KV_DATA_DIR")) != NULL && *v != '\0')
		a.data_dir = v;
	if ((v = getenv("KV_CACHE_SIZE")) != NULL && *v != '\0' &&
	    parse_size("KV_CACHE_SIZE", v, 1 << 20, &a.cache_bytes) != 0)
		return EXIT_USAGE;
	if ((v = getenv("KV_MAX_VALUE")) != NULL && *v != '\0' &&
	    parse_size("KV_MAX_VALUE", v, 16, &a.max_value) != 0)
		return EXIT_USAGE;
	if ((v = getenv("KV_MAX_DEPTH")) != NULL && *v != '\0') {
		if (parse_size("KV_MAX_DEPTH", v, 2, &n) != 0 || n > 1000)
			return EXIT_USAGE;
		a.max_depth = (unsigned)n;
	}
	while ((ch = getopt_long(argc, argv, "+d:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			a.data_dir = optarg;
			break;
		case 'c':
			if (parse_size("--cache-size", optarg, 1 << 20,
			    &a.cache_bytes) != 0)
				return EXIT_USAGE;
			break;
		case 'm':
			if (parse_size("--max-value", optarg, 16,
			    &a.max_value) != 0)
				return EXIT_USAGE;
			break;
		case 'D':
			if (parse_size("--max-depth", optarg, 2, &n) != 0 ||
			    n > 1000)
				return EXIT_USAGE;
			a.max_depth = (unsigned)n;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("kvstore-admin %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(argv[0], commands[i].name) == 0)
			break;
	if (i == NCOMMANDS) {
		warnx("unknown command '%s' (see kvstore-admin --help)",
		    argv[0]);
		return EXIT_USAGE;
	}
	nargs = argc - 1;
	if (commands[i].nargs >= 0 ? nargs != commands[i].nargs : nargs > 1) {
		warnx("usage: kvstore-admin %s %s", commands[i].name,
		    commands[i].args);
		return EXIT_USAGE;
	}
	if (a.data_dir == NULL && !(commands[i].own_dir && nargs > 0)) {
		warnx("no data directory: give --data-dir, or set KV_DATA_DIR "
		    "or STATE_DIRECTORY");
		return EXIT_USAGE;
	}
	/* The store logs through log.c: keep its chatter to problems. */
	log_set_name("kvstore-admin");
	log_set_level(LOG_LVL_WARN);
	rc = commands[i].fn(&a, nargs, argv + 1) == 0 ? 0 : 1;
	/* Holding the lock means this process opened the store itself. */
	if (a.lock_fd >= 0)
		give_back_files(a.data_dir);
	return rc;
}
