/* rec_tunnel.c - the "tunnel" object of a tunnel event record (DESIGN §5). STUB: being written. */
#include "record.h"

void iw_rec_tunnel(struct iw_json *j, const struct iw_event *ev)
{
	(void)j;
	(void)ev;
}
