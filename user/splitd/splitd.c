// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * splitd - per-node daemon of the eBPF canary traffic splitter.
 *
 * Loads the datapath (skeleton), pins its maps and links under the pin dir,
 * attaches the socket programs to a cgroup v2, compiles the services file
 * into the maps and then watches that file. The datapath does not need
 * splitd to keep running: kill it and connections keep being split;
 * restart it and it takes over the pinned links (atomic program update,
 * no gap) and the weights set with splitctl.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>

#include "apply.h"
#include "caps.h"
#include "k8s_apply.h"
#include "k8s_curl.h"
#include "l7_rt.h"
#include "log.h"
#include "mapsize.h"
#include "nat_attach.h"
#include "once.h"
#include "metrics_http.h"
#include "node.h"
#include "ops.h"
#include "rollout.h"
#include "l7skmsg.h"
#include "split_skmsg.skel.h"
#include "split_sock.skel.h"
#include "split_sockops.skel.h"
#include "state.h"
#include "util.h"

#define DEFAULT_SERVICES "/etc/split/services.yaml"

struct opts {
	const char *services;
	const char *config_dir;
	const char *cgroup;
	const char *cgroup_root;	/* --cgroup auto looks here; NULL: every cgroup2 mount */
	int keep_caps;
	const char *pin_dir;
	int once;
	int full;		/* --full: --once without its record */
	__u64 attach_key;	/* what the load and attach take (attach_key()) */
	int unload;
	const char *metrics;	/* NULL: off */
	int metrics_explicit;
	struct nat_opts nat;
	struct split_map_sizes sizes;
	int sizes_explicit;
	int no_l7;
	int l7_explicit;	/* --l7-addr given: failing to listen is fatal */
	int l7_skmsg;		/* --l7-skmsg */
	struct l7_rt_opts l7;
	int k8s;			/* --source kubernetes */
	struct k8s_source_opts k8s_opts;
	struct k8s_source *ks;
	/* The daemon's documents as last parsed (not with --once): a reload
	 * parses only those whose bytes changed. */
	struct split_input_cache *icache;
};

static void usage(FILE *f)
{
	fprintf(f,
"Usage: splitd [OPTIONS]\n"
"\n"
"Per-node daemon of the eBPF canary traffic splitter. Loads the socket-level\n"
"datapath, attaches it to a cgroup v2, compiles the services file into pinned\n"
"BPF maps, then watches the file and applies every change.\n"
"\n"
"Connections from processes in the cgroup to a service VIP:port go to an\n"
"endpoint of a version chosen by the version weights (set them with\n"
"`splitctl set`). The maps and links stay pinned when splitd exits, so the\n"
"datapath keeps working while splitd is stopped or restarted; a restarted\n"
"splitd takes over the pinned links without a gap and keeps the weights.\n"
"\n"
"Options:\n"
"  -c, --services FILE  services file (YAML, see README); default\n"
"                       " DEFAULT_SERVICES " unless --config-dir is given.\n"
"                       It may hold Istio objects too\n"
"  -C, --config-dir DIR a directory of YAML files (*.yaml, *.yml; a mounted\n"
"                       Kubernetes ConfigMap works): services and Istio\n"
"                       RouteRule / VirtualService / DestinationRule objects.\n"
"                       It holds all the Istio objects: ones no longer there\n"
"                       are removed. Watched; a bad change is logged and the\n"
"                       state in force stays\n"
"      --source files|kubernetes  where services, endpoints and Istio objects\n"
"                       come from: the files above (default), or the\n"
"                       Kubernetes API (list+watch of Services, EndpointSlices,\n"
"                       Pods' metadata, VirtualServices, DestinationRules).\n"
"                       In-cluster by default (service-account token, re-read\n"
"                       as it rotates, and CA; KUBERNETES_SERVICE_HOST/PORT).\n"
"                       Needs " K8S_CURL_SONAME " (Debian: " K8S_CURL_PACKAGE "), loaded then\n"
"      --kubeconfig FILE  reach the API as FILE says (outside a cluster):\n"
"                       current-context, server, certificate-authority(-data),\n"
"                       token / tokenFile / client certificate; exec plugins\n"
"                       and auth-providers are not supported\n"
"      --k8s-context NAME     a kubeconfig context other than the current one\n"
"      --k8s-server URL       in-cluster overrides: the API server,\n"
"      --k8s-token-file FILE  the token file (read again for every request),\n"
"      --k8s-ca-file FILE     the CA bundle\n"
"                       A burst of changes is applied once it settles (200 ms\n"
"                       quiet, at most 1 s); a bad object is logged, counted\n"
"                       (split_k8s_bad_objects) and left out\n"
"  -g, --cgroup PATH    cgroup v2 directory to attach to; default: the root of\n"
"                       the cgroup2 mount (found in /proc/mounts). 'auto': the\n"
"                       kubelet's pods, kubepods.slice (systemd driver) or\n"
"                       kubepods (cgroupfs driver) under the cgroup2 root,\n"
"                       else the root itself\n"
"      --cgroup-root DIR  where --cgroup auto looks (default: every cgroup2\n"
"                       mount in /proc/mounts), e.g. the host's cgroup2\n"
"                       mounted into splitd's container\n"
"  -p, --pin-dir DIR    bpffs directory for maps and links; default\n"
"                       " SPLIT_PIN_DIR_DEFAULT "\n"
"  -1, --once           load, attach and apply, then exit (no watching). With a\n"
"                       services file alone (-c, no Istio objects) it records\n"
"                       in /run/split what it applied; the next --once on the\n"
"                       same pin dir, with nothing committed in between,\n"
"                       parses only a document that changed and commits that\n"
"                       service alone, when it is the only one and keeps its\n"
"                       name, VIPs and ports; if the pinned links still run\n"
"                       the programs that run left, with the same options,\n"
"                       it does not load them again. Else the whole file is\n"
"                       parsed and applied, as without a record. The log\n"
"                       says which (and why)\n"
"      --full           with --once: parse and apply the whole file, whatever\n"
"                       the record says (it is written again): what puts back\n"
"                       maps changed without a commit (bpftool map update),\n"
"                       which the record cannot see\n"
"      --metrics ADDR:PORT  serve Prometheus metrics at http://ADDR:PORT/metrics\n"
"                       (default " SPLIT_METRICS_ADDR_DEFAULT "; [::1]:PORT for IPv6; port 0\n"
"                       picks a free one, logged). If the default port is\n"
"                       busy, splitd warns and goes on without metrics\n"
"      --no-metrics     no metrics endpoint\n"
"      --no-counters    load the datapath with its counters compiled out (to\n"
"                       measure what counting costs; stats then stay at 0)\n"
"\n"
"Sizes of the maps allocated whole when created (splitctl show prints their\n"
"memory). A pinned map keeps its size: splitd --unload, then start, to\n"
"change it. N may end in k or m (x1024):\n"
"      --ct-max N       north-south flows in conntrack (ct and ct_rev, LRU);\n"
"                       default 262144 (about 72 MiB for both)\n"
"      --sock-nat-max N UDP sockets' VIP memory (sock_nat, udp_aff, LRU);\n"
"                       default 65536 (about 14 MiB for both)\n"
"      --table-cells N  cells of slots_v3, where the tables of services with\n"
"                       no explicit weights live (two endpoints per cell, and\n"
"                       room for a new copy of each table while it changes);\n"
"                       default 65536 (512 KiB)\n"
"\n"
"L7 (services whose rules match requests, e.g. the test-user cookie rule):\n"
"  splitd proxies their TCP connections: the connect hooks send them to a\n"
"  listener of splitd's (one per VIP:port), which routes every HTTP/1.1\n"
"  request by the rules in force. Other services never go through it.\n"
"      --l7-addr ADDR   address the proxy listens on, reachable from the\n"
"                       processes in the cgroup (e.g. the node's address on\n"
"                       the pods' network); once per family. Default\n"
"                       127.0.0.1 and ::1 (clients in splitd's netns)\n"
"      --no-l7          no proxy: such services split by their default route\n"
"                       at connect() (request rules are not applied)\n"
"      --l7-sockmap     tunnels (Upgrade, CONNECT, non-HTTP) move bytes in the\n"
"                       kernel: sk_skb verdict redirects between the two\n"
"                       sockets, if a probe at startup finds it sound (else\n"
"                       splice, logged). Off by default: kernels, 6.18\n"
"                       included, lose bytes under backpressure\n"
"      --l7-no-sockmap  tunnels use splice(2) (the default)\n"
"      --l7-skmsg       the client-to-proxy hop in the kernel: sockops puts both\n"
"                       ends of each connection to the proxy in a sockhash and\n"
"                       an sk_msg program moves what one end writes into the\n"
"                       other's receive queue, skipping TCP and loopback. Needs\n"
"                       splitd inside the --cgroup it attaches to (its accepted\n"
"                       sockets are seen there) and a probe at startup that\n"
"                       finds it sound (else logged, and off). Off by default\n"
"      --l7-no-skmsg    the hop goes through TCP (the default)\n"
"      --l7-io uring|epoll  the proxy's event loops: io_uring (the default:\n"
"                       recvs into provided buffers, each loop turn's sends\n"
"                       in one submit; tunnels read and write, no splice or\n"
"                       sockmap) or edge-triggered epoll. io_uring is probed\n"
"                       at startup: refused, the loops run epoll (logged).\n"
"                       With --l7-sockmap or --l7-skmsg and no --l7-io: epoll\n"
"      --l7-workers N   proxy event loops (threads), each with its own listener\n"
"                       socket per port (SO_REUSEPORT); default one per CPU\n"
"      --l7-max-conns N client connections at once (default 3/4 of the open\n"
"                       file limit, which splitd raises to its hard limit, at\n"
"                       most 65536); at the limit the oldest idle keep-alive\n"
"                       connection is closed to make room\n"
"      --l7-max-per-source N  connections from one client address (default\n"
"                       half of --l7-max-conns); at the limit that address's\n"
"                       oldest idle connection is closed, or the new one\n"
"      --l7-keepalive-ms MS  idle keep-alive connections close after MS\n"
"                       (default 60000)\n"
"      --l7-drain-ms MS on SIGTERM/SIGINT: stop accepting, close idle\n"
"                       connections, let requests in flight finish for up to\n"
"                       MS (default 5000), then cut what is left\n"
"      --l7-pool-idle-ms MS  idle upstream connections close after MS\n"
"                       (default 30000)\n"
"      --l7-defer-accept SEC  the kernel hands a new client connection to the\n"
"                       proxy with its first bytes (TCP_DEFER_ACCEPT: one\n"
"                       wakeup for the handshake and the request); one that\n"
"                       sends nothing is handed over after about SEC seconds.\n"
"                       0: at the handshake (always with --l7-skmsg). Default\n"
"                       1 (HTTP clients speak first)\n"
"  A connection goes to the proxy only while its listening socket exists\n"
"  (the kernel drops it from the l7_listen_sk map when it closes) and\n"
"  splitd refreshed the listener within 3 s. So if splitd stops, is\n"
"  killed or hangs, new connections to such services split at connect()\n"
"  by the default route at once (3 s for a hung splitd), never refused.\n"
"  SIGTERM withdraws the listeners first, then drains the proxy (see\n"
"  --l7-drain-ms) and stops. A restarted splitd serves the rules\n"
"  in force (from the pinned maps) before it re-reads its files.\n"
"\n"
"North-south traffic (entering the node from elsewhere), in splitd's network\n"
"namespace; each option may be repeated:\n"
"      --xdp IFACE      XDP DNAT on IFACE, where client traffic for VIPs enters\n"
"                       (a pinned XDP link). If XDP cannot attach, the same\n"
"                       DNAT runs at IFACE's tc ingress (see splitctl show)\n"
"      --no-tc-fallback fail instead of falling back to tc\n"
"      --tc-dnat IFACE  DNAT at IFACE's tc ingress instead of XDP (a VLAN\n"
"                       device, or a veth whose peer has TX checksum offload)\n"
"      --tc-rev IFACE   reverse NAT at IFACE's tc ingress, where backends'\n"
"                       replies arrive (backend-facing interfaces)\n"
"  The node must forward (ip_forward), route replies back through itself and\n"
"  use rp_filter 0 or 2 where --tc-rev runs. Interfaces an earlier run\n"
"  attached to and these options no longer name are detached.\n"
"\n"
"      --unload         detach the datapath and remove everything pinned under\n"
"                       the pin dir, then exit\n"
"      --keep-caps      keep every capability; by default splitd drops all but\n"
"                       CAP_BPF, CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_PERFMON and\n"
"                       CAP_NET_BIND_SERVICE once the datapath is attached\n"
"  -v, --verbose        more logging (twice: libbpf debug output)\n"
"  -q, --quiet          warnings only\n"
"  -h, --help           this help\n"
"\n"
"splitd's own cgroup (its pod on a Kubernetes node) is exempt from the socket\n"
"hooks: its connections, the L7 proxy's upstream ones included, go where they\n"
"are sent. The metrics port also answers GET /healthz (alive) and GET /readyz\n"
"(200 once the datapath is attached and the configuration applied, else 503).\n"
"\n"
"Reloads: a change to the files parses only the documents (the parts between\n"
"'---' lines) whose bytes changed, checks the whole set again, and writes\n"
"only what differs; splitd keeps what it wrote to the maps in memory and\n"
"reads them whole again after any other commit (splitctl, a rollout step).\n"
"\n"
"Signals: SIGHUP re-reads the configuration (so does any change to it), and\n"
"the pinned maps whole (after a change made there with bpftool);\n"
"SIGTERM and SIGINT stop splitd and leave the datapath running (the L7\n"
"proxy withdraws its listeners, then drains, as above).\n"
"\n"
"Exit status: 0 on success, 1 on a runtime error, 2 on bad usage.\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{ "services", required_argument, NULL, 'c' },
		{ "config-dir", required_argument, NULL, 'C' },
		{ "cgroup", required_argument, NULL, 'g' },
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "once", no_argument, NULL, '1' },
		{ "full", no_argument, NULL, 1007 },
		{ "unload", no_argument, NULL, 'U' },
		{ "xdp", required_argument, NULL, 'X' },
		{ "tc-dnat", required_argument, NULL, 'T' },
		{ "tc-rev", required_argument, NULL, 'R' },
		{ "no-tc-fallback", no_argument, NULL, 'F' },
		{ "metrics", required_argument, NULL, 'M' },
		{ "no-metrics", no_argument, NULL, 'N' },
		{ "no-counters", no_argument, NULL, 'K' },
		{ "ct-max", required_argument, NULL, 1030 },
		{ "sock-nat-max", required_argument, NULL, 1031 },
		{ "table-cells", required_argument, NULL, 1032 },
		{ "l7-addr", required_argument, NULL, 'L' },
		{ "no-l7", no_argument, NULL, 'n' },
		{ "l7-sockmap", no_argument, NULL, 1001 },
		{ "l7-no-sockmap", no_argument, NULL, 1002 },
		{ "l7-skmsg", no_argument, NULL, 1005 },
		{ "l7-no-skmsg", no_argument, NULL, 1006 },
		{ "cgroup-root", required_argument, NULL, 1003 },
		{ "keep-caps", no_argument, NULL, 1004 },
		{ "l7-io", required_argument, NULL, 1019 },
		{ "l7-workers", required_argument, NULL, 1010 },
		{ "l7-max-conns", required_argument, NULL, 1011 },
		{ "l7-max-per-source", required_argument, NULL, 1012 },
		{ "l7-keepalive-ms", required_argument, NULL, 1013 },
		{ "l7-drain-ms", required_argument, NULL, 1014 },
		{ "l7-pool-idle-ms", required_argument, NULL, 1015 },
		{ "l7-defer-accept", required_argument, NULL, 1016 },
		{ "source", required_argument, NULL, 1020 },
		{ "kubeconfig", required_argument, NULL, 1021 },
		{ "k8s-context", required_argument, NULL, 1022 },
		{ "k8s-server", required_argument, NULL, 1023 },
		{ "k8s-token-file", required_argument, NULL, 1024 },
		{ "k8s-ca-file", required_argument, NULL, 1025 },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	o->services = NULL;
	split_map_sizes_default(&o->sizes);
	o->metrics = SPLIT_METRICS_ADDR_DEFAULT;
	o->pin_dir = SPLIT_PIN_DIR_DEFAULT;
	o->l7.proxy.no_sockmap = 1;	/* --l7-sockmap to try it */
	o->l7.proxy.defer_accept_s = 1;	/* --l7-defer-accept */
	while ((c = getopt_long(argc, argv, "c:C:g:p:1vqh", lopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->services = optarg; break;
		case 'C': o->config_dir = optarg; break;
		case 'g': o->cgroup = optarg; break;
		case 'p': o->pin_dir = optarg; break;
		case '1': o->once = 1; break;
		case 'U': o->unload = 1; break;
		case 'X':
		case 'T':
		case 'R': {
			const char **list = c == 'X' ? o->nat.xdp : c == 'T' ? o->nat.tc_dnat : o->nat.tc_rev;
			int *n = c == 'X' ? &o->nat.nxdp : c == 'T' ? &o->nat.ntc_dnat : &o->nat.ntc_rev;

			if (*n >= NAT_MAX_IFACES || !*optarg || strlen(optarg) >= SPLIT_IFNAME_LEN) {
				fprintf(stderr, "splitd: bad or too many interfaces: '%s'\n", optarg);
				return -1;
			}
			list[(*n)++] = optarg;
			break;
		}
		case 'F': o->nat.no_fallback = 1; break;
		case 'M': o->metrics = optarg; o->metrics_explicit = 1; break;
		case 'N': o->metrics = NULL; o->metrics_explicit = 1; break;
		case 'K': o->nat.no_count = 1; break;
		case 'L': {
			struct split_addr a;

			if (split_addr_parse(optarg, &a)) {
				fprintf(stderr, "splitd: --l7-addr: not an IPv4 or IPv6 address: '%s'\n",
					optarg);
				return -1;
			}
			for (int i = 0; i < o->l7.naddrs; i++)
				if (o->l7.addrs[i].family == a.family) {
					fprintf(stderr, "splitd: --l7-addr: one address per family ('%s')\n",
						optarg);
					return -1;
				}
			o->l7.addrs[o->l7.naddrs++] = a;
			o->l7_explicit = 1;
			break;
		}
		case 'n': o->no_l7 = 1; break;
		case 1001: o->l7.proxy.no_sockmap = 0; break;
		case 1002: o->l7.proxy.no_sockmap = 1; break;
		case 1003: o->cgroup_root = optarg; break;
		case 1004: o->keep_caps = 1; break;
		case 1005: o->l7_skmsg = 1; break;
		case 1006: o->l7_skmsg = 0; break;
		case 1007: o->full = 1; break;
		case 1019:
			if (!strcmp(optarg, "epoll")) {
				o->l7.proxy.io = L7_IO_EPOLL;
			} else if (!strcmp(optarg, "uring") || !strcmp(optarg, "io_uring")) {
				o->l7.proxy.io = L7_IO_URING;
			} else {
				pr_warn("--l7-io: '%s' is not epoll or uring\n", optarg);
				return -1;
			}
			break;
		case 1010: case 1011: case 1012: case 1013: case 1014: case 1015:
		case 1016: {
			static const char *const names[] = {
				"--l7-workers", "--l7-max-conns", "--l7-max-per-source",
				"--l7-keepalive-ms", "--l7-drain-ms", "--l7-pool-idle-ms",
				"--l7-defer-accept",
			};
			unsigned *dst[] = {
				&o->l7.proxy.workers, &o->l7.proxy.max_connections,
				&o->l7.proxy.max_per_source,
				&o->l7.proxy.keepalive_timeout_ms, &o->l7.drain_ms,
				&o->l7.proxy.pool_idle_ms, &o->l7.proxy.defer_accept_s,
			};
			static const unsigned long min[] = { 1, 1, 1, 1, 1, 1, 0 };
			unsigned long max[] = { L7_MAX_WORKERS, 1u << 24, 1u << 24,
						86400000, 3600000, 86400000, 600 };
			int k = c - 1010;
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || v < min[k] || v > max[k] ||
			    optarg[0] == '-') {
				fprintf(stderr, "splitd: %s: a number from %lu to %lu, not '%s'\n",
					names[k], min[k], max[k], optarg);
				return -1;
			}
			*dst[k] = (unsigned)v;
			break;
		}
		case 1020:
			if (!strcmp(optarg, "kubernetes") || !strcmp(optarg, "k8s")) {
				o->k8s = 1;
			} else if (strcmp(optarg, "files")) {
				fprintf(stderr, "splitd: --source: 'files' or 'kubernetes', not '%s'\n",
					optarg);
				return -1;
			}
			break;
		case 1021: o->k8s_opts.kubeconfig = optarg; break;
		case 1022: o->k8s_opts.context = optarg; break;
		case 1023: o->k8s_opts.server = optarg; break;
		case 1024: o->k8s_opts.token_file = optarg; break;
		case 1025: o->k8s_opts.ca_file = optarg; break;
		case 1030:
		case 1031:
		case 1032: {
			__u32 *v = c == 1030 ? &o->sizes.ct : c == 1031 ? &o->sizes.sock_nat :
				   &o->sizes.table_cells;

			if (split_map_size_parse(optarg, 1024, 16 * 1024 * 1024, v)) {
				fprintf(stderr, "splitd: %s: want a count from 1024 to 16m, not '%s'\n",
					c == 1030 ? "--ct-max" : c == 1031 ? "--sock-nat-max" :
					"--table-cells", optarg);
				return -1;
			}
			o->sizes_explicit |= c == 1030 ? SPLIT_SIZE_CT : c == 1031 ? SPLIT_SIZE_SOCK_NAT :
					     SPLIT_SIZE_TABLE_CELLS;
			break;
		}
		case 'v': split_log_level = split_log_level < LOG_LVL_DEBUG ?
					    split_log_level + 1 : LOG_LVL_DEBUG; break;
		case 'q': split_log_level = LOG_LVL_WARN; break;
		case 'h': usage(stdout); exit(0);
		default:
			fprintf(stderr, "Try 'splitd --help'.\n");
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "splitd: unexpected argument '%s'\nTry 'splitd --help'.\n",
			argv[optind]);
		return -1;
	}
	if (o->k8s && (o->services || o->config_dir)) {
		fprintf(stderr, "splitd: --source kubernetes takes no --services or --config-dir\n");
		return -1;
	}
	if (!o->k8s && (o->k8s_opts.kubeconfig || o->k8s_opts.context || o->k8s_opts.server ||
			o->k8s_opts.token_file || o->k8s_opts.ca_file)) {
		fprintf(stderr, "splitd: --kubeconfig and --k8s-* go with --source kubernetes\n");
		return -1;
	}
	if (o->k8s_opts.kubeconfig && (o->k8s_opts.server || o->k8s_opts.token_file ||
				       o->k8s_opts.ca_file)) {
		fprintf(stderr, "splitd: --kubeconfig or the in-cluster --k8s-server/--k8s-token-file/--k8s-ca-file, not both\n");
		return -1;
	}
	if (!o->services && !o->config_dir && !o->k8s)
		o->services = DEFAULT_SERVICES;
	if (o->cgroup_root && (!o->cgroup || strcmp(o->cgroup, "auto"))) {
		fprintf(stderr, "splitd: --cgroup-root goes with --cgroup auto\n");
		return -1;
	}
	if (o->no_l7 && o->l7_explicit) {
		fprintf(stderr, "splitd: --no-l7 and --l7-addr contradict each other\n");
		return -1;
	}
	if (!o->l7.naddrs) {
		split_addr_parse("127.0.0.1", &o->l7.addrs[0]);
		split_addr_parse("::1", &o->l7.addrs[1]);
		o->l7.naddrs = 2;
	}
	return 0;
}

/* ---- attach / take over -------------------------------------------------- */

static int check_link_cgroup(int link_fd, const char *path, __u64 cg_id)
{
	struct bpf_link_info info = { 0 };
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(link_fd, &info, &len)) {
		pr_warn("reading link %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (info.type == BPF_LINK_TYPE_CGROUP && info.cgroup.cgroup_id != cg_id) {
		pr_warn("pinned link %s is attached to another cgroup (id %llu, wanted %llu); run 'splitd --unload --pin-dir ...' first\n",
			path, (unsigned long long)info.cgroup.cgroup_id,
			(unsigned long long)cg_id);
		return -1;
	}
	return 0;
}

static int attach_all(struct bpf_object *const *objs, int nobjs,
		      const char *pin_dir, const char *cgroup)
{
	char dir[PATH_MAX], path[PATH_MAX + 64];
	struct bpf_program *prog;
	struct stat cst;
	int cg_fd, ret = -1, took = 0, made = 0;

	cg_fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg_fd < 0 || fstat(cg_fd, &cst)) {
		pr_warn("opening cgroup %s: %s\n", cgroup, strerror(errno));
		goto out;
	}
	snprintf(dir, sizeof(dir), "%s/%s", pin_dir, SPLIT_LINK_DIR);
	if (mkdir(dir, 0700) && errno != EEXIST) {
		pr_warn("creating %s: %s\n", dir, strerror(errno));
		goto out;
	}
	for (int oi = 0; oi < nobjs; oi++) {
		bpf_object__for_each_program(prog, objs[oi]) {
			struct bpf_link *link;

			snprintf(path, sizeof(path), "%s/%s", dir, bpf_program__name(prog));
			link = access(path, F_OK) ? NULL : bpf_link__open(path);
			if (link) {
				/* Take over: swap the program in place, no gap. */
				if (check_link_cgroup(bpf_link__fd(link), path, cst.st_ino) ||
				    bpf_link__update_program(link, prog)) {
					if (errno)
						pr_warn("updating link %s: %s\n", path, strerror(errno));
					bpf_link__destroy(link);
					goto out;
				}
				took++;
			} else {
				link = bpf_program__attach_cgroup(prog, cg_fd);
				if (!link) {
					pr_warn("attaching %s to %s: %s\n", bpf_program__name(prog),
						cgroup, strerror(errno));
					goto out;
				}
				if (bpf_link__pin(link, path)) {
					pr_warn("pinning %s: %s\n", path, strerror(errno));
					bpf_link__destroy(link);
					goto out;
				}
				made++;
			}
			/* The pin keeps it attached; drop our fd. */
			bpf_link__destroy(link);
		}
	}
	pr_info("datapath on cgroup %s: %d programs attached, %d taken over from pinned links\n",
		cgroup, made, took);
	ret = 0;
out:
	if (cg_fd >= 0)
		close(cg_fd);
	return ret;
}

static int check_bpffs(const char *pin_dir)
{
	char parent[PATH_MAX];
	struct statfs sfs;

	snprintf(parent, sizeof(parent), "%s", pin_dir);
	dirname(parent);
	/* Like systemd does at boot: bpffs belongs at /sys/fs/bpf. */
	if (!strcmp(parent, "/sys/fs/bpf") &&
	    (statfs(parent, &sfs) || sfs.f_type != BPF_FS_MAGIC)) {
		if (mount("bpf", parent, "bpf", 0, "mode=0700"))
			pr_warn("mounting bpffs at %s: %s\n", parent, strerror(errno));
		else
			pr_info("mounted bpffs at %s\n", parent);
	}
	if (statfs(parent, &sfs) || sfs.f_type != BPF_FS_MAGIC) {
		pr_warn("%s is not on a bpffs mount (mount -t bpf bpf /sys/fs/bpf)\n",
			parent);
		return -1;
	}
	if (mkdir(pin_dir, 0700) && errno != EEXIST) {
		pr_warn("creating %s: %s\n", pin_dir, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * splitd's own cgroup goes into self_cgroup: the socket hooks leave its
 * connections alone (on a node, splitd runs in a pod under the cgroup it
 * attaches to). Without it the proxy's upstream connections to an address
 * that is also a VIP would be split again.
 */
static void exempt_self(int map_fd, const char *attach)
{
	char path[PATH_MAX];
	uint64_t id = 0;
	__u32 k = 0;
	struct stat s;
	int r;

	if ((r = split_self_cgroup_id("/proc", &id, path, sizeof(path)))) {
		pr_warn("splitd's own cgroup not found (%s): its own connections may be redirected\n",
			strerror(-r));
		return;
	}
	if (bpf_map_update_elem(map_fd, &k, &id, BPF_ANY)) {
		pr_warn("writing %s: %s\n", SPLIT_MAP_SELF_CGROUP, strerror(errno));
		return;
	}
	if (!stat(attach, &s) && (uint64_t)s.st_ino == id)
		pr_warn("splitd runs in the cgroup it attaches to (%s): processes there are not split; run it in a child cgroup\n",
			attach);
	pr_info("own cgroup %s (id %llu): its connections are not redirected\n", path,
		(unsigned long long)id);
}

/*
 * --l7-skmsg: load and probe the sk_msg object, attach its sockops to the
 * cgroup. Only where splitd itself runs inside that cgroup: sockops sees
 * a socket by its cgroup, and the proxy's accepted sockets are in splitd's
 * (inherited from its listeners). NULL (logged) when it cannot be used:
 * the hop then goes through TCP, as without the switch.
 */
static struct l7_skmsg *skmsg_start(const char *attach)
{
	char self[PATH_MAX], root[PATH_MAX];
	struct l7_skmsg_probe pr;
	struct split_err err;
	struct l7_skmsg *m;
	const void *obj;
	uint64_t id;
	size_t len, n;
	int cg;

	if ((cg = split_self_cgroup_id("/proc", &id, self, sizeof(self))) ||
	    !realpath(attach, root)) {
		pr_warn("--l7-skmsg: cannot tell whether splitd runs inside %s (%s): off\n",
			attach, strerror(cg < 0 ? -cg : errno));
		return NULL;
	}
	n = strlen(root);
	if (strncmp(self, root, n) || (self[n] && self[n] != '/' && strcmp(root, "/"))) {
		pr_warn("--l7-skmsg: splitd's cgroup %s is not inside %s, so sockops would not see the proxy's sockets: off (run splitd in a child cgroup of it)\n",
			self, root);
		return NULL;
	}
	obj = split_skmsg__elf_bytes(&len);
	m = l7_skmsg_open(obj, len, 0, &pr, &err);
	if (!m) {
		pr_warn("--l7-skmsg: sk_msg unusable here, the hop goes through TCP: %s\n", err.msg);
		return NULL;
	}
	pr_info("--l7-skmsg: probe %s\n", pr.why);
	cg = open(attach, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0 || l7_skmsg_attach(m, cg, &err)) {
		pr_warn("--l7-skmsg: %s: %s: off\n", attach, cg < 0 ? strerror(errno) : err.msg);
		if (cg >= 0)
			close(cg);
		l7_skmsg_close(m);
		return NULL;
	}
	close(cg);
	pr_info("--l7-skmsg: on: connections to the proxy's listeners from %s skip TCP (sk_msg redirect)\n",
		attach);
	return m;
}

static void skmsg_stop(struct l7_skmsg *m)
{
	struct split_skmsg_stats s;

	if (!m)
		return;
	if (!l7_skmsg_stats(m, &s))
		pr_info("--l7-skmsg: %llu client and %llu proxy ends put in the map (%llu refused); %llu writes (%llu bytes) redirected, %llu writes (%llu bytes) through TCP, %llu ends moved to TCP by backpressure\n",
			(unsigned long long)s.inserted_client, (unsigned long long)s.inserted_proxy,
			(unsigned long long)s.insert_failed, (unsigned long long)s.redirected_msgs,
			(unsigned long long)s.redirected_bytes, (unsigned long long)s.passed_msgs,
			(unsigned long long)s.passed_bytes, (unsigned long long)s.to_tcp_full);
	l7_skmsg_close(m);
}

/* ---- apply the configuration ----------------------------------------------- */

static double ms_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

static size_t config_paths(const struct opts *o, const char **paths)
{
	size_t n = 0;

	if (o->services)
		paths[n++] = o->services;
	if (o->config_dir)
		paths[n++] = o->config_dir;
	return n;
}

/*
 * The services file and the config dir are the desired state: services
 * from both; Istio objects from the config dir (all of them: objects no
 * longer there are removed), or, without a config dir, the objects in
 * force plus any in the services file. Weights set with splitctl are kept.
 */
static int apply_config(struct split_state *st, const struct opts *o,
			struct split_input *parsed)
{
	struct split_input in = { 0 };
	struct split_objs objs = { 0 };
	const char *paths[2];
	struct split_err err;
	struct timespec t0, t1, c0, c1;	/* wall, and this thread's CPU */
	size_t nparsed = 0, nreused = 0;
	bool parsed_first = parsed != NULL;
	int ret = -1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	if (parsed) {	/* read and checked already (at startup): take it */
		in = *parsed;
		memset(parsed, 0, sizeof(*parsed));
	} else if (split_input_load_cached(paths, config_paths(o, paths), o->icache, &in,
					   &err)) {
		pr_warn("%s (the state in force is unchanged)\n", err.msg);
		return -1;
	}
	if (split_state_lock(st, &err))
		goto out;
	if (split_state_merge(st, &in.svcs, &err))
		goto unlock;
	/* The resulting set: the config dir's objects, or those in force
	 * plus the services file's. */
	if (!o->config_dir && split_objs_read(st, &objs, &err))
		goto unlock;
	if (split_objs_merge(&objs, &in.objs)) {
		split_errc(&err, ENOMEM, "out of memory");
		goto unlock;
	}
	if (split_apply(st, &in.svcs, &objs, &in, &err))
		goto unlock;
	/* With a config dir, its files own the objects: splitctl set then
	 * names the file to edit. */
	if (split_owners_write(st->pin_dir, o->config_dir ? &objs : NULL, o->config_dir,
			       &err))
		pr_warn("%s\n", err.msg);
	ret = 0;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
	split_input_cache_stats(o->icache, &nparsed, &nreused);
	pr_info("applied: %zu services, %zu Istio objects\n", in.svcs.nsvcs, objs.n);
	if (o->icache && !parsed_first)
		pr_info("apply took %.1f ms, %.1f ms CPU (documents: %zu parsed, %zu unchanged; services: %zu unchanged)\n",
			ms_between(&t0, &t1), ms_between(&c0, &c1), nparsed, nreused,
			st->nunchanged);
	else
		pr_info("apply took %.1f ms, %.1f ms CPU\n", ms_between(&t0, &t1),
			ms_between(&c0, &c1));
unlock:
	split_state_unlock(st);
out:
	if (ret)
		pr_warn("%s (the state in force is unchanged)\n", err.msg);
	/* --once with a services file: what the next --once compares with
	 * (none with objects in force: objs is freed after, not before). */
	if (!ret && o->once && !o->config_dir && !o->k8s &&
	    split_once_record(st->pin_dir, o->services, &in, objs.n, st, o->attach_key, &err))
		pr_warn("%s (the next --once applies the whole file)\n", err.msg);
	split_objs_free(&objs);
	split_input_free(&in);
	return ret;
}

/* What loading and attaching the datapath take from the options, hashed:
 * --once does neither when the record shows the same key and programs. */
static __u64 attach_key(const struct opts *o, const char *cgroup)
{
	const char *const *lists[3] = { o->nat.xdp, o->nat.tc_dnat, o->nat.tc_rev };
	const int counts[3] = { o->nat.nxdp, o->nat.ntc_dnat, o->nat.ntc_rev };
	char buf[PATH_MAX + 3 * NAT_MAX_IFACES * (SPLIT_IFNAME_LEN + 1) + 128];
	size_t off;

	off = (size_t)snprintf(buf, sizeof(buf), "cgroup=%s|nf=%d|nc=%d|ct=%u|sn=%u|cells=%u|",
			       cgroup, o->nat.no_fallback, o->nat.no_count, o->sizes.ct,
			       o->sizes.sock_nat, o->sizes.table_cells);
	for (int l = 0; l < 3 && off < sizeof(buf); l++) {
		for (int i = 0; i < counts[l] && off < sizeof(buf); i++)
			off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s,", lists[l][i]);
		if (off < sizeof(buf))
			off += (size_t)snprintf(buf + off, sizeof(buf) - off, "|");
	}
	return split_bytes_hash(buf, off < sizeof(buf) ? off : sizeof(buf));
}

/*
 * --once with the record of the last --once (once.h): 0 applied from it;
 * 1 not, and the files are read into *probe for the full path; -1 they
 * could not be (reported).
 */
static int apply_once_record(struct split_state *st, const struct opts *o,
			     struct split_once *plan, struct split_input *probe)
{
	struct timespec t0, t1;
	size_t nsvcs, changed;
	const char *paths[2];
	struct split_err err;
	char why[512];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (split_once_apply(plan, st, o->attach_key, &nsvcs, &changed, why, sizeof(why)) == 1) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		pr_info("applied: %zu services, 0 Istio objects (%s)\n", nsvcs,
			changed ? "one service changed, committed alone; the other documents are those the last --once applied" :
				  "no service changed since the last --once");
		pr_info("apply took %.1f ms\n", ms_between(&t0, &t1));
		return 0;
	}
	pr_info("--once: applying the whole file: %s\n", why);
	if (split_input_load_cached(paths, config_paths(o, paths), o->icache, probe, &err)) {
		pr_warn("%s (the state in force is unchanged)\n", err.msg);
		return -1;
	}
	return 1;
}

/* ---- main loop ------------------------------------------------------------ */

/* The shorter of dflt and the Kubernetes source's debounce (-1: none). */
static int splitd_poll_timeout(const struct opts *o, int dflt)
{
	int t = o->ks ? k8s_source_timeout(o->ks) : -1;

	return t < 0 ? dflt : (dflt < 0 || t < dflt ? t : dflt);
}

static int watch_loop(struct split_state *st, const struct opts *o, int mfd,
		      struct l7_rt *l7)
{
	struct timespec last = { 0 }, now;
	char dir[PATH_MAX], base[PATH_MAX], tmp[PATH_MAX];
	struct pollfd pfd[4];
	int sfd, ifd, wd_dir = -1, wd_cfg = -1, starting = 1;
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (sfd < 0 || ifd < 0) {
		pr_warn("signalfd/inotify: %s\n", strerror(errno));
		return 1;
	}
	base[0] = 0;
	if (o->services) {
		/* dirname/basename may modify their argument: work on copies. */
		snprintf(tmp, sizeof(tmp), "%s", o->services);
		snprintf(dir, sizeof(dir), "%s", dirname(tmp));
		snprintf(tmp, sizeof(tmp), "%s", o->services);
		snprintf(base, sizeof(base), "%s", basename(tmp));
		wd_dir = inotify_add_watch(ifd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE);
		if (wd_dir < 0)
			pr_warn("cannot watch %s (%s): changes need SIGHUP\n", dir, strerror(errno));
	}
	if (o->config_dir) {
		/* Any change counts, including a ConfigMap volume's atomic
		 * rename of its ..data symlink. */
		wd_cfg = inotify_add_watch(ifd, o->config_dir,
					   IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
					   IN_CREATE | IN_DELETE);
		if (wd_cfg < 0)
			pr_warn("cannot watch %s (%s): changes need SIGHUP\n", o->config_dir,
				strerror(errno));
	}
	pfd[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = ifd, .events = POLLIN };
	pfd[2] = (struct pollfd){ .fd = mfd, .events = POLLIN }; /* -1: ignored */
	pfd[3] = (struct pollfd){ .fd = o->ks ? k8s_source_fd(o->ks) : -1, .events = POLLIN };
	pr_info("watching %s%s%s (pid %d)\n", o->services ? o->services : "",
		o->services && o->config_dir ? " and " : "",
		o->config_dir ? o->config_dir : "", getpid());

	for (;;) {
		int changed = 0, decided, settling = 0, whole = 0;
		struct timespec settle0 = { 0 };
		struct split_err rerr;

		/* The L7 proxy follows changes made by splitctl (the state's
		 * generation, one map lookup, looked at every 10 ms while it
		 * serves a service: splitctl set on one waits for it; 50 ms
		 * otherwise),
		 * and once a second refreshes its heartbeat and counters. */
		clock_gettime(CLOCK_MONOTONIC, &now);
		/* Progressive rollouts: judge the windows that ended. A
		 * decision may end one without a commit (done at its last
		 * step): the proxy looks again (sticky cookies). */
		decided = split_rollout_tick(st, (uint64_t)now.tv_sec * 1000000000ULL +
					     (uint64_t)now.tv_nsec, starting, &rerr);
		if (decided < 0)
			pr_warn("rollouts: %s\n", rerr.msg);
		starting = 0;
		if (l7) {
			l7_rt_sync(l7, st, decided > 0);
			if (now.tv_sec != last.tv_sec) {
				last = now;
				l7_rt_tick(l7, st);
			}
		}
		if (poll(pfd, 4, splitd_poll_timeout(o, l7 ? l7_rt_poll_ms(l7) : 200)) < 0) {
			if (errno == EINTR)
				continue;
			pr_warn("poll: %s\n", strerror(errno));
			return 1;
		}
		if (pfd[0].revents) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo != SIGHUP) {
					pr_info("signal %d: exiting, datapath stays pinned\n",
						si.ssi_signo);
					return 0;
				}
				/* SIGHUP reads the maps whole again too
				 * (changes made there without splitctl) */
				split_state_cache_drop(st);
				changed = 1;
			}
		}
		while (pfd[1].revents) {
			char buf[4096] __attribute__((aligned(8)));
			ssize_t n = read(ifd, buf, sizeof(buf));

			if (n <= 0)
				break;
			for (char *p = buf; p < buf + n;) {
				struct inotify_event *ev = (struct inotify_event *)p;

				if (ev->wd == wd_cfg) {
					changed = 1;
					whole = -1;
				} else if (ev->wd == wd_dir && ev->len && !strcmp(ev->name, base)) {
					changed = 1;
					/* renamed over it: complete, at once;
					 * written in place (a close after
					 * writing, a create): another write
					 * may follow, let them settle */
					if (!(ev->mask & IN_MOVED_TO))
						whole = -1;
					else if (!whole)
						whole = 1;
				}
				p += sizeof(*ev) + ev->len;
			}
			/* The services file replaced at once (renamed over)
			 * and nothing else: read it now. */
			if (changed && whole > 0 && !o->config_dir)
				break;
			/* Else let a burst of writes settle before reading: go
			 * on once no event came for a while (every event
			 * watched ends a write: a close after writing, a
			 * rename, a create), or after 200 ms of them. A config
			 * dir's files change together (a ConfigMap's swap is
			 * several steps): 50 ms. The services file: 10 ms. */
			if (changed && !settling++)
				clock_gettime(CLOCK_MONOTONIC, &settle0);
			pfd[1].revents = 0;
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (settling && ms_between(&settle0, &now) < 200 &&
			    poll(&pfd[1], 1, o->config_dir ? 50 : 10) > 0)
				continue;	/* more: read them too */
			settling = 0;
		}
		if ((pfd[2].revents & POLLIN) && o->ks)
			k8s_metrics_handle(mfd, st->pin_dir, o->ks);
		else if (pfd[2].revents & POLLIN)
			split_metrics_handle(mfd, st->pin_dir);
		if (o->ks && k8s_source_due(o->ks)) {
			if (!k8s_apply(st, o->ks))
				split_metrics_set_ready(1, "datapath attached, Kubernetes objects applied");
			if (l7)
				l7_rt_sync(l7, st, 0);
		}
		if (changed && o->ks) {
			/* SIGHUP: build and apply what the API said last. */
			if (!k8s_apply(st, o->ks))
				split_metrics_set_ready(1, "datapath attached, Kubernetes objects applied");
		} else if (changed) {
			if (!apply_config(st, o, NULL))
				split_metrics_set_ready(1, "datapath attached, configuration applied");
			if (l7)
				l7_rt_sync(l7, st, 0);
		}
	}
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo);
	struct split_sock *skel = NULL;
	struct split_sockops *oskel = NULL;
	struct split_state st = { .dir_fd = -1 };
	struct split_input probe = { 0 };
	struct split_once *plan = NULL;	/* --once: the record says what changed */
	char cgroup[PATH_MAX];
	struct split_err err;
	struct opts o = { 0 };
	int ret = 1, lock_fd = -1, mfd = -1, once_r = 1;
	struct l7_skmsg *skmsg = NULL;
	struct l7_rt *l7 = NULL;

	split_log_prog = "splitd";
	if (parse_opts(argc, argv, &o))
		return 2;
	split_log_libbpf();
	if (o.unload) {
		if (nat_detach_all(o.pin_dir))
			return 1;
		if (split_unload(o.pin_dir, &err)) {
			pr_warn("%s\n", err.msg);
			return 1;
		}
		return 0;
	}

	/* Refuse a bad configuration before touching the kernel; the first
	 * apply takes what was read here. */
	if (o.k8s) {
		/* A bad kubeconfig or no cluster: before the kernel too. */
		signal(SIGPIPE, SIG_IGN);
		o.ks = k8s_source_start(&o.k8s_opts, &err);
		if (!o.ks) {
			pr_warn("--source kubernetes: %s\n", err.msg);
			return 1;
		}
	} else {
		const char *paths[2];

		/* With a config dir the files hold every object: check them
		 * as a set. Without, they join the objects in force (checked
		 * when applied). The daemon keeps each document's parse for
		 * its reloads. */
		if (o.once && !o.full && !o.config_dir) {
			char why[512];

			plan = split_once_plan(o.pin_dir, o.services, why, sizeof(why));
			if (!plan)
				pr_info("--once: applying the whole file: %s\n", why);
		}
		if (!o.once) {
			o.icache = split_input_cache_new();
			/* Each reload allocates about what the last one freed:
			 * keep it in the heap rather than give it back and
			 * fault it in again (most of a reload's system time). */
			mallopt(M_MMAP_THRESHOLD, 64 << 20);
			mallopt(M_TRIM_THRESHOLD, 512 << 20);
		}
		if (!plan && (split_input_load_cached(paths, config_paths(&o, paths), o.icache,
						      &probe, &err) ||
			      (o.config_dir && split_input_check(&probe, &err)))) {
			pr_warn("%s\n", err.msg);
			split_input_free(&probe);
			split_input_cache_free(o.icache);
			return 1;
		}
	}
	if (o.cgroup && !strcmp(o.cgroup, "auto")) {
		int r = split_cgroup_auto("/proc/mounts", o.cgroup_root, cgroup, sizeof(cgroup));

		if (r < 0) {
			pr_warn("--cgroup auto: %s: %s\n",
				o.cgroup_root ? o.cgroup_root : "no cgroup2 mount in /proc/mounts",
				strerror(-r));
			return 1;
		}
		pr_info("--cgroup auto: %s (%s)\n", cgroup,
			r ? "the kubelet's pods" : "no kubepods cgroup: the root");
	} else if (o.cgroup)
		snprintf(cgroup, sizeof(cgroup), "%s", o.cgroup);
	else if (split_cgroup2_root(cgroup, sizeof(cgroup))) {
		pr_warn("no cgroup2 mount found in /proc/mounts; pass --cgroup\n");
		return 1;
	}
	lock_fd = split_daemon_lock(o.pin_dir, &err);
	if (lock_fd < 0) {
		pr_warn("%s\n", err.msg);
		return 1;
	}
	if (check_bpffs(o.pin_dir))
		goto out;

	oo.pin_root_path = o.pin_dir;
	split_map_sizes_pinned(o.pin_dir, &o.sizes, o.sizes_explicit);
	o.nat.sizes = &o.sizes;
	o.attach_key = attach_key(&o, cgroup);
	/* --once, a record, and the datapath as that run left it: nothing to
	 * load or attach (the same programs on the same links). Else, or if
	 * the record cannot serve, the whole file next (read into probe). */
	if (plan) {
		struct split_state est;
		char why[512];
		int r;

		if (!split_once_same_datapath(plan, o.pin_dir, o.attach_key, cgroup, why,
					      sizeof(why))) {
			pr_info("--once: loading the datapath: %s\n", why);
		} else if (split_state_open(&est, o.pin_dir, &err)) {
			pr_info("--once: %s\n", err.msg);
		} else {
			r = apply_once_record(&est, &o, plan, &probe);
			split_state_close(&est);
			if (r <= 0) {
				if (!r)
					pr_info("datapath: as the last --once left it (%s: the same programs)\n",
						cgroup);
				ret = r < 0;
				goto out;
			}
			split_once_free(plan);	/* the whole file: probe holds it */
			plan = NULL;
		}
	}
	skel = split_sock__open_opts(&oo);
	if (!skel || split_map_sizes_set(skel->obj, &o.sizes)) {
		pr_warn("opening the BPF object: %s\n", strerror(errno));
		goto out;
	}
	skel->rodata->split_no_count = (__u32)o.nat.no_count;
	if (split_sock__load(skel)) {
		pr_warn("loading the BPF object: %s (a map pinned under %s with another layout? run splitd --unload)\n",
			strerror(errno), o.pin_dir);
		goto out;
	}
	/* TCP health per endpoint: sockops on the same cgroup, same maps. */
	oskel = split_sockops__open_opts(&oo);
	if (oskel)
		oskel->rodata->split_no_count = (__u32)o.nat.no_count;
	if (!oskel || split_map_sizes_set(oskel->obj, &o.sizes) || split_sockops__load(oskel)) {
		pr_warn("loading the sockops object: %s\n", strerror(errno));
		goto out;
	}
	/* Big tables of the layout before (big_v3) into big_v4, before the
	 * programs that read big_v4 are attached: no gap for services with
	 * explicit weights. */
	{
		int n = split_state_migrate_big(o.pin_dir, bpf_map__fd(skel->maps.big_v4), &err);

		if (n < 0) {
			pr_warn("%s\n", err.msg);
			goto out;
		}
		if (n)
			pr_info("copied %d big tables from %s/%s (an older table layout)\n", n,
				o.pin_dir, SPLIT_MAP_BIG_TABLES_V3);
	}
	{
		struct bpf_object *objs[] = { skel->obj, oskel->obj };

		if (attach_all(objs, 2, o.pin_dir, cgroup) || nat_attach(o.pin_dir, &o.nat))
			goto out;
	}
	/* Selection tables of an older layout: no program uses them now
	 * (the links run this datapath): free them. */
	{
		static const char *const old_maps[] = { "tables", "tables_v2",
							SPLIT_MAP_BIG_TABLES_V3 };

		for (size_t i = 0; i < sizeof(old_maps) / sizeof(old_maps[0]); i++) {
			char path[PATH_MAX + 32];

			snprintf(path, sizeof(path), "%s/%s", o.pin_dir, old_maps[i]);
			if (!unlink(path))
				pr_info("removed %s (an older table layout)\n", path);
		}
	}
	if (split_state_open(&st, o.pin_dir, &err)) {
		pr_warn("%s\n", err.msg);
		goto out;
	}
	exempt_self(bpf_map__fd(skel->maps.self_cgroup), cgroup);
	/* The daemon keeps what the maps hold between its commits: a reload
	 * reads them again only after someone else committed. */
	if (!o.once)
		split_state_cache(&st);
	if (o.l7_skmsg && (o.once || o.no_l7))
		pr_warn("--l7-skmsg: nothing to do with %s\n", o.once ? "--once" : "--no-l7");
	if (o.l7_skmsg && !o.once && !o.no_l7) {
		skmsg = skmsg_start(cgroup);
		o.l7.skmsg = skmsg;
		o.l7.proxy.skmsg = skmsg != NULL;
	}
	/* Attached: give up what the running daemon does not need. Before the
	 * L7 proxy starts its threads, which inherit the reduced sets. */
	if (!o.once && !o.keep_caps && splitd_drop_caps())
		goto out;
	/* After a restart the maps hold the rules in force: serve them at
	 * once (until the proxy listens, new connections of L7 services split
	 * at L4), then read the files, which may take a while. */
	if (!o.once && !o.no_l7) {
		signal(SIGPIPE, SIG_IGN);	/* a peer gone while the proxy writes */
		l7 = l7_rt_start(&o.l7);
		if (!l7 || (l7_rt_sync(l7, &st, 1) && o.l7_explicit)) {
			pr_warn("L7 proxy: cannot start (--no-l7 runs without it)\n");
			goto out;
		}
	}
	if (o.k8s) {
		/* Applied once every kind is listed (watch_loop); --once waits
		 * for that here. */
		split_metrics_set_ready(0, "datapath attached; waiting for the Kubernetes API");
		time_t t0 = time(NULL);

		while (o.once && !k8s_source_due(o.ks)) {
			struct pollfd p = { .fd = k8s_source_fd(o.ks), .events = POLLIN };
			int t = k8s_source_timeout(o.ks);

			if (time(NULL) - t0 >= 60) {
				pr_warn("--once: the Kubernetes API did not list every kind within 60 s\n");
				goto out;
			}
			poll(&p, 1, t < 0 || t > 200 ? 200 : t);
		}
		if (o.once && k8s_apply(&st, o.ks))
			goto out;
	} else if (plan && (once_r = apply_once_record(&st, &o, plan, &probe)) <= 0) {
		if (once_r < 0)
			goto out;	/* the file does not read: reported */
	} else if (apply_config(&st, &o, &probe)) {
		if (o.once)
			goto out;
		split_metrics_set_ready(0, "datapath attached; the configuration is not applied");
	} else {
		split_metrics_set_ready(1, "datapath attached, configuration applied");
	}
	if (l7 && l7_rt_sync(l7, &st, 0) && o.l7_explicit) {
		pr_warn("L7 proxy: cannot serve the configuration (--no-l7 runs without it)\n");
		goto out;
	}
	if (!o.once && o.metrics) {
		mfd = split_metrics_listen(o.metrics, &err);
		if (mfd < 0 && o.metrics_explicit) {
			pr_warn("metrics: %s\n", err.msg);
			goto out;
		}
		if (mfd < 0)
			pr_warn("metrics: %s; going on without (--metrics ADDR:PORT to choose)\n",
				err.msg);
		else
			pr_info("metrics: GET /metrics on %s (port %d)\n", o.metrics,
				split_metrics_port(mfd));
	}
	ret = o.once ? 0 : watch_loop(&st, &o, mfd, l7);
out:
	k8s_source_stop(o.ks);
	l7_rt_stop(l7, &st);
	skmsg_stop(skmsg);
	if (mfd >= 0)
		close(mfd);
	split_state_close(&st);
	split_sockops__destroy(oskel);
	split_sock__destroy(skel);
	split_input_free(&probe);
	split_input_cache_free(o.icache);
	split_once_free(plan);
	if (lock_fd >= 0)
		close(lock_fd);
	return ret;
}
