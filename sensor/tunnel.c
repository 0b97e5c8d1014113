/* tunnel.c - tunnel kinds from server names and nDPI protocols. */
#include "tunnel.h"

#include <fnmatch.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

/* s ends with suffix, compared without case. */
static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n >= k && !strncasecmp(s + n - k, suffix, k);
}

/* data.tunneling.iot.<region>.amazonaws.com[.cn], region one non-empty label. */
static bool aws_tunnel(const char *s, size_t n)
{
	static const char head[] = "data.tunneling.iot.";
	size_t h = sizeof(head) - 1;
	size_t tail;
	if (ends_with(s, n, ".amazonaws.com"))
		tail = strlen(".amazonaws.com");
	else if (ends_with(s, n, ".amazonaws.com.cn"))
		tail = strlen(".amazonaws.com.cn");
	else
		return false;
	if (n <= h + tail || strncasecmp(s, head, h))
		return false;
	return memchr(s + h, '.', n - h - tail) == NULL;
}

const char *iw_tunnel_kind_sni(const char *sni, char *const *globs, unsigned n_globs)
{
	if (!sni || !*sni)
		return NULL;
	size_t n = strlen(sni);
	if (n > 255)
		return NULL;
	char name[256];
	memcpy(name, sni, n + 1);
	if (name[n - 1] == '.')
		name[--n] = '\0';
	if (aws_tunnel(name, n))
		return "aws_secure_tunneling";
	/* <hub>.<region>-NNN.streams.azure-devices.net */
	if (ends_with(name, n, ".streams.azure-devices.net") && n > strlen(".streams.azure-devices.net"))
		return "azure_device_streams";
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
