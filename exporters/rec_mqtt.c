/* rec_mqtt.c - the "mqtt" object of a mqtt event record (DESIGN §5). */
#include "json.h"
#include "record.h"

void iw_rec_mqtt(struct iw_json *j, const struct iw_event *ev)
{
	iw_json_str(j, "type", ev->u.mqtt.type);
}
