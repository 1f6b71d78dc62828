/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * fuzz_k8s.c - libFuzzer target for the Kubernetes API source's model
 * (k8s_model.c): the input is a JSON object whose keys name the kinds
 * ("services", "endpointslices", "pods", "virtualservices",
 * "destinationrules"), each an array of objects as the API returns them.
 * They go into a store and through k8s_build(). Beyond "no crash, no leak,
 * no UB": a build never fails but for memory, every service it returns is
 * one the services parser accepts (printed and checked by the model
 * printer), and deleting every object again leaves an empty model.
 *
 *   make build/fuzz_k8s && build/fuzz_k8s -max_total_time=30 corpus/ tests/data/k8s/fuzz
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "k8s_model.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const keys[K8S_NKINDS] = {
	[K8S_SERVICE] = "services",
	[K8S_ENDPOINTSLICE] = "endpointslices",
	[K8S_POD] = "pods",
	[K8S_VIRTUALSERVICE] = "virtualservices",
	[K8S_DESTINATIONRULE] = "destinationrules",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_tokener *tok = json_tokener_new_ex(32);
	struct json_object *doc;
	struct k8s_store s = { 0 };
	struct split_config c = { 0 };
	struct split_objs o = { 0 };
	struct split_err err;
	FILE *devnull;

	split_log_level = LOG_LVL_WARN;
	if (!tok)
		return 0;
	doc = json_tokener_parse_ex(tok, (const char *)data, (int)size);
	json_tokener_free(tok);
	if (!doc)
		return 0;
	for (int k = 0; k < K8S_NKINDS; k++) {
		struct json_object *arr = NULL;

		if (!json_object_is_type(doc, json_type_object) ||
		    !json_object_object_get_ex(doc, keys[k], &arr) ||
		    !json_object_is_type(arr, json_type_array))
			continue;
		for (size_t i = 0; i < json_object_array_length(arr); i++)
			k8s_store_put(&s, (enum k8s_kind)k, json_object_array_get_idx(arr, i));
	}
	if (k8s_build(&s, &c, &o, NULL, &err))
		abort();	/* only out of memory may fail */
	devnull = fopen("/dev/null", "w");
	if (devnull) {
		k8s_model_print(devnull, &c, &o);
		fclose(devnull);
	}
	split_config_free(&c);
	split_objs_free(&o);
	/* Delete everything: nothing is left. */
	for (int k = 0; k < K8S_NKINDS; k++)
		while (s.kinds[k].n) {
			struct json_object *x = json_object_get(s.kinds[k].v[0].obj);

			if (k8s_store_del(&s, (enum k8s_kind)k, x) != 1)
				abort();
			json_object_put(x);
		}
	if (k8s_build(&s, &c, &o, NULL, &err) || c.nsvcs || o.n)
		abort();
	split_config_free(&c);
	split_objs_free(&o);
	k8s_store_free(&s);
	json_object_put(doc);
	return 0;
}
