/* ev_ssh.h - the ssh event (DESIGN §5): what parsers/ssh.c reports of the clear part of
 * an SSH session (RFC 4253 §4.2 identification strings, §7.1 KEXINIT).
 *
 * Strings are NUL-terminated and owned by the parser's per-flow state: valid only while
 * the event is emitted. */
#ifndef IW_EV_SSH_H
#define IW_EV_SSH_H

#include <stdint.h>

enum iw_ssh_type {
	IW_SSH_BANNER,  /* "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u6" */
	IW_SSH_KEXINIT, /* the algorithm lists, with HASSH */
	IW_SSH__TYPES
};

struct iw_ev_ssh {
	enum iw_ssh_type type;
	uint8_t dir; /* sender: IW_DIR_TOSERVER (client) or IW_DIR_TOCLIENT (server) */
	/* banner */
	const char *proto_version; /* "2.0", "1.99" */
	const char *software;      /* "OpenSSH_9.2p1" */
	const char *comments;      /* after the first space, NULL when none */
	/* kexinit: the sender's name-lists, comma-separated as on the wire */
	const char *kex_algs, *host_key_algs, *ciphers, *macs, *compression;
	const char *hassh;        /* MD5 hex of hassh_string: HASSH (client) or HASSHServer */
	const char *hassh_string; /* "kex;ciphers;macs;compression" of the sender's direction */
};

/* "banner", "kexinit" */
const char *iw_ssh_type_name(enum iw_ssh_type t);

#endif
