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
};

/*
 * What an op did. val is malloc'd by the store and owned by the caller
 * (free with op_result_clear); it is set for GET when found and for a TAS
 * whose condition failed when the key exists (the current value).
 */
struct op_result {
	int		 found;		/* GET: key is live; TAS not met: key is live */
	int		 cond_met;	/* TAS only */
	char		*val;
	size_t		 vlen;
	int64_t		 expires;	/* ms since the epoch; 0 = none */
};

void	op_result_clear(struct op_result *);	/* frees val, zeroes; NULL ok */

#endif
