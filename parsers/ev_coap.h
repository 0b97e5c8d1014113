/* ev_coap.h - the coap event (DESIGN §5): what parsers/coap.c reports per message. */
#ifndef IW_EV_COAP_H
#define IW_EV_COAP_H

#include <stdint.h>

/* Filled in by the coap decoder (issue 3). */
struct iw_ev_coap {
	const char *type; /* the message type as records spell it */
};

#endif
