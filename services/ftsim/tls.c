/*
 * tls: https for webhooks, with OpenSSL and libevent's OpenSSL
 * bufferevents loaded (dlopen) the first time an https URL is used.
 *
 * Why not linked: mapping libcrypto costs every instance ~1.4 MB of RSS
 * before any use, and webhooks go to plain http on loopback or the LAN
 * in practice (bench/ftsim); a bot configured with an https webhook
 * pays for OpenSSL, the others do not. The libraries come from Debian's
 * libssl3 and libevent-openssl-2.1-7 (the sonames below).
 *
 * Verification as requests does it: the CA file named by
 * REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE, else the system's CA store
 * (requests' certifi bundle is that store on Debian); the peer's name or
 * IP address checked against the certificate, SNI for names.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/ftsim/ftsim.h"

#define LIBSSL "libssl.so.3"
#define LIBEVSSL "libevent_openssl-2.1.so.7"

/* The functions used, typed from their own headers (never called
 * directly: nothing here is linked). */
#define FNS(X)                                                               \
	X(ssl, TLS_client_method)                                            \
	X(ssl, SSL_CTX_new)                                                  \
	X(ssl, SSL_CTX_free)                                                 \
	X(ssl, SSL_CTX_set_default_verify_paths)                             \
	X(ssl, SSL_CTX_load_verify_locations)                                \
	X(ssl, SSL_CTX_set_verify)                                           \
	X(ssl, SSL_new)                                                      \
	X(ssl, SSL_free)                                                     \
	X(ssl, SSL_ctrl)                                                     \
	X(ssl, SSL_set1_host)                                                \
	X(ssl, SSL_get0_param)                                               \
	X(ssl, X509_VERIFY_PARAM_set1_ip_asc)                                \
	X(ssl, ERR_error_string_n)                                           \
	X(evssl, bufferevent_openssl_socket_new)                             \
	X(evssl, bufferevent_openssl_set_allow_dirty_shutdown)               \
	X(evssl, bufferevent_get_openssl_error)

static struct {
	bool tried;
	void *ssl, *evssl; /* dlopen handles, never closed: OpenSSL
	                      registers exit handlers */
	SSL_CTX *ctx;
	char err[200]; /* why https is unavailable */
#define DECL(lib, f) __typeof__(f) *f;
	FNS(DECL)
#undef DECL
} T;

static bool load(void)
{
	if (T.tried)
		return T.ctx != NULL;
	T.tried = true;
	T.ssl = dlopen(LIBSSL, RTLD_NOW | RTLD_LOCAL);
	T.evssl = T.ssl ? dlopen(LIBEVSSL, RTLD_NOW | RTLD_LOCAL) : NULL;
	if (!T.ssl || !T.evssl) {
		snprintf(T.err, sizeof(T.err), "%s", dlerror());
		return false;
	}
#define LOAD(lib, f)                                                         \
	T.f = (__typeof__(f) *)dlsym(T.lib, #f);                             \
	if (!T.f) {                                                          \
		snprintf(T.err, sizeof(T.err), "%s: no %s", #lib, #f);       \
		return false;                                                \
	}
	FNS(LOAD)
#undef LOAD
	T.ctx = T.SSL_CTX_new(T.TLS_client_method());
	if (!T.ctx) {
		snprintf(T.err, sizeof(T.err), "SSL_CTX_new failed");
		return false;
	}
	const char *bundle = getenv("REQUESTS_CA_BUNDLE");
	if (!bundle || !*bundle)
		bundle = getenv("CURL_CA_BUNDLE");
	if (bundle && *bundle)
		T.SSL_CTX_load_verify_locations(T.ctx, bundle, NULL);
	else
		T.SSL_CTX_set_default_verify_paths(T.ctx);
	T.SSL_CTX_set_verify(T.ctx, SSL_VERIFY_PEER, NULL);
	return true;
}

struct bufferevent *tls_bufferevent(struct event_base *base,
                                    const char *host, char *err, size_t n)
{
	if (!load()) {
		snprintf(err, n, "https is unavailable (%s)", T.err);
		return NULL;
	}
	SSL *ssl = T.SSL_new(T.ctx);
	if (!ssl) {
		snprintf(err, n, "SSL_new failed");
		return NULL;
	}
	unsigned char ip[16];
	bool is_ip = inet_pton(AF_INET, host, ip) == 1 ||
	             inet_pton(AF_INET6, host, ip) == 1;
	int ok = is_ip ? T.X509_VERIFY_PARAM_set1_ip_asc(T.SSL_get0_param(ssl),
	                                                 host)
	               : T.SSL_set1_host(ssl, host) &&
	                         T.SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME,
	                                    TLSEXT_NAMETYPE_host_name,
	                                    (void *)(uintptr_t)host);
	struct bufferevent *bev =
	        ok ? T.bufferevent_openssl_socket_new(
	                     base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
	                     BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)
	           : NULL;
	if (!bev) {
		T.SSL_free(ssl);
		snprintf(err, n, "cannot set up TLS for %s", host);
		return NULL;
	}
	/* many servers close without close_notify; the HTTP framing
	 * (Content-Length) tells a complete answer anyway */
	T.bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

bool tls_error(struct bufferevent *bev, char *out, size_t n)
{
	unsigned long e = T.ctx && bev ? T.bufferevent_get_openssl_error(bev)
	                               : 0;
	if (!e)
		return false;
	T.ERR_error_string_n(e, out, n);
	return true;
}

void tls_release(void)
{
	if (T.ctx)
		T.SSL_CTX_free(T.ctx);
	T.ctx = NULL;
	T.tried = false;
}
