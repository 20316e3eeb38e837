#ifndef GW_POLICY_H
#define GW_POLICY_H
/*
 * Account rules, pure (tests/unit/test_gateway_policy.c): the password
 * policy of system.security and the username format of the users table.
 */
#include <stdbool.h>
#include <stddef.h>

#define GW_PASSWORD_MAX 1024 /* bytes; bounds the hashing work */

/*
 * Check a new password: at least min_len characters (UTF-8 code points),
 * at most GW_PASSWORD_MAX bytes, valid UTF-8 without control characters,
 * not the username itself (case-insensitively; username may be NULL), and,
 * if require_special, at least one character that is not an ASCII letter
 * or digit. Returns true, or false with a sentence for the user in err
 * ("password must be at least 8 characters long").
 */
bool gw_password_ok(const char *pw, const char *username, size_t min_len,
		    bool require_special, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* A username as users_username_format allows:
 * ^[A-Za-z0-9][A-Za-z0-9_.@-]{2,63}$ */
bool gw_username_ok(const char *u) __attribute__((warn_unused_result));

#endif
