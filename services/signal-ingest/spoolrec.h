#ifndef INGEST_SPOOLREC_H
#define INGEST_SPOOLREC_H
/*
 * One spooled signal on disk: a record that can be recognised, checked
 * and skipped on its own, so a torn write at the end of a file (a crash
 * in the middle of an append that was never acknowledged) or a damaged
 * block in the middle loses nothing else.
 *
 *   u32 magic  "BSP1"            all integers little-endian
 *   u32 length of the payload
 *   u32 CRC-32C of the payload
 *   payload: u16 version (1), u16 column count, then per column
 *            u32 length (0xFFFFFFFF = NULL) and that many bytes
 *
 * The columns are struct sig's, in enum sig_col order. Pure code.
 */
#include <stddef.h>
#include <stdint.h>

struct lc_buf;
struct sig;

#define SPOOL_REC_MAGIC 0x31505342u /* "BSP1" */
#define SPOOL_REC_HEAD 12
#define SPOOL_REC_VERSION 1
#define SPOOL_REC_MAX (80u << 20) /* a payload never exceeds this */

/* CRC-32C (Castagnoli), continuing from crc (0 to start). */
uint32_t spool_crc32c(uint32_t crc, const void *p, size_t n);

/* Append the record of s to out. 0, or -1 (out's maximum, ENOMEM). */
int spool_rec_encode(const struct sig *s, struct lc_buf *out)
	__attribute__((warn_unused_result));

/*
 * Read one record at p[0..avail) into out (initialised, empty):
 *   1  a record: *used bytes long, out filled;
 *   0  the bytes so far are a record's beginning: read more;
 *  -1  not a record here (bad magic, length, CRC or payload).
 * On 0 and -1 out is left empty.
 */
int spool_rec_decode(const unsigned char *p, size_t avail, struct sig *out,
		     size_t *used);

#endif
