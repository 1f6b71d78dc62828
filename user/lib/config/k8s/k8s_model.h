/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * k8s_model.h - Kubernetes API objects (JSON, as the API server returns
 * them) in, the same model as the files out.
 *
 * A store keeps the objects of five kinds by namespace/name, as the
 * list+watch client (k8s_client.h) last saw them. k8s_build() turns a
 * store into what `splitd --config-dir` gets from its files: a struct
 * split_config (services, endpoints, versions) and the Istio objects
 * (struct split_objs). Each object goes through the files' own parsers
 * (a split.dev/v1 Service document per Kubernetes Service; the
 * VirtualService / DestinationRule as a JSON document): one validation
 * for both sources. An object they refuse is logged, counted in
 * k8s_build_stats and left out; the others go on.
 *
 *   core/v1 Service            clusterIP(s), ports (targetPort by number
 *                              or by name); ExternalName and headless
 *                              services are not ours (skipped, not bad)
 *   discovery.k8s.io/v1        every slice labelled kubernetes.io/service-name
 *   EndpointSlice              = the service: ready endpoints (ready unset
 *                              counts as ready, as kube-proxy does), the
 *                              slices merged, an address once; the slice's
 *                              port named like the service port gives the
 *                              target port (a named targetPort resolved)
 *   core/v1 Pod (metadata)     the endpoint's targetRef pod: its `version`
 *                              label names the endpoint's version
 *                              (an endpoint without one is left out and
 *                              counted: the files require a version too);
 *                              when the service's DestinationRule has
 *                              subsets of that version, the pod must carry
 *                              every label of one of them, else it is
 *                              left out (counted)
 *   networking.istio.io        VirtualService, DestinationRule (v1,
 *                              v1beta1, v1alpha3): apiVersion, kind,
 *                              metadata.name/namespace and spec are kept;
 *                              status and the server's metadata dropped
 */
#ifndef SPLIT_K8S_MODEL_H
#define SPLIT_K8S_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "apply.h"
#include "istio.h"
#include "model.h"

struct json_object;

enum k8s_kind {
	K8S_SERVICE,
	K8S_ENDPOINTSLICE,
	K8S_POD,
	K8S_VIRTUALSERVICE,
	K8S_DESTINATIONRULE,
	K8S_NKINDS
};

/* "Service", "EndpointSlice", "Pod", "VirtualService", "DestinationRule". */
const char *k8s_kind_name(enum k8s_kind k);

struct k8s_item {
	char *key;			/* "namespace/name" */
	struct json_object *obj;	/* one reference held */
};

struct k8s_items {
	struct k8s_item *v;		/* sorted by key */
	size_t n, cap;
};

struct k8s_store {
	struct k8s_items kinds[K8S_NKINDS];
};

/* "namespace/name" of an API object (namespace "" for cluster-scoped;
 * "default" is not assumed). -EINVAL when metadata.name is missing,
 * -ENAMETOOLONG when it does not fit in buf. */
int k8s_obj_key(struct json_object *obj, char *buf, size_t len);

/* Add or replace obj (takes a new reference). 0, or -EINVAL (no name),
 * -ENOMEM. */
int k8s_store_put(struct k8s_store *s, enum k8s_kind k, struct json_object *obj);
/* Remove the object with obj's namespace/name. 1 removed, 0 not there. */
int k8s_store_del(struct k8s_store *s, enum k8s_kind k, struct json_object *obj);
/* A relist: kind k becomes exactly items (moved in; items is emptied). */
void k8s_store_replace(struct k8s_store *s, enum k8s_kind k, struct k8s_items *items);
int k8s_items_put(struct k8s_items *it, struct json_object *obj);
void k8s_items_free(struct k8s_items *it);
void k8s_store_free(struct k8s_store *s);

struct k8s_build_stats {
	/* Objects refused (logged): per kind. */
	uint64_t bad[K8S_NKINDS];
	/* Endpoints left out: not ready; no version label (or pod unknown);
	 * a named port that resolves otherwise than in the other slices. */
	uint64_t eps_not_ready;
	uint64_t eps_unversioned;
	uint64_t eps_port_conflict;
	/* ... its pod lacks a label that every DestinationRule subset of its
	 * version selects. */
	uint64_t eps_unselected;
	/* Services taken, and skipped as not ours (headless, ExternalName,
	 * no TCP/UDP port, no ready endpoint whose pod has a version label:
	 * left to kube-proxy). */
	uint64_t services;
	uint64_t services_skipped;
};

/*
 * The model of the store: services in namespace/name order (the order
 * the API lists them in; service ids follow it) and Istio objects
 * (DestinationRules, then VirtualServices). Bad objects are left out (logged
 * with pr_warn, counted in *stats when not NULL). 0, or -ENOMEM with err on
 * out of memory only.
 */
int k8s_build(const struct k8s_store *s, struct split_config *cfg,
	      struct split_objs *objs, struct k8s_build_stats *stats,
	      struct split_err *err);

/* The split.dev/v1 Service document (JSON text) k8s_build() makes for
 * Service svc (rules: the DestinationRules' subsets, or NULL): 0 with
 * *out malloc()ed; -ENODATA when the service is not ours (err says why:
 * headless, no TCP or UDP port, ...), -ENOMEM. For tests and for
 * `splitd -v`. */
int k8s_service_doc(const struct k8s_store *s, struct json_object *svc,
		    const struct split_rules *rules, struct k8s_build_stats *stats,
		    char **out, struct split_err *err);

/* Print a model in a canonical text form (services with VIPs, ports,
 * endpoints and versions; objects with their JSON): two models are the
 * same when their texts are. For the differential tests. */
int k8s_model_print(FILE *f, const struct split_config *cfg,
		    const struct split_objs *objs);

#endif
