// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * test_err.c - the library's error convention (common/err.h): a function
 * that fails returns a negative errno, fills err with a reason when err is
 * given, and accepts err == NULL (same result, nothing written, no crash:
 * these run under ASan).
 */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "apply.h"
#include "err.h"
#include "files.h"
#include "istio.h"
#include "k8s_client.h"
#include "l7skmsg.h"
#include "l7sockmap.h"
#include "metrics_http.h"
#include "ops.h"
#include "rollout.h"
#include "services_yaml.h"
#include "state.h"
#include "stats.h"
#include "test.h"
#include "yaml_tree.h"

#define NOWHERE "/nonexistent/split-test-err"

TEST(errf_and_errc)
{
	struct split_err e = { "" };

	ASSERT_EQ(split_errf(&e, "bad %s", "thing"), -EINVAL);
	ASSERT_STREQ(e.msg, "bad thing");
	ASSERT_EQ(split_errf(NULL, "bad %s", "thing"), -EINVAL);
	ASSERT_EQ(split_errc(&e, ENOENT, "%s: gone", "x"), -ENOENT);
	ASSERT_STREQ(e.msg, "x: gone");
	ASSERT_EQ(split_errc(&e, -EBUSY, "busy"), -EBUSY);	/* either sign */
	ASSERT_EQ(split_errc(&e, 0, "no code"), -EINVAL);
	ASSERT_EQ(split_errc(NULL, ENOMEM, "oom"), -ENOMEM);
}

/* Each case calls one library function with bad input and frees what it
 * made; it returns what the function returned. */
static int c_read_file(struct split_err *err)
{
	char *buf = NULL;
	size_t len = 0;
	int r = split_read_file(NOWHERE, &buf, &len, err);

	free(buf);
	return r;
}

static int c_paths_expand(struct split_err *err)
{
	const char *p[] = { NOWHERE };
	struct split_paths out = { 0 };
	int r = split_paths_expand(p, 1, &out, err);

	split_paths_free(&out);
	return r;
}

static int c_yt_parse(struct split_err *err)
{
	static const char y[] = "a: [1, 2\n";
	struct yt_tree t;
	int r = yt_parse("t.yaml", y, sizeof(y) - 1, &t, err);

	yt_free(&t);
	return r;
}

static int c_yt_int_range(struct split_err *err)
{
	static const char y[] = "port: 70000\n";
	struct yt_tree t;
	long long v;
	int r;

	if (yt_parse("t.yaml", y, sizeof(y) - 1, &t, NULL))
		return 1;	/* not the case under test: fails the test */
	r = yt_int(&t, yt_field(t.docs[0].root, "port"), "port", 1, 65535, &v, err);
	yt_free(&t);
	return r;
}

static int c_services_parse(struct split_err *err)
{
	static const char y[] =
		"apiVersion: split.dev/v1\nkind: Service\nmetadata: {name: r}\n"
		"spec: {clusterIPs: [10.0.0.300], ports: [{port: 80}]}\n";
	struct split_config cfg = { 0 };
	int r = split_services_parse("s.yaml", y, sizeof(y) - 1, &cfg, err);

	split_config_free(&cfg);
	return r;
}

static int c_services_load(struct split_err *err)
{
	struct split_config cfg = { 0 };
	int r = split_services_load(NOWHERE, &cfg, err);

	split_config_free(&cfg);
	return r;
}

static int c_rules_parse(struct split_err *err)
{
	static const char y[] =
		"apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\n"
		"metadata: {name: r}\nspec: {hosts: [r], http: [{fault: {}}]}\n";
	struct split_rules out = { 0 };
	int r = split_rules_parse("r.yaml", y, sizeof(y) - 1, &out, err);

	if (!r)
		split_rules_free(&out);
	return r;
}

static int c_input_load(struct split_err *err)
{
	const char *p[] = { NOWHERE };
	struct split_input in;
	int r = split_input_load(p, 1, &in, err);

	split_input_free(&in);
	return r;
}

static struct split_service one_svc = { .name = "reviews", .ns = "default" };
static struct split_config one_cfg = { &one_svc, 1 };

static int c_config_find(struct split_err *err)
{
	return split_config_find(&one_cfg, "ratings", err);
}

static int c_set_weights(struct split_err *err)
{
	char a[] = "v1";	/* not VERSION=WEIGHT */
	char *argv[] = { a };

	return split_config_set_weights(&one_cfg, 0, 1, argv, err);
}

static int c_state_open(struct split_err *err)
{
	struct split_state st;

	return split_state_open(&st, NOWHERE, err);
}

static int c_stats_read(struct split_err *err)
{
	struct split_stats st;

	return split_stats_read(NOWHERE, &st, err);
}

static int c_rollout_steps(struct split_err *err)
{
	struct split_rollout_opts o;

	split_rollout_opts_init(&o);
	return split_rollout_parse_steps("5,1", &o, err);
}

static int c_rollout_duration(struct split_err *err)
{
	uint32_t ms;

	return split_rollout_parse_duration("30 parsecs", &ms, err);
}

static int c_metrics_listen(struct split_err *err)
{
	int fd = split_metrics_listen("127.0.0.1:99999", err);

	if (fd >= 0)
		close(fd);
	return fd;
}

static int c_kubeconfig(struct split_err *err)
{
	struct k8s_conn c;
	int r = k8s_conn_kubeconfig(&c, NOWHERE, NULL, err);

	if (!r)
		k8s_conn_free(&c);
	return r;
}

static int c_in_cluster(struct split_err *err)
{
	struct k8s_conn c;
	int r = k8s_conn_in_cluster(&c, "https://10.0.0.1:443", NULL, NOWHERE, err);

	if (!r)
		k8s_conn_free(&c);
	return r;
}

static const struct {
	const char *name;
	int (*fn)(struct split_err *err);
	int want;		/* the errno expected, 0: any */
} cases[] = {
	{ "split_read_file", c_read_file, -ENOENT },
	{ "split_paths_expand", c_paths_expand, -ENOENT },
	{ "yt_parse", c_yt_parse, -EINVAL },
	{ "yt_int", c_yt_int_range, -ERANGE },
	{ "split_services_parse", c_services_parse, -EINVAL },
	{ "split_services_load", c_services_load, -ENOENT },
	{ "split_rules_parse", c_rules_parse, -EINVAL },
	{ "split_input_load", c_input_load, -ENOENT },
	{ "split_config_find", c_config_find, -ENOENT },
	{ "split_config_set_weights", c_set_weights, -EINVAL },
	/* ENOENT as root; without, the bpf() call may say EPERM first */
	{ "split_state_open", c_state_open, 0 },
	{ "split_stats_read", c_stats_read, 0 },
	{ "split_rollout_parse_steps", c_rollout_steps, -EINVAL },
	{ "split_rollout_parse_duration", c_rollout_duration, -EINVAL },
	{ "split_metrics_listen", c_metrics_listen, -EINVAL },
	{ "k8s_conn_kubeconfig", c_kubeconfig, -ENOENT },
	{ "k8s_conn_in_cluster", c_in_cluster, -ENOENT },
};

TEST(bad_input_gives_negative_errno_and_reason)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct split_err e;
		int r;

		memset(e.msg, 0, sizeof(e.msg));
		r = cases[i].fn(&e);
		if (r >= 0 || r < -4095 || (cases[i].want && r != cases[i].want) || !e.msg[0]) {
			fprintf(stderr, "  %s: returned %d (want %d), reason \"%s\"\n",
				cases[i].name, r, cases[i].want, e.msg);
			ASSERT_TRUE(0);
		}
	}
}

TEST(err_null_same_result)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct split_err e;
		int r = cases[i].fn(&e), rn = cases[i].fn(NULL);

		if (rn != r) {
			fprintf(stderr, "  %s: %d with err, %d with NULL\n", cases[i].name, r, rn);
			ASSERT_TRUE(0);
		}
	}
}

/* Functions returning a pointer: NULL, the reason in err, err optional. */
TEST(pointer_results)
{
	struct split_err e = { "" };
	libbpf_print_fn_t old = libbpf_set_print(NULL);	/* its "not an ELF" */
	struct l7_skmsg *m1, *m2;

	m1 = l7_skmsg_open("not an ELF object", 17, 0, NULL, &e);
	m2 = l7_skmsg_open("not an ELF object", 17, 0, NULL, NULL);
	libbpf_set_print(old);
	ASSERT_TRUE(!m1 && !m2);
	ASSERT_CONTAINS(e.msg, "opening the BPF object");
	ASSERT_TRUE(!l7_sockmap_open_flags(NULL, 0, 0, &e));
	ASSERT_STREQ(e.msg, "no BPF object");
	ASSERT_TRUE(!l7_sockmap_open_flags(NULL, 0, 0, NULL));
}
