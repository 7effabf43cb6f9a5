/*
 * config: the service settings, with defaults, read from the command line
 * and from the environment (command line wins), and validated.
 */
#ifndef KV_CONFIG_H
#define KV_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "log.h"
#include "store.h"

struct config {
	const char		*data_dir;	/* KV_DATA_DIR, else $STATE_DIRECTORY */
	unsigned		 threads;	/* KV_THREADS */
	enum store_durability	 durability;	/* KV_DURABILITY: sync | write */
	size_t			 max_body;	/* KV_MAX_BODY, bytes */
	size_t			 max_value;	/* KV_MAX_VALUE, bytes */
	size_t			 max_batch_ops;	/* KV_MAX_BATCH_OPS */
	size_t			 list_max;	/* KV_LIST_MAX: largest ?limit= */
	size_t			 list_bytes;	/* KV_LIST_BYTES: values per page */
	unsigned		 max_depth;	/* KV_MAX_DEPTH: JSON nesting */
	size_t			 cache_bytes;	/* KV_CACHE_SIZE, bytes */
	size_t			 max_reply_memory; /* KV_MAX_REPLY_MEMORY, bytes */
	const char		*cors_origin;	/* KV_CORS_ORIGIN */
	enum log_level		 log_level;	/* KV_LOG_LEVEL */
	const char		*tokens_file;	/* KV_TOKENS_FILE; NULL: no access control */
};

/* Defaults kvstore-admin shares with the service (load checks as it does). */
#define CONFIG_MAX_VALUE	1048576
#define CONFIG_MAX_DEPTH	64

enum config_result { CONFIG_OK, CONFIG_EXIT_OK, CONFIG_ERROR };

void	config_defaults(struct config *);

/*
 * Reads settings from the environment, then argv. Returns CONFIG_EXIT_OK
 * after printing --help or --version, CONFIG_ERROR after printing the
 * problem to stderr, CONFIG_OK otherwise. Strings point into argv/environ.
 */
enum config_result config_load(struct config *, int argc, char **argv);

/* Prints the usage text, listing every option with its default. */
void	config_usage(FILE *);

#endif
