/* rec_coap.c - the "coap" object of a coap event record (DESIGN §5). */
#include "json.h"
#include "record.h"

void iw_rec_coap(struct iw_json *j, const struct iw_event *ev)
{
	iw_json_str(j, "type", ev->u.coap.type);
}
