/* rec_ssh.c - the "ssh" object of a ssh event record (DESIGN §5; fields in docs/ssh.md).
 *
 * Suricata EVE keeps one ssh object per flow ({client: {proto_version, software_version},
 * server: {...}} with hassh {hash, string}); our events come one per message, so each
 * record says its type and its side and uses EVE's member names for the rest. */
#include "json.h"
#include "record.h"

/* A member written only when the parser had the string. */
static void opt(struct iw_json *j, const char *key, const char *s)
{
	if (s)
		iw_json_str(j, key, s);
}

void iw_rec_ssh(struct iw_json *j, const struct iw_event *ev)
{
	const struct iw_ev_ssh *s = &ev->u.ssh;
	iw_json_str(j, "type", iw_ssh_type_name(s->type));
	iw_json_str(j, "side", s->dir ? "server" : "client"); /* the sender: 0 client, 1 server */
	switch (s->type) {
	case IW_SSH_BANNER:
		opt(j, "proto_version", s->proto_version);
		opt(j, "software_version", s->software);
		opt(j, "comments", s->comments);
		break;
	case IW_SSH_KEXINIT:
		if (s->hassh || s->hassh_string) {
			iw_json_obj_begin(j, "hassh");
			opt(j, "hash", s->hassh);
			opt(j, "string", s->hassh_string);
			iw_json_obj_end(j);
		}
		opt(j, "kex_algorithms", s->kex_algs);
		opt(j, "host_key_algorithms", s->host_key_algs);
		opt(j, "encryption_algorithms", s->ciphers);
		opt(j, "mac_algorithms", s->macs);
		opt(j, "compression_algorithms", s->compression);
		break;
	default:
		break;
	}
}
