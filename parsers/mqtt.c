/* mqtt.c - MQTT 3.1, 3.1.1 (OASIS mqtt-v3.1.1 §2-3) and 5.0 (OASIS mqtt-v5.0 §2-3).
 *
 *   fixed header | type 4 bits | flags 4 bits | remaining length 1-4 bytes (7 bits each) |
 *   CONNECT      | name len 2 | "MQTT" or "MQIsdp" | level 1 | flags 1 | keepalive 2 | ...
 *
 * For now: the strict probe that classifies a flow from its CONNECT; the decoder of
 * every packet type is issue 3. */
#include <netinet/in.h>
#include <string.h>

#include "parser.h"

/* A client's first bytes must be a well-formed CONNECT: type 1 with flags 0, a valid
 * remaining length, protocol name "MQTT" (level 4 or 5) or "MQIsdp" (level 3), and
 * reserved connect flag 0. */
static int mqtt_probe(const uint8_t *data, size_t len, int dir)
{
	if (dir != IW_DIR_TOSERVER)
		return IW_ERR;
	struct iw_cur c = iw_cur_make(data, len);
	if (iw_cur_u8(&c) != 0x10)
		return c.err ? IW_NEED_MORE : IW_ERR;
	uint32_t rem = 0;
	for (int i = 0;; i++) {
		uint8_t b = iw_cur_u8(&c);
		if (c.err)
			return IW_NEED_MORE;
		rem |= (uint32_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80))
			break;
		if (i == 3)
			return IW_ERR;
	}
	uint16_t nlen = iw_cur_be16(&c);
	const uint8_t *name;
	if (c.err || !iw_cur_bytes(&c, nlen < 8 ? nlen : 8, &name))
		return IW_NEED_MORE;
	uint8_t level = iw_cur_u8(&c);
	uint8_t flags = iw_cur_u8(&c);
	if (c.err)
		return IW_NEED_MORE;
	if (rem < 10u + nlen - 4u || (flags & 1))
		return IW_ERR;
	if (nlen == 4 && !memcmp(name, "MQTT", 4) && (level == 4 || level == 5))
		return IW_OK;
	if (nlen == 6 && !memcmp(name, "MQIsdp", 6) && level == 3)
		return IW_OK;
	return IW_ERR;
}

const struct iw_parser iw_parser_mqtt = {
    .name = "mqtt",
    .ipproto = IPPROTO_TCP,
    .ports = {1883},
    .ndpi_name = "MQTT",
    .probe = mqtt_probe,
};
