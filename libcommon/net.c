/* Address ranges (CIDR). */
#include "libcommon/net.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct range {
	int family;              /* AF_INET or AF_INET6 */
	unsigned char addr[16];  /* network order */
	int bits;                /* prefix length */
};

/* Parse "addr[/bits]"; false if it is not one. */
static bool parse(const char *s, struct range *r)
{
	char host[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	if (n == 0 || n >= sizeof(host))
		return false;
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, r->addr) == 1) {
		r->family = AF_INET;
		r->bits = 32;
	} else if (inet_pton(AF_INET6, host, r->addr) == 1) {
		r->family = AF_INET6;
		r->bits = 128;
	} else {
		return false;
	}
	if (!slash)
		return true;
	char *end;
	long bits = strtol(slash + 1, &end, 10);
	if (end == slash + 1 || *end || bits < 0 || bits > r->bits)
		return false;
	r->bits = (int)bits;
	return true;
}

bool lc_net_cidr_valid(const char *s)
{
	struct range r;
	return s && parse(s, &r);
}

static bool inside(const struct range *a, const struct range *net)
{
	if (a->family != net->family)
		return false;
	int full = net->bits / 8, rest = net->bits % 8;
	if (memcmp(a->addr, net->addr, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xFF << (8 - rest));
	return (a->addr[full] & mask) == (net->addr[full] & mask);
}

bool lc_net_in_any(const char *addr, char *const *cidrs, size_t n)
{
	struct range a, net;
	if (!addr || strchr(addr, '/') || !parse(addr, &a))
		return false;
	for (size_t i = 0; i < n; i++)
		if (cidrs[i] && parse(cidrs[i], &net) && inside(&a, &net))
			return true;
	return false;
}
