/* modbus.c - Modbus/TCP (Modbus Messaging on TCP/IP Implementation Guide v1.0b §3.1).
 *
 *   MBAP | transaction id 2 | protocol id 2 (= 0) | length 2 | unit id 1 | PDU: function 1 | data |
 *
 * For now: the strict probe on an MBAP header; the decoder is issue 3. */
#include <netinet/in.h>

#include "parser.h"

static bool known_function(uint8_t fc)
{
	fc &= 0x7f; /* exception responses set the high bit */
	return (fc >= 1 && fc <= 24) || fc == 43 || (fc >= 65 && fc <= 72) || fc == 90 ||
	       (fc >= 100 && fc <= 110);
}

/* An MBAP header with protocol id 0, a length of 2..254 that the segment holds exactly,
 * or holds and is followed by another MBAP header, and a known function code. */
static int modbus_probe(const uint8_t *data, size_t len, int dir)
{
	(void)dir;
	struct iw_cur c = iw_cur_make(data, len);
	iw_cur_skip(&c, 2);
	uint16_t proto = iw_cur_be16(&c);
	uint16_t mlen = iw_cur_be16(&c);
	iw_cur_skip(&c, 1);
	uint8_t fc = iw_cur_u8(&c);
	if (c.err)
		return IW_NEED_MORE;
	if (proto != 0 || mlen < 2 || mlen > 254 || !known_function(fc))
		return IW_ERR;
	if (!iw_cur_skip(&c, (size_t)mlen - 2))
		return IW_NEED_MORE;
	if (iw_cur_left(&c) < 4)
		return IW_OK; /* one whole ADU, perhaps the start of the next */
	iw_cur_skip(&c, 2);
	return iw_cur_be16(&c) == 0 ? IW_OK : IW_ERR;
}

const struct iw_parser iw_parser_modbus = {
    .name = "modbus",
    .ipproto = IPPROTO_TCP,
    .ports = {502},
    .ndpi_name = "Modbus",
    .probe = modbus_probe,
};
