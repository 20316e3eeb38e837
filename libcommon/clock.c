/* Clock helpers. */
#include "libcommon/clock.h"

#include <stdio.h>
#include <sys/time.h>
#include <time.h>

int64_t lc_clock_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t lc_clock_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *lc_clock_rfc3339(char *out, int64_t wall_ms)
{
	time_t sec = (time_t)(wall_ms / 1000);
	int ms = (int)(wall_ms % 1000);
	if (ms < 0) {
		ms += 1000;
		sec -= 1;
	}
	struct tm tm;
	gmtime_r(&sec, &tm);
	size_t n = strftime(out, LC_CLOCK_RFC3339_LEN, "%Y-%m-%dT%H:%M:%S",
			    &tm);
	snprintf(out + n, LC_CLOCK_RFC3339_LEN - n, ".%03uZ",
		 (unsigned)ms % 1000u);
	return out;
}

void lc_clock_tv(struct timeval *tv, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	tv->tv_sec = (time_t)(ms / 1000);
	tv->tv_usec = (suseconds_t)((ms % 1000) * 1000);
}
