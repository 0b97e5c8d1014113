/* ev_tunnel.h - the tunnel event (DESIGN §5): a remote-access session (TLS to a
 * secure-tunneling or device-stream endpoint, SSH, RDP, VNC, TeamViewer, AnyDesk, or an
 * endpoint the configuration names) seen by the sensor's flow table. */
#ifndef IW_EV_TUNNEL_H
#define IW_EV_TUNNEL_H

#include <stdint.h>

enum iw_tunnel_type {
	IW_TUNNEL_OPEN,   /* the flow became a tunnel */
	IW_TUNNEL_ACTIVE, /* still open: every rules.tunnel.report_interval of packet time */
	IW_TUNNEL_CLOSE,  /* the flow ended */
	IW_TUNNEL__TYPES
};

struct iw_ev_tunnel {
	enum iw_tunnel_type type;
	const char *kind;     /* "aws_secure_tunneling", "azure_device_streams", "ssh", "rdp",
	                         "vnc", "teamviewer", "anydesk", "configured" */
	uint64_t start_us;    /* the flow's first packet */
	uint64_t duration_us; /* active, close: so far */
	uint64_t pkts_toserver, pkts_toclient, bytes_toserver, bytes_toclient;
	uint8_t reason; /* close: enum iw_flow_end */
};

/* "open", "active", "close" */
const char *iw_tunnel_type_name(enum iw_tunnel_type t);

#endif
