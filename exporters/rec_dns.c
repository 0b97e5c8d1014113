/* rec_dns.c - the "dns" object of a dns event record (DESIGN §5). STUB: being written. */
#include "record.h"

void iw_rec_dns(struct iw_json *j, const struct iw_event *ev)
{
	(void)j;
	(void)ev;
}
