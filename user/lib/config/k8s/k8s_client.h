/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * k8s_client.h - reaching the Kubernetes API (libcurl, see k8s_curl.h) and keeping a
 * k8s_store equal to the cluster's objects by list+watch.
 *
 * Connection: in-cluster by default (https://$KUBERNETES_SERVICE_HOST:
 * $KUBERNETES_SERVICE_PORT, the service account's token and CA under
 * /var/run/secrets/kubernetes.io/serviceaccount), each part overridable;
 * or a kubeconfig file (k8s_conn_kubeconfig). The token file is read
 * again for every request, so a rotated token is used as soon as the
 * kubelet writes it.
 *
 * Watching, per kind, in its own thread, as client-go's reflector does:
 *   - list (paginated: limit + continue; an expired continue token
 *     restarts the list), replace the kind in the store, remember the
 *     list's resourceVersion (opaque: only passed back);
 *   - watch from it with allowWatchBookmarks; every event and bookmark
 *     moves the resourceVersion; a watch the server ends is resumed from
 *     there; 410 Gone (HTTP status, or an ERROR event in the stream)
 *     means relist;
 *   - failures back off exponentially (200 ms .. 30 s) with jitter; 429
 *     waits for Retry-After.
 *   - VirtualService and DestinationRule: networking.istio.io v1, else
 *     v1beta1, else v1alpha3 (a 404 moves to the next one); without the
 *     CRDs the kind is empty and looked up again every minute.
 *   - Pods: metadata only (PartialObjectMetadata).
 * After each change the thread writes to the caller's notify fd.
 */
#ifndef SPLIT_K8S_CLIENT_H
#define SPLIT_K8S_CLIENT_H

#include <pthread.h>
#include <stdint.h>

#include "k8s_model.h"

#define K8S_SA_DIR	"/var/run/secrets/kubernetes.io/serviceaccount"
#define K8S_LIST_LIMIT	500

struct k8s_conn {
	char *server;		/* "https://10.96.0.1:443" */
	char *ca_file;		/* or ca_data */
	char *ca_data;		/* PEM */
	size_t ca_len;
	char *token_file;	/* read for every request; or token */
	char *token;
	char *cert_file, *key_file;	/* client certificate, or: */
	char *cert_data, *key_data;
	size_t cert_len, key_len;
	int insecure;		/* insecure-skip-tls-verify */
	char *origin;		/* for messages: "in-cluster" or the kubeconfig */
};

/* In-cluster: server, token_file and ca_file from the arguments, else
 * from the environment / K8S_SA_DIR. */
int k8s_conn_in_cluster(struct k8s_conn *c, const char *server, const char *token_file,
			const char *ca_file, struct split_err *err);
/*
 * A kubeconfig: its current-context (or `context` when not NULL), that
 * context's cluster (server, certificate-authority[-data],
 * insecure-skip-tls-verify) and user (token, tokenFile,
 * client-certificate[-data] + client-key[-data]). Relative paths are
 * relative to the file. Not supported, with an error naming the field:
 * exec and auth-provider plugins, username/password, proxy-url,
 * tls-server-name, several files in one $KUBECONFIG.
 */
int k8s_conn_kubeconfig(struct k8s_conn *c, const char *path, const char *context,
			struct split_err *err);
void k8s_conn_free(struct k8s_conn *c);

/* Counters, per kind (read them under the watcher's lock). */
struct k8s_kind_stats {
	uint64_t lists, list_pages, relists_gone, watches, watch_ends, events,
		 bookmarks, errors, throttled;
	int synced;			/* listed at least once */
	char version[16];		/* API version in use (Istio kinds) */
};

struct k8s_watcher;

/*
 * Start one thread per kind. Objects go into store under *lock; after
 * each change a byte is written to notify_fd. The conn is copied.
 */
struct k8s_watcher *k8s_watch_start(const struct k8s_conn *c, struct k8s_store *store,
				    pthread_mutex_t *lock, int notify_fd,
				    struct split_err *err);
/* Every kind listed at least once (under the lock). */
int k8s_watch_synced(struct k8s_watcher *w);
/* A copy of the counters (takes the lock). */
void k8s_watch_stats(struct k8s_watcher *w, struct k8s_kind_stats out[K8S_NKINDS]);
/* Stop the threads (within about a second) and free. */
void k8s_watch_stop(struct k8s_watcher *w);

/* Prometheus text of the counters, and of build stats. */
void k8s_metrics_render(FILE *f, const struct k8s_kind_stats ks[K8S_NKINDS],
			const struct k8s_build_stats *bs);

#endif
