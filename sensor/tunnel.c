/* tunnel.c - tunnel kinds from server names (through the region database's host-name
 * patterns) and nDPI protocols. */
#include "tunnel.h"

#include <fnmatch.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "../rules/region.h"

const char *iw_tunnel_kind_sni(const char *sni, char *const *globs, unsigned n_globs)
{
	if (!sni || !*sni)
		return NULL;
	/* the endpoint forms are the region database's (one parser of cloud host names) */
	struct iw_region r;
	char region[64];
	if (iw_region_from_name(sni, &r, region, sizeof(region))) {
		/* the data plane only: api.tunneling.iot... is the control plane, not a tunnel */
		if (!strcmp(r.provider, "aws") && !strcmp(r.service, "tunneling") &&
		    !strncasecmp(sni, "data.", 5))
			return "aws_secure_tunneling";
		if (!strcmp(r.provider, "azure") && !strcmp(r.service, "streams"))
			return "azure_device_streams";
	}
	size_t n = strlen(sni);
	if (n > 255)
		return NULL;
	char name[256];
	memcpy(name, sni, n + 1);
	if (name[n - 1] == '.')
		name[--n] = '\0';
	for (unsigned i = 0; i < n_globs; i++)
		if (globs[i] && fnmatch(globs[i], name, FNM_CASEFOLD) == 0)
			return "configured";
	return NULL;
}

const char *iw_tunnel_kind_ndpi(const char *name)
{
	static const char *const kinds[] = {"rdp", "vnc", "teamviewer", "anydesk"};
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(name, kinds[i]))
			return kinds[i];
	return NULL;
}
