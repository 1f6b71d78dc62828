/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * services_yaml.h - the services file (services_yaml.c): Service documents into the model.
 */
#ifndef SPLIT_SERVICES_YAML_H
#define SPLIT_SERVICES_YAML_H

#include "model.h"

/*
 * Parse a services file (one or more YAML documents). On error returns -errno
 * with err naming path:line:column and the problem, and cfg untouched.
 */
int split_services_load(const char *path, struct split_config *cfg,
			struct split_err *err);
/* Same, from a buffer; `name` is used in error messages. */
int split_services_parse(const char *name, const char *buf, size_t len,
			 struct split_config *cfg, struct split_err *err);
/* The Service documents of a parsed stream that may also hold Istio
 * documents (those are skipped: see istio.h). */
struct yt_tree;
int split_services_from_tree(const struct yt_tree *tree, struct split_config *cfg,
			     struct split_err *err);

/* The checks that span the Service documents of one file (the limits on
 * their totals, no service twice, no VIP:port:protocol in two services),
 * on services parsed from its documents one by one: true when one fails
 * (then parse the file whole, whose error says where). */
bool split_services_file_conflict(const struct split_service *svcs, size_t n);

#endif /* SPLIT_SERVICES_YAML_H */
