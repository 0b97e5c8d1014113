/* rec_modbus.c - the "modbus" object of a modbus event record (DESIGN §5). */
#include "json.h"
#include "record.h"

void iw_rec_modbus(struct iw_json *j, const struct iw_event *ev)
{
	iw_json_str(j, "type", ev->u.modbus.type);
}
