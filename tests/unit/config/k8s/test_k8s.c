// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * test_k8s.c - Kubernetes API objects (JSON fixtures shaped like the API's
 * lists, tests/data/k8s/api) into the model; the same objects as files
 * (tests/data/k8s/files) must give the same model. Run from the repo root.
 */
#include <unistd.h>

#include <json-c/json.h>

#include "apply.h"
#include "k8s_client.h"
#include "k8s_model.h"
#include "log.h"
#include "test.h"

#define API "tests/data/k8s/api/"

static const char *const list_files[K8S_NKINDS] = {
	[K8S_SERVICE] = API "services.json",
	[K8S_ENDPOINTSLICE] = API "endpointslices.json",
	[K8S_POD] = API "pods.json",
	[K8S_VIRTUALSERVICE] = API "virtualservices.json",
	[K8S_DESTINATIONRULE] = API "destinationrules.json",
};

/* Every item of a list file into the store. */
static int load_list(struct k8s_store *s, enum k8s_kind k, const char *path)
{
	struct json_object *l = json_object_from_file(path), *items;
	int ret = -1;

	if (!l)
		return -1;
	if (json_object_object_get_ex(l, "items", &items)) {
		ret = 0;
		for (size_t i = 0; i < json_object_array_length(items); i++)
			ret |= k8s_store_put(s, k, json_object_array_get_idx(items, i));
	}
	json_object_put(l);
	return ret;
}

static int load_all(struct k8s_store *s)
{
	for (int k = 0; k < K8S_NKINDS; k++)
		if (load_list(s, (enum k8s_kind)k, list_files[k]))
			return -1;
	return 0;
}

static char *print_model(const struct split_config *c, const struct split_objs *o)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	k8s_model_print(f, c, o);
	fclose(f);
	return buf;
}

static const struct split_service *svc(const struct split_config *c, const char *name)
{
	for (size_t i = 0; i < c->nsvcs; i++)
		if (!strcmp(c->svcs[i].name, name))
			return &c->svcs[i];
	return NULL;
}

static int has_ep(const struct split_service *s, const char *addr, const char *version)
{
	char a[64];

	for (size_t i = 0; i < s->neps; i++)
		if (!strcmp(split_addr_str(&s->eps[i].addr, a, sizeof(a)), addr))
			return !strcmp(s->eps[i].version, version);
	return 0;
}

TEST(fixtures_to_model)
{
	struct k8s_store s = { 0 };
	struct split_config c = { 0 };
	struct split_objs o = { 0 };
	struct k8s_build_stats st = { 0 };
	struct split_err err;
	const struct split_service *r, *ra;

	split_log_level = LOG_LVL_WARN;
	ASSERT_EQ(load_all(&s), 0);
	ASSERT_EQ(k8s_build(&s, &c, &o, &st, &err), 0);
	ASSERT_EQ(c.nsvcs, 2);
	r = svc(&c, "reviews");
	ra = svc(&c, "ratings");
	ASSERT_TRUE(r && ra);
	ASSERT_EQ(r->nvips, 2);
	/* targetPort "http-web" resolved through the slices' port "http". */
	ASSERT_EQ(r->nports, 1);
	ASSERT_EQ(r->ports[0].port, 9080);
	ASSERT_EQ(r->ports[0].target_port, 9080);
	/* Three slices merged, 10.201.1.2 once, the not-ready one out, the
	 * slice whose port disagrees out. */
	ASSERT_EQ(r->neps, 5);
	ASSERT_TRUE(has_ep(r, "10.201.1.2", "v1"));
	ASSERT_TRUE(has_ep(r, "10.201.1.3", "v1"));	/* ready unset: ready */
	ASSERT_TRUE(has_ep(r, "fd00:201:1::2", "v1"));
	ASSERT_TRUE(has_ep(r, "10.201.2.2", "v2"));
	ASSERT_TRUE(has_ep(r, "10.201.3.2", "v3"));
	ASSERT_FALSE(has_ep(r, "10.201.2.9", "v2"));
	ASSERT_FALSE(has_ep(r, "10.201.9.9", "v1"));
	ASSERT_EQ(r->nversions, 3);
	/* Numeric targetPort; the SCTP port is not ours. */
	ASSERT_EQ(ra->nports, 1);
	ASSERT_EQ(ra->ports[0].port, 80);
	ASSERT_EQ(ra->ports[0].target_port, 8080);
	ASSERT_EQ(ra->neps, 1);
	ASSERT_TRUE(has_ep(ra, "10.202.1.2", "v1"));
	/* Counted: the bad ones and the endpoints left out. */
	ASSERT_EQ(st.services, 2);
	ASSERT_EQ(st.services_skipped, 2);	/* headless, ExternalName */
	ASSERT_EQ(st.bad[K8S_SERVICE], 2);	/* 10.96.0.300; a VIP twice */
	ASSERT_EQ(st.eps_not_ready, 1);
	ASSERT_EQ(st.eps_unversioned, 1);
	ASSERT_EQ(st.eps_port_conflict, 1);
	ASSERT_EQ(st.bad[K8S_DESTINATIONRULE], 1);	/* subset without version */
	ASSERT_EQ(st.bad[K8S_VIRTUALSERVICE], 1);	/* fault */
	ASSERT_EQ(o.n, 2);
	/* The server's metadata and status are not carried. */
	for (size_t i = 0; i < o.n; i++) {
		ASSERT_TRUE(!strstr(o.v[i].json, "resourceVersion"));
		ASSERT_TRUE(!strstr(o.v[i].json, "status"));
		ASSERT_STREQ(o.v[i].ns, "default");
	}
	split_config_free(&c);
	split_objs_free(&o);
	k8s_store_free(&s);
}

/* The differential test: API objects and files say the same thing. */
TEST(api_model_equals_files_model)
{
	const char *paths[] = { "tests/data/k8s/files" };
	struct k8s_store s = { 0 };
	struct split_config c = { 0 };
	struct split_objs o = { 0 };
	struct split_input in = { 0 };
	struct split_err err;
	char *a, *b;

	split_log_level = LOG_LVL_WARN;
	ASSERT_EQ(load_all(&s), 0);
	ASSERT_EQ(k8s_build(&s, &c, &o, NULL, &err), 0);
	if (split_input_load(paths, 1, &in, &err) || split_input_check(&in, &err))
		TEST_FAIL_("files: %s", err.msg);
	a = print_model(&c, &o);
	b = print_model(&in.svcs, &in.objs);
	ASSERT_TRUE(a && b);
	ASSERT_TRUE(strstr(a, "service default/reviews") && strstr(a, "regex"));
	if (strcmp(a, b))
		fprintf(stderr, "--- from the API:\n%s--- from the files:\n%s", a, b);
	ASSERT_STREQ(a, b);
	free(a);
	free(b);
	split_config_free(&c);
	split_objs_free(&o);
	split_input_free(&in);
	k8s_store_free(&s);
}

/* Watch-style changes: put, replace, delete, relist. */
TEST(store_events)
{
	struct k8s_store s = { 0 };
	struct k8s_items fresh = { 0 };
	struct split_config c = { 0 };
	struct split_objs o = { 0 };
	struct split_err err;
	struct json_object *p;

	split_log_level = LOG_LVL_WARN;
	ASSERT_EQ(load_all(&s), 0);
	/* The v2 pod loses its version label: its endpoint goes. */
	p = json_tokener_parse("{\"metadata\":{\"name\":\"reviews-v2-a\",\"namespace\":\"default\","
			       "\"labels\":{\"app\":\"reviews\"}}}");
	ASSERT_TRUE(p);
	ASSERT_EQ(k8s_store_put(&s, K8S_POD, p), 0);
	ASSERT_EQ(k8s_build(&s, &c, &o, NULL, &err), 0);
	/* (The VS still names v2: split_apply() is what refuses it.) */
	ASSERT_EQ(svc(&c, "reviews")->neps, 4);
	split_config_free(&c);
	split_objs_free(&o);
	/* Deleted: the same. */
	ASSERT_EQ(k8s_store_del(&s, K8S_POD, p), 1);
	ASSERT_EQ(k8s_store_del(&s, K8S_POD, p), 0);
	json_object_put(p);
	ASSERT_EQ(k8s_build(&s, &c, &o, NULL, &err), 0);
	ASSERT_EQ(svc(&c, "reviews")->neps, 4);
	split_config_free(&c);
	split_objs_free(&o);
	/* A relist with no slices: no endpoints at all, so the services are
	 * not split here (left to kube-proxy, not refused). */
	k8s_store_replace(&s, K8S_ENDPOINTSLICE, &fresh);
	ASSERT_EQ(k8s_build(&s, &c, &o, NULL, &err), 0);
	ASSERT_TRUE(svc(&c, "reviews") == NULL);
	ASSERT_EQ(c.nsvcs, 0);
	split_config_free(&c);
	split_objs_free(&o);
	k8s_store_free(&s);
}

TEST(bad_objects_do_not_block)
{
	struct k8s_store s = { 0 };
	struct split_config c = { 0 };
	struct split_objs o = { 0 };
	struct k8s_build_stats st = { 0 };
	struct split_err err;
	const char *bad[] = {
		"{\"metadata\":{\"namespace\":\"default\"},\"spec\":{\"clusterIP\":\"10.96.1.1\"}}",
		"{\"metadata\":{\"name\":\"p0\",\"namespace\":\"default\"},\"spec\":{\"clusterIP\":\"10.96.1.2\",\"ports\":[{\"port\":0}]}}",
		"{\"metadata\":{\"name\":\"p1\",\"namespace\":\"default\"},\"spec\":{\"clusterIP\":\"10.96.1.3\",\"ports\":[{\"port\":\"80\"}]}}",
		"{\"metadata\":{\"name\":\"Caps\",\"namespace\":\"default\"},\"spec\":{\"clusterIP\":\"10.96.1.4\",\"ports\":[{\"port\":80}]}}",
		"{\"metadata\":{\"name\":\"ok\",\"namespace\":\"default\"},\"spec\":{\"clusterIP\":\"10.96.1.5\",\"ports\":[{\"port\":80}]}}",
	};
	struct json_object *j;

	/* ok's endpoint, a pod with a version. */
	j = json_tokener_parse("{\"metadata\":{\"name\":\"ok-1\",\"namespace\":\"default\","
			       "\"labels\":{\"kubernetes.io/service-name\":\"ok\"}},\"addressType\":\"IPv4\","
			       "\"ports\":[{\"port\":80,\"protocol\":\"TCP\"}],\"endpoints\":[{\"addresses\":"
			       "[\"10.203.1.2\"],\"targetRef\":{\"kind\":\"Pod\",\"name\":\"ok-a\"}}]}");
	ASSERT_TRUE(j);
	ASSERT_EQ(k8s_store_put(&s, K8S_ENDPOINTSLICE, j), 0);
	json_object_put(j);
	j = json_tokener_parse("{\"metadata\":{\"name\":\"ok-a\",\"namespace\":\"default\","
			       "\"labels\":{\"version\":\"v1\"}}}");
	ASSERT_TRUE(j);
	ASSERT_EQ(k8s_store_put(&s, K8S_POD, j), 0);
	json_object_put(j);

	/* The warnings printed here are expected. */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = json_tokener_parse(bad[i]);
		ASSERT_TRUE(j);
		/* The first has no name: the store refuses it. */
		ASSERT_EQ(k8s_store_put(&s, K8S_SERVICE, j), i ? 0 : -EINVAL);
		json_object_put(j);
	}
	ASSERT_EQ(k8s_build(&s, &c, &o, &st, &err), 0);
	split_log_level = LOG_LVL_WARN;
	ASSERT_EQ(c.nsvcs, 1);
	ASSERT_STREQ(c.svcs[0].name, "ok");
	ASSERT_TRUE(has_ep(&c.svcs[0], "10.203.1.2", "v1"));
	ASSERT_EQ(st.bad[K8S_SERVICE], 3);
	split_config_free(&c);
	split_objs_free(&o);
	k8s_store_free(&s);
}

/* A Service with nothing to split to is not split here: kube-dns (its
 * pods have no version label), the kubernetes Service (endpoints without a
 * pod), one whose pods are all not ready. In the maps with no endpoint,
 * every pod's connection to it would be refused; left out, it goes on to
 * the VIP as kube-proxy serves it. Once a pod has a version, it is split. */
TEST(services_without_versioned_endpoints_not_split)
{
	struct k8s_store s = { 0 };
	struct split_config c = { 0 };
	struct split_objs o = { 0 };
	struct k8s_build_stats st = { 0 };
	struct split_err err;
	const char *objs[][2] = {
		{ "S", "{\"metadata\":{\"name\":\"kube-dns\",\"namespace\":\"kube-system\"},\"spec\":{\"clusterIP\":\"10.96.0.53\","
		       "\"ports\":[{\"name\":\"dns\",\"port\":53,\"protocol\":\"UDP\"},{\"name\":\"dns-tcp\",\"port\":53,\"protocol\":\"TCP\"}]}}" },
		{ "E", "{\"metadata\":{\"name\":\"kube-dns-1\",\"namespace\":\"kube-system\",\"labels\":{\"kubernetes.io/service-name\":\"kube-dns\"}},"
		       "\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"dns\",\"port\":53,\"protocol\":\"UDP\"},{\"name\":\"dns-tcp\",\"port\":53,\"protocol\":\"TCP\"}],"
		       "\"endpoints\":[{\"addresses\":[\"10.204.1.2\"],\"targetRef\":{\"kind\":\"Pod\",\"namespace\":\"kube-system\",\"name\":\"coredns-a\"}}]}" },
		{ "P", "{\"metadata\":{\"name\":\"coredns-a\",\"namespace\":\"kube-system\",\"labels\":{\"k8s-app\":\"kube-dns\"}}}" },
		{ "S", "{\"metadata\":{\"name\":\"kubernetes\",\"namespace\":\"default\"},\"spec\":{\"clusterIP\":\"10.96.0.1\","
		       "\"ports\":[{\"name\":\"https\",\"port\":443,\"targetPort\":6443,\"protocol\":\"TCP\"}]}}" },
		{ "E", "{\"metadata\":{\"name\":\"kubernetes\",\"namespace\":\"default\",\"labels\":{\"kubernetes.io/service-name\":\"kubernetes\"}},"
		       "\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"https\",\"port\":6443,\"protocol\":\"TCP\"}],"
		       "\"endpoints\":[{\"addresses\":[\"192.0.2.10\"]}]}" },
		{ "S", "{\"metadata\":{\"name\":\"down\",\"namespace\":\"default\"},\"spec\":{\"clusterIP\":\"10.96.0.55\","
		       "\"ports\":[{\"port\":80,\"protocol\":\"TCP\"}]}}" },
		{ "E", "{\"metadata\":{\"name\":\"down-1\",\"namespace\":\"default\",\"labels\":{\"kubernetes.io/service-name\":\"down\"}},"
		       "\"addressType\":\"IPv4\",\"ports\":[{\"port\":80,\"protocol\":\"TCP\"}],"
		       "\"endpoints\":[{\"addresses\":[\"10.204.2.2\"],\"conditions\":{\"ready\":false},"
		       "\"targetRef\":{\"kind\":\"Pod\",\"namespace\":\"default\",\"name\":\"down-a\"}}]}" },
		{ "P", "{\"metadata\":{\"name\":\"down-a\",\"namespace\":\"default\",\"labels\":{\"version\":\"v1\"}}}" },
	};
	struct json_object *j;

	ASSERT_EQ(load_all(&s), 0);
	for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++) {
		j = json_tokener_parse(objs[i][1]);
		ASSERT_TRUE(j);
		ASSERT_EQ(k8s_store_put(&s, objs[i][0][0] == 'S' ? K8S_SERVICE :
					objs[i][0][0] == 'E' ? K8S_ENDPOINTSLICE : K8S_POD, j), 0);
		json_object_put(j);
	}
	ASSERT_EQ(k8s_build(&s, &c, &o, &st, &err), 0);
	/* The fixtures' two services, and none of these three. */
	ASSERT_EQ(c.nsvcs, 2);
	ASSERT_TRUE(svc(&c, "reviews") && svc(&c, "ratings"));
	ASSERT_TRUE(!svc(&c, "kube-dns") && !svc(&c, "kubernetes") && !svc(&c, "down"));
	ASSERT_EQ(st.services, 2);
	ASSERT_EQ(st.services_skipped, 2 + 3);	/* headless, ExternalName; these */
	ASSERT_EQ(st.bad[K8S_SERVICE], 2);	/* the fixtures' bad ones only */
	ASSERT_EQ(st.eps_unversioned, 1 + 2);	/* coredns-a, the apiserver */
	ASSERT_EQ(st.eps_not_ready, 1 + 1);	/* down-a */
	split_config_free(&c);
	split_objs_free(&o);
	/* coredns-a gets a version label: kube-dns is split (one version). */
	j = json_tokener_parse("{\"metadata\":{\"name\":\"coredns-a\",\"namespace\":\"kube-system\","
			       "\"labels\":{\"k8s-app\":\"kube-dns\",\"version\":\"v1\"}}}");
	ASSERT_TRUE(j);
	ASSERT_EQ(k8s_store_put(&s, K8S_POD, j), 0);
	json_object_put(j);
	memset(&st, 0, sizeof(st));
	ASSERT_EQ(k8s_build(&s, &c, &o, &st, &err), 0);
	ASSERT_EQ(c.nsvcs, 3);
	ASSERT_TRUE(has_ep(svc(&c, "kube-dns"), "10.204.1.2", "v1"));
	ASSERT_EQ(svc(&c, "kube-dns")->nports, 2);
	ASSERT_EQ(st.services_skipped, 2 + 2);
	split_config_free(&c);
	split_objs_free(&o);
	k8s_store_free(&s);
}

/* ---- connection settings ------------------------------------------------ */

static const char *write_tmp(const char *text)
{
	static char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/split-test-kc.%d", (int)getpid());
	f = fopen(path, "w");
	if (!f)
		return NULL;
	fputs(text, f);
	fclose(f);
	return path;
}

#define KC_HEAD "apiVersion: v1\nkind: Config\ncurrent-context: c1\n" \
	"contexts:\n- name: c1\n  context: {cluster: k1, user: u1}\n" \
	"- name: c2\n  context: {cluster: k1, user: u2}\n"

TEST(kubeconfig_reader)
{
	struct k8s_conn c;
	struct split_err err;
	const char *p;

	/* certificate-authority-data ("PEM!" in base64), a token, a relative path. */
	p = write_tmp(KC_HEAD
		      "clusters:\n- name: k1\n  cluster:\n    server: https://10.0.0.1:6443\n"
		      "    certificate-authority-data: UEVNIQ==\n"
		      "users:\n- name: u1\n  user: {token: abc}\n"
		      "- name: u2\n  user: {tokenFile: tok, client-certificate: c.pem, client-key: k.pem}\n");
	ASSERT_TRUE(p);
	ASSERT_EQ(k8s_conn_kubeconfig(&c, p, NULL, &err), 0);
	ASSERT_STREQ(c.server, "https://10.0.0.1:6443");
	ASSERT_EQ(c.ca_len, 4);
	ASSERT_STREQ(c.ca_data, "PEM!");
	ASSERT_STREQ(c.token, "abc");
	k8s_conn_free(&c);
	ASSERT_EQ(k8s_conn_kubeconfig(&c, p, "c2", &err), 0);
	ASSERT_STREQ(c.token_file, "/tmp/tok");
	ASSERT_STREQ(c.cert_file, "/tmp/c.pem");
	ASSERT_STREQ(c.key_file, "/tmp/k.pem");
	k8s_conn_free(&c);
	ASSERT_EQ(k8s_conn_kubeconfig(&c, p, "c3", &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "context 'c3' not found");
	/* What is not supported says so. */
	p = write_tmp(KC_HEAD
		      "clusters:\n- name: k1\n  cluster: {server: 'https://a:1'}\n"
		      "users:\n- name: u1\n  user:\n    exec: {command: aws}\n");
	ASSERT_EQ(k8s_conn_kubeconfig(&c, p, NULL, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "'exec' is not supported");
	p = write_tmp(KC_HEAD
		      "clusters:\n- name: k1\n  cluster: {server: 'https://a:1', proxy-url: 'http://p'}\n"
		      "users:\n- name: u1\n  user: {token: x}\n");
	ASSERT_EQ(k8s_conn_kubeconfig(&c, p, NULL, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "'proxy-url' is not supported");
	/* A certificate without its key; bad base64; no server URL. */
	p = write_tmp(KC_HEAD
		      "clusters:\n- name: k1\n  cluster: {server: 'https://a:1'}\n"
		      "users:\n- name: u1\n  user: {client-certificate-data: UEVNIQ==}\n");
	ASSERT_EQ(k8s_conn_kubeconfig(&c, p, NULL, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "needs its key");
	p = write_tmp(KC_HEAD
		      "clusters:\n- name: k1\n  cluster: {server: 'https://a:1', certificate-authority-data: '%%%'}\n"
		      "users:\n- name: u1\n  user: {token: x}\n");
	ASSERT_EQ(k8s_conn_kubeconfig(&c, p, NULL, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "not base64");
	p = write_tmp(KC_HEAD
		      "clusters:\n- name: k1\n  cluster: {server: 'ftp://a'}\n"
		      "users:\n- name: u1\n  user: {token: x}\n");
	ASSERT_EQ(k8s_conn_kubeconfig(&c, p, NULL, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "http(s)://");
	unlink(p);
	ASSERT_EQ(k8s_conn_kubeconfig(&c, "/nonexistent/kc", NULL, &err), -ENOENT);
	ASSERT_CONTAINS(err.msg, "kubeconfig: /nonexistent/kc");
}

TEST(in_cluster_settings)
{
	struct k8s_conn c;
	struct split_err err;

	unsetenv("KUBERNETES_SERVICE_HOST");
	ASSERT_EQ(k8s_conn_in_cluster(&c, NULL, NULL, "/dev/null", &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "KUBERNETES_SERVICE_HOST is not set");
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
	ASSERT_EQ(k8s_conn_in_cluster(&c, NULL, "/tmp/t", "/dev/null", &err), 0);
	ASSERT_STREQ(c.server, "https://[fd00::1]:6443");
	ASSERT_STREQ(c.token_file, "/tmp/t");
	k8s_conn_free(&c);
	/* The default CA file is the service account's: absent here. */
	ASSERT_EQ(k8s_conn_in_cluster(&c, "https://x:1", NULL, NULL, &err), access(K8S_SA_DIR "/ca.crt", R_OK) ? -ENOENT : 0);
	if (!access(K8S_SA_DIR "/ca.crt", R_OK))
		k8s_conn_free(&c);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
}

/* A DestinationRule subset that selects more than `version`: only pods
 * with all its labels are that version's endpoints. */
TEST(subset_labels_select_pods)
{
	struct k8s_store s = { 0 };
	struct split_config c = { 0 };
	struct split_objs o = { 0 };
	struct k8s_build_stats st = { 0 };
	struct split_err err;
	struct json_object *dr, *pod;

	ASSERT_EQ(load_all(&s), 0);
	dr = json_tokener_parse("{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":\"DestinationRule\","
				"\"metadata\":{\"name\":\"reviews\",\"namespace\":\"default\"},"
				"\"spec\":{\"host\":\"reviews\",\"subsets\":["
				"{\"name\":\"v1\",\"labels\":{\"version\":\"v1\"}},"
				"{\"name\":\"v2\",\"labels\":{\"version\":\"v2\",\"track\":\"canary\"}},"
				"{\"name\":\"v3\",\"labels\":{\"version\":\"v3\"}}]}}");
	ASSERT_TRUE(dr);
	ASSERT_EQ(k8s_store_put(&s, K8S_DESTINATIONRULE, dr), 0);
	json_object_put(dr);
	ASSERT_EQ(k8s_build(&s, &c, &o, &st, &err), 0);
	/* reviews-v2-a has version v2 but no track=canary: not in subset v2. */
	ASSERT_FALSE(has_ep(svc(&c, "reviews"), "10.201.2.2", "v2"));
	ASSERT_EQ(st.eps_unselected, 1);
	ASSERT_TRUE(has_ep(svc(&c, "reviews"), "10.201.1.2", "v1"));
	split_config_free(&c);
	split_objs_free(&o);
	/* The pod gets the label: it is in. */
	pod = json_tokener_parse("{\"metadata\":{\"name\":\"reviews-v2-a\",\"namespace\":\"default\","
				 "\"labels\":{\"app\":\"reviews\",\"version\":\"v2\",\"track\":\"canary\"}}}");
	ASSERT_TRUE(pod);
	ASSERT_EQ(k8s_store_put(&s, K8S_POD, pod), 0);
	json_object_put(pod);
	memset(&st, 0, sizeof(st));
	ASSERT_EQ(k8s_build(&s, &c, &o, &st, &err), 0);
	ASSERT_TRUE(has_ep(svc(&c, "reviews"), "10.201.2.2", "v2"));
	ASSERT_EQ(st.eps_unselected, 0);
	split_config_free(&c);
	split_objs_free(&o);
	k8s_store_free(&s);
}
