/*
 * kvstore-admin: operating a kvstore-fcgi data directory. Hot backup and
 * restore, dump and load as JSON lines, verification and statistics.
 *
 * This file parses the options and runs one row of the command table;
 * each command lives in its own admin_<name>.c, and admin_dir.c holds
 * the data directory lock protocol they all follow (see admin.h).
 *
 * Exit status: 0 success, 1 failure, 2 usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "config.h"
#include "log.h"
#include "request.h"

#define EXIT_USAGE	2
#define DFLT(n)		DFLT_STR(n)
#define DFLT_STR(n)	#n

extern const struct admin_cmd admin_backup_cmd;
extern const struct admin_cmd admin_restore_cmd;
extern const struct admin_cmd admin_dump_cmd;
extern const struct admin_cmd admin_load_cmd;
extern const struct admin_cmd admin_verify_cmd;
extern const struct admin_cmd admin_stats_cmd;
extern const struct admin_cmd admin_token_cmd;

/* The commands, in the order --help lists them. */
static const struct admin_cmd *const commands[] = {
	&admin_backup_cmd,
	&admin_restore_cmd,
	&admin_dump_cmd,
	&admin_load_cmd,
	&admin_verify_cmd,
	&admin_stats_cmd,
	&admin_token_cmd,
};

#define NCOMMANDS	(sizeof(commands) / sizeof(commands[0]))

/* Prints the usage text, listing every command of the table. */
static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: kvstore-admin [options] COMMAND [DIR]\n\n"
	    "Operates the data directory of kvstore-fcgi, running or not, and\n"
	    "its access tokens.\n\n"
	    "commands:\n");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %s%s%s\n      %s\n", commands[i]->name,
		    *commands[i]->args != '\0' ? " " : "", commands[i]->args,
		    commands[i]->help);
	fprintf(f, "\noptions:\n"
	    "  -d, --data-dir=DIR\n"
	    "      the data directory (env KV_DATA_DIR, else $STATE_DIRECTORY)\n"
	    "  --cache-size=BYTES\n"
	    "      Berkeley DB cache while the store is open (env "
	    "KV_CACHE_SIZE)\n"
	    "  --max-value=BYTES\n"
	    "      load: largest value accepted (env KV_MAX_VALUE, default "
	    DFLT(CONFIG_MAX_VALUE) ")\n"
	    "  --max-depth=N\n"
	    "      load: deepest JSON nesting accepted (env KV_MAX_DEPTH, "
	    "default " DFLT(CONFIG_MAX_DEPTH) ")\n"
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
		admin_warn("%s: '%s' must be an integer of at least %zu", what,
		    v, min);
		return -1;
	}
	*out = n;
	return 0;
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
	const struct admin_cmd *cmd;
	struct admin a;
	const char *v;
	size_t i, n;
	int ch, nargs, rc;

	memset(&a, 0, sizeof(a));
	a.lock_fd = -1;
	a.max_value = CONFIG_MAX_VALUE;
	a.max_depth = CONFIG_MAX_DEPTH;
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
		if (strcmp(argv[0], commands[i]->name) == 0)
			break;
	if (i == NCOMMANDS) {
		admin_warn("unknown command '%s' (see kvstore-admin --help)",
		    argv[0]);
		return EXIT_USAGE;
	}
	cmd = commands[i];
	nargs = argc - 1;
	if (cmd->nargs >= 0 ? nargs != cmd->nargs :
	    cmd->nargs != ADMIN_NARGS_ANY && nargs > 1) {
		admin_warn("usage: kvstore-admin %s %s", cmd->name, cmd->args);
		return EXIT_USAGE;
	}
	if (a.data_dir == NULL && !cmd->no_store &&
	    !(cmd->own_dir && nargs > 0)) {
		admin_warn("no data directory: give --data-dir, or set "
		    "KV_DATA_DIR or STATE_DIRECTORY");
		return EXIT_USAGE;
	}
	/* The store logs through log.c: keep its chatter to problems. */
	log_set_name("kvstore-admin");
	log_set_level(LOG_LVL_WARN);
	rc = cmd->fn(&a, nargs, argv + 1);
	rc = rc == 0 ? 0 : rc == ADMIN_EXIT_USAGE ? EXIT_USAGE : 1;
	/* Holding the lock means this process opened the store itself. */
	if (a.lock_fd >= 0)
		admin_give_back_files(a.data_dir);
	return rc;
}
