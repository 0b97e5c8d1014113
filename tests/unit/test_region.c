/* test_region.c - unit tests for rules/region.c (REFERENCE §1-§3, docs/regions.md): every
 * host-name form and its negatives, the shipped samples in config/, longest-prefix match
 * (overlaps, ties, IPv6, edges) checked against a brute-force scan, every load error, and a
 * timing of loads and lookups that prints figures and asserts none. Run from the
 * repository root (the samples are read as config/...). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../rules/region.h"

#define AWS_SAMPLE   "config/aws-ip-ranges.sample.json"
#define AZURE_SAMPLE "config/azure-servicetags.sample.json"

/* ---- helpers ---- */

/* A deterministic generator, so a failure can be replayed. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

/* Writes text to a new temporary file; its name goes into path (at least 64 bytes). */
static void write_tmp(char *path, const char *text)
{
	snprintf(path, 64, "/tmp/iw_test_region.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static void need_file(const char *path)
{
	if (access(path, R_OK) != 0)
		fail_msg("%s is missing: run the unit tests from the repository root", path);
}

static struct iw_region_db *load_sample(const char *path)
{
	char err[256] = "";
	need_file(path);
	struct iw_region_db *db = iw_region_db_new();
	if (iw_region_db_load(db, path, err, sizeof err) != 0)
		fail_msg("%s: %s", path, err);
	return db;
}

/* Looks up a textual address; NULL provider when nothing covers it. */
static struct iw_region look(const struct iw_region_db *db, const char *text)
{
	uint8_t a[16];
	struct iw_region r = {NULL, NULL, NULL};
	if (strchr(text, ':')) {
		assert_int_equal(inet_pton(AF_INET6, text, a), 1);
		if (!iw_region_from_addr(db, 6, a, &r))
			r.provider = NULL;
	} else {
		assert_int_equal(inet_pton(AF_INET, text, a), 1);
		if (!iw_region_from_addr(db, 4, a, &r))
			r.provider = NULL;
	}
	return r;
}

static void expect_addr(const struct iw_region_db *db, const char *text, const char *provider,
                        const char *region, const char *service)
{
	struct iw_region r = look(db, text);
	if (!provider) {
		if (r.provider)
			fail_msg("%s: expected no match, got %s %s %s", text, r.provider, r.region,
			         r.service);
		return;
	}
	if (!r.provider)
		fail_msg("%s: expected %s %s %s, got no match", text, provider, region, service);
	if (strcmp(r.provider, provider) || strcmp(r.region, region) || strcmp(r.service, service))
		fail_msg("%s: expected %s %s %s, got %s %s %s", text, provider, region, service, r.provider,
		         r.region, r.service);
}

/* ---- names ---- */

static const struct {
	const char *host, *provider, *region, *service;
} good_names[] = {
    /* AWS IoT Core data */
    {"a1b2c3d4e5f6g7-ats.iot.ap-south-1.amazonaws.com", "aws", "ap-south-1", "iot"},
    {"a1b2c3d4e5f6g7.iot.eu-west-1.amazonaws.com", "aws", "eu-west-1", "iot"},
    {"a1b2c3d4e5f6g7-ats.iot.ap-south-2.amazonaws.com", "aws", "ap-south-2", "iot"}, /* the form counts */
    {"a1b2c3.iot.us-gov-west-1.amazonaws.com", "aws", "us-gov-west-1", "iot"},
    {"a1b2c3.iot.us-iso-east-1.amazonaws.com", "aws", "us-iso-east-1", "iot"},
    {"a1b2c3.iot.us-isob-east-1.amazonaws.com", "aws", "us-isob-east-1", "iot"},
    {"data.iot-fips.us-east-1.amazonaws.com", "aws", "us-east-1", "iot"},
    {"data-ats.iot-fips.us-gov-east-1.amazonaws.com", "aws", "us-gov-east-1", "iot"},
    {"a1b2c3.ats.iot.cn-north-1.amazonaws.com.cn", "aws", "cn-north-1", "iot"},
    {"a1b2c3-ats.iot.eu-central-1.api.aws", "aws", "eu-central-1", "iot"},
    /* Secure Tunneling */
    {"data.tunneling.iot.ap-south-1.amazonaws.com", "aws", "ap-south-1", "tunneling"},
    {"api.tunneling.iot.eu-west-1.amazonaws.com", "aws", "eu-west-1", "tunneling"},
    {"api.tunneling.iot-fips.us-east-2.amazonaws.com", "aws", "us-east-2", "tunneling"},
    {"data.tunneling.iot.cn-north-1.amazonaws.com.cn", "aws", "cn-north-1", "tunneling"},
    {"data.tunneling.iot.cn-northwest-1.amazonaws.com.cn", "aws", "cn-northwest-1", "tunneling"},
    {"api.iot-tunneling.ap-south-1.api.aws", "aws", "ap-south-1", "tunneling"},
    {"api.iot-tunneling-fips.us-west-2.api.aws", "aws", "us-west-2", "tunneling"},
    /* credentials provider, jobs */
    {"c1a2b3.credentials.iot.ap-south-1.amazonaws.com", "aws", "ap-south-1", "credentials"},
    {"c1a2b3.credentials.iot-fips.us-east-1.amazonaws.com", "aws", "us-east-1", "credentials"},
    {"j1a2b3.jobs.iot.sa-east-1.amazonaws.com", "aws", "sa-east-1", "jobs"},
    /* Greengrass */
    {"greengrass-ats.iot.ap-southeast-2.amazonaws.com", "aws", "ap-southeast-2", "greengrass"},
    {"greengrass.iot.us-west-2.amazonaws.com", "aws", "us-west-2", "greengrass"},
    {"greengrass.eu-north-1.amazonaws.com", "aws", "eu-north-1", "greengrass"},
    /* case and the trailing dot */
    {"DATA.Tunneling.IOT.AP-SOUTH-1.AmazonAWS.COM", "aws", "ap-south-1", "tunneling"},
    {"data.tunneling.iot.ap-south-1.amazonaws.com.", "aws", "ap-south-1", "tunneling"},
    /* Azure device streams */
    {"myhub.northeurope-001.streams.azure-devices.net", "azure", "northeurope", "streams"},
    {"my-hub.centraluseuap-002.streams.azure-devices.net", "azure", "centraluseuap", "streams"},
    {"MyHub.SouthEastAsia-001.Streams.Azure-Devices.Net.", "azure", "southeastasia", "streams"},
    /* GCP Pub/Sub */
    {"europe-west1-pubsub.googleapis.com", "gcp", "europe-west1", "pubsub"},
    {"asia-south1-pubsub.googleapis.com", "gcp", "asia-south1", "pubsub"},
    {"northamerica-northeast2-pubsub.googleapis.com", "gcp", "northamerica-northeast2", "pubsub"},
    /* EMQX Cloud serverless */
    {"q1w2e3r4.ala.asia-south1.emqxsl.com", "emqx", "asia-south1", "mqtt"},
    {"q1w2e3r4.ala.us-east-1.emqxsl.com", "emqx", "us-east-1", "mqtt"},
    /* HiveMQ Cloud (coarse) */
    {"0123456789abcdef0123456789abcdef.s1.eu.hivemq.cloud", "hivemq", "eu", "mqtt"},
};

static const char *const bad_names[] = {
    "",
    ".",
    "amazonaws.com",
    "iot.amazonaws.com",
    "iot.us-east-1.amazonaws.com", /* control plane: left to the ip ranges */
    "a1b2.iot.amazonaws.com",
    "evil.amazonaws.com.attacker.net",
    "data.tunneling.iot.ap-south-1.amazonaws.com.attacker.net",
    "data.tunneling.iot.notaregion.amazonaws.com",
    "data.tunneling.iot.us-east.amazonaws.com",
    "data.tunneling.iot.useast-1.amazonaws.com",
    "data.tunneling.iot.u-east-1.amazonaws.com",
    "data.tunneling.iot.us-east-x.amazonaws.com",
    "data.tunneling.iot.us-foo-east-1.amazonaws.com",
    "data.tunneling.iot.us-isoxx-east-1.amazonaws.com",
    "data.tunneling.iot.us-gov-west-1-2.amazonaws.com",
    "evil.tunneling.iot.us-east-1.amazonaws.com",
    "tunneling.iot.us-east-1.amazonaws.com",
    "x.data.tunneling.iot.us-east-1.amazonaws.com",
    "credentials.iot.us-east-1.amazonaws.com",
    "jobs.iot.us-east-1.amazonaws.com",
    "ats.iot.cn-north-1.amazonaws.com.cn",
    "a.b.iot.us-east-1.amazonaws.com",
    "s3.us-east-1.amazonaws.com",
    "ec2.eu-west-1.amazonaws.com",
    "x.greengrass.eu-north-1.amazonaws.com",
    "api.iot-tunneling.ap-south-1.amazonaws.com",
    "data.tunneling.iot.ap-south-1.api.aws.evil",
    "data..tunneling.iot.ap-south-1.amazonaws.com",
    ".data.tunneling.iot.ap-south-1.amazonaws.com",
    "data.tunneling.iot.ap-south-1.amazonaws.com..",
    "data tunneling.iot.ap-south-1.amazonaws.com",
    "dat\xc3\xa4.tunneling.iot.ap-south-1.amazonaws.com",
    "myhub.azure-devices.net",
    "global.azure-devices-provisioning.net",
    "myhub.azure-devices-provisioning.net",
    "myhub.northeurope.streams.azure-devices.net",
    "myhub.northeurope-01.streams.azure-devices.net",
    "northeurope-001.streams.azure-devices.net",
    "a.myhub.northeurope-001.streams.azure-devices.net",
    "myhub.-001.streams.azure-devices.net",
    "pubsub.googleapis.com",
    "-pubsub.googleapis.com",
    "europe-pubsub.googleapis.com",
    "europe-west-pubsub.googleapis.com",
    "x.europe-west1-pubsub.googleapis.com",
    "europe-west1-storage.googleapis.com",
    "q1w2e3r4.emqx.cloud",
    "q1w2e3r4.ala.emqxsl.com",
    "q1w2e3r4.xyz.us-east-1.emqxsl.com",
    "q1w2e3r4.ala.us--east-1.emqxsl.com",
    "q1w2e3r4.ala.-us-east-1.emqxsl.com",
    "zz.s1.eu.hivemq.cloud",
    "0123abcd.eu.hivemq.cloud",
    "0123abcd.x1.eu.hivemq.cloud",
    "broker.hivemq.com",
    "localhost",
    "10.0.0.1",
};

static void test_names(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof good_names / sizeof good_names[0]; i++) {
		char buf[64];
		struct iw_region r = {NULL, NULL, NULL};
		if (!iw_region_from_name(good_names[i].host, &r, buf, sizeof buf))
			fail_msg("%s: no region found", good_names[i].host);
		if (strcmp(r.provider, good_names[i].provider) || strcmp(r.region, good_names[i].region) ||
		    strcmp(r.service, good_names[i].service))
			fail_msg("%s: expected %s %s %s, got %s %s %s", good_names[i].host,
			         good_names[i].provider, good_names[i].region, good_names[i].service,
			         r.provider, r.region, r.service);
		assert_ptr_equal(r.region, buf);
	}
}

static void test_names_negative(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
		char buf[64] = "untouched";
		struct iw_region r = {"p", "r", "s"};
		if (iw_region_from_name(bad_names[i], &r, buf, sizeof buf))
			fail_msg("\"%s\": expected no region, got %s %s %s", bad_names[i], r.provider,
			         r.region, r.service);
		assert_string_equal(r.provider, "p"); /* untouched on false */
		assert_string_equal(r.region, "r");
		assert_string_equal(r.service, "s");
	}
}

static void test_names_limits(void **state)
{
	(void)state;
	struct iw_region r = {NULL, NULL, NULL};
	const char *host = "data.tunneling.iot.ap-south-1.amazonaws.com";
	char buf[16];

	/* "ap-south-1" is 10 bytes: it needs 11 */
	assert_false(iw_region_from_name(host, &r, buf, 10));
	assert_null(r.provider);
	assert_false(iw_region_from_name(host, &r, buf, 0));
	assert_true(iw_region_from_name(host, &r, buf, 11));
	assert_string_equal(r.region, "ap-south-1");

	assert_false(iw_region_from_name(NULL, &r, buf, sizeof buf));
	assert_false(iw_region_from_name(host, NULL, buf, sizeof buf));
	assert_false(iw_region_from_name(host, &r, NULL, sizeof buf));

	/* labels of up to 63 bytes: the prefix, and the region token too */
	char one[300], region[80];
	const char *tail = ".iot.us-east-1.amazonaws.com";
	size_t tl = strlen(tail);
	memset(one, 'a', 63);
	memcpy(one + 63, tail, tl + 1);
	assert_true(iw_region_from_name(one, &r, buf, sizeof buf));
	memset(one, 'a', 64);
	memcpy(one + 64, tail, tl + 1);
	assert_false(iw_region_from_name(one, &r, buf, sizeof buf));
	memset(region, 'b', sizeof region);
	memcpy(region, "us-", 3);
	memcpy(region + 61, "-1", 3); /* 63 bytes */
	snprintf(one, sizeof one, "x.iot.%s.amazonaws.com", region);
	assert_false(iw_region_from_name(one, &r, buf, sizeof buf)); /* does not fit in 16 */
	char wide[64];
	assert_true(iw_region_from_name(one, &r, wide, sizeof wide));
	assert_int_equal(strlen(wide), 63);
	memcpy(region + 61, "b-1", 4); /* 64 bytes */
	snprintf(one, sizeof one, "x.iot.%s.amazonaws.com", region);
	assert_false(iw_region_from_name(one, &r, wide, sizeof wide));

	/* at most 253 bytes (254 with the trailing dot) */
	char longname[300];
	memset(longname, 'a', sizeof longname);
	longname[sizeof longname - 1] = '\0';
	assert_false(iw_region_from_name(longname, &r, buf, sizeof buf));
}

/* ---- the shipped samples ---- */

static void test_aws_sample(void **state)
{
	(void)state;
	struct iw_region_db *db = load_sample(AWS_SAMPLE);
	assert_int_equal(iw_region_db_size(db), 8); /* 6 + 3 entries, GLOBAL skipped */

	expect_addr(db, "198.51.100.0", "aws", "ap-south-1", "AMAZON"); /* AMAZON before EC2: first wins */
	expect_addr(db, "198.51.100.127", "aws", "ap-south-1", "AMAZON");
	expect_addr(db, "198.51.100.128", "aws", "ap-south-2", "AMAZON"); /* the longer prefix */
	expect_addr(db, "198.51.100.255", "aws", "ap-south-2", "AMAZON");
	expect_addr(db, "198.51.101.0", NULL, NULL, NULL);
	expect_addr(db, "192.0.2.1", "aws", "eu-west-1", "AMAZON");
	expect_addr(db, "192.0.2.129", "aws", "us-east-1", "AMAZON");
	expect_addr(db, "203.0.113.5", NULL, NULL, NULL); /* GLOBAL */
	expect_addr(db, "10.0.0.1", NULL, NULL, NULL);

	expect_addr(db, "2001:db8:1000::1", "aws", "ap-south-1", "AMAZON");
	expect_addr(db, "2001:db8:13ff:ffff:ffff:ffff:ffff:ffff", "aws", "ap-south-1", "AMAZON");
	expect_addr(db, "2001:db8:1400::", "aws", "ap-south-2", "AMAZON");
	expect_addr(db, "2001:db8:14ff:ffff:ffff:ffff:ffff:ffff", "aws", "ap-south-2", "AMAZON");
	expect_addr(db, "2001:db8:1500::", "aws", "ap-south-1", "AMAZON");
	expect_addr(db, "2001:db8:2fff::1", "aws", "us-east-1", "AMAZON");
	expect_addr(db, "2001:db8:3000::", NULL, NULL, NULL);
	expect_addr(db, "::ffff:198.51.100.200", "aws", "ap-south-2", "AMAZON"); /* IPv4-mapped */
	expect_addr(db, "::198.51.100.200", NULL, NULL, NULL);

	/* one copy of each string */
	struct iw_region a = look(db, "198.51.100.1"), b = look(db, "2001:db8:1000::1");
	assert_ptr_equal(a.region, b.region);
	assert_ptr_equal(a.service, b.service);
	iw_region_db_free(db);
}

static void test_azure_sample(void **state)
{
	(void)state;
	struct iw_region_db *db = load_sample(AZURE_SAMPLE);
	assert_int_equal(iw_region_db_size(db), 6); /* the global tag's 3 skipped */

	expect_addr(db, "203.0.113.128", "azure", "centralindia", "AzureIoTHub");
	expect_addr(db, "203.0.113.159", "azure", "centralindia", "AzureIoTHub");
	expect_addr(db, "203.0.113.160", "azure", "northeurope", "AzureIoTHub");
	expect_addr(db, "203.0.113.200", "azure", "southindia", "AzureCloud"); /* from the tag name */
	expect_addr(db, "203.0.113.127", NULL, NULL, NULL);
	expect_addr(db, "2001:db8:c100::5", "azure", "centralindia", "AzureIoTHub");
	expect_addr(db, "2001:db8:e100:ffff::", "azure", "northeurope", "AzureIoTHub");
	expect_addr(db, "2001:db8:c200::1", NULL, NULL, NULL); /* only in the global tag */
	expect_addr(db, "2001:db8:51ff::1", "azure", "southindia", "AzureCloud");

	/* a second file merges into the same database */
	char err[256] = "";
	assert_int_equal(iw_region_db_load(db, AWS_SAMPLE, err, sizeof err), 0);
	assert_int_equal(iw_region_db_size(db), 14);
	expect_addr(db, "203.0.113.130", "azure", "centralindia", "AzureIoTHub");
	expect_addr(db, "198.51.100.130", "aws", "ap-south-2", "AMAZON");
	expect_addr(db, "2001:db8:1400::1", "aws", "ap-south-2", "AMAZON");
	iw_region_db_free(db);
}

/* ---- longest match, ties, edges ---- */

struct spec {
	const char *prefix, *region, *service;
};

/* An AWS ip-ranges document from two lists (either may be empty); the caller frees it. */
static char *aws_doc(const struct spec *v4, size_t n4, const struct spec *v6, size_t n6)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	fputs("{\"syncToken\":\"1\",\"prefixes\":[", f);
	for (size_t i = 0; i < n4; i++)
		fprintf(f, "%s{\"ip_prefix\":\"%s\",\"region\":\"%s\",\"service\":\"%s\"}", i ? "," : "",
		        v4[i].prefix, v4[i].region, v4[i].service);
	fputs("],\"ipv6_prefixes\":[", f);
	for (size_t i = 0; i < n6; i++)
		fprintf(f, "%s{\"ipv6_prefix\":\"%s\",\"region\":\"%s\",\"service\":\"%s\"}", i ? "," : "",
		        v6[i].prefix, v6[i].region, v6[i].service);
	fputs("]}", f);
	assert_int_equal(fclose(f), 0);
	return text;
}

static int load_text(struct iw_region_db *db, const char *text, char *err, size_t errlen)
{
	return iw_region_db_load_buf(db, text, strlen(text), err, errlen);
}

static struct iw_region_db *db_from(const struct spec *v4, size_t n4, const struct spec *v6, size_t n6)
{
	char err[256] = "";
	char *text = aws_doc(v4, n4, v6, n6);
	struct iw_region_db *db = iw_region_db_new();
	if (load_text(db, text, err, sizeof err) != 0)
		fail_msg("load: %s", err);
	free(text);
	return db;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_longest_and_edges(void **state)
{
	(void)state;
	static const struct spec v4[] = {
	    {"0.0.0.0/0", "r0", "A"},           {"10.0.0.0/8", "r8", "A"},    {"10.1.0.0/16", "r16", "A"},
	    {"10.1.2.0/24", "r24", "A"},        {"10.1.2.3/32", "r32", "A"},  {"10.0.0.0/16", "r16b", "A"},
	    {"255.255.255.255/32", "top", "A"}, {"10.200.3.4/8", "dup", "A"}, /* 10.0.0.0/8 again, host bits
	                                                                         set: r8 stays */
	    {"10.1.2.255/24", "host", "B"}, /* 10.1.2.0/24 again: r24 stays */
	    {"10.1.2.128/25", "r25", "A"},  /* ends where its parent ends */
	    {"10.1.2.128/26", "r26", "A"},  /* starts where its parent starts */
	};
	static const struct spec v6[] = {
	    {"::/0", "v0", "A"},
	    {"2001:db8::/32", "v32", "A"},
	    {"2001:db8::/64", "v64", "A"},
	    {"2001:db8::1/128", "v128", "A"},
	    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "vtop", "A"},
	    {"2001:db8:0:1:ffff::/65", "v65", "A"},
	    {"2001:db8:0:1:ffff::/66", "v66", "A"}, /* ends where /65 ends */
	};
	struct iw_region_db *db = db_from(v4, N(v4), v6, N(v6));
	assert_int_equal(iw_region_db_size(db), N(v4) + N(v6));

	expect_addr(db, "0.0.0.0", "aws", "r0", "A");
	expect_addr(db, "9.255.255.255", "aws", "r0", "A");
	expect_addr(db, "10.0.0.0", "aws", "r16b", "A");
	expect_addr(db, "10.0.255.255", "aws", "r16b", "A");
	expect_addr(db, "10.1.0.0", "aws", "r16", "A");
	expect_addr(db, "10.1.2.2", "aws", "r24", "A");
	expect_addr(db, "10.1.2.3", "aws", "r32", "A");
	expect_addr(db, "10.1.2.4", "aws", "r24", "A");
	expect_addr(db, "10.1.2.127", "aws", "r24", "A");
	expect_addr(db, "10.1.2.128", "aws", "r26", "A");
	expect_addr(db, "10.1.2.191", "aws", "r26", "A");
	expect_addr(db, "10.1.2.192", "aws", "r25", "A");
	expect_addr(db, "10.1.2.255", "aws", "r25", "A");
	expect_addr(db, "10.1.3.0", "aws", "r16", "A");
	expect_addr(db, "10.2.0.0", "aws", "r8", "A");
	expect_addr(db, "10.255.255.255", "aws", "r8", "A");
	expect_addr(db, "11.0.0.0", "aws", "r0", "A");
	expect_addr(db, "255.255.255.254", "aws", "r0", "A");
	expect_addr(db, "255.255.255.255", "aws", "top", "A");

	expect_addr(db, "::", "aws", "v0", "A");
	expect_addr(db, "2001:db8::", "aws", "v64", "A");
	expect_addr(db, "2001:db8::1", "aws", "v128", "A");
	expect_addr(db, "2001:db8::2", "aws", "v64", "A");
	expect_addr(db, "2001:db8:0:0:ffff:ffff:ffff:ffff", "aws", "v64", "A");
	expect_addr(db, "2001:db8:0:1::", "aws", "v32", "A");
	expect_addr(db, "2001:db8:0:1:7fff:ffff:ffff:ffff", "aws", "v32", "A");
	expect_addr(db, "2001:db8:0:1:8000::", "aws", "v65", "A"); /* host bits of the /65 masked */
	expect_addr(db, "2001:db8:0:1:bfff:ffff:ffff:ffff", "aws", "v65", "A");
	expect_addr(db, "2001:db8:0:1:c000::", "aws", "v66", "A");
	expect_addr(db, "2001:db8:0:1:ffff:ffff:ffff:ffff", "aws", "v66", "A");
	expect_addr(db, "2001:db8:0:2::", "aws", "v32", "A");
	expect_addr(db, "2001:db9::", "aws", "v0", "A");
	expect_addr(db, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "aws", "v0", "A");
	expect_addr(db, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "aws", "vtop", "A");
	/* the mapped form falls back to IPv4 only when no IPv6 prefix covers it: ::/0 does */
	expect_addr(db, "::ffff:10.1.2.3", "aws", "v0", "A");

	/* families other than 4 and 6 find nothing */
	uint8_t a[16] = {10, 1, 2, 3};
	struct iw_region r = {NULL, NULL, NULL};
	assert_false(iw_region_from_addr(db, 2, a, &r));
	assert_false(iw_region_from_addr(db, 10, a, &r));
	assert_false(iw_region_from_addr(db, 4, NULL, &r));
	assert_false(iw_region_from_addr(db, 4, a, NULL));
	assert_null(r.provider);
	iw_region_db_free(db);
}

static void test_ties_across_files(void **state)
{
	(void)state;
	static const struct spec first[] = {{"10.0.0.0/8", "first", "AMAZON"}};
	static const struct spec second[] = {{"10.0.0.0/8", "second", "AMAZON"},
	                                     {"10.9.0.0/16", "second16", "EC2"}};
	static const struct spec bad[] = {{"11.0.0.0/8", "x", "A"}, {"12.0.0.0/33", "x", "A"}};
	char err[256] = "";
	struct iw_region_db *db = db_from(first, 1, NULL, 0);
	char *text = aws_doc(second, N(second), NULL, 0);
	assert_int_equal(load_text(db, text, err, sizeof err), 0);
	free(text);
	assert_int_equal(iw_region_db_size(db), 3);
	expect_addr(db, "10.0.0.1", "aws", "first", "AMAZON"); /* loaded first */
	expect_addr(db, "10.9.0.1", "aws", "second16", "EC2");

	/* a file that fails leaves what was there */
	text = aws_doc(bad, N(bad), NULL, 0);
	assert_int_equal(load_text(db, text, err, sizeof err), -1);
	free(text);
	assert_string_equal(err, "prefixes[1].ip_prefix: \"12.0.0.0/33\" is not an IPv4 prefix");
	assert_int_equal(iw_region_db_size(db), 3);
	expect_addr(db, "11.0.0.1", NULL, NULL, NULL);
	expect_addr(db, "10.0.0.1", "aws", "first", "AMAZON");
	expect_addr(db, "10.9.0.1", "aws", "second16", "EC2");
	iw_region_db_free(db);
}

static void test_global_and_empty(void **state)
{
	(void)state;
	static const struct spec v4[] = {{"10.0.0.0/8", "GLOBAL", "AMAZON"},
	                                 {"11.0.0.0/8", "", "AMAZON"},
	                                 {"12.0.0.0/8", "global", "AMAZON"}};
	static const struct spec v6[] = {{"2001:db8::/32", "GLOBAL", "AMAZON"}};
	char err[256] = "";
	struct iw_region_db *db = db_from(v4, N(v4), v6, N(v6));
	assert_int_equal(iw_region_db_size(db), 1); /* "GLOBAL" is AWS's spelling: only it is special */
	expect_addr(db, "10.0.0.1", NULL, NULL, NULL);
	expect_addr(db, "11.0.0.1", NULL, NULL, NULL);
	expect_addr(db, "12.0.0.1", "aws", "global", "AMAZON");
	expect_addr(db, "2001:db8::1", NULL, NULL, NULL);
	iw_region_db_free(db);

	/* a valid file that adds nothing; a byte order mark before it */
	db = iw_region_db_new();
	assert_int_equal(load_text(db, "\xef\xbb\xbf{\"prefixes\":[]}", err, sizeof err), 0);
	assert_int_equal(load_text(db, "{\"ipv6_prefixes\":[]}\n", err, sizeof err), 0);
	assert_int_equal(load_text(db, "{\"values\":[]}", err, sizeof err), 0);
	assert_int_equal(iw_region_db_size(db), 0);
	expect_addr(db, "10.0.0.1", NULL, NULL, NULL);
	iw_region_db_free(db);

	/* Azure: systemService wins over the name; no region member is a global tag */
	db = iw_region_db_new();
	assert_int_equal(
	    load_text(
	        db,
	        "{\"values\":[{\"name\":\"AzureIoTHub.WestIndia\",\"properties\":{\"region\":\"westindia\","
	        "\"systemService\":\"AzureIoTHub\",\"addressPrefixes\":[\"10.0.0.0/8\"]}},"
	        "{\"name\":\"Plain\",\"properties\":{\"region\":\"eastus\",\"addressPrefixes\":[\"11.0.0.0/"
	        "8\"]}},"
	        "{\"name\":\"NoRegion.x\",\"properties\":{\"addressPrefixes\":[\"12.0.0.0/8\"]}}]}",
	        err, sizeof err),
	    0);
	assert_int_equal(iw_region_db_size(db), 2);
	expect_addr(db, "10.0.0.1", "azure", "westindia", "AzureIoTHub");
	expect_addr(db, "11.0.0.1", "azure", "eastus", "Plain");
	expect_addr(db, "12.0.0.1", NULL, NULL, NULL);
	iw_region_db_free(db);
}

static void test_empty_db(void **state)
{
	(void)state;
	struct iw_region_db *db = iw_region_db_new();
	assert_int_equal(iw_region_db_size(db), 0);
	expect_addr(db, "10.0.0.1", NULL, NULL, NULL);
	expect_addr(db, "0.0.0.0", NULL, NULL, NULL);
	expect_addr(db, "2001:db8::1", NULL, NULL, NULL);
	expect_addr(db, "::ffff:10.0.0.1", NULL, NULL, NULL);
	iw_region_db_free(db);
	iw_region_db_free(NULL);
	assert_int_equal(iw_region_db_size(NULL), 0);
	uint8_t a[16] = {0};
	struct iw_region r = {NULL, NULL, NULL};
	assert_false(iw_region_from_addr(NULL, 4, a, &r));
	assert_null(r.provider);
}

/* ---- errors ---- */

/* Loads text from a temporary file; the error must be exactly message. */
static void expect_error(const char *text, const char *message)
{
	char path[64], err[256] = "";
	write_tmp(path, text);
	struct iw_region_db *db = iw_region_db_new();
	int rc = iw_region_db_load(db, path, err, sizeof err);
	unlink(path);
	if (rc != -1)
		fail_msg("loaded, expected \"%s\"; input: %s", message, text);
	assert_int_equal(iw_region_db_size(db), 0);
	if (strcmp(err, message) != 0)
		fail_msg("error \"%s\", expected \"%s\"", err, message);
	iw_region_db_free(db);
}

/* json-c words its own reasons: only the part before them is ours. */
static void expect_json_error(const char *text, size_t len, const char *start)
{
	char err[256] = "";
	struct iw_region_db *db = iw_region_db_new();
	assert_int_equal(iw_region_db_load_buf(db, text, len, err, sizeof err), -1);
	size_t sl = strlen(start);
	bool open_end = sl >= 2 && strcmp(start + sl - 2, ": ") == 0; /* json-c's reason follows */
	if (strncmp(err, start, sl) != 0 || (open_end ? strlen(err) <= sl : strlen(err) != sl) ||
	    strchr(err, '\n'))
		fail_msg("error \"%s\", expected \"%s%s\"", err, start, open_end ? "<json-c's reason>" : "");
	iw_region_db_free(db);
}

#define JSON_ERROR(lit, start) expect_json_error(lit, sizeof lit - 1, start)

static void expect_prefix_error(const char *prefix, bool v6)
{
	char text[512], message[256];
	snprintf(text, sizeof text, "{\"%s\":[{\"%s\":\"%s\",\"region\":\"r\",\"service\":\"s\"}]}",
	         v6 ? "ipv6_prefixes" : "prefixes", v6 ? "ipv6_prefix" : "ip_prefix", prefix);
	snprintf(message, sizeof message, "%s[0].%s: \"%s\" is not an %s prefix",
	         v6 ? "ipv6_prefixes" : "prefixes", v6 ? "ipv6_prefix" : "ip_prefix", prefix,
	         v6 ? "IPv6" : "IPv4");
	expect_error(text, message);
}

static void test_json_errors(void **state)
{
	(void)state;
	JSON_ERROR("", "not JSON at line 1, column 1: unexpected end of input");
	JSON_ERROR("   \n  ", "not JSON at line 2, column 3: unexpected end of input");
	JSON_ERROR("{\n  \"prefixes\": [\n    x\n  ]\n}\n", "not JSON at line 3, column 5: ");
	JSON_ERROR("{\"prefixes\": [", "not JSON at line 1, column 15: unexpected end of input");
	JSON_ERROR("{\"prefixes\": []} []", "not JSON at line 1, column 18: ");
	JSON_ERROR("{\"prefixes\": [],}", "not JSON at line 1, column 17: ");
	JSON_ERROR("{\"prefixes\"\0: []}", "not JSON at line 1, column 12: ");
	JSON_ERROR("\xef\xbb\xbf\xef\xbb\xbf{}", "not JSON at line 1, column 1: ");
	expect_error("42", "neither AWS ip-ranges nor Azure Service Tags (the top level is not an object)");
	expect_error("[{\"prefixes\":[]}]",
	             "neither AWS ip-ranges nor Azure Service Tags (the top level is not an object)");
	expect_error("{\"syncToken\":\"1\",\"createDate\":\"2024-01-01-00-00-00\"}",
	             "neither AWS ip-ranges nor Azure Service Tags (no prefixes or values)");
	expect_error("{\"prefixes\":[],\"values\":[]}",
	             "both AWS ip-ranges and Azure Service Tags members (prefixes and values)");

	char err[256] = "";
	struct iw_region_db *db = iw_region_db_new();
	assert_int_equal(iw_region_db_load(db, "/nonexistent/iw-region.json", err, sizeof err), -1);
	assert_string_equal(err, "cannot open: No such file or directory");
	assert_int_equal(iw_region_db_load(db, "/", err, sizeof err), -1);
	assert_string_equal(err, "cannot read: Is a directory");
	/* err may be absent */
	assert_int_equal(iw_region_db_load(db, "/nonexistent/iw-region.json", NULL, 0), -1);
	assert_int_equal(iw_region_db_load_buf(db, "{", 1, NULL, 0), -1);
	/* a short err is cut, still terminated */
	char small[8];
	assert_int_equal(iw_region_db_load_buf(db, "[]", 2, small, sizeof small), -1);
	assert_string_equal(small, "neither");
	iw_region_db_free(db);
}

static void test_aws_errors(void **state)
{
	(void)state;
	expect_error("{\"prefixes\":{}}", "prefixes: not an array");
	expect_error("{\"ipv6_prefixes\":\"x\"}", "ipv6_prefixes: not an array");
	expect_error("{\"prefixes\":[1]}", "prefixes[0]: not an object");
	expect_error("{\"prefixes\":[{\"ip_prefix\":\"10.0.0.0/8\",\"region\":\"r\",\"service\":\"s\"},"
	             "{\"ip_prefix\":\"10.0.0.0/33\",\"region\":\"r\",\"service\":\"s\"}]}",
	             "prefixes[1].ip_prefix: \"10.0.0.0/33\" is not an IPv4 prefix");
	expect_error("{\"prefixes\":[{\"region\":\"r\",\"service\":\"s\"}]}",
	             "prefixes[0].ip_prefix: missing");
	expect_error("{\"prefixes\":[{\"ip_prefix\":\"10.0.0.0/8\",\"service\":\"s\"}]}",
	             "prefixes[0].region: missing");
	expect_error("{\"prefixes\":[{\"ip_prefix\":\"10.0.0.0/8\",\"region\":\"r\"}]}",
	             "prefixes[0].service: missing");
	expect_error(
	    "{\"ipv6_prefixes\":[{\"ip_prefix\":\"2001:db8::/32\",\"region\":\"r\",\"service\":\"s\"}]}",
	    "ipv6_prefixes[0].ipv6_prefix: missing");
	expect_error("{\"prefixes\":[{\"ip_prefix\":10,\"region\":\"r\",\"service\":\"s\"}]}",
	             "prefixes[0].ip_prefix: not a string");
	expect_error("{\"prefixes\":[{\"ip_prefix\":\"10.0.0.0/8\",\"region\":null,\"service\":\"s\"}]}",
	             "prefixes[0].region: not a string");
	expect_error("{\"prefixes\":[{\"ip_prefix\":\"10.0.0.0/8\",\"region\":\"r\",\"service\":[]}]}",
	             "prefixes[0].service: not a string");
	expect_error(
	    "{\"prefixes\":[{\"ip_prefix\":\"10.0.0.0/8\",\"region\":\"a\\u0000b\",\"service\":\"s\"}]}",
	    "prefixes[0].region: contains a NUL byte");
	/* a GLOBAL entry is still checked */
	expect_error(
	    "{\"prefixes\":[{\"ip_prefix\":\"10.0.0.0/99\",\"region\":\"GLOBAL\",\"service\":\"s\"}]}",
	    "prefixes[0].ip_prefix: \"10.0.0.0/99\" is not an IPv4 prefix");
	/* a long or unprintable value is shortened and kept on one line */
	expect_error("{\"prefixes\":[{\"ip_prefix\":\"1\\n2\\t3/8\",\"region\":\"r\",\"service\":\"s\"}]}",
	             "prefixes[0].ip_prefix: \"1?2?3/8\" is not an IPv4 prefix");
	expect_error(
	    "{\"prefixes\":[{\"ip_prefix\":\"0123456789012345678901234567890123456789012345678901234567890123"
	    "456789\",\"region\":\"r\",\"service\":\"s\"}]}",
	    "prefixes[0].ip_prefix: \"012345678901234567890123456789012345678901234567890123456789...\" "
	    "is not an IPv4 prefix");

	static const char *const bad4[] = {
	    "2001:db8::/32",
	    "10.0.0.0",
	    "10.0.0.0/",
	    "10.0.0/8",
	    "10.0.0.0.0/8",
	    "010.0.0.0/8",
	    "10.0.0.00/8",
	    "10.0.0.0/08",
	    "256.0.0.0/8",
	    "1000.0.0.0/8",
	    "10.0.0.0/8 ",
	    " 10.0.0.0/8",
	    "10.0.0.0/-1",
	    "10.0.0.0/+8",
	    "10.0.0.0/8/8",
	    "10..0.0/8",
	    "",
	    "/8",
	    "10.0.0.0/100",
	    "10.0.0.0/0x8",
	    "1e1.0.0.0/8",
	    "10.0.0.0/33",
	};
	for (size_t i = 0; i < N(bad4); i++)
		expect_prefix_error(bad4[i], false);
	static const char *const bad6[] = {
	    "10.0.0.0/8",
	    "2001:db8::",
	    "2001:db8::/",
	    "2001:db8:::/32",
	    "2001:db8::/0128",
	    "2001:db8::/129",
	    "gggg::/16",
	    "2001:db8::/32 ",
	    "[2001:db8::]/32",
	    "2001:db8::%eth0/64",
	    "1:2:3:4:5:6:7:8:9/64",
	    "::ffff:1.2.3/96",
	    "",
	    "/64",
	};
	for (size_t i = 0; i < N(bad6); i++)
		expect_prefix_error(bad6[i], true);

	/* good edge forms, for contrast */
	static const struct spec ok4[] = {
	    {"0.0.0.0/0", "r", "s"}, {"255.255.255.255/32", "r", "s"}, {"0.0.0.0/32", "r", "s"}};
	static const struct spec ok6[] = {
	    {"::/0", "r", "s"}, {"::ffff:1.2.3.4/128", "r", "s"}, {"2001:DB8::/32", "r", "s"}};
	struct iw_region_db *db = db_from(ok4, N(ok4), ok6, N(ok6));
	assert_int_equal(iw_region_db_size(db), 6);
	iw_region_db_free(db);
}

static void test_azure_errors(void **state)
{
	(void)state;
	expect_error("{\"values\":{}}", "values: not an array");
	expect_error("{\"values\":[[]]}", "values[0]: not an object");
	expect_error("{\"values\":[{\"properties\":{\"addressPrefixes\":[]}}]}", "values[0].name: missing");
	expect_error("{\"values\":[{\"name\":\"A.b\"}]}", "values[0].properties: missing");
	expect_error("{\"values\":[{\"name\":\"A.b\",\"properties\":[]}]}",
	             "values[0].properties: not an object");
	expect_error("{\"values\":[{\"name\":\"A.b\",\"properties\":{\"region\":\"r\"}}]}",
	             "values[0].properties.addressPrefixes: missing");
	expect_error(
	    "{\"values\":[{\"name\":\"A.b\",\"properties\":{\"region\":\"r\",\"addressPrefixes\":\"x\"}}]}",
	    "values[0].properties.addressPrefixes: not an array");
	expect_error("{\"values\":[{\"name\":\"A.b\",\"properties\":{\"region\":3,\"addressPrefixes\":[]}}]}",
	             "values[0].properties.region: not a string");
	expect_error("{\"values\":[{\"name\":\"A.b\",\"properties\":{\"systemService\":true,"
	             "\"addressPrefixes\":[]}}]}",
	             "values[0].properties.systemService: not a string");
	expect_error(
	    "{\"values\":[{\"name\":\"A.b\",\"properties\":{\"region\":\"r\",\"addressPrefixes\":[7]}}]}",
	    "values[0].properties.addressPrefixes[0]: not a string");
	expect_error(
	    "{\"values\":[{\"name\":\"A.b\",\"properties\":{\"region\":\"r\",\"addressPrefixes\":[\"10.0.0.0/"
	    "8\"]}},{\"name\":\"A.c\",\"properties\":{\"region\":\"\",\"addressPrefixes\":[\"2001:db8::/32\","
	    "\"10.0.0.0/33\"]}}]}",
	    "values[1].properties.addressPrefixes[1]: \"10.0.0.0/33\" is not an IPv4 or IPv6 prefix");
	expect_error(
	    "{\"values\":[{\"name\":\"A.b\",\"properties\":{\"region\":\"r\",\"addressPrefixes\":[\"2001:"
	    "db8::/200\"]}}]}",
	    "values[0].properties.addressPrefixes[0]: \"2001:db8::/200\" is not an IPv4 or IPv6 prefix");
}

/* ---- against a brute-force scan ---- */

struct gen {
	uint64_t hi, lo; /* IPv4 in the low 32 bits of lo */
	unsigned len;
	unsigned region; /* index: "r<n>" */
};

static void mask_of(bool v6, unsigned len, uint64_t *mh, uint64_t *ml)
{
	if (!v6)
		len += 96;
	*mh = len == 0 ? 0 : len >= 64 ? UINT64_MAX : ~(UINT64_MAX >> len);
	*ml = len <= 64 ? 0 : len == 128 ? UINT64_MAX : ~(UINT64_MAX >> (len - 64));
}

/* The expected answer: the longest covering prefix, the first listed on a tie; -1 none. */
static int brute(const struct gen *g, size_t n, bool v6, uint64_t hi, uint64_t lo)
{
	int best = -1;
	for (size_t i = 0; i < n; i++) {
		uint64_t mh, ml;
		mask_of(v6, g[i].len, &mh, &ml);
		if ((hi & mh) == g[i].hi && (lo & ml) == g[i].lo && (best < 0 || g[i].len > g[best].len))
			best = (int)i;
	}
	return best;
}

static void fmt_gen(const struct gen *g, bool v6, char *out, size_t outlen)
{
	uint8_t b[16];
	char a[INET6_ADDRSTRLEN];
	for (int i = 0; i < 8; i++) {
		b[i] = (uint8_t)(g->hi >> (56 - 8 * i));
		b[8 + i] = (uint8_t)(g->lo >> (56 - 8 * i));
	}
	assert_non_null(inet_ntop(v6 ? AF_INET6 : AF_INET, v6 ? b : b + 12, a, sizeof a));
	snprintf(out, outlen, "%s/%u", a, g->len);
}

/* n prefixes; each after the first few grows out of an earlier one (1 to 8 more bits),
 * so they nest deeply, and a few repeat an earlier one with another region. */
static void generate(struct gen *g, size_t n, bool v6, unsigned base_len, unsigned max_len, unsigned regions)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t hi = rnd(), lo = rnd(), mh, ml;
		unsigned len;
		if (i < 4 || rnd() % 8 == 0) {
			len = base_len + (unsigned)(rnd() % 3);
			if (!v6)
				hi = 0, lo = 0x0a000000u | (lo & 0x00ffffffu); /* in 10/8 */
			else
				hi = 0x20010db800000000ull | (hi & 0xffffffffull); /* in 2001:db8::/32 */
		} else if (rnd() % 10 == 0) {
			g[i] = g[rnd() % i];
			g[i].region = (unsigned)(rnd() % regions);
			continue;
		} else {
			const struct gen *p = &g[rnd() % i];
			len = p->len + 1 + (unsigned)(rnd() % 8);
			if (len > max_len)
				len = max_len;
			if (!v6)
				hi = 0, lo &= 0xffffffffu;
			mask_of(v6, p->len, &mh, &ml);
			hi = (p->hi & mh) | (hi & ~mh);
			lo = (p->lo & ml) | (lo & ~ml);
		}
		mask_of(v6, len, &mh, &ml);
		g[i].hi = hi & mh;
		g[i].lo = lo & ml;
		g[i].len = len;
		g[i].region = (unsigned)(rnd() % regions);
	}
}

static struct iw_region_db *load_gen(const struct gen *g4, size_t n4, const struct gen *g6, size_t n6,
                                     double *ms)
{
	char *text = NULL, path[64], err[256] = "", p[64];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	fputs("{\"prefixes\":[", f);
	for (size_t i = 0; i < n4; i++) {
		fmt_gen(&g4[i], false, p, sizeof p);
		fprintf(f,
		        "%s\n{\"ip_prefix\":\"%s\",\"region\":\"r%u\",\"service\":\"%s\",\"network_border_"
		        "group\":\"x\"}",
		        i ? "," : "", p, g4[i].region, g4[i].region % 2 ? "AMAZON" : "EC2");
	}
	fputs("],\"ipv6_prefixes\":[", f);
	for (size_t i = 0; i < n6; i++) {
		fmt_gen(&g6[i], true, p, sizeof p);
		fprintf(f, "%s\n{\"ipv6_prefix\":\"%s\",\"region\":\"r%u\",\"service\":\"%s\"}", i ? "," : "",
		        p, g6[i].region, g6[i].region % 2 ? "AMAZON" : "EC2");
	}
	fputs("]}\n", f);
	assert_int_equal(fclose(f), 0);
	write_tmp(path, text);
	free(text);

	struct timespec t0, t1;
	struct iw_region_db *db = iw_region_db_new();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = iw_region_db_load(db, path, err, sizeof err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	unlink(path);
	if (rc != 0)
		fail_msg("load: %s", err);
	assert_int_equal(iw_region_db_size(db), n4 + n6);
	if (ms)
		*ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	return db;
}

static void to_bytes(uint64_t hi, uint64_t lo, uint8_t *b)
{
	for (int i = 0; i < 8; i++) {
		b[i] = (uint8_t)(hi >> (56 - 8 * i));
		b[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
	}
}

static void check_one(const struct iw_region_db *db, const struct gen *g, size_t n, bool v6, uint64_t hi,
                      uint64_t lo)
{
	uint8_t b[16];
	char want[16];
	struct iw_region r = {NULL, NULL, NULL};
	if (!v6)
		hi = 0, lo &= 0xffffffffu;
	to_bytes(hi, lo, b);
	bool found = iw_region_from_addr(db, v6 ? 6 : 4, v6 ? b : b + 12, &r);
	int best = brute(g, n, v6, hi, lo);
	if (best < 0) {
		if (found)
			fail_msg("%016llx%016llx: found %s, expected nothing", (unsigned long long)hi,
			         (unsigned long long)lo, r.region);
		return;
	}
	snprintf(want, sizeof want, "r%u", g[best].region);
	if (!found || strcmp(r.region, want) != 0)
		fail_msg("%016llx%016llx: found %s, expected %s", (unsigned long long)hi,
		         (unsigned long long)lo, found ? r.region : "nothing", want);
	assert_string_equal(r.service, g[best].region % 2 ? "AMAZON" : "EC2");
}

/* Every prefix's first and last address, one past each end and one inside, plus random
 * addresses, against the scan. */
static void test_against_scan(void **state)
{
	(void)state;
	enum { N4 = 700, N6 = 500 };
	struct gen *g4 = calloc(N4, sizeof *g4), *g6 = calloc(N6, sizeof *g6);
	assert_non_null(g4);
	assert_non_null(g6);
	generate(g4, N4, false, 12, 32, 9);
	generate(g6, N6, true, 36, 128, 9);
	struct iw_region_db *db = load_gen(g4, N4, g6, N6, NULL);
	for (int fam = 0; fam < 2; fam++) {
		bool v6 = fam == 1;
		const struct gen *g = v6 ? g6 : g4;
		size_t n = v6 ? N6 : N4;
		for (size_t i = 0; i < n; i++) {
			uint64_t mh, ml;
			mask_of(v6, g[i].len, &mh, &ml);
			uint64_t lh = g[i].hi | ~mh, ll = g[i].lo | ~ml; /* the last address */
			if (!v6)
				ll &= 0xffffffffu;
			check_one(db, g, n, v6, g[i].hi, g[i].lo);
			check_one(db, g, n, v6, lh, ll);
			check_one(db, g, n, v6, g[i].hi | (rnd() & ~mh), g[i].lo | (rnd() & ~ml));
			check_one(db, g, n, v6, g[i].hi - (g[i].lo == 0), g[i].lo - 1);
			check_one(db, g, n, v6, lh + (ll == UINT64_MAX), ll + 1);
		}
		for (int i = 0; i < 2000; i++)
			check_one(db, g, n, v6, v6 ? 0x20010db800000000ull | (rnd() & 0xffffffffull) : 0,
			          v6 ? rnd() : 0x0a000000u | (rnd() & 0xffffffu));
	}
	iw_region_db_free(db);
	free(g4);
	free(g6);
}

/* ---- timing: printed, not asserted ---- */

static void test_bench(void **state)
{
	(void)state;
	enum { N4 = 40000, N6 = 10000, LOOKUPS = 1000000, LOOKUPS6 = 200000 };
	struct gen *g4 = calloc(N4, sizeof *g4), *g6 = calloc(N6, sizeof *g6);
	uint8_t(*addr)[16] = calloc(LOOKUPS, sizeof *addr);
	assert_non_null(g4);
	assert_non_null(g6);
	assert_non_null(addr);
	/* spread like a real file: IPv4 /12../32 anywhere, IPv6 /28../64 under 2600::/12 */
	for (size_t i = 0; i < N4; i++) {
		uint64_t mh, ml;
		g4[i].len = 12 + (unsigned)(rnd() % 21);
		mask_of(false, g4[i].len, &mh, &ml);
		g4[i].lo = rnd() & 0xffffffffu & ml;
		g4[i].region = (unsigned)(rnd() % 40);
	}
	for (size_t i = 0; i < N6; i++) {
		uint64_t mh, ml;
		g6[i].len = 28 + (unsigned)(rnd() % 37);
		mask_of(true, g6[i].len, &mh, &ml);
		g6[i].hi = (0x2600000000000000ull | (rnd() >> 12)) & mh;
		g6[i].region = (unsigned)(rnd() % 40);
	}
	double load_ms;
	struct iw_region_db *db = load_gen(g4, N4, g6, N6, &load_ms);

	/* half the addresses inside a loaded prefix, half anywhere */
	for (size_t i = 0; i < LOOKUPS; i++) {
		bool v6 = i < LOOKUPS6;
		const struct gen *g = v6 ? &g6[rnd() % N6] : &g4[rnd() % N4];
		uint64_t hi = rnd(), lo = rnd(), mh, ml;
		if (i % 2) {
			mask_of(v6, g->len, &mh, &ml);
			hi = g->hi | (hi & ~mh);
			lo = g->lo | (lo & ~ml);
		}
		if (!v6)
			hi = 0, lo &= 0xffffffffu;
		to_bytes(hi, lo, addr[i]);
	}
	struct timespec t0, t1, t2;
	struct iw_region r;
	size_t hits = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < LOOKUPS6; i++)
		hits += iw_region_from_addr(db, 6, addr[i], &r);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (size_t i = LOOKUPS6; i < LOOKUPS; i++)
		hits += iw_region_from_addr(db, 4, addr[i] + 12, &r);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	double ms6 = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	double ms4 = (double)(t2.tv_sec - t1.tv_sec) * 1e3 + (double)(t2.tv_nsec - t1.tv_nsec) / 1e6;
	printf("region bench: %d prefixes (%d IPv4, %d IPv6) loaded in %.1f ms; %d lookups in %.1f ms, %zu "
	       "hits: "
	       "IPv4 %.0f ns, IPv6 %.0f ns a lookup\n",
	       N4 + N6, N4, N6, load_ms, LOOKUPS, ms4 + ms6, hits, ms4 * 1e6 / (LOOKUPS - LOOKUPS6),
	       ms6 * 1e6 / LOOKUPS6);
	assert_true(hits >= LOOKUPS / 2);

	/* and some of them against the scan */
	for (size_t i = 0; i < 300; i++) {
		size_t k = (size_t)(rnd() % LOOKUPS);
		bool v6 = k < LOOKUPS6;
		uint64_t hi = 0, lo = 0;
		for (int j = 0; j < 8; j++) {
			hi = hi << 8 | addr[k][j];
			lo = lo << 8 | addr[k][8 + j];
		}
		check_one(db, v6 ? g6 : g4, v6 ? N6 : N4, v6, hi, lo);
	}
	iw_region_db_free(db);
	free(g4);
	free(g6);
	free(addr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_names_negative),
	    cmocka_unit_test(test_names_limits),
	    cmocka_unit_test(test_aws_sample),
	    cmocka_unit_test(test_azure_sample),
	    cmocka_unit_test(test_longest_and_edges),
	    cmocka_unit_test(test_ties_across_files),
	    cmocka_unit_test(test_global_and_empty),
	    cmocka_unit_test(test_empty_db),
	    cmocka_unit_test(test_json_errors),
	    cmocka_unit_test(test_aws_errors),
	    cmocka_unit_test(test_azure_errors),
	    cmocka_unit_test(test_against_scan),
	    cmocka_unit_test(test_bench),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
