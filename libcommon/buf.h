#ifndef LC_BUF_H
#define LC_BUF_H
/*
 * Growable byte buffer with a required maximum (curl's dynbuf): an append
 * that would pass the maximum fails and leaves the buffer unchanged, so
 * untrusted input can never grow memory without bound. data is always
 * NUL-terminated (the NUL is not counted in len).
 */
#include <stdarg.h>
#include <stddef.h>

struct lc_buf {
	char *data;  /* owned; NULL until the first append */
	size_t len;  /* bytes used */
	size_t cap;  /* bytes allocated */
	size_t max;  /* len never exceeds this */
};

void lc_buf_init(struct lc_buf *b, size_t max);
/* Free the data; the buffer may be used again (empty). */
void lc_buf_release(struct lc_buf *b);
/* Empty the buffer but keep its memory. */
void lc_buf_reset(struct lc_buf *b);

/* 0 on success, -1 if the result would exceed max or memory ran out. */
int lc_buf_append(struct lc_buf *b, const void *p, size_t n)
	__attribute__((warn_unused_result));
int lc_buf_append_str(struct lc_buf *b, const char *s)
	__attribute__((warn_unused_result));
int lc_buf_printf(struct lc_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), warn_unused_result));
int lc_buf_vprintf(struct lc_buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0), warn_unused_result));
/* Append s as a JSON string literal, quotes included, escaped per RFC 8259
 * (control characters as \uXXXX; invalid UTF-8 bytes become U+FFFD). */
int lc_buf_append_json_str(struct lc_buf *b, const char *s)
	__attribute__((warn_unused_result));

/* Length of the valid UTF-8 sequence that starts at s (1 for ASCII), or 0
 * if the bytes there are not valid UTF-8 (overlong, surrogate, > U+10FFFF,
 * truncated). s must be NUL-terminated. */
size_t lc_buf_utf8_len(const unsigned char *s);

/* Hand the data to the caller (caller frees with free()); the buffer is
 * left empty. Returns "" (allocated) for an empty buffer, NULL on ENOMEM. */
char *lc_buf_detach(struct lc_buf *b, size_t *len);

#endif
