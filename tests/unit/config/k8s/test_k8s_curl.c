// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * test_k8s_curl.c - libcurl through k8s_curl's table: not in the process
 * until k8s_curl_load opens it, every entry resolved, the same table on
 * every call, and real transfers (file:// URLs, no network) through the
 * variadic curl_easy_setopt and curl_easy_getinfo with longs, pointers and
 * callbacks. The error paths (library missing, not a library, a function
 * missing) are in tests/k8s/test_libcurl.sh: they need the loader's
 * search path changed before the process starts.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

#include "k8s_curl.h"
#include "test.h"

struct body {
	char buf[256];
	size_t len;
	int calls;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t len = size * n;

	b->calls++;
	if (b->len + len >= sizeof(b->buf))
		return 0;
	memcpy(b->buf + b->len, p, len);
	b->len += len;
	b->buf[b->len] = 0;
	return len;
}

TEST(loaded_on_first_use_only)
{
	struct split_err err = { "" };
	const struct k8s_curl *cu, *again;
	void *h;

	/* No program links it: not here before the first load. */
	h = dlopen(K8S_CURL_SONAME, RTLD_NOW | RTLD_NOLOAD);
	if (h) {
		dlclose(h);
		TEST_FAIL_(K8S_CURL_SONAME " was in the process before k8s_curl_load");
	}
	cu = k8s_curl_load(&err);
	if (!cu)
		TEST_SKIP("%s", err.msg);	/* libcurl4 not installed here */
	ASSERT_TRUE(cu->global_init && cu->easy_init && cu->easy_cleanup && cu->easy_reset &&
		    cu->easy_setopt && cu->easy_perform && cu->easy_getinfo &&
		    cu->easy_strerror && cu->easy_escape && cu->free && cu->slist_append &&
		    cu->slist_free_all);
	/* The very functions of the library the loader has now. */
	h = dlopen(K8S_CURL_SONAME, RTLD_NOW | RTLD_NOLOAD);
	ASSERT_TRUE(h);
	ASSERT_TRUE((void *)cu->easy_setopt == dlsym(h, "curl_easy_setopt"));
	dlclose(h);
	again = k8s_curl_load(NULL);
	ASSERT_TRUE(again == cu);
}

TEST(transfer_through_the_table)
{
	char path[] = "/tmp/split-k8s-curl.XXXXXX", url[64], *esc;
	static const char text[] = "{\"kind\":\"List\",\"items\":[]}\n";
	const struct k8s_curl *cu = k8s_curl_load(NULL);
	struct curl_slist *hdr = NULL;
	struct body b = { .len = 0 };
	curl_off_t got = -1;
	CURLcode cc;
	CURL *c;
	int fd;

	if (!cu)
		TEST_SKIP("no libcurl");
	fd = mkstemp(path);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(write(fd, text, sizeof(text) - 1), (long)sizeof(text) - 1);
	close(fd);
	snprintf(url, sizeof(url), "file://%s", path);
	c = cu->easy_init();
	ASSERT_TRUE(c);
	hdr = cu->slist_append(hdr, "Accept: application/json");
	ASSERT_TRUE(hdr);
	/* A pointer, longs, a callback and its data, a list: the variadic
	 * argument of each kind k8s_client passes. */
	ASSERT_EQ(cu->easy_setopt(c, CURLOPT_URL, url), CURLE_OK);
	ASSERT_EQ(cu->easy_setopt(c, CURLOPT_NOSIGNAL, 1L), CURLE_OK);
	ASSERT_EQ(cu->easy_setopt(c, CURLOPT_TIMEOUT, 10L), CURLE_OK);
	ASSERT_EQ(cu->easy_setopt(c, CURLOPT_HTTPHEADER, hdr), CURLE_OK);
	ASSERT_EQ(cu->easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body), CURLE_OK);
	ASSERT_EQ(cu->easy_setopt(c, CURLOPT_WRITEDATA, &b), CURLE_OK);
	cc = cu->easy_perform(c);
	unlink(path);
	ASSERT_STREQ(cu->easy_strerror(cc), cu->easy_strerror(CURLE_OK));
	ASSERT_STREQ(b.buf, text);
	ASSERT_GE(b.calls, 1);
	ASSERT_EQ(cu->easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &got), CURLE_OK);
	ASSERT_EQ(got, (long)sizeof(text) - 1);
	/* Reset: the callback is gone, the same file (now missing) fails
	 * with libcurl's own code and message. */
	cu->easy_reset(c);
	ASSERT_EQ(cu->easy_setopt(c, CURLOPT_URL, url), CURLE_OK);
	cc = cu->easy_perform(c);
	ASSERT_EQ(cc, CURLE_FILE_COULDNT_READ_FILE);
	ASSERT_TRUE(strlen(cu->easy_strerror(cc)) > 0);
	esc = cu->easy_escape(c, "a b/c&d", 0);
	ASSERT_STREQ(esc, "a%20b%2Fc%26d");
	cu->free(esc);
	cu->slist_free_all(hdr);
	cu->easy_cleanup(c);
}
