/*
 * btcw_proto.h - the names on the BTC Watcher message bus.
 *
 * Every topic, method and error code the six daemons exchange over nng,
 * and the default addresses of the port plan. The messages themselves
 * are specified by the JSON Schemas in proto/schemas/ and explained in
 * proto/README.md; tests/proto/test_schemas.py keeps this header, the
 * schemas and the README in step, so add a name in all three at once.
 *
 * Header only, no code: string literals, so they concatenate
 * (BTCW_SUBSCRIPTION) and can initialize static tables.
 */
#ifndef BTCW_PROTO_H
#define BTCW_PROTO_H

/* Envelope version: "v" in every request, reply and event. */
#define BTCW_PROTO_VERSION 1

/* Largest message on the bus (nng NNG_OPT_RECVMAXSZ); past it: too_large. */
#define BTCW_PROTO_MAX_MSG_SIZE (1024 * 1024)

/*
 * Subscription prefix for a topic: an event is sent as "<topic> <json>",
 * so subscribe to the topic plus one space, or "strategy.state" would
 * also match a future "strategy.statex". Works on literals only:
 *	nng_socket_set(s, NNG_OPT_SUB_SUBSCRIBE,
 *	    BTCW_SUBSCRIPTION(BTCW_TOPIC_SIGNAL_NEW), 11);
 */
#define BTCW_SUBSCRIPTION(topic) topic " "

/* -------------------- errors */
/* error.code of a failed reply; meanings in proto/README.md. */
#define BTCW_ERR_BAD_REQUEST      "bad_request"
#define BTCW_ERR_TOO_LARGE        "too_large"
#define BTCW_ERR_UNKNOWN_METHOD   "unknown_method"
#define BTCW_ERR_TIMEOUT          "timeout"
#define BTCW_ERR_UNAVAILABLE      "unavailable"
#define BTCW_ERR_CANCELLED        "cancelled"
#define BTCW_ERR_INTERNAL         "internal"
#define BTCW_ERR_NOT_FOUND        "not_found"
#define BTCW_ERR_INVALID          "invalid"
#define BTCW_ERR_CONFLICT         "conflict"
#define BTCW_ERR_FORBIDDEN        "forbidden"
#define BTCW_ERR_LIMIT_REACHED    "limit_reached"
#define BTCW_ERR_UPSTREAM_ERROR   "upstream_error"
#define BTCW_ERR_UPSTREAM_TIMEOUT "upstream_timeout"

/* -------------------- services */
/* Service prefixes: first part of a method, "source" of an alert. */
#define BTCW_SERVICE_SUPERVISOR "supervisor"
#define BTCW_SERVICE_GATEWAY    "gateway"
#define BTCW_SERVICE_INGEST     "ingest"
#define BTCW_SERVICE_MONITOR    "monitor"
#define BTCW_SERVICE_NOTIFIER   "notifier"
#define BTCW_SERVICE_BACKUP     "backup"

/*
 * Default addresses. Per service x (0 ft-supervisor, 1 gateway,
 * 2 signal-ingest, 3 monitor, 4 notifier, 5 backup): RPC rep socket
 * tcp://127.0.0.1:71x1, event pub socket tcp://127.0.0.1:71x2, admin
 * HTTP (healthz, readyz, metrics) 127.0.0.1:71x9. The config module
 * overrides them (service DNS names under Kubernetes).
 */

/* -------------------- ft-supervisor */
#define BTCW_ADDR_SUPERVISOR_RPC    "tcp://127.0.0.1:7101"
#define BTCW_ADDR_SUPERVISOR_EVENTS "tcp://127.0.0.1:7102"
#define BTCW_ADDR_SUPERVISOR_ADMIN  "127.0.0.1:7109"

/* Topics it publishes (besides alert.raised / alert.resolved). */
#define BTCW_TOPIC_ROUTE_UPDATE   "route.update"
#define BTCW_TOPIC_STRATEGY_STATE "strategy.state"

/* Methods on its RPC socket. */
#define BTCW_METHOD_SUPERVISOR_STRATEGIES_CREATE "supervisor.strategies.create"
#define BTCW_METHOD_SUPERVISOR_STRATEGIES_GET    "supervisor.strategies.get"
#define BTCW_METHOD_SUPERVISOR_STRATEGIES_LIST   "supervisor.strategies.list"
#define BTCW_METHOD_SUPERVISOR_STRATEGIES_UPDATE "supervisor.strategies.update"
#define BTCW_METHOD_SUPERVISOR_STRATEGIES_DELETE "supervisor.strategies.delete"
#define BTCW_METHOD_SUPERVISOR_STRATEGIES_START  "supervisor.strategies.start"
#define BTCW_METHOD_SUPERVISOR_STRATEGIES_STOP   "supervisor.strategies.stop"
#define BTCW_METHOD_SUPERVISOR_STRATEGIES_STOP_ALL \
	"supervisor.strategies.stop_all"
#define BTCW_METHOD_SUPERVISOR_STRATEGIES_COMMAND \
	"supervisor.strategies.command"
#define BTCW_METHOD_SUPERVISOR_LOGS_GET          "supervisor.logs.get"
#define BTCW_METHOD_SUPERVISOR_PROCESSES_LIST    "supervisor.processes.list"
#define BTCW_METHOD_SUPERVISOR_PORT_POOL_GET     "supervisor.port_pool.get"
#define BTCW_METHOD_SUPERVISOR_CAPACITY_GET      "supervisor.capacity.get"
#define BTCW_METHOD_SUPERVISOR_ROUTES_LIST       "supervisor.routes.list"
#define BTCW_METHOD_SUPERVISOR_ROUTES_GET        "supervisor.routes.get"
#define BTCW_METHOD_SUPERVISOR_UPGRADE_START     "supervisor.upgrade.start"
#define BTCW_METHOD_SUPERVISOR_UPGRADE_GET       "supervisor.upgrade.get"
#define BTCW_METHOD_SUPERVISOR_CONFIG_SHOW       "supervisor.config.show"
#define BTCW_METHOD_SUPERVISOR_CONFIG_RELOAD     "supervisor.config.reload"

/* alert.raised kinds it raises. */
#define BTCW_ALERT_STRATEGY_CRASHED      "strategy_crashed"
#define BTCW_ALERT_STRATEGY_CRASH_LOOP   "strategy_crash_loop"
#define BTCW_ALERT_STRATEGY_START_FAILED "strategy_start_failed"
#define BTCW_ALERT_UPGRADE_FAILED        "upgrade_failed"

/* -------------------- gateway */
#define BTCW_ADDR_GATEWAY_RPC    "tcp://127.0.0.1:7111"
#define BTCW_ADDR_GATEWAY_EVENTS "tcp://127.0.0.1:7112"
#define BTCW_ADDR_GATEWAY_ADMIN  "127.0.0.1:7119"
/* The gateway's own HTTP API (nginx serves :8000 in front). */
#define BTCW_ADDR_GATEWAY_HTTP "127.0.0.1:7110"

/* Methods on its RPC socket. */
#define BTCW_METHOD_GATEWAY_HEALTH_GET    "gateway.health.get"
#define BTCW_METHOD_GATEWAY_ROUTES_LIST   "gateway.routes.list"
#define BTCW_METHOD_GATEWAY_ROUTES_RELOAD "gateway.routes.reload"
#define BTCW_METHOD_GATEWAY_CONFIG_SHOW   "gateway.config.show"
#define BTCW_METHOD_GATEWAY_CONFIG_RELOAD "gateway.config.reload"

/* alert.raised kinds it raises. */
#define BTCW_ALERT_LOGIN_LOCKOUT "login_lockout"

/* -------------------- signal-ingest */
#define BTCW_ADDR_INGEST_RPC    "tcp://127.0.0.1:7121"
#define BTCW_ADDR_INGEST_EVENTS "tcp://127.0.0.1:7122"
#define BTCW_ADDR_INGEST_ADMIN  "127.0.0.1:7129"
/* FreqTrade webhooks (HTTP, not the bus): POST
 * /api/v1/signals/webhook/{strategy_id}/{token}, the token in the path
 * because FreqTrade sends no custom headers; the seed's
 * /api/v1/signals/webhook with both in the query or the body also
 * works. Shapes, answers and errors: proto/README.md "Webhooks". */
#define BTCW_ADDR_INGEST_WEBHOOK "127.0.0.1:7120"

/* Topics it publishes (besides alert.raised / alert.resolved). */
#define BTCW_TOPIC_SIGNAL_NEW "signal.new"

/* Methods on its RPC socket. */
#define BTCW_METHOD_INGEST_SIGNALS_LIST     "ingest.signals.list"
#define BTCW_METHOD_INGEST_SIGNALS_GET      "ingest.signals.get"
#define BTCW_METHOD_INGEST_SIGNAL_STATS_GET "ingest.signal_stats.get"
#define BTCW_METHOD_INGEST_CONFIG_SHOW      "ingest.config.show"
#define BTCW_METHOD_INGEST_CONFIG_RELOAD    "ingest.config.reload"

/* alert.raised kinds it raises. */
#define BTCW_ALERT_SIGNAL_SPOOL_ACTIVE "signal_spool_active"

/* -------------------- monitor */
#define BTCW_ADDR_MONITOR_RPC    "tcp://127.0.0.1:7131"
#define BTCW_ADDR_MONITOR_EVENTS "tcp://127.0.0.1:7132"
#define BTCW_ADDR_MONITOR_ADMIN  "127.0.0.1:7139"

/* Topics it publishes (besides alert.raised / alert.resolved). */
#define BTCW_TOPIC_SYSTEM_STATUS   "system.status"
#define BTCW_TOPIC_STRATEGY_HEALTH "strategy.health"
#define BTCW_TOPIC_CAPACITY_STATUS "capacity.status"

/* Methods on its RPC socket. */
#define BTCW_METHOD_MONITOR_SYSTEM_STATUS_GET    "monitor.system_status.get"
#define BTCW_METHOD_MONITOR_STRATEGY_STATUS_LIST "monitor.strategy_status.list"
#define BTCW_METHOD_MONITOR_STRATEGY_STATUS_GET  "monitor.strategy_status.get"
#define BTCW_METHOD_MONITOR_GATEWAY_HEALTH_GET   "monitor.gateway_health.get"
#define BTCW_METHOD_MONITOR_CAPACITY_REPORT_GET  "monitor.capacity_report.get"
#define BTCW_METHOD_MONITOR_CAPACITY_TREND_GET   "monitor.capacity_trend.get"
#define BTCW_METHOD_MONITOR_ALERT_THRESHOLD_GET  "monitor.alert_threshold.get"
#define BTCW_METHOD_MONITOR_ALERT_THRESHOLD_SET  "monitor.alert_threshold.set"
#define BTCW_METHOD_MONITOR_PROXIES_LIST         "monitor.proxies.list"
#define BTCW_METHOD_MONITOR_STATISTICS_GET       "monitor.statistics.get"
#define BTCW_METHOD_MONITOR_HEALTH_GET           "monitor.health.get"
#define BTCW_METHOD_MONITOR_CONFIG_SHOW          "monitor.config.show"
#define BTCW_METHOD_MONITOR_CONFIG_RELOAD        "monitor.config.reload"

/* alert.raised kinds it raises. */
#define BTCW_ALERT_GATEWAY_UNHEALTHY   "gateway_unhealthy"
#define BTCW_ALERT_ROUTE_DRIFT         "route_drift"
#define BTCW_ALERT_STRATEGY_UNHEALTHY  "strategy_unhealthy"
#define BTCW_ALERT_CAPACITY_WARNING    "capacity_warning"
#define BTCW_ALERT_CAPACITY_CRITICAL   "capacity_critical"
#define BTCW_ALERT_PROXY_UNHEALTHY     "proxy_unhealthy"
#define BTCW_ALERT_PROXY_LATENCY_SPIKE "proxy_latency_spike"

/* -------------------- notifier */
#define BTCW_ADDR_NOTIFIER_RPC    "tcp://127.0.0.1:7141"
#define BTCW_ADDR_NOTIFIER_EVENTS "tcp://127.0.0.1:7142"
#define BTCW_ADDR_NOTIFIER_ADMIN  "127.0.0.1:7149"

/* Topics it publishes (besides alert.raised / alert.resolved). */
#define BTCW_TOPIC_NOTIFICATION_SENT "notification.sent"

/* Methods on its RPC socket. */
#define BTCW_METHOD_NOTIFIER_SETTINGS_GET  "notifier.settings.get"
#define BTCW_METHOD_NOTIFIER_SETTINGS_SET  "notifier.settings.set"
#define BTCW_METHOD_NOTIFIER_HISTORY_LIST  "notifier.history.list"
#define BTCW_METHOD_NOTIFIER_TEST_SEND     "notifier.test.send"
#define BTCW_METHOD_NOTIFIER_CHANNELS_LIST "notifier.channels.list"
#define BTCW_METHOD_NOTIFIER_CONFIG_SHOW   "notifier.config.show"
#define BTCW_METHOD_NOTIFIER_CONFIG_RELOAD "notifier.config.reload"

/* alert.raised kinds it raises. */
#define BTCW_ALERT_CHANNEL_CIRCUIT_OPEN "channel_circuit_open"

/* -------------------- backup */
#define BTCW_ADDR_BACKUP_RPC    "tcp://127.0.0.1:7151"
#define BTCW_ADDR_BACKUP_EVENTS "tcp://127.0.0.1:7152"
#define BTCW_ADDR_BACKUP_ADMIN  "127.0.0.1:7159"

/* Topics it publishes (besides alert.raised / alert.resolved). */
#define BTCW_TOPIC_BACKUP_COMPLETED "backup.completed"

/* Methods on its RPC socket. */
#define BTCW_METHOD_BACKUP_BACKUPS_RUN     "backup.backups.run"
#define BTCW_METHOD_BACKUP_BACKUPS_LIST    "backup.backups.list"
#define BTCW_METHOD_BACKUP_BACKUPS_GET     "backup.backups.get"
#define BTCW_METHOD_BACKUP_BACKUPS_RESTORE "backup.backups.restore"
#define BTCW_METHOD_BACKUP_STATUS_GET      "backup.status.get"
#define BTCW_METHOD_BACKUP_CONFIG_SHOW     "backup.config.show"
#define BTCW_METHOD_BACKUP_CONFIG_RELOAD   "backup.config.reload"

/* alert.raised kinds it raises. */
#define BTCW_ALERT_BACKUP_FAILED  "backup_failed"
#define BTCW_ALERT_RESTORE_FAILED "restore_failed"

/* -------------------- shared */
/* Published by any service that detects a condition / sees it end. */
#define BTCW_TOPIC_ALERT_RAISED   "alert.raised"
#define BTCW_TOPIC_ALERT_RESOLVED "alert.resolved"

#endif /* BTCW_PROTO_H */
