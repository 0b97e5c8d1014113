/* ssh.c - SSH identification strings and KEXINIT. STUB: being written. */
#include <netinet/in.h>

#include "parser.h"

const char *iw_ssh_type_name(enum iw_ssh_type t)
{
	return t == IW_SSH_BANNER ? "banner" : t == IW_SSH_KEXINIT ? "kexinit" : "unknown";
}

const struct iw_parser iw_parser_ssh = {
    .name = "ssh",
    .ipproto = IPPROTO_TCP,
    .ports = {22},
    .ndpi_name = "SSH",
};
