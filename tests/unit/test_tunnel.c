/* test_tunnel.c - tunnel kinds (sensor/tunnel.c): AWS IoT Secure Tunneling and Azure IoT
 * Hub device-streams data endpoints from the TLS server name (REFERENCE §1, §2), the
 * configured globs, and the remote-access protocols nDPI names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sensor/tunnel.h"

#define AWS   "aws_secure_tunneling"
#define AZURE "azure_device_streams"
#define CONF  "configured"

/* The kind without configured globs; NULL compares as the string "(null)". */
static const char *kind(const char *sni)
{
	const char *k = iw_tunnel_kind_sni(sni, NULL, 0);
	return k ? k : "(null)";
}

static const char *kind_g(const char *sni, char *const *globs, unsigned n)
{
	const char *k = iw_tunnel_kind_sni(sni, globs, n);
	return k ? k : "(null)";
}

static void test_aws_data_plane(void **state)
{
	(void)state;
	assert_string_equal(kind("data.tunneling.iot.ap-south-1.amazonaws.com"), AWS);
	assert_string_equal(kind("data.tunneling.iot.eu-west-1.amazonaws.com"), AWS);
	/* China: .amazonaws.com.cn */
	assert_string_equal(kind("data.tunneling.iot.cn-north-1.amazonaws.com.cn"), AWS);
	assert_string_equal(kind("data.tunneling.iot.cn-northwest-1.amazonaws.com.cn"), AWS);
	/* case does not matter, a trailing dot is ignored */
	assert_string_equal(kind("DATA.TUNNELING.IOT.AP-SOUTH-1.AMAZONAWS.COM"), AWS);
	assert_string_equal(kind("Data.Tunneling.Iot.Ap-South-1.AmazonAWS.Com"), AWS);
	assert_string_equal(kind("data.tunneling.iot.ap-south-1.amazonaws.com."), AWS);
	assert_string_equal(kind("data.tunneling.iot.cn-north-1.amazonaws.com.cn."), AWS);
}

static void test_aws_not_tunnels(void **state)
{
	(void)state;
	/* the control plane API is not a tunnel */
	assert_string_equal(kind("api.tunneling.iot.us-east-1.amazonaws.com"), "(null)");
	assert_string_equal(kind("api.tunneling.iot-fips.us-east-1.amazonaws.com"), "(null)");
	/* the region is one non-empty label */
	assert_string_equal(kind("data.tunneling.iot..amazonaws.com"), "(null)");
	assert_string_equal(kind("data.tunneling.iot.a.b.amazonaws.com"), "(null)");
	assert_string_equal(kind("data.tunneling.iot.amazonaws.com"), "(null)");
	assert_string_equal(kind("data.tunneling.iot.amazonaws.com.cn"), "(null)");
	/* other AWS IoT names */
	assert_string_equal(kind("a1b2c3-ats.iot.ap-south-1.amazonaws.com"), "(null)");
	assert_string_equal(kind("tunneling.iot.ap-south-1.amazonaws.com"), "(null)");
	/* lookalikes: prefix, suffix, other domains */
	assert_string_equal(kind("xdata.tunneling.iot.ap-south-1.amazonaws.com"), "(null)");
	assert_string_equal(kind("data.tunneling.iot.ap-south-1.amazonaws.com.evil.example"), "(null)");
	assert_string_equal(kind("data.tunneling.iot.ap-south-1.amazonaws.comx"), "(null)");
	assert_string_equal(kind("data.tunneling.iot.ap-south-1.notamazonaws.com"), "(null)");
	assert_string_equal(kind("data.tunneling.iot.ap-south-1.amazonaws.org"), "(null)");
	assert_string_equal(kind(".amazonaws.com"), "(null)");
	assert_string_equal(kind("amazonaws.com"), "(null)");
}

static void test_azure_device_streams(void **state)
{
	(void)state;
	assert_string_equal(kind("hub.northeurope-001.streams.azure-devices.net"), AZURE);
	assert_string_equal(kind("HUB.NorthEurope-001.Streams.Azure-Devices.NET"), AZURE);
	assert_string_equal(kind("hub.centralus-001.streams.azure-devices.net."), AZURE);
	/* the bare streams domain, an IoT Hub itself and lookalikes are not */
	assert_string_equal(kind("streams.azure-devices.net"), "(null)");
	assert_string_equal(kind(".streams.azure-devices.net"), "(null)");
	assert_string_equal(kind("myhub.azure-devices.net"), "(null)");
	assert_string_equal(kind("hub.northeurope-001.streams.azure-devices.net.evil.example"), "(null)");
	assert_string_equal(kind("hub.northeurope-001.xstreams.azure-devices.net"), "(null)");
	assert_string_equal(kind("global.azure-devices-provisioning.net"), "(null)");
}

static void test_configured_globs(void **state)
{
	(void)state;
	char g0[] = "*.relay.example.com";
	char g1[] = "bastion.corp.example";
	char *globs[] = {g0, g1};
	assert_string_equal(kind_g("a.relay.example.com", globs, 2), CONF);
	assert_string_equal(kind_g("a.b.relay.example.com", globs, 2), CONF);
	assert_string_equal(kind_g("A.RELAY.Example.COM", globs, 2), CONF);
	assert_string_equal(kind_g("a.relay.example.com.", globs, 2), CONF);
	assert_string_equal(kind_g("BASTION.corp.example", globs, 2), CONF);
	assert_string_equal(kind_g("relay.example.com", globs, 2), "(null)");
	assert_string_equal(kind_g("a.relay.example.org", globs, 2), "(null)");
	assert_string_equal(kind_g("bastion.corp.example.net", globs, 2), "(null)");
	/* only the first n_globs are used */
	assert_string_equal(kind_g("bastion.corp.example", globs, 1), "(null)");
	assert_string_equal(kind_g("a.relay.example.com", globs, 0), "(null)");
	/* a NULL entry is passed over */
	char *holes[] = {NULL, g0};
	assert_string_equal(kind_g("a.relay.example.com", holes, 2), CONF);
	/* the built-in kinds come first */
	char all[] = "*";
	char *star[] = {all};
	assert_string_equal(kind_g("data.tunneling.iot.ap-south-1.amazonaws.com", star, 1), AWS);
	assert_string_equal(kind_g("hub.northeurope-001.streams.azure-devices.net", star, 1), AZURE);
	assert_string_equal(kind_g("anything.example", star, 1), CONF);
}

static void test_empty_and_long(void **state)
{
	(void)state;
	char all[] = "*";
	char *star[] = {all};
	assert_null(iw_tunnel_kind_sni(NULL, NULL, 0));
	assert_null(iw_tunnel_kind_sni(NULL, star, 1));
	assert_null(iw_tunnel_kind_sni("", NULL, 0));
	assert_null(iw_tunnel_kind_sni("", star, 1));
	/* longer than a DNS name can be: not looked at */
	char name[300];
	memset(name, 'a', sizeof(name));
	name[256] = '\0';
	assert_null(iw_tunnel_kind_sni(name, star, 1));
	name[255] = '\0';
	assert_string_equal(kind_g(name, star, 1), CONF);
}

static void test_ndpi(void **state)
{
	(void)state;
	assert_string_equal(iw_tunnel_kind_ndpi("rdp"), "rdp");
	assert_string_equal(iw_tunnel_kind_ndpi("vnc"), "vnc");
	assert_string_equal(iw_tunnel_kind_ndpi("teamviewer"), "teamviewer");
	assert_string_equal(iw_tunnel_kind_ndpi("anydesk"), "anydesk");
	assert_null(iw_tunnel_kind_ndpi("tls"));
	assert_null(iw_tunnel_kind_ndpi("ssh")); /* SSH is named from its banner, not here */
	assert_null(iw_tunnel_kind_ndpi(""));
	assert_null(iw_tunnel_kind_ndpi("rdpx"));
	assert_null(iw_tunnel_kind_ndpi(NULL));
	/* the sensor lowers nDPI's names first; the contract is the lower-case name */
	assert_null(iw_tunnel_kind_ndpi("RDP"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_aws_data_plane),       cmocka_unit_test(test_aws_not_tunnels),
	    cmocka_unit_test(test_azure_device_streams), cmocka_unit_test(test_configured_globs),
	    cmocka_unit_test(test_empty_and_long),       cmocka_unit_test(test_ndpi),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
