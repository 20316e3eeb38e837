/* The spool's record format. */
#include "services/signal-ingest/spoolrec.h"

#include "libcommon/buf.h"
#include "services/signal-ingest/sig.h"

#include <string.h>

#define NULL_LEN 0xFFFFFFFFu

uint32_t spool_crc32c(uint32_t crc, const void *p, size_t n)
{
	static uint32_t table[256];
	const unsigned char *b = p;
	if (!table[1]) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
			table[i] = c;
		}
	}
	crc = ~crc;
	while (n--)
		crc = table[(crc ^ *b++) & 0xFF] ^ (crc >> 8);
	return ~crc;
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint16_t get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

int spool_rec_encode(const struct sig *s, struct lc_buf *out)
{
	size_t start = out->len, pay;
	unsigned char h[SPOOL_REC_HEAD] = { 0 }, v[4];
	int rv = lc_buf_append(out, h, sizeof(h));
	v[0] = SPOOL_REC_VERSION;
	v[1] = 0;
	v[2] = SC_NCOL;
	v[3] = 0;
	rv |= lc_buf_append(out, v, 4);
	for (int i = 0; i < SC_NCOL && rv == 0; i++) {
		const char *c = sig_get(s, (enum sig_col)i);
		size_t n = c ? strlen(c) : 0;
		put32(v, c ? (uint32_t)n : NULL_LEN);
		rv |= lc_buf_append(out, v, 4);
		if (c)
			rv |= lc_buf_append(out, c, n);
	}
	if (rv != 0) {
		out->len = start;
		return -1;
	}
	pay = out->len - start - SPOOL_REC_HEAD;
	unsigned char *p = (unsigned char *)out->data + start;
	put32(p, SPOOL_REC_MAGIC);
	put32(p + 4, (uint32_t)pay);
	put32(p + 8, spool_crc32c(0, p + SPOOL_REC_HEAD, pay));
	return 0;
}

/* The payload (already checked by its CRC) into out. */
static int payload(const unsigned char *p, size_t n, struct sig *out)
{
	const unsigned char *end = p + n;
	if (n < 4 || p[0] != SPOOL_REC_VERSION || get16(p + 2) != SC_NCOL)
		return -1;
	p += 4;
	for (int i = 0; i < SC_NCOL; i++) {
		uint32_t len;
		if (end - p < 4)
			return -1;
		len = get32(p);
		p += 4;
		if (len == NULL_LEN)
			continue;
		if ((size_t)(end - p) < len || memchr(p, 0, len) ||
		    sig_set(out, (enum sig_col)i, (const char *)p, len) != 0)
			return -1;
		p += len;
	}
	return p == end ? 0 : -1;
}

int spool_rec_decode(const unsigned char *p, size_t avail, struct sig *out,
		     size_t *used)
{
	uint32_t len;
	if (avail < SPOOL_REC_HEAD)
		return avail < 4 || get32(p) == SPOOL_REC_MAGIC ? 0 : -1;
	len = get32(p + 4);
	if (get32(p) != SPOOL_REC_MAGIC || len > SPOOL_REC_MAX)
		return -1;
	if (avail - SPOOL_REC_HEAD < len)
		return 0;
	if (spool_crc32c(0, p + SPOOL_REC_HEAD, len) != get32(p + 8) ||
	    payload(p + SPOOL_REC_HEAD, len, out) != 0) {
		sig_release(out);
		return -1;
	}
	*used = SPOOL_REC_HEAD + len;
	return 1;
}
