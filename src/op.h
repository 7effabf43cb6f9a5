/*
 * op: one key operation, the common currency of the handlers and the store.
 *
 * Values are opaque bytes to the store (compact JSON text in practice); a
 * NULL value pointer means "no value", which for a write is a delete.
 */
#ifndef KV_OP_H
#define KV_OP_H

#include <stddef.h>
#include <stdint.h>

enum op_type {
	OP_GET,
	OP_SET,		/* val == NULL deletes */
	OP_DELETE,
	OP_TAS,		/* test-and-set */
	OP_INCR,	/* adds `by` to a JSON number */
	OP_TOUCH,	/* changes only the expiry of a live key */
};

/* A precondition on the key's version, checked before a write. */
enum op_cond {
	OP_COND_NONE = 0,
	OP_COND_VERSION,	/* live with version if_version (If-Match: "N") */
	OP_COND_ABSENT,		/* absent (If-None-Match: *, ifVersion 0) */
	OP_COND_LIVE,		/* live, any version (If-Match: *) */
};

/* Why an increment failed (store_exec returns STORE_CONFLICT). */
enum op_err {
	OP_ERR_NONE = 0,
	OP_ERR_NAN,		/* the stored value is not a JSON number */
	OP_ERR_OVERFLOW,	/* the result is out of range */
};

struct op {
	enum op_type	 type;
	const char	*key;
	size_t		 klen;
	const char	*val;	/* SET/TAS: value to store; NULL deletes */
	size_t		 vlen;
	const char	*old;	/* TAS: expected value; NULL = key must be absent */
	size_t		 oldlen;
	int64_t		 ttl;	/* seconds; 0 = no expiry */
	/*
	 * Expiry of a write: expires_at (ms since the epoch) when not 0,
	 * else ttl from now; keep_ttl keeps the key's current expiry (none
	 * when created). INCR applies them only when it creates the key.
	 */
	int64_t		 expires_at;
	int		 keep_ttl;
	enum op_cond	 cond;		/* writes: checked first */
	uint64_t	 if_version;	/* OP_COND_VERSION */
	const char	*by;		/* INCR: JSON number text */
	size_t		 bylen;
	const char	*initial;	/* INCR: value when absent; NULL = 0 */
	size_t		 initlen;
};

/*
 * What an op did. val is malloc'd by the store and owned by the caller
 * (free with op_result_clear); it is set for GET when found, for INCR (the
 * new value), and when a condition failed and the key exists (the current
 * value). version is the key's version after the op (0: absent), or the
 * current one when a condition failed.
 */
struct op_result {
	int		 found;		/* the key is live after the op (or now, if unmet) */
	int		 cond_met;	/* TAS: value condition held */
	int		 version_unmet;	/* op->cond did not hold; nothing written */
	enum op_err	 err;		/* INCR failure, with STORE_CONFLICT */
	char		*val;
	size_t		 vlen;
	int64_t		 expires;	/* ms since the epoch; 0 = none */
	uint64_t	 version;
};

void	op_result_clear(struct op_result *);	/* frees val, zeroes; NULL ok */

#endif
