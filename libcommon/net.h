#ifndef LC_NET_H
#define LC_NET_H
/*
 * Address ranges: "10.0.0.0/8", "fd00::/8", or a single address
 * ("127.0.0.1", "::1"). Used for the gateway's trusted proxies: only a
 * peer inside one of them may say who the client is (X-Real-IP).
 * Numeric addresses only — nothing here resolves a name.
 */
#include <stdbool.h>
#include <stddef.h>

/* Is s a range as above (prefix within 0..32 or 0..128)? */
bool lc_net_cidr_valid(const char *s) __attribute__((warn_unused_result));

/* Is the numeric address addr inside any of the n ranges (borrowed)?
 * An invalid address or range never matches. */
bool lc_net_in_any(const char *addr, char *const *cidrs, size_t n)
	__attribute__((warn_unused_result));

#endif
