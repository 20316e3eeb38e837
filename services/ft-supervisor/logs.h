#ifndef SUP_LOGS_H
#define SUP_LOGS_H
/*
 * supervisor.logs.get results (proto: supervisor.logs.get.result):
 * {strategy_id, source, log_count, logs[{ts, logger, level, message}]},
 * oldest first, at most limit records. Callers delete the result.
 */
#include <cjson/cJSON.h>

/* From the body of the bot's GET /api/v1/logs; NULL if malformed. */
cJSON *logs_from_api(const char *body, int id, int limit);

/* From the tail of a FreqTrade logfile; empty if it cannot be read. */
cJSON *logs_from_file(const char *path, int id, int limit);

#endif
