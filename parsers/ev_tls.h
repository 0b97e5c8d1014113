/* ev_tls.h - the tls event (DESIGN §5): what parsers/tls.c reports of a handshake.
 *
 * Strings are NUL-terminated and arrays belong to the parser: valid only while the event
 * is emitted. Version numbers are the wire values (0x0303 = TLS 1.2, 0x0304 = TLS 1.3);
 * GREASE values (RFC 8701) are kept in the lists but left out of the fingerprints. */
#ifndef IW_EV_TLS_H
#define IW_EV_TLS_H

#include <stdbool.h>
#include <stdint.h>

#include "x509.h"

#define IW_TLS_MAX_LIST  256 /* ciphers, extensions, groups, signature algorithms kept */
#define IW_TLS_MAX_ALPN  8   /* ALPN protocol names kept */
#define IW_TLS_MAX_CHAIN 8   /* certificates decoded per Certificate message */

enum iw_tls_type {
	IW_TLS_CLIENT_HELLO,
	IW_TLS_SERVER_HELLO,
	IW_TLS_CERTIFICATE,         /* a Certificate message in clear, either direction */
	IW_TLS_CERTIFICATE_REQUEST, /* the server asks for a client certificate (mutual TLS) */
	IW_TLS_ALERT,               /* an alert record; its content only when in clear */
	IW_TLS_HANDSHAKE_FAILED,    /* the flow ended before application data */
	IW_TLS__TYPES
};

struct iw_tls_list {
	const uint16_t *v;
	uint16_t n;       /* kept in v */
	uint16_t dropped; /* past IW_TLS_MAX_LIST */
};

struct iw_ev_tls {
	enum iw_tls_type type;
	uint8_t dir; /* sender: IW_DIR_TOSERVER (client) or IW_DIR_TOCLIENT (server) */
	/* the session so far; on every type once known */
	uint16_t version;           /* best offered (client_hello), selected (server_hello and later) */
	const char *sni;            /* server_name of the ClientHello, NULL when absent */
	const char *alpn;           /* the protocol the server selected, NULL when none */
	const char *ja3_hash, *ja4; /* the client's fingerprints, NULL before the ClientHello */

	/* client_hello, server_hello */
	uint16_t legacy_version; /* the hello's version field */
	uint8_t session_id_len;
	struct iw_tls_list ciphers; /* server_hello: the one chosen */
	struct iw_tls_list extensions;
	struct iw_tls_list versions; /* supported_versions */
	struct iw_tls_list groups;   /* supported_groups (client) */
	struct iw_tls_list sig_algs; /* signature_algorithms (client) */
	const uint8_t *point_formats;
	uint8_t n_point_formats;
	const char *alpns[IW_TLS_MAX_ALPN]; /* offered (client_hello) */
	uint8_t n_alpns;
	const char *ja3;              /* "771,4865-4866,...": the string hashed (client_hello) */
	const char *ja3s, *ja3s_hash; /* server_hello */
	bool resumed;                 /* server_hello: the server echoed a non-empty session id (TLS 1.2) */

	/* certificate: the chain as sent, leaf first; certs[i] is decoded when
	 * cert_ok[i] (a certificate libcrypto rejects still has its sha256) */
	const struct iw_x509 *certs;
	const bool *cert_ok;
	uint8_t n_certs;        /* decoded or not, up to IW_TLS_MAX_CHAIN */
	uint16_t certs_dropped; /* certificates past IW_TLS_MAX_CHAIN */

	/* certificate_request */
	uint8_t n_cert_types;
	uint16_t n_ca_names; /* distinguished names of acceptable CAs */

	/* alert */
	bool encrypted; /* after ChangeCipherSpec, or TLS 1.3 after the ServerHello */
	uint8_t level;  /* 1 warning, 2 fatal; 0 when encrypted */
	uint8_t description;

	/* handshake_failed */
	const char *failure;       /* "no_server_hello", "alert", "no_application_data" */
	uint32_t records[2];       /* records seen per direction */
	uint64_t start_us, end_us; /* first and last record */
	bool alert_seen;           /* description/level/encrypted hold the last alert */
};

/* "client_hello", ... */
const char *iw_tls_type_name(enum iw_tls_type t);
/* "certificate_expired", ...; NULL for a code RFC 8446/5246 does not name */
const char *iw_tls_alert_name(uint8_t description);
/* "TLS 1.2", "TLS 1.3", "SSL 3.0", ...; NULL for another value */
const char *iw_tls_version_name(uint16_t v);

#endif
