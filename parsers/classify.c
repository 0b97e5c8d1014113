/* classify.c - nDPI 4.2 glue (ndpi_api.h): detection module set-up, per-flow state,
 * one packet at a time until nDPI decides. */
#include <ndpi/ndpi_api.h>
#include <stdio.h>
#include <stdlib.h>

#include "alloc.h"
#include "classify.h"

struct iw_ndpi {
	struct ndpi_detection_module_struct *mod;
};

struct iw_ndpi *iw_ndpi_new(void)
{
	struct ndpi_detection_module_struct *mod = ndpi_init_detection_module(ndpi_no_prefs);
	if (!mod)
		return NULL;
	NDPI_PROTOCOL_BITMASK all;
	NDPI_BITMASK_SET_ALL(all);
	ndpi_set_protocol_detection_bitmask2(mod, &all);
	ndpi_finalize_initialization(mod);
	struct iw_ndpi *n = iw_calloc(1, sizeof(*n));
	n->mod = mod;
	return n;
}

void iw_ndpi_free(struct iw_ndpi *n)
{
	if (!n)
		return;
	ndpi_exit_detection_module(n->mod);
	free(n);
}

void *iw_ndpi_flow_new(struct iw_ndpi *n)
{
	(void)n;
	void *f = iw_calloc(1, SIZEOF_FLOW_STRUCT);
	return f;
}

void iw_ndpi_flow_free(void *flow)
{
	if (!flow)
		return;
	ndpi_free_flow_data(flow);
	free(flow);
}

int iw_ndpi_proto_id(struct iw_ndpi *n, const char *name)
{
	return ndpi_get_protocol_id(n->mod, (char *)name);
}

static void result(struct iw_ndpi *n, ndpi_protocol p, struct iw_ndpi_result *r)
{
	r->master = p.master_protocol;
	r->app = p.app_protocol;
	/* the more specific of the two names: "MQTT", "TLS" rather than "Amazon" */
	uint16_t id = p.master_protocol != NDPI_PROTOCOL_UNKNOWN ? p.master_protocol : p.app_protocol;
	r->name = ndpi_get_proto_name(n->mod, id);
}

int iw_ndpi_packet(struct iw_ndpi *n, void *flow, const uint8_t *l3, uint32_t len, uint64_t ts_us,
                   struct iw_ndpi_result *r)
{
	if (len > 0xffff)
		len = 0xffff;
	ndpi_protocol p = ndpi_detection_process_packet(n->mod, flow, l3, (unsigned short)len, ts_us / 1000);
	if (p.app_protocol == NDPI_PROTOCOL_UNKNOWN && p.master_protocol == NDPI_PROTOCOL_UNKNOWN)
		return 0;
	result(n, p, r);
	return 1;
}

void iw_ndpi_giveup(struct iw_ndpi *n, void *flow, struct iw_ndpi_result *r)
{
	uint8_t guessed = 0;
	ndpi_protocol p = ndpi_detection_giveup(n->mod, flow, 1, &guessed);
	result(n, p, r);
}
