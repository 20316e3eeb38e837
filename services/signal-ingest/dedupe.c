/* Dedupe keys, and the window of first sightings of time-less content. */
#include "services/signal-ingest/dedupe.h"

#include "libcommon/buf.h"
#include "services/signal-ingest/body.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKET DEDUPE_WINDOW_MAX /* a power of two */

/* One content seen: a ring of them in arrival order (oldest first, so
 * expiry pops from the head), chained per hash bucket for lookup. */
struct seen {
	unsigned char digest[SHA256_DIGEST_LENGTH];
	int64_t first_s;
	int32_t next; /* next in the bucket's chain, -1 at the end */
};

struct dedupe {
	struct seen ring[DEDUPE_WINDOW_MAX];
	int32_t head, count;      /* oldest entry, entries in use */
	int32_t bucket[NBUCKET];  /* first entry of each chain, or -1 */
};

struct dedupe *dedupe_new(void)
{
	struct dedupe *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	for (int i = 0; i < NBUCKET; i++)
		d->bucket[i] = -1;
	return d;
}

void dedupe_free(struct dedupe *d)
{
	free(d);
}

static uint32_t bucket_of(const unsigned char *digest)
{
	uint32_t h;
	memcpy(&h, digest, sizeof(h));
	return h & (NBUCKET - 1);
}

/* Drop the oldest entry from the ring and from its chain. */
static void pop_oldest(struct dedupe *d)
{
	int32_t i = d->head;
	int32_t *link = &d->bucket[bucket_of(d->ring[i].digest)];
	while (*link != i)
		link = &d->ring[*link].next;
	*link = d->ring[i].next;
	d->head = (d->head + 1) % DEDUPE_WINDOW_MAX;
	d->count--;
}

/* When this content was first seen (now if never, or long ago). */
static int64_t first_seen(struct dedupe *d, const unsigned char *digest,
			  int64_t now_s)
{
	while (d->count &&
	       d->ring[d->head].first_s + DEDUPE_WINDOW_S <= now_s)
		pop_oldest(d);
	uint32_t b = bucket_of(digest);
	for (int32_t i = d->bucket[b]; i >= 0; i = d->ring[i].next)
		if (memcmp(d->ring[i].digest, digest, SHA256_DIGEST_LENGTH) ==
		    0)
			return d->ring[i].first_s;
	if (d->count == DEDUPE_WINDOW_MAX)
		pop_oldest(d);
	int32_t slot = (d->head + d->count) % DEDUPE_WINDOW_MAX;
	memcpy(d->ring[slot].digest, digest, SHA256_DIGEST_LENGTH);
	d->ring[slot].first_s = now_s;
	d->ring[slot].next = d->bucket[b];
	d->bucket[b] = slot;
	d->count++;
	return now_s;
}

static int by_key(const void *a, const void *b)
{
	const struct kv *x = *(const struct kv *const *)a;
	const struct kv *y = *(const struct kv *const *)b;
	return strcmp(x->key, y->key);
}

/* The canonical content: strategy id, then each key NUL value NUL in
 * key order. Keys are unique (the body decoder refuses repeats), so the
 * order is total. */
static int content_digest(int64_t strategy_id, const struct kvlist *f,
			  unsigned char *digest)
{
	const struct kv **sorted = malloc((f->n + 1) * sizeof(*sorted));
	struct lc_buf b;
	int rv = 0;
	if (!sorted)
		return -1;
	for (size_t i = 0; i < f->n; i++)
		sorted[i] = &f->items[i];
	qsort(sorted, f->n, sizeof(*sorted), by_key);
	lc_buf_init(&b, (size_t)1 << 30);
	rv = lc_buf_printf(&b, "%lld", (long long)strategy_id);
	rv |= lc_buf_append(&b, "", 1);
	for (size_t i = 0; i < f->n && rv == 0; i++) {
		rv |= lc_buf_append(&b, sorted[i]->key,
				    strlen(sorted[i]->key) + 1);
		rv |= lc_buf_append(&b, sorted[i]->val, sorted[i]->vlen + 1);
	}
	if (rv == 0)
		SHA256((const unsigned char *)b.data, b.len, digest);
	lc_buf_release(&b);
	free(sorted);
	return rv == 0 ? 0 : -1;
}

/* The first DEDUPE_HASH_BITS bits of the digest in base64url: short,
 * because the key is in a unique index that every insert updates (a
 * 22-character key instead of 64 hex digits keeps that index a third
 * the size), and 128 bits leave collisions out of reach. */
static int key_text(const unsigned char *d, char *out)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
				  "opqrstuvwxyz0123456789-_";
	int n = 0;
	for (int bit = 0; bit < DEDUPE_HASH_BITS; bit += 6) {
		int byte = bit / 8, off = bit % 8;
		unsigned v = (unsigned)d[byte] << 8 |
			     (unsigned)(byte + 1 < SHA256_DIGEST_LENGTH
						? d[byte + 1]
						: 0);
		out[n++] = b64[(v >> (10 - off)) & 63];
	}
	out[n] = '\0';
	return n;
}

int dedupe_key(struct dedupe *w, int64_t strategy_id,
	       const struct kvlist *fields, bool timeless, int64_t now_s,
	       char *out)
{
	unsigned char digest[SHA256_DIGEST_LENGTH];
	int n;
	if (content_digest(strategy_id, fields, digest) != 0)
		return -1;
	n = key_text(digest, out);
	if (timeless) {
		int64_t first = w ? first_seen(w, digest, now_s) : now_s;
		snprintf(out + n, DEDUPE_KEY_MAX - (size_t)n, "@%lld",
			 (long long)first);
	}
	return 0;
}
