/* Password policy and username format. */
#include "services/gateway/policy.h"

#include "libcommon/buf.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

bool gw_password_ok(const char *pw, const char *username, size_t min_len,
		    bool require_special, char *err, size_t errlen)
{
	size_t chars = 0, bytes = pw ? strlen(pw) : 0;
	bool special = false;

	if (bytes > GW_PASSWORD_MAX) {
		snprintf(err, errlen, "password must be at most %d bytes long",
			 GW_PASSWORD_MAX);
		return false;
	}
	for (const unsigned char *p = (const unsigned char *)pw; p && *p;) {
		size_t n = lc_buf_utf8_len(p);
		if (n == 0 || *p < 0x20 || *p == 0x7f) {
			snprintf(err, errlen, "password must be valid UTF-8 "
				 "text without control characters");
			return false;
		}
		special = special || !is_alnum(*p);
		chars++;
		p += n;
	}
	if (chars < min_len) {
		snprintf(err, errlen, "password must be at least %zu "
			 "characters long", min_len);
		return false;
	}
	if (require_special && !special) {
		snprintf(err, errlen, "password must contain a special "
			 "character (not a letter or a digit)");
		return false;
	}
	if (username && strcasecmp(pw, username) == 0) {
		snprintf(err, errlen, "password must not be the username");
		return false;
	}
	return true;
}

bool gw_username_ok(const char *u)
{
	size_t n = u ? strlen(u) : 0;

	if (n < 3 || n > 64 || !is_alnum((unsigned char)u[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_alnum((unsigned char)u[i]) && !strchr("_.@-", u[i]))
			return false;
	return true;
}
