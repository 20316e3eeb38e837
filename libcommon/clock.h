#ifndef LC_CLOCK_H
#define LC_CLOCK_H
/* Clock helpers: monotonic time for timeouts, wall time for records. */
#include <stddef.h>
#include <stdint.h>

/* Milliseconds since an arbitrary point; never goes backwards. */
int64_t lc_clock_mono_ms(void);
/* Milliseconds since the Unix epoch (UTC). */
int64_t lc_clock_wall_ms(void);
/* RFC 3339 UTC with milliseconds: "2026-11-21T11:28:00.123Z".
 * out must hold LC_CLOCK_RFC3339_LEN bytes. Returns out. */
#define LC_CLOCK_RFC3339_LEN 32
char *lc_clock_rfc3339(char *out, int64_t wall_ms);
/* Fill a struct timeval for event_add() from milliseconds. */
struct timeval;
void lc_clock_tv(struct timeval *tv, int64_t ms);

#endif
