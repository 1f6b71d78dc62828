/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * k8s_curl.h - libcurl, opened with dlopen the first time the Kubernetes
 * API source starts.
 *
 * Only --source kubernetes speaks HTTPS, yet linking libcurl made every
 * start of splitd (--help, each --once, each restart) load it and the 30
 * libraries it needs (TLS, Kerberos, LDAP, SSH, HTTP/2, ...). Now splitd
 * links none of them; k8s_client calls libcurl through this table. The
 * types and constants still come from <curl/curl.h>, and each entry has
 * the real prototype of its function (curl_easy_setopt stays variadic).
 *
 *   const struct k8s_curl *cu = k8s_curl_load(&err);
 *   CURL *h = cu->easy_init();
 *   cu->easy_setopt(h, CURLOPT_URL, url);
 *
 * The container image installs the library (Containerfile); tests/k8s
 * checks that from K8S_CURL_SONAME, found in the binary.
 */
#ifndef SPLIT_K8S_CURL_H
#define SPLIT_K8S_CURL_H

#include <curl/curl.h>

#include "err.h"

#define K8S_CURL_SONAME		"libcurl.so.4"
#define K8S_CURL_PACKAGE	"libcurl4"	/* Debian's package of it */

struct k8s_curl {
	__typeof__(curl_global_init) *global_init;
	__typeof__(curl_easy_init) *easy_init;
	__typeof__(curl_easy_cleanup) *easy_cleanup;
	__typeof__(curl_easy_reset) *easy_reset;
	__typeof__(curl_easy_setopt) *easy_setopt;
	__typeof__(curl_easy_perform) *easy_perform;
	__typeof__(curl_easy_getinfo) *easy_getinfo;
	__typeof__(curl_easy_strerror) *easy_strerror;
	__typeof__(curl_easy_escape) *easy_escape;
	__typeof__(curl_free) *free;
	__typeof__(curl_slist_append) *slist_append;
	__typeof__(curl_slist_free_all) *slist_free_all;
};

/*
 * The table, loaded once per process (dlopen of K8S_CURL_SONAME with
 * RTLD_NOW | RTLD_LOCAL, every function resolved, curl_global_init done);
 * thread-safe; the library stays loaded. NULL when the library, one of
 * its functions or its initialization is missing, with err saying which,
 * the package to install and dlerror()'s text; every later call gives
 * the same answer (-ENOENT, or -EIO when curl_global_init failed).
 */
const struct k8s_curl *k8s_curl_load(struct split_err *err);

#endif
