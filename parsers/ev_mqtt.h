/* ev_mqtt.h - the mqtt event (DESIGN §5): what parsers/mqtt.c reports per message. */
#ifndef IW_EV_MQTT_H
#define IW_EV_MQTT_H

#include <stdint.h>

/* Filled in by the mqtt decoder (issue 3). */
struct iw_ev_mqtt {
	const char *type; /* the message type as records spell it */
};

#endif
