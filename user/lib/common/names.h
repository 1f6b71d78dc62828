/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* names.h - Kubernetes name rules, shared by the services and Istio parsers. */
#ifndef SPLIT_NAMES_H
#define SPLIT_NAMES_H

#include <stdbool.h>
#include <stddef.h>

/* DNS-1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters;
 * with dns1035 (Kubernetes service names) also a letter first. */
bool split_dns_label_ok(const char *s, size_t len, bool dns1035);

/* Label value: empty, or at most 63 of [-A-Za-z0-9_.] beginning and
 * ending with a letter or digit. */
bool split_label_value_ok(const char *s);

#endif
