/*
 * kvstore-admin token: add, list and revoke the access tokens of the
 * service's tokens file (format and parsing in token.c, shared with the
 * service).
 *
 * The file is rewritten whole, atomically: a temporary file in the same
 * directory, fsync, rename over the old one, fsync of the directory. The
 * service, which re-reads the file when its inode or times change, thus
 * sees either the old list or the new one, never half a file. Two admin
 * runs at once are serialized by an flock on the directory, so neither
 * loses the other's change.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "request.h"
#include "token.h"

#ifndef KV_SYSCONFDIR
#define KV_SYSCONFDIR	"/etc"
#endif
#define TOKENS_DEFAULT	KV_SYSCONFDIR "/kvstore-fcgi/tokens"
#define TOKENS_MODE	0644	/* hashes only: readable by the service's user */

struct token_opts {
	const char	*file;
	unsigned	 rights;
	char		**prefixes;
	size_t		 nprefixes;
};

/* The directory of path, malloc'd. */
static char *
dir_of(const char *path)
{
	char *copy = xmemdup(path, strlen(path)), *d;

	d = xmemdup(dirname(copy), strlen(dirname(copy)));
	free(copy);
	return d;
}

/*
 * Locks the directory of the tokens file against other admin runs.
 * Returns the descriptor to close, or -1 after saying why.
 */
static int
lock_dir(const char *file)
{
	char *dir = dir_of(file);
	int fd;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		admin_warn("%s: %s", dir, strerror(errno));
		goto out;
	}
	if (flock(fd, LOCK_EX) != 0) {
		admin_warn("%s: cannot lock: %s", dir, strerror(errno));
		close(fd);
		fd = -1;
	}
out:
	free(dir);
	return fd;
}

/*
 * Reads the tokens file into l. A missing file is an empty list when
 * missing_ok (token add creates it), else an error. Returns 0, or -1
 * after saying why; a malformed file is never rewritten.
 */
static int
read_tokens(const char *file, int missing_ok, struct token_list *l)
{
	char err[600];

	if (token_load(file, l, err, sizeof(err)) == 0)
		return 0;
	if (missing_ok && access(file, F_OK) != 0 && errno == ENOENT) {
		l->v = NULL;
		l->n = 0;
		return 0;
	}
	admin_warn("%s", err);
	return -1;
}

/*
 * Writes l to file atomically (see the top of this file), keeping the
 * mode of the file it replaces. Returns 0, or -1 after saying why, with
 * the old file untouched.
 */
static int
write_tokens(const char *file, const struct token_list *l)
{
	char *dir = dir_of(file), *tmp = NULL;
	mode_t mode = TOKENS_MODE;
	struct stat st;
	struct buf b;
	size_t off = 0;
	ssize_t n;
	int fd = -1, dfd = -1, rc = -1;

	buf_init(&b);
	token_format(l, &b);
	if (stat(file, &st) == 0)
		mode = st.st_mode & 07777;
	tmp = xmalloc(strlen(file) + 8);
	sprintf(tmp, "%s.XXXXXX", file);
	if ((fd = mkstemp(tmp)) < 0) {
		admin_warn("%s: %s", tmp, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if (fchmod(fd, mode) != 0) {
		admin_warn("%s: %s", tmp, strerror(errno));
		goto out;
	}
	while (off < b.len) {
		if ((n = write(fd, b.data + off, b.len - off)) < 0) {
			if (errno == EINTR)
				continue;
			admin_warn("%s: %s", tmp, strerror(errno));
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		admin_warn("%s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, file) != 0) {
		admin_warn("%s: %s", file, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	/* The rename is durable once the directory is. */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp != NULL) {
		unlink(tmp);
		free(tmp);
	}
	free(dir);
	buf_free(&b);
	return rc;
}

static void
print_list(const struct token_list *l)
{
	char rights[64], when[32], hex[2 * TOKEN_HASH_BYTES + 1];
	struct buf pre;
	size_t i, j;
	time_t t;
	struct tm tm;

	printf("%-20s %-18s %-24s %-20s %s\n", "NAME", "RIGHTS", "PREFIXES",
	    "CREATED", "HASH");
	for (i = 0; i < l->n; i++) {
		token_rights_str(l->v[i].rights, rights, sizeof(rights));
		t = (time_t)l->v[i].created;
		if (gmtime_r(&t, &tm) == NULL ||
		    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
			strcpy(when, "?");
		/* Enough of the hash to tell lines apart, never all of it. */
		for (j = 0; j < 4; j++)
			snprintf(hex + 2 * j, 3, "%02x", l->v[i].hash[j]);
		buf_init(&pre);
		token_format_prefixes(&l->v[i], &pre);
		printf("%-20s %-18s %-24s %-20s sha256:%s...\n", l->v[i].name,
		    rights, pre.data, when, hex);
		buf_free(&pre);
	}
}

/*
 * Parses the options of a token subcommand (argv[0] is its name) into o;
 * the operands are left in argv[optind..argc). 0, or -1 after saying why.
 */
static int
parse_opts(int argc, char **argv, struct token_opts *o)
{
	static const struct option longopts[] = {
		{ "read", no_argument, NULL, 'r' },
		{ "write", no_argument, NULL, 'w' },
		{ "metrics", no_argument, NULL, 'm' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "tokens-file", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	const char *v;
	int ch;

	memset(o, 0, sizeof(*o));
	o->file = TOKENS_DEFAULT;
	if ((v = getenv("KV_TOKENS_FILE")) != NULL && *v != '\0')
		o->file = v;
	o->prefixes = xcalloc((size_t)argc + 1, sizeof(*o->prefixes));
	optind = 0;
	opterr = 0;	/* getopt would name the subcommand as the program */
	while ((ch = getopt_long(argc, argv, "f:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			o->rights |= TOKEN_READ;
			break;
		case 'w':
			o->rights |= TOKEN_WRITE;
			break;
		case 'm':
			o->rights |= TOKEN_METRICS;
			break;
		case 'p':
			o->prefixes[o->nprefixes++] = optarg;
			break;
		case 'f':
			o->file = optarg;
			break;
		default:
			admin_warn("token %s: unknown option or missing value: "
			    "%s", argv[0], argv[optind - 1]);
			return -1;
		}
	}
	return 0;
}

/* Fills t's prefixes from the options: none or "" means every key. */
static int
set_prefixes(struct token *t, const struct token_opts *o)
{
	const char *why;
	size_t i, n = 0;
	int every = o->nprefixes == 0;

	for (i = 0; i < o->nprefixes; i++) {
		if (o->prefixes[i][0] == '\0') {
			every = 1;
			continue;
		}
		if ((why = req_key_check(o->prefixes[i],
		    strlen(o->prefixes[i]))) != NULL) {
			admin_warn("--prefix '%s': %s", o->prefixes[i], why +
			    (strncmp(why, "Invalid key: ", 13) == 0 ? 13 : 0));
			return -1;
		}
	}
	if (o->nprefixes > TOKEN_PREFIXES_MAX) {
		admin_warn("at most %d prefixes", TOKEN_PREFIXES_MAX);
		return -1;
	}
	t->prefixes = xcalloc(every ? 1 : o->nprefixes, sizeof(*t->prefixes));
	if (every) {
		t->prefixes[0].s = xmemdup("", 0);
		t->nprefixes = 1;
		return 0;
	}
	for (i = 0; i < o->nprefixes; i++, n++) {
		t->prefixes[n].len = strlen(o->prefixes[i]);
		t->prefixes[n].s = xmemdup(o->prefixes[i], t->prefixes[n].len);
	}
	t->nprefixes = n;
	return 0;
}

static int
token_add(const struct token_opts *o, const char *name)
{
	char text[TOKEN_TEXT_LEN + 1], rights[64];
	struct token_list l = { NULL, 0 };
	struct token *t;
	int lock = -1, rc = -1;

	if (token_name_check(name, strlen(name)) != 0) {
		admin_warn("invalid token name '%s': 1 to %d letters, digits, "
		    "'.', '_' or '-'", name, TOKEN_NAME_MAX);
		return -1;
	}
	if (o->rights == 0) {
		admin_warn("token %s: give at least one of --read, --write, "
		    "--metrics", name);
		return -1;
	}
	if ((lock = lock_dir(o->file)) < 0)
		return -1;
	if (read_tokens(o->file, 1, &l) != 0)
		goto out;
	if (token_find(&l, name) >= 0) {
		admin_warn("%s: a token named %s exists already (revoke it "
		    "first)", o->file, name);
		goto out;
	}
	l.v = xrealloc(l.v, (l.n + 1) * sizeof(*l.v));
	t = &l.v[l.n++];
	memset(t, 0, sizeof(*t));
	t->name = xmemdup(name, strlen(name));
	t->rights = o->rights;
	t->created = (int64_t)time(NULL);
	if (set_prefixes(t, o) != 0)
		goto out;
	token_generate(text, t->hash);
	if (write_tokens(o->file, &l) != 0)
		goto out;
	/* The secret alone on stdout, so that $(...) captures it. */
	printf("%s\n", text);
	fflush(stdout);
	token_rights_str(t->rights, rights, sizeof(rights));
	admin_warn("token %s (%s, %s) added to %s. It is shown only this "
	    "once. The service accepts it within a second (at once after "
	    "systemctl reload kvstore-fcgi).", name, rights,
	    t->prefixes[0].len == 0 ? "every key" : "limited to its prefixes",
	    o->file);
	rc = 0;
out:
	memset(text, 0, sizeof(text));
	token_list_free(&l);
	if (lock >= 0)
		close(lock);
	return rc;
}

static int
token_revoke(const struct token_opts *o, const char *name)
{
	struct token_list l = { NULL, 0 };
	struct token gone;
	int lock, rc = -1;
	long i;

	if ((lock = lock_dir(o->file)) < 0)
		return -1;
	if (read_tokens(o->file, 0, &l) != 0)
		goto out;
	if ((i = token_find(&l, name)) < 0) {
		admin_warn("%s: no token named %s", o->file, name);
		goto out;
	}
	gone = l.v[i];
	memmove(&l.v[i], &l.v[i + 1], (l.n - (size_t)i - 1) * sizeof(*l.v));
	l.v[l.n - 1] = gone;	/* still freed with the list */
	l.n--;
	if (write_tokens(o->file, &l) != 0) {
		l.n++;
		goto out;
	}
	l.n++;
	admin_warn("token %s revoked in %s. The service refuses it within a "
	    "second (at once after systemctl reload kvstore-fcgi).", name,
	    o->file);
	rc = 0;
out:
	token_list_free(&l);
	close(lock);
	return rc;
}

static int
token_list_cmd(const struct token_opts *o)
{
	struct token_list l = { NULL, 0 };

	if (read_tokens(o->file, 0, &l) != 0)
		return -1;
	print_list(&l);
	token_list_free(&l);
	return fflush(stdout) == 0 ? 0 : -1;
}

static int
usage_error(void)
{
	admin_warn("usage: kvstore-admin token add NAME [--read] [--write] "
	    "[--metrics] [--prefix P]... | token list | token revoke NAME "
	    "(each with [--tokens-file FILE])");
	return ADMIN_EXIT_USAGE;
}

static int
cmd_token(struct admin *a, int argc, char **argv)
{
	struct token_opts o;
	const char *sub;
	int rc = -1, nops;

	if (argc < 1)
		return usage_error();
	if (token_init() != 0) {
		admin_warn("libsodium failed to initialize");
		return -1;
	}
	sub = argv[0];
	if (parse_opts(argc, argv, &o) != 0) {
		free(o.prefixes);
		return usage_error();
	}
	nops = argc - optind;
	if (strcmp(sub, "add") == 0 && nops == 1)
		rc = token_add(&o, argv[optind]);
	else if (strcmp(sub, "revoke") == 0 && nops == 1 && o.rights == 0 &&
	    o.nprefixes == 0)
		rc = token_revoke(&o, argv[optind]);
	else if (strcmp(sub, "list") == 0 && nops == 0 && o.rights == 0 &&
	    o.nprefixes == 0)
		rc = token_list_cmd(&o);
	else
		rc = usage_error();
	free(o.prefixes);
	return rc;
}

const struct admin_cmd admin_token_cmd = {
	.name = "token", .fn = cmd_token, .nargs = ADMIN_NARGS_ANY,
	.no_store = 1,
	.args = "add NAME [--read] [--write] [--metrics] [--prefix P]... | "
	    "list | revoke NAME",
	.help = "manage the service's access tokens (--tokens-file FILE, env "
	    "KV_TOKENS_FILE, default " TOKENS_DEFAULT ")",
};
