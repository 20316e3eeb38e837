#ifndef GW_MSGWS_H
#define GW_MSGWS_H
/*
 * A bot's message websocket through the gateway, for FreqUI:
 * /bots/{id}/api/v1/message/ws?token=<bot-scoped access token> (checked
 * by auth.c) is relayed to the bot's own /api/v1/message/ws.
 *
 * The gateway first logs in to the bot itself (POST /api/v1/token/login
 * with the bot's credentials, through its pool), opens the bot's
 * websocket with that token, and only then completes the client's
 * handshake: a bot that is down or refuses is an ordinary 502 JSON answer
 * to the upgrade request, which FreqUI retries. Then whole messages are
 * relayed both ways; either side closing closes the other. The client's
 * side is libcommon/ws.h (bounded output: a FreqUI that does not read is
 * dropped with 1008; pinged every 30 s, a FreqUI silent for 60 s after a
 * ping is dropped with 1011), the bot's side wsclient.h. The client's
 * login is watched (sessions.h): logout everywhere, a password or role
 * change, the account disabled end the session (1008). The access
 * token's own expiry does not: FreqUI reconnects with the same token.
 */
struct gw;
struct gw_req;
struct gw_bot;

/* Start relaying r (an upgrade request, authenticated) to bot b; r is
 * answered (or taken over) later. */
void gw_msgws_start(struct gw_req *r, struct gw_bot *b);

/* Shutdown begins: relayed sessions are closed (1001) while the loop
 * still runs, so the close frames go out. */
void gw_msgws_close_all(struct gw *g);

/* After the loop, before the HTTP server is freed: sessions still
 * setting up answer 503 (relayed ones end when the server closes their
 * client connection). */
void gw_msgws_stop(struct gw *g);

/* After the HTTP server was freed: the session list itself. */
void gw_msgws_free(struct gw *g);

#endif
