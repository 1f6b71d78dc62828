// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * istio_print.c - split_rules_print: the rules in force, as splitctl
 * show prints them. See istio_int.h.
 */
#include "istio_int.h"

/* ---- printing ------------------------------------------------------------- */

/* A YAML double-quoted scalar. */
static void print_q(FILE *f, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;

	fputc('"', f);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = u[i];

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", f);
		else if (ch == '\t')
			fputs("\\t", f);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(f, "\\x%02x", ch);
		else if (ch == 0xc2 && i + 1 < len && u[i + 1] == 0x85) {
			fputs("\\N", f);	/* NEL would fold */
			i++;
		} else if (ch == 0xe2 && i + 2 < len && u[i + 1] == 0x80 &&
			   (u[i + 2] == 0xa8 || u[i + 2] == 0xa9)) {
			fputs(u[i + 2] == 0xa8 ? "\\L" : "\\P", f);
			i += 2;
		} else if (ch == 0xef && i + 2 < len && u[i + 1] == 0xbb &&
			   u[i + 2] == 0xbf) {
			fputs("\\uFEFF", f);
			i += 2;
		} else {
			fputc(ch, f);
		}
	}
	fputc('"', f);
}

static void print_qs(FILE *f, const char *s)
{
	print_q(f, s, strlen(s));
}

/* Plain when no YAML 1.1 or 1.2 reader can take it for anything but this
 * string: a letter, then letters, digits and -_./, not a boolean or null
 * word. Else double-quoted. */
static void print_s(FILE *f, const char *s)
{
	static const char *const words[] = {
		"y", "n", "yes", "no", "on", "off", "true", "false", "null",
	};
	bool plain = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z');

	for (const char *p = s; plain && *p; p++)
		plain = ist_is_alnum(*p) || strchr("-_./", *p);
	for (size_t i = 0; plain && i < sizeof(words) / sizeof(words[0]); i++)
		plain = strcasecmp(s, words[i]) != 0;
	if (plain)
		fputs(s, f);
	else
		print_qs(f, s);
}

static const char *const op_key[] = { "exact", "prefix", "regex" };

/* "KEY: {}" or "KEY:\n  OP: VALUE", the key at column ind, after prefix
 * (ind spaces when NULL). */
static void print_sm(FILE *f, const char *prefix, int ind, const char *key,
		     bool quote_key, const struct split_cond *c)
{
	if (prefix)
		fputs(prefix, f);
	else
		fprintf(f, "%*s", ind, "");
	if (quote_key)
		print_s(f, key);
	else
		fputs(key, f);
	if (c->op == SPLIT_OP_PRESENT) {
		fputs(": {}\n", f);
		return;
	}
	fprintf(f, ":\n%*s%s: ", ind + 2, "", op_key[c->op]);
	print_q(f, c->value, c->value_len);
	fputc('\n', f);
}

static void print_labels(FILE *f, int ind, const struct split_label *l,
			 size_t n)
{
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%*s", ind, "");
		print_s(f, l[i].key);
		fputs(": ", f);
		print_s(f, l[i].value);
		fputc('\n', f);
	}
}

static void print_rr(FILE *f, const struct split_rules_service *svc,
		     const struct split_route *r)
{
	fprintf(f, "---\napiVersion: %s\nkind: RouteRule\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  destination:\n    name: %s\n    namespace: %s\n  precedence: %d\n",
		RR_API, r->name, r->ns, svc->name, svc->ns, r->precedence);
	if (r->nmatches) {
		const struct split_match *m = &r->matches[0];

		fputs("  match:\n    request:\n      headers:\n", f);
		for (size_t i = 0; i < m->nconds; i++) {
			const struct split_cond *c = &m->conds[i];

			print_sm(f, NULL, 8, c->kind == SPLIT_COND_URI ? "uri" :
				 c->kind == SPLIT_COND_METHOD ? "method" :
				 c->name, c->kind == SPLIT_COND_HEADER, c);
		}
	}
	fputs("  route:\n", f);
	for (size_t i = 0; i < r->ndests; i++) {
		fputs("  - labels:\n", f);
		print_labels(f, 6, r->dests[i].labels, r->dests[i].nlabels);
		fprintf(f, "    weight: %u\n", r->dests[i].weight);
	}
}

static void print_vs_match(FILE *f, const struct split_match *m)
{
	static const struct {
		enum split_cond_kind kind;
		bool negate;
		const char *key;
	} maps[] = {
		{ SPLIT_COND_HEADER, false, "headers" },
		{ SPLIT_COND_HEADER, true, "withoutHeaders" },
		{ SPLIT_COND_QUERY, false, "queryParams" },
	};
	bool first = true;

	/* The first line of the block carries the "- ". */
#define ITEM() (first ? (first = false, "    - ") : "      ")
	if (m->name) {
		fprintf(f, "%sname: ", ITEM());
		print_s(f, m->name);
		fputc('\n', f);
	}
	for (size_t i = 0; i < m->nconds; i++) {
		const struct split_cond *c = &m->conds[i];

		if (c->kind != SPLIT_COND_URI && c->kind != SPLIT_COND_METHOD)
			continue;
		print_sm(f, ITEM(), 6,
			 c->kind == SPLIT_COND_URI ? "uri" : "method", false, c);
	}
	for (size_t k = 0; k < sizeof(maps) / sizeof(maps[0]); k++) {
		bool any = false;

		for (size_t i = 0; i < m->nconds; i++) {
			const struct split_cond *c = &m->conds[i];

			if (c->kind != maps[k].kind || c->negate != maps[k].negate)
				continue;
			if (!any)
				fprintf(f, "%s%s:\n", ITEM(), maps[k].key);
			any = true;
			print_sm(f, NULL, 8, c->name, true, c);
		}
	}
#undef ITEM
}

static void print_vs(FILE *f, const struct split_rules_service *svc)
{
	fprintf(f, "---\napiVersion: %s\nkind: VirtualService\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  hosts:\n  - %s.%s.svc.%s\n  http:\n",
		svc->vs_api_version, svc->vs_name, svc->vs_ns, svc->name,
		svc->ns, SPLIT_CLUSTER_DOMAIN);
	for (size_t i = 0; i < svc->nroutes; i++) {
		const struct split_route *r = &svc->routes[i];
		bool first = true;

		if (r->name) {
			fputs("  - name: ", f);
			print_s(f, r->name);
			fputc('\n', f);
			first = false;
		}
		if (r->nmatches) {
			fprintf(f, "  %smatch:\n", first ? "- " : "  ");
			first = false;
			for (size_t j = 0; j < r->nmatches; j++)
				print_vs_match(f, &r->matches[j]);
		}
		fprintf(f, "  %sroute:\n", first ? "- " : "  ");
		for (size_t j = 0; j < r->ndests; j++) {
			const struct split_dest *d = &r->dests[j];

			fprintf(f, "    - destination:\n        host: %s.%s.svc.%s\n",
				svc->name, svc->ns, SPLIT_CLUSTER_DOMAIN);
			if (*d->subset)
				fprintf(f, "        subset: %s\n", d->subset);
			if (d->port)
				fprintf(f, "        port:\n          number: %u\n",
					d->port);
			fprintf(f, "      weight: %u\n", d->weight);
		}
	}
}

static void print_dr(FILE *f, const struct split_rules_service *svc)
{
	fprintf(f, "---\napiVersion: %s\nkind: DestinationRule\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  host: %s.%s.svc.%s\n",
		svc->dr_api_version, svc->dr_name, svc->dr_ns, svc->name,
		svc->ns, SPLIT_CLUSTER_DOMAIN);
	if (!svc->nsubsets)
		return;
	fputs("  subsets:\n", f);
	for (size_t i = 0; i < svc->nsubsets; i++) {
		fprintf(f, "  - name: %s\n    labels:\n", svc->subsets[i].name);
		print_labels(f, 6, svc->subsets[i].labels,
			     svc->subsets[i].nlabels);
	}
}

int split_rules_print(FILE *f, const struct split_rules *rules)
{
	for (size_t i = 0; rules && i < rules->nsvcs; i++) {
		const struct split_rules_service *svc = &rules->svcs[i];

		if (svc->api == SPLIT_API_ROUTE_RULE)
			for (size_t j = 0; j < svc->nroutes; j++)
				print_rr(f, svc, &svc->routes[j]);
		else if (svc->api == SPLIT_API_VIRTUAL_SERVICE)
			print_vs(f, svc);
		if (svc->has_dr)
			print_dr(f, svc);
	}
	if (fflush(f) || ferror(f))
		return -EIO;
	return 0;
}
