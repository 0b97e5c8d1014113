/* tunnel.h - which flows are remote-access tunnels (issue 4; REFERENCE §1, §2): TLS to an
 * AWS IoT Secure Tunneling data endpoint or an Azure IoT Hub device-streams endpoint, TLS
 * to a host name the configuration lists (rules.tunnel.endpoints), and SSH, RDP, VNC,
 * TeamViewer and AnyDesk sessions. The sensor asks when a flow's TLS server name, SSH
 * banner or nDPI protocol becomes known, and reports the tunnel's open, active and close
 * events from its flow table. */
#ifndef IW_TUNNEL_H
#define IW_TUNNEL_H

/* The tunnel kind a TLS server name makes ("aws_secure_tunneling",
 * "azure_device_streams": the data-plane forms of rules/region.h's host names;
 * "configured": a glob, an fnmatch(3) pattern), or NULL. Case-insensitive; a trailing dot
 * is ignored. */
const char *iw_tunnel_kind_sni(const char *sni, char *const *globs, unsigned n_globs);

/* The tunnel kind of a protocol nDPI detected, by its lower-case name ("rdp", "vnc",
 * "teamviewer", "anydesk"), or NULL. */
const char *iw_tunnel_kind_ndpi(const char *name);

#endif
