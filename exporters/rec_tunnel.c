/* rec_tunnel.c - the "tunnel" object of a tunnel event record (DESIGN §5; docs/records.md).
 * The endpoint (name, region) is in the record's common "endpoint" object. */
#include "record.h"

void iw_rec_tunnel(struct iw_json *j, const struct iw_event *ev)
{
	const struct iw_ev_tunnel *t = &ev->u.tunnel;
	iw_json_str(j, "type", iw_tunnel_type_name(t->type));
	iw_json_str(j, "kind", t->kind ? t->kind : "unknown");
	iw_json_time(j, "start", t->start_us);
	if (t->type != IW_TUNNEL_OPEN) {
		iw_json_uint(j, "duration_s", t->duration_us / 1000000);
		iw_json_uint(j, "pkts_toserver", t->pkts_toserver);
		iw_json_uint(j, "pkts_toclient", t->pkts_toclient);
		iw_json_uint(j, "bytes_toserver", t->bytes_toserver);
		iw_json_uint(j, "bytes_toclient", t->bytes_toclient);
	}
	if (t->type == IW_TUNNEL_CLOSE)
		iw_json_str(j, "reason", iw_flow_end_name((enum iw_flow_end)t->reason));
}
