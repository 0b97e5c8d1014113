/* tls.c - TLS handshake records (RFC 5246 §6.2, §7.4; RFC 8446 §4-5).
 *
 *   record    | type 1 (22 = handshake) | version 2 | length 2 | fragment |
 *   handshake | msg type 1 (1 = ClientHello, 2 = ServerHello) | length 3 | version 2 | ...
 *
 * For now: the strict probe on a ClientHello (or a ServerHello seen first when the
 * capture starts late); the handshake decoder is issue 4. */
#include <netinet/in.h>

#include "parser.h"

static int tls_probe(const uint8_t *data, size_t len, int dir)
{
	struct iw_cur c = iw_cur_make(data, len);
	uint8_t type = iw_cur_u8(&c);
	uint8_t major = iw_cur_u8(&c);
	uint8_t minor = iw_cur_u8(&c);
	uint16_t rlen = iw_cur_be16(&c);
	uint8_t hs = iw_cur_u8(&c);
	uint32_t hlen = (uint32_t)iw_cur_u8(&c) << 16;
	hlen |= iw_cur_be16(&c);
	uint8_t vmajor = iw_cur_u8(&c);
	uint8_t vminor = iw_cur_u8(&c);
	if (c.err) { /* too short to tell, unless what is there already rules it out */
		size_t n = len;
		if ((n >= 1 && type != 22) || (n >= 2 && major != 3) || (n >= 3 && minor > 4))
			return IW_ERR;
		return IW_NEED_MORE;
	}
	if (type != 22 || major != 3 || minor > 4 || rlen < 4 || rlen > 16384 + 2048)
		return IW_ERR;
	if (hs != (dir == IW_DIR_TOSERVER ? 1 : 2) || hlen < 38 || hlen > 0xffff || vmajor != 3 || vminor > 4)
		return IW_ERR;
	return IW_OK;
}

const struct iw_parser iw_parser_tls = {
    .name = "tls",
    .ipproto = IPPROTO_TCP,
    .ports = {443, 8883, 8443, 5671},
    .ndpi_name = "TLS",
    .probe = tls_probe,
};
