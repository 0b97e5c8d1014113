/* ev_modbus.h - the modbus event (DESIGN §5): what parsers/modbus.c reports per message. */
#ifndef IW_EV_MODBUS_H
#define IW_EV_MODBUS_H

#include <stdint.h>

/* Filled in by the modbus decoder (issue 3). */
struct iw_ev_modbus {
	const char *type; /* the message type as records spell it */
};

#endif
