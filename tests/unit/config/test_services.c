/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * test_services.c - the services file (services_yaml.c): valid input and
 * every error, each with its file, line and column, the output untouched.
 */
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "services_yaml.h"
#include "../lib/tutil.h"
#include "test.h"
#include "yaml_tree.h"

/* ---- helpers -------------------------------------------------------------- */

static struct split_err last_err;

/* Parse yaml as "x.yaml"; on error return the message and check that cfg
 * was left untouched; on success return NULL (cfg freed). */
static const char *parse_err(const char *yaml, int *untouched)
{
	struct split_config cfg = { (struct split_service *)&last_err, 4242 };
	int r;

	memset(&last_err, 0, sizeof(last_err));
	r = split_services_parse("x.yaml", yaml, strlen(yaml), &cfg, &last_err);
	*untouched = cfg.svcs == (struct split_service *)&last_err &&
		     cfg.nsvcs == 4242;
	if (!r) {
		split_config_free(&cfg);
		return NULL;
	}
	return last_err.msg;
}

static void expect_err(int *failed, const char *yaml, const char *want)
{
	int untouched = 0;
	const char *msg = parse_err(yaml, &untouched);

	if (getenv("TEST_VERBOSE"))
		fprintf(stderr, "  %s\n", msg ? msg : "(no error)");
	ASSERT_CONTAINS(msg, want);
	ASSERT_TRUE(untouched);
	/* Every message starts with the file name and a position. */
	ASSERT_EQ(strncmp(msg, "x.yaml:", 7), 0);
}

#define BAD(name, yaml, want)						\
	TEST(bad_##name)						\
	{								\
		expect_err(failed, yaml, want);				\
	}

static const struct split_service *find_svc(const struct split_config *cfg,
					    const char *ns, const char *name)
{
	for (size_t i = 0; i < cfg->nsvcs; i++)
		if (!strcmp(cfg->svcs[i].ns, ns) &&
		    !strcmp(cfg->svcs[i].name, name))
			return &cfg->svcs[i];
	return NULL;
}

/* Port i of service s: port -> target_port, protocol. */
#define ASSERT_PORT(s, i, port_, target_, proto_)                         \
	do {                                                              \
		ASSERT_EQ((s)->ports[i].port, port_);                     \
		ASSERT_EQ((s)->ports[i].target_port, target_);            \
		ASSERT_EQ((s)->ports[i].proto, proto_);                   \
	} while (0)

static const char *addr_s(const struct split_addr *a)
{
	static char buf[8][64];
	static int i;

	i = (i + 1) % 8;
	return split_addr_str(a, buf[i], sizeof(buf[i]));
}

/* Version i of service s: name and weight. */
#define ASSERT_VERSION(s, i, name_, weight_)                              \
	do {                                                              \
		ASSERT_STREQ((s)->versions[i].name, name_);               \
		ASSERT_EQ((s)->versions[i].weight, weight_);              \
	} while (0)

/* Endpoint i of service s: address and version. */
#define ASSERT_EP(s, i, addr_, version_)                                  \
	do {                                                              \
		ASSERT_STREQ(addr_s(&(s)->eps[i].addr), addr_);           \
		ASSERT_STREQ((s)->eps[i].version, version_);              \
	} while (0)

/* ---- the services file: valid input ---------------------------------------- */

static const char valid_yaml[] =
	"# two services and some empty documents\n"	/* 1 */
	"---\n"
	"apiVersion: split.dev/v1\n"
	"kind: Service\n"
	"metadata:\n"					/* 5 */
	"  name: reviews\n"
	"  labels: {app: reviews}\n"
	"  annotations:\n"
	"    note: \"anything: goes\"\n"
	"spec:\n"					/* 10 */
	"  clusterIP: 10.96.0.10\n"
	"  clusterIPs: [10.96.0.10, \"fd00:96::10\"]\n"
	"  ports:\n"
	"  - name: http\n"
	"    port: 9080\n"				/* 15 */
	"    targetPort: 8080\n"
	"  - name: dns\n"
	"    port: 9080\n"
	"    protocol: UDP\n"
	"  endpoints:\n"				/* 20 */
	"  - addresses: [10.201.1.2, \"fd00:201:1::2\"]\n"
	"    labels: {app: reviews, version: v1}\n"
	"  - addresses:\n"
	"    - 10.201.1.3\n"
	"    labels:\n"					/* 25 */
	"      version: v1\n"
	"      pod-template-hash: \"\"\n"
	"  - addresses: [\"fd00:201:2::2\"]\n"
	"    labels: {version: \"v2\"}\n"
	"  - addresses: [10.201.3.2]\n"		/* 30 */
	"    labels: {version: v3}\n"
	"---\n"
	"---\n"
	"apiVersion: split.dev/v1\n"
	"kind: Service\n"				/* 35 */
	"metadata: {name: ratings, namespace: prod}\n"
	"spec:\n"
	"  clusterIPs: [\"fd00:96::20\"]\n"
	"  ports:\n"
	"  - port: 53\n"				/* 40 */
	"    protocol: UDP\n"
	"  - port: 53\n"
	"  endpoints: []\n"
	"---\n"
	"# same name, other namespace; same VIP, other port\n"
	"apiVersion: split.dev/v1\n"
	"kind: Service\n"
	"metadata:\n"
	"  name: reviews\n"
	"  namespace: canary\n"
	"spec:\n"
	"  clusterIP: 10.96.0.10\n"
	"  ports: [{port: 80, targetPort: 9080}]\n"
	"...\n";

TEST(valid_multi_document)
{
	struct split_config cfg = { 0 };
	struct split_err err = { { 0 } };
	const struct split_service *s;

	ASSERT_EQ(split_services_parse("x.yaml", valid_yaml, strlen(valid_yaml),
				       &cfg, &err), 0);
	ASSERT_STREQ(err.msg, "");
	ASSERT_EQ(cfg.nsvcs, 3);

	s = &cfg.svcs[0];
	ASSERT_STREQ(s->name, "reviews");
	ASSERT_STREQ(s->ns, "default");
	ASSERT_EQ(s->nvips, 2);
	ASSERT_EQ(s->vips[0].family, 4);
	ASSERT_STREQ(addr_s(&s->vips[0]), "10.96.0.10");
	ASSERT_EQ(s->vips[1].family, 6);
	ASSERT_STREQ(addr_s(&s->vips[1]), "fd00:96::10");
	ASSERT_EQ(s->nports, 2);
	ASSERT_PORT(s, 0, 9080, 8080, IPPROTO_TCP);
	ASSERT_PORT(s, 1, 9080, 9080, IPPROTO_UDP);
	ASSERT_EQ(s->neps, 5);
	ASSERT_EP(s, 0, "10.201.1.2", "v1");
	ASSERT_EQ(s->eps[1].addr.family, 6);
	ASSERT_EP(s, 1, "fd00:201:1::2", "v1");
	ASSERT_EP(s, 2, "10.201.1.3", "v1");
	ASSERT_EP(s, 3, "fd00:201:2::2", "v2");
	ASSERT_EP(s, 4, "10.201.3.2", "v3");
	ASSERT_EQ(s->nversions, 3);
	ASSERT_VERSION(s, 0, "v1", 3);
	ASSERT_VERSION(s, 1, "v2", 1);
	ASSERT_VERSION(s, 2, "v3", 1);
	ASSERT_FALSE(s->routed);

	s = &cfg.svcs[1];
	ASSERT_STREQ(s->name, "ratings");
	ASSERT_STREQ(s->ns, "prod");
	ASSERT_EQ(s->nvips, 1);
	ASSERT_EQ(s->vips[0].family, 6);
	ASSERT_STREQ(addr_s(&s->vips[0]), "fd00:96::20");
	ASSERT_EQ(s->nports, 2);
	ASSERT_PORT(s, 0, 53, 53, IPPROTO_UDP);
	ASSERT_EQ(s->ports[1].proto, IPPROTO_TCP);
	ASSERT_EQ(s->neps, 0);
	ASSERT_EQ(s->nversions, 0);
	ASSERT_TRUE(s->eps == NULL && s->versions == NULL);
	ASSERT_FALSE(s->routed);

	s = &cfg.svcs[2];
	ASSERT_STREQ(s->name, "reviews");
	ASSERT_STREQ(s->ns, "canary");
	ASSERT_EQ(s->nvips, 1);
	ASSERT_STREQ(addr_s(&s->vips[0]), "10.96.0.10");
	ASSERT_EQ(s->nports, 1);
	ASSERT_PORT(s, 0, 80, 9080, IPPROTO_TCP);
	ASSERT_EQ(s->neps, 0);

	split_config_free(&cfg);
	ASSERT_TRUE(cfg.svcs == NULL && cfg.nsvcs == 0);
}

TEST(testbed_file)
{
	static const char *const addrs[] = {
		"10.201.1.2", "fd00:201:1::2", "10.201.1.3", "fd00:201:1::3",
		"10.201.2.2", "fd00:201:2::2", "10.201.3.2", "fd00:201:3::2",
	};
	static const char *const vers[] = {
		"v1", "v1", "v1", "v1", "v2", "v2", "v3", "v3",
	};
	struct split_config cfg = { 0 };
	struct split_err err = { { 0 } };
	const struct split_service *s;

	ASSERT_EQ(split_services_load(tu_data_path("services.yaml"), &cfg, &err), 0);
	ASSERT_EQ(cfg.nsvcs, 1);
	s = find_svc(&cfg, "default", "reviews");
	ASSERT_TRUE(s != NULL);
	ASSERT_EQ(s->nvips, 2);
	ASSERT_STREQ(addr_s(&s->vips[0]), "10.96.0.10");
	ASSERT_STREQ(addr_s(&s->vips[1]), "fd00:96::10");
	ASSERT_EQ(s->nports, 2);
	ASSERT_PORT(s, 0, 9080, 9080, IPPROTO_TCP);
	ASSERT_PORT(s, 1, 9080, 9080, IPPROTO_UDP);
	ASSERT_EQ(s->neps, 8);
	for (size_t i = 0; i < 8; i++) {
		ASSERT_STREQ(addr_s(&s->eps[i].addr), addrs[i]);
		ASSERT_STREQ(s->eps[i].version, vers[i]);
	}
	ASSERT_EQ(s->nversions, 3);
	ASSERT_VERSION(s, 0, "v1", 4);
	ASSERT_VERSION(s, 1, "v2", 2);
	ASSERT_VERSION(s, 2, "v3", 2);
	ASSERT_FALSE(s->routed);
	split_config_free(&cfg);
}

TEST(load_missing_file)
{
	struct split_config cfg = { 0 };
	struct split_err err;

	ASSERT_EQ(split_services_load("/nonexistent/services.yaml", &cfg, &err), -ENOENT);
	ASSERT_STREQ(err.msg, "/nonexistent/services.yaml: No such file or directory");
	ASSERT_TRUE(cfg.svcs == NULL);
}

TEST(empty_inputs)
{
	static const char *const ys[] = {
		"", "\n", "# nothing\n", "---\n", "---\n...\n---\n", "~\n",
		"--- null\n",
	};
	struct split_config cfg;
	struct split_err err;

	for (size_t i = 0; i < sizeof(ys) / sizeof(ys[0]); i++) {
		memset(&cfg, 0xaa, sizeof(cfg));
		ASSERT_EQ(split_services_parse("x.yaml", ys[i], strlen(ys[i]),
					       &cfg, &err), 0);
		ASSERT_EQ(cfg.nsvcs, 0);
		ASSERT_TRUE(cfg.svcs == NULL);
	}
}

/* Valid oddities: lenient where Kubernetes is. */
TEST(valid_details)
{
	static const char y[] =
		"apiVersion: split.dev/v1\n"
		"kind: Service\n"
		"metadata:\n"
		"  name: a\n"
		"  namespace:\n"			/* null: the default */
		"spec:\n"
		"  clusterIP: \"fd00::1\"\n"
		"  clusterIPs: [\"FD00:0::1\", 10.0.0.1]\n"	/* agree */
		"  ports:\n"
		"  - {port: 1, protocol: UDP, targetPort: 65535}\n"
		"  endpoints:\n"
		"  - addresses: [10.1.0.1]\n"
		"    labels: {version: 1.10}\n"	/* plain scalar: text kept */
		"  - addresses: [10.1.0.2]\n"
		"    labels: {version: V_2.x-Y}\n";
	struct split_config cfg = { 0 };
	struct split_err err;
	const struct split_service *s;

	ASSERT_EQ(split_services_parse("x.yaml", y, strlen(y), &cfg, &err), 0);
	s = &cfg.svcs[0];
	ASSERT_STREQ(s->ns, "default");
	ASSERT_EQ(s->nvips, 2);
	ASSERT_STREQ(addr_s(&s->vips[0]), "fd00::1");
	ASSERT_STREQ(addr_s(&s->vips[1]), "10.0.0.1");
	ASSERT_EQ(s->ports[0].port, 1);
	ASSERT_EQ(s->ports[0].target_port, 65535);
	ASSERT_EQ(s->nversions, 2);
	ASSERT_STREQ(s->versions[0].name, "1.10");
	ASSERT_STREQ(s->versions[1].name, "V_2.x-Y");
	split_config_free(&cfg);
}

/* ---- the services file: errors --------------------------------------------- */

#define HDR	"apiVersion: split.dev/v1\nkind: Service\n"	/* lines 1-2 */
#define META	"metadata:\n  name: reviews\n"			/* lines 3-4 */
#define SPEC	"spec:\n  clusterIP: 10.96.0.10\n"		/* lines 5-6 */
#define PORTS	"  ports:\n  - port: 9080\n"			/* lines 7-8 */
#define EPS	"  endpoints:\n  - addresses: [10.201.1.2]\n"	/* lines 9-10 */ \
		"    labels: {version: v1}\n"			/* line 11 */
#define SVC	HDR META SPEC PORTS EPS

TEST(base_is_valid)
{
	int untouched;

	ASSERT_TRUE(parse_err(SVC, &untouched) == NULL);
	ASSERT_TRUE(parse_err(SVC "---\n" SVC, &untouched) != NULL);
}

/* addresses */
BAD(endpoint_ip,
    HDR META SPEC PORTS
    "  endpoints:\n  - addresses: [10.201.1.2, 10.0.0.300]\n"
    "    labels: {version: v1}\n",
    "x.yaml:10:29: spec.endpoints[0].addresses[1] '10.0.0.300' is not an IP address")
BAD(endpoint_ip_space,
    HDR META SPEC PORTS
    "  endpoints:\n  - addresses: [\" 10.201.1.2\"]\n"
    "    labels: {version: v1}\n",
    "x.yaml:10:17: spec.endpoints[0].addresses[0] ' 10.201.1.2' is not an IP address")
BAD(cluster_ip,
    HDR META "spec:\n  clusterIP: 10.96.0\n" PORTS,
    "x.yaml:6:14: spec.clusterIP '10.96.0' is not an IP address")
BAD(cluster_ip_none,
    HDR META "spec:\n  clusterIP: None\n" PORTS,
    "x.yaml:6:14: spec.clusterIP 'None' is not an IP address (headless services are not supported)")
BAD(two_ipv4_cluster_ips,
    HDR META "spec:\n  clusterIPs: [10.96.0.10, 10.96.0.11]\n" PORTS,
    "x.yaml:6:28: spec.clusterIPs[1]: a second IPv4 address (10.96.0.11, after 10.96.0.10 at 6:16); at most one per family")
BAD(two_ipv6_cluster_ips,
    HDR META "spec:\n  clusterIPs: [\"fd00::1\", 10.0.0.1, \"fd00::2\"]\n" PORTS,
    "x.yaml:6:37: spec.clusterIPs[2]: a second IPv6 address (fd00::2, after fd00::1 at 6:16)")
BAD(cluster_ip_mismatch,
    HDR META "spec:\n  clusterIP: 10.96.0.11\n  clusterIPs: [10.96.0.10]\n" PORTS,
    "x.yaml:6:14: spec.clusterIP 10.96.0.11 does not match spec.clusterIPs[0] 10.96.0.10 (7:16)")
BAD(no_vip,
    HDR META "spec:\n" PORTS,
    "x.yaml:6:3: a service needs an address: spec.clusterIP or spec.clusterIPs")
BAD(empty_cluster_ips,
    HDR META "spec:\n  clusterIPs: []\n" PORTS,
    "x.yaml:6:15: a service needs an address")

/* ports */
BAD(port_zero,
    HDR META SPEC "  ports:\n  - port: 0\n",
    "x.yaml:8:11: spec.ports[0].port 0 is out of range (1..65535)")
BAD(port_70000,
    HDR META SPEC "  ports:\n  - port: 70000\n",
    "x.yaml:8:11: spec.ports[0].port 70000 is out of range (1..65535)")
BAD(port_abc,
    HDR META SPEC "  ports:\n  - port: abc\n",
    "x.yaml:8:11: spec.ports[0].port must be a decimal integer, got 'abc'")
BAD(port_quoted,
    HDR META SPEC "  ports:\n  - port: \"9080\"\n",
    "x.yaml:8:11: spec.ports[0].port must be an integer, not a quoted string (\"9080\")")
BAD(port_hex,
    HDR META SPEC "  ports:\n  - port: 0x10\n",
    "x.yaml:8:11: spec.ports[0].port must be a decimal integer, got '0x10'")
BAD(port_exp,
    HDR META SPEC "  ports:\n  - name: a\n    port: 1e3\n",
    "x.yaml:9:11: spec.ports[0].port must be a decimal integer, got '1e3'")
BAD(port_list,
    HDR META SPEC "  ports:\n  - port: [1]\n",
    "x.yaml:8:11: spec.ports[0].port must be an integer, not a list")
BAD(port_missing,
    HDR META SPEC "  ports:\n  - name: http\n",
    "x.yaml:8:5: spec.ports[0].port is required")
BAD(target_port_named,
    HDR META SPEC PORTS "    targetPort: http\n",
    "x.yaml:9:17: spec.ports[0].targetPort 'http': numeric targetPort required")
BAD(target_port_range,
    HDR META SPEC PORTS "    targetPort: 0\n",
    "x.yaml:9:17: spec.ports[0].targetPort 0 is out of range (1..65535)")
BAD(protocol_sctp,
    HDR META SPEC PORTS "    protocol: SCTP\n",
    "x.yaml:9:15: spec.ports[0].protocol 'SCTP' is not supported (TCP or UDP)")
BAD(protocol_lower,
    HDR META SPEC PORTS "    protocol: tcp\n",
    "x.yaml:9:15: spec.ports[0].protocol 'tcp' is not supported (TCP or UDP)")
BAD(port_name,
    HDR META SPEC PORTS "    name: HTTP\n",
    "x.yaml:9:11: spec.ports[0].name 'HTTP' must be a DNS-1123 label")
BAD(duplicate_port,
    HDR META SPEC PORTS "  - port: 9080\n    protocol: TCP\n",
    "x.yaml:9:11: spec.ports[1]: duplicate port 9080/TCP (first at 8:11)")
BAD(ports_not_list,
    HDR META SPEC "  ports: 9080\n",
    "x.yaml:7:10: spec.ports must be a list, not a string")
BAD(ports_empty,
    HDR META SPEC "  ports: []\n",
    "x.yaml:7:10: spec.ports must not be empty")
BAD(ports_missing,
    HDR META SPEC,
    "x.yaml:6:3: spec.ports is required")
BAD(port_entry_not_map,
    HDR META SPEC "  ports: [9080]\n",
    "x.yaml:7:11: spec.ports[0] must be a mapping, not a string")

/* metadata */
BAD(name_missing,
    HDR "metadata:\n  namespace: default\n" SPEC PORTS,
    "x.yaml:4:3: metadata.name is required")
BAD(name_null,
    HDR "metadata:\n  name:\n" SPEC PORTS,
    "x.yaml:4:8: metadata.name is required")
BAD(name_upper,
    HDR "metadata:\n  name: Reviews\n" SPEC PORTS,
    "x.yaml:4:9: metadata.name 'Reviews' must be a DNS-1035 label")
BAD(name_digit,
    HDR "metadata:\n  name: 1reviews\n" SPEC PORTS,
    "x.yaml:4:9: metadata.name '1reviews' must be a DNS-1035 label")
BAD(name_dash,
    HDR "metadata:\n  name: reviews-\n" SPEC PORTS,
    "x.yaml:4:9: metadata.name 'reviews-' must be a DNS-1035 label")
BAD(name_64,
    HDR "metadata:\n  name: a123456789012345678901234567890123456789012345678901234567890123\n"
    SPEC PORTS,
    "x.yaml:4:9: metadata.name 'a123456789012345678901234567890123456789012345678901234567890123' must be a DNS-1035 label")
BAD(namespace_bad,
    HDR "metadata:\n  name: reviews\n  namespace: Prod\n" SPEC PORTS,
    "x.yaml:5:14: metadata.namespace 'Prod' must be a DNS-1123 label")
BAD(metadata_not_map,
    HDR "metadata: reviews\n" SPEC PORTS,
    "x.yaml:3:11: metadata must be a mapping, not a string")
BAD(metadata_labels_not_map,
    HDR META "  labels: [a]\n" SPEC PORTS,
    "x.yaml:5:11: metadata.labels must be a mapping, not a list")
BAD(metadata_missing,
    HDR SPEC PORTS,
    "x.yaml:1:1: metadata is required")
BAD(spec_missing,
    HDR META,
    "x.yaml:1:1: spec is required")

/* endpoints and labels */
BAD(version_missing,
    HDR META SPEC PORTS
    "  endpoints:\n  - addresses: [10.201.1.2]\n    labels: {app: reviews}\n",
    "x.yaml:11:13: spec.endpoints[0].labels: the 'version' label is required")
BAD(version_empty,
    HDR META SPEC PORTS
    "  endpoints:\n  - addresses: [10.201.1.2]\n    labels: {version: \"\"}\n",
    "x.yaml:11:23: spec.endpoints[0].labels.version must not be empty")
BAD(labels_missing,
    HDR META SPEC PORTS "  endpoints:\n  - addresses: [10.201.1.2]\n",
    "x.yaml:10:5: spec.endpoints[0].labels is required (with a 'version' label)")
BAD(label_value_64,
    HDR META SPEC PORTS
    "  endpoints:\n  - addresses: [10.201.1.2]\n"
    "    labels: {version: v1, app: a123456789012345678901234567890123456789012345678901234567890123}\n",
    "x.yaml:11:32: spec.endpoints[0].labels.app 'a123456789012345678901234567890123456789012345678901234567890123' is not a valid label value")
BAD(label_value_chars,
    HDR META SPEC PORTS
    "  endpoints:\n  - addresses: [10.201.1.2]\n    labels: {version: v1_}\n",
    "x.yaml:11:23: spec.endpoints[0].labels.version 'v1_' is not a valid label value")
BAD(label_value_list,
    HDR META SPEC PORTS
    "  endpoints:\n  - addresses: [10.201.1.2]\n    labels: {version: [v1]}\n",
    "x.yaml:11:23: spec.endpoints[0].labels.version must be a string, not a list")
BAD(duplicate_endpoint,
    HDR META SPEC PORTS
    "  endpoints:\n  - addresses: [10.201.1.2, \"fd00::1\"]\n    labels: {version: v1}\n"
    "  - addresses: [\"fd00:0::1\"]\n    labels: {version: v2}\n",
    "x.yaml:12:17: duplicate endpoint address fd00::1 in service default/reviews (first at 10:29)")
BAD(endpoints_not_list,
    HDR META SPEC PORTS "  endpoints: {addresses: [10.201.1.2]}\n",
    "x.yaml:9:14: spec.endpoints must be a list, not a mapping")
BAD(addresses_not_list,
    HDR META SPEC PORTS
    "  endpoints:\n  - addresses: 10.201.1.2\n    labels: {version: v1}\n",
    "x.yaml:10:16: spec.endpoints[0].addresses must be a list, not a string")
BAD(addresses_empty,
    HDR META SPEC PORTS
    "  endpoints:\n  - addresses: []\n    labels: {version: v1}\n",
    "x.yaml:10:16: spec.endpoints[0].addresses must not be empty")
BAD(labels_not_map,
    HDR META SPEC PORTS
    "  endpoints:\n  - addresses: [10.201.1.2]\n    labels: [version]\n",
    "x.yaml:11:13: spec.endpoints[0].labels must be a mapping, not a list")

/* services */
BAD(duplicate_service,
    SVC "---\n" SVC,
    "x.yaml:16:9: duplicate service default/reviews (first at 4:9)")
BAD(vip_conflict,
    SVC "---\n" HDR "metadata:\n  name: ratings\n" SPEC PORTS,
    "x.yaml:18:14: service default/ratings: 10.96.0.10:9080/TCP is already used by service default/reviews (6:14)")
BAD(vip_conflict_v6,
    HDR META "spec:\n  clusterIPs: [\"fd00::10\"]\n" PORTS "---\n"
    HDR "metadata:\n  name: ratings\n" "spec:\n  clusterIP: \"fd00:0::10\"\n" PORTS,
    "x.yaml:15:14: service default/ratings: [fd00::10]:9080/TCP is already used by service default/reviews (6:16)")

/* unknown fields and kinds */
BAD(unknown_spec_field,
    SVC "  sessionAffinity: None\n",
    "x.yaml:12:3: unknown field 'spec.sessionAffinity'")
BAD(unknown_port_field,
    HDR META SPEC PORTS "    nodePort: 30080\n",
    "x.yaml:9:5: unknown field 'spec.ports[0].nodePort'")
BAD(unknown_top_field,
    SVC "status: {}\n",
    "x.yaml:12:1: unknown field 'status'")
BAD(unknown_metadata_field,
    HDR META "  uid: 1234\n" SPEC PORTS,
    "x.yaml:5:3: unknown field 'metadata.uid'")
BAD(unknown_endpoint_field,
    SVC "    hostname: pod-1\n",
    "x.yaml:12:5: unknown field 'spec.endpoints[0].hostname'")
BAD(unsupported_kind,
    "apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\n"
    "metadata: {name: reviews}\nspec: {hosts: [reviews]}\n",
    "x.yaml:2:7: unsupported kind 'VirtualService' (apiVersion 'networking.istio.io/v1beta1')")
BAD(unsupported_api_version,
    SVC "---\napiVersion: v1\nkind: Service\n",
    "x.yaml:14:7: unsupported kind 'Service' (apiVersion 'v1')")
BAD(kind_missing,
    "apiVersion: split.dev/v1\n" META SPEC PORTS,
    "x.yaml:1:1: kind is required")
BAD(doc_not_map,
    SVC "---\n- a\n- b\n",
    "x.yaml:13:1: a document must be a mapping, not a list")

/* YAML itself */
BAD(tab_indent,
    HDR "metadata:\n\tname: reviews\n" SPEC PORTS,
    "x.yaml:4:1: found a tab character where YAML allows only spaces (indent with spaces)")
BAD(bad_syntax,
    HDR META "spec:\n  clusterIPs: [10.96.0.10\n" PORTS,
    "x.yaml:7:8: did not find expected ',' or ']' (while parsing a flow sequence at 6:15)")
BAD(bad_indent,
    HDR META "spec:\n  clusterIP: 10.96.0.10\n ports: []\n",
    "x.yaml:7:2: did not find expected key (while parsing a block mapping at 1:1)")
BAD(anchor,
    HDR "metadata: &m\n  name: reviews\n" SPEC PORTS,
    "x.yaml:3:11: YAML anchors (&m) are not supported")
BAD(alias,
    HDR META SPEC PORTS "  - port: *p\n",
    "x.yaml:9:11: YAML aliases (*p) are not supported")
BAD(merge_key,
    HDR META SPEC "  ports:\n  - <<: *base\n",
    "x.yaml:8:9: YAML aliases (*base) are not supported")
BAD(duplicate_key,
    HDR "metadata:\n  name: reviews\n  name: ratings\n" SPEC PORTS,
    "x.yaml:5:3: duplicate key 'name' (first at 4:3)")
BAD(duplicate_key_quoted,
    HDR META "spec:\n  clusterIP: 10.96.0.10\n  \"clusterIP\": 10.96.0.11\n" PORTS,
    "x.yaml:7:3: duplicate key 'clusterIP' (first at 6:3)")
BAD(bad_utf8,
    HDR META "  namespace: d\xc3\x28\n" SPEC PORTS,
    "x.yaml:5:16: invalid trailing UTF-8 octet (#28)")
BAD(nul_in_scalar,
    HDR "metadata:\n  name: \"reviews\\0evil\"\n" SPEC PORTS,
    "x.yaml:4:9: scalar contains a NUL character")

/* limits: 257 ports, 4097 endpoint addresses. fmt gets (i + 1, a, b) with
 * a.b unique for i < 62500. */
static char *gen_many(const char *head, const char *fmt, int n)
{
	size_t cap = strlen(head) + (size_t)n * 64 + 1, len;
	char *y = malloc(cap);

	if (!y)
		abort();
	len = (size_t)snprintf(y, cap, "%s", head);
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(y + len, cap - len, fmt, i + 1,
					1 + i / 250, 1 + i % 250);
	return y;
}

TEST(too_many_ports)
{
	char *y = gen_many(HDR META SPEC "  ports:\n", "  - port: %d\n", 257);
	int untouched;

	expect_err(failed, y, "x.yaml:264:5: too many ports in one service (limit 256)");
	free(y);
	y = gen_many(HDR META SPEC "  ports:\n", "  - port: %d\n", 256);
	ASSERT_TRUE(parse_err(y, &untouched) == NULL);
	free(y);
}

TEST(too_many_endpoints)
{
	static const char fmt[] =
		"  - addresses: [10.1.%2$d.%3$d]\n    labels: {version: v%1$d}\n";
	char *y = gen_many(HDR META SPEC PORTS "  endpoints:\n", fmt, 4097);
	int untouched;

	expect_err(failed, y, "x.yaml:8202:17: too many endpoint addresses in one service (limit 4096)");
	free(y);
	y = gen_many(HDR META SPEC PORTS "  endpoints:\n", fmt, 4096);
	ASSERT_TRUE(parse_err(y, &untouched) == NULL);
	free(y);
}
