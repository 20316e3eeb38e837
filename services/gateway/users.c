/* Accounts: shared SQL helpers, purge, lockout alert. */
#include "services/gateway/users.h"

#include "libcommon/bus.h"
#include "libcommon/clock.h"
#include "libcommon/log.h"
#include "libcommon/metrics.h"
#include "libcommon/svc.h"
#include "proto/btcw_proto.h"
#include "services/gateway/gateway.h"

#include <stdio.h>
#include <string.h>

#define SQL_PURGE_REVOKED "DELETE FROM revoked_tokens WHERE expires_at < now()"
#define SQL_PURGE_THROTTLE                                                 \
	"DELETE FROM login_throttle WHERE updated_at < now() - interval "  \
	"'1 day' AND (locked_until IS NULL OR locked_until < now())"

cJSON *gw_row_json(const PGresult *res, int row, int col)
{
	if (!res || row >= PQntuples(res) || col >= PQnfields(res) ||
	    PQgetisnull(res, row, col))
		return NULL;
	return cJSON_Parse(PQgetvalue(res, row, col));
}

const char *gw_sqlstate(const PGresult *res)
{
	const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE)
			    : NULL;
	return s ? s : "";
}

static void on_purged(const PGresult *res, const char *err, void *arg)
{
	const char *what = arg;

	if (err)
		log_warn("users.purge_failed", LF_S("table", what),
			 LF_S("error", err));
	else if (strcmp(PQcmdTuples((PGresult *)res), "0") != 0)
		log_info("users.purged", LF_S("table", what),
			 LF_S("rows", PQcmdTuples((PGresult *)res)));
}

void gw_users_purge(struct gw *g)
{
	if (gw_db_query(g, SQL_PURGE_REVOKED, 0, NULL, on_purged,
			(void *)"revoked_tokens") != 0 ||
	    gw_db_query(g, SQL_PURGE_THROTTLE, 0, NULL, on_purged,
			(void *)"login_throttle") != 0)
		log_warn("users.purge_failed", LF_S("error", "not queued"));
}

static cJSON *lockout_alert(const char *scope, const char *who,
			    const char *addr, long attempts, long minutes)
{
	char key[160], title[160], msg[320], ts[LC_CLOCK_RFC3339_LEN];
	cJSON *d = cJSON_CreateObject(), *det = cJSON_CreateObject();

	snprintf(key, sizeof(key), "login:%s:%.100s", scope, who);
	snprintf(title, sizeof(title), "login locked for %s %.100s", scope,
		 who);
	snprintf(msg, sizeof(msg),
		 "%ld failed logins: %s %.100s is locked for %ld minutes "
		 "(last attempt from %s)",
		 attempts, scope, who, minutes, addr);
	cJSON_AddStringToObject(d, "dedup_key", key);
	cJSON_AddStringToObject(d, "source", BTCW_SERVICE_GATEWAY);
	cJSON_AddStringToObject(d, "kind", BTCW_ALERT_LOGIN_LOCKOUT);
	cJSON_AddStringToObject(d, "severity", "warning");
	cJSON_AddStringToObject(d, "priority", "P1");
	cJSON_AddStringToObject(d, "title", title);
	cJSON_AddStringToObject(d, "message", msg);
	cJSON_AddNullToObject(d, "strategy_id");
	cJSON_AddStringToObject(det, "scope", scope);
	cJSON_AddStringToObject(det, "client_addr", addr);
	cJSON_AddNumberToObject(det, "failed_attempts", (double)attempts);
	cJSON_AddNumberToObject(det, "lockout_minutes", (double)minutes);
	cJSON_AddItemToObject(d, "details", det);
	cJSON_AddStringToObject(d, "raised_at",
				lc_clock_rfc3339(ts, lc_clock_wall_ms()));
	return d;
}

void gw_users_lockout(struct gw *g, const char *scope, const char *who,
		      const char *client_addr, long attempts, long minutes)
{
	cJSON *alert = lockout_alert(scope, who, client_addr, attempts,
				     minutes);

	lc_series_inc(lc_metric_series(g->m.lockouts, scope));
	log_warn("auth.lockout", LF_S("scope", scope), LF_S("who", who),
		 LF_S("client", client_addr), LF_I("attempts", attempts),
		 LF_I("minutes", minutes));
	if (lc_bus_publish(g->svc->pub, BTCW_TOPIC_ALERT_RAISED, alert) != 0)
		cJSON_Delete(alert);
}
