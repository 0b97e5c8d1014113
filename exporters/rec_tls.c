/* rec_tls.c - the "tls" object of a tls event record (DESIGN §5). STUB: being written. */
#include "record.h"

void iw_rec_tls(struct iw_json *j, const struct iw_event *ev)
{
	(void)j;
	(void)ev;
}
