/*
 * json: cJSON helpers that print numbers as FreqTrade's API does (floats
 * keep their ".0", NaN and Infinity become null), and date helpers.
 */
#include <math.h>
#include <stdio.h>
#include <time.h>

#include "services/ftsim/ftsim.h"

cJSON *json_float(double d)
{
	char b[FMT_FLOAT_LEN];
	if (!isfinite(d))
		return cJSON_CreateNull();
	return cJSON_CreateRaw(fmt_float_repr(b, d));
}

cJSON *json_int(int64_t v)
{
	char b[32];
	snprintf(b, sizeof(b), "%lld", (long long)v);
	return cJSON_CreateRaw(b);
}

void json_add_float(cJSON *o, const char *key, double d)
{
	cJSON_AddItemToObject(o, key, json_float(d));
}

void json_add_int(cJSON *o, const char *key, int64_t v)
{
	cJSON_AddItemToObject(o, key, json_int(v));
}

void json_add_str(cJSON *o, const char *key, const char *s)
{
	if (s)
		cJSON_AddStringToObject(o, key, s);
	else
		cJSON_AddNullToObject(o, key);
}

char *ft_date(char *out, int64_t us)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 20, "%Y-%m-%d %H:%M:%S", &tm);
	return out;
}

int64_t ft_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
