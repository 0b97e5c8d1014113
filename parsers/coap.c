/* coap.c - CoAP over UDP (RFC 7252 §3).
 *
 *   | ver 2 | type 2 | TKL 4 | code 8 | message id 16 | token 0-8 | options | 0xFF | payload |
 *   option: | delta 4 | length 4 | ext delta 0-2 | ext length 0-2 | value |
 *
 * For now: the strict probe that walks the whole message; the decoder is issue 3. */
#include <netinet/in.h>

#include "parser.h"

/* Reads an option's extended delta or length (RFC 7252 §3.1); 15 is reserved. */
static bool ext_nibble(struct iw_cur *c, unsigned v)
{
	if (v == 13)
		iw_cur_skip(c, 1);
	else if (v == 14)
		iw_cur_skip(c, 2);
	else if (v == 15)
		return false;
	return !c->err;
}

/* A datagram that parses completely as CoAP: version 1, token length <= 8, a code of a
 * registered class, options well formed, a payload marker followed by a payload. */
static int coap_probe(const uint8_t *data, size_t len, int dir)
{
	(void)dir;
	struct iw_cur c = iw_cur_make(data, len);
	uint8_t b0 = iw_cur_u8(&c);
	uint8_t code = iw_cur_u8(&c);
	iw_cur_skip(&c, 2);
	if (c.err || (b0 >> 6) != 1 || (b0 & 0x0f) > 8)
		return IW_ERR;
	unsigned cls = code >> 5;
	if (cls != 0 && cls != 2 && cls != 4 && cls != 5)
		return IW_ERR;
	if (code == 0) /* empty message: nothing may follow */
		return (b0 & 0x0f) == 0 && iw_cur_left(&c) == 0 && ((b0 >> 4) & 3) != 1 ? IW_OK : IW_ERR;
	if (cls == 0 && code > 7)
		return IW_ERR;
	if (!iw_cur_skip(&c, b0 & 0x0f))
		return IW_ERR;
	while (iw_cur_left(&c)) {
		uint8_t ob = iw_cur_u8(&c);
		if (ob == 0xff)
			return iw_cur_left(&c) ? IW_OK : IW_ERR;
		unsigned olen = ob & 0x0f;
		if (!ext_nibble(&c, ob >> 4))
			return IW_ERR;
		if (olen == 13)
			olen = 13u + iw_cur_u8(&c);
		else if (olen == 14)
			olen = 269u + iw_cur_be16(&c);
		else if (olen == 15)
			return IW_ERR;
		if (c.err || !iw_cur_skip(&c, olen))
			return IW_ERR;
	}
	return IW_OK;
}

const struct iw_parser iw_parser_coap = {
    .name = "coap",
    .ipproto = IPPROTO_UDP,
    .ports = {5683},
    .ndpi_name = "CoAP",
    .probe = coap_probe,
};
