/*
 * Per-bot process stats for supervisor.processes.list (the monitor's
 * strategy status): pid, cpu %, RSS, uptime, from /proc/<pid>/stat.
 *
 * cpu_percent is measured between two calls (the monitor polls every
 * 30 s); the first call for a process gives its average since it
 * started. It can exceed 100 on several cores.
 */
#include "services/ft-supervisor/sup.h"

#include "libcommon/clock.h"
#include "services/ft-supervisor/proc.h"

#include <math.h>
#include <unistd.h>

static double round2(double v)
{
	return round(v * 100.0) / 100.0;
}

cJSON *stats_process(struct bot *b)
{
	struct proc_stat st;
	if (proc_read_stat(b->pid, &st) != 0)
		return NULL;
	long hz = proc_hz();
	double up = proc_uptime_s() - (double)st.starttime / (double)hz;
	if (up < 0)
		up = 0;
	int64_t now = lc_clock_mono_ms();
	double cpu;
	if (b->cpu_mono > 0 && now > b->cpu_mono &&
	    st.ticks >= b->cpu_ticks)
		cpu = (double)(st.ticks - b->cpu_ticks) / (double)hz /
		      ((double)(now - b->cpu_mono) / 1000.0) * 100.0;
	else
		cpu = up > 0 ? (double)st.ticks / (double)hz / up * 100.0 : 0;
	b->cpu_ticks = st.ticks;
	b->cpu_mono = now;
	double rss = (double)st.rss_pages * (double)sysconf(_SC_PAGESIZE) /
		     (1024.0 * 1024.0);
	int64_t started = b->started_ms > 0
				  ? b->started_ms
				  : lc_clock_wall_ms() - (int64_t)(up * 1000);
	char ts[LC_CLOCK_RFC3339_LEN];
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "strategy_id", b->id);
	cJSON_AddNumberToObject(o, "pid", b->pid);
	cJSON_AddNumberToObject(o, "port", b->port);
	cJSON_AddStringToObject(o, "status", status_name(b->status));
	cJSON_AddNumberToObject(o, "cpu_percent", round2(cpu));
	cJSON_AddNumberToObject(o, "rss_mb", round2(rss));
	cJSON_AddNumberToObject(o, "uptime_seconds", round2(up));
	cJSON_AddNumberToObject(o, "restart_count", b->restart_count);
	cJSON_AddStringToObject(o, "started_at",
				lc_clock_rfc3339(ts, started));
	return o;
}
