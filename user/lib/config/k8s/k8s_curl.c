// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* k8s_curl.c - libcurl through dlopen; see k8s_curl.h. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "k8s_curl.h"

static struct k8s_curl table;
static int load_code;			/* 0, or a negative errno */
static char load_msg[SPLIT_ERR_LEN];	/* why not */

static void load(void)
{
	struct k8s_curl t;
	const char *name = NULL, *e;
	void *h;
	CURLcode cc;

	dlerror();
	h = dlopen(K8S_CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		e = dlerror();
		load_code = -ENOENT;
		snprintf(load_msg, sizeof(load_msg), "cannot load " K8S_CURL_SONAME
			 " (Debian package " K8S_CURL_PACKAGE "): %s", e ? e : "unknown error");
		return;
	}
	/* Each entry from its function, as POSIX lets dlsym's void * be one;
	 * name: the first that is missing. */
#define SYM(m, f) (name = #f, (t.m = (__typeof__(t.m))dlsym(h, #f)) != NULL)
	if (!(SYM(global_init, curl_global_init) && SYM(easy_init, curl_easy_init) &&
	      SYM(easy_cleanup, curl_easy_cleanup) && SYM(easy_reset, curl_easy_reset) &&
	      SYM(easy_setopt, curl_easy_setopt) && SYM(easy_perform, curl_easy_perform) &&
	      SYM(easy_getinfo, curl_easy_getinfo) && SYM(easy_strerror, curl_easy_strerror) &&
	      SYM(easy_escape, curl_easy_escape) && SYM(free, curl_free) &&
	      SYM(slist_append, curl_slist_append) && SYM(slist_free_all, curl_slist_free_all))) {
		e = dlerror();
		load_code = -ENOENT;
		snprintf(load_msg, sizeof(load_msg), K8S_CURL_SONAME " has no %s (Debian package "
			 K8S_CURL_PACKAGE "): %s", name, e ? e : "a NULL symbol");
		dlclose(h);
		return;
	}
#undef SYM
	cc = t.global_init(CURL_GLOBAL_DEFAULT);
	if (cc != CURLE_OK) {
		load_code = -EIO;
		snprintf(load_msg, sizeof(load_msg), K8S_CURL_SONAME ": curl_global_init: %s",
			 t.easy_strerror(cc));
		return;	/* stays loaded: it may have begun setting up */
	}
	table = t;
}

const struct k8s_curl *k8s_curl_load(struct split_err *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, load);
	if (load_code) {
		split_errc(err, load_code, "%s", load_msg);
		return NULL;
	}
	return &table;
}
