#!/bin/bash
# bench_match.sh - the request-time matcher, per header value: the seed's
# cookie rule and a few other regexes through split_rules_match() (the
# literal idioms as string checks, the rest on PCRE2's JIT), next to PCRE2's
# JIT and DFA called directly (the DFA ran every regex before). No network,
# no root. Prints figures, never judges timing.
#
#   bench/bench_match.sh [--quick]
set -u
source "$(dirname "$0")/lib.sh" || exit 1

ITERS=200000 ROUNDS=5
bench_local match match_bench "$@" && ITERS=2000 ROUNDS=1

for ((r = 1; r <= ROUNDS; r++)); do
	build/match_bench -n "$ITERS" | tail -n +2 >>"$WORK/rows" || bench_die "match_bench failed"
done
# Median per pattern and column over the rounds.
summary=$(awk '{ k = $1 " " $2; n[k]++; o[k, n[k]] = $3; j[k, n[k]] = $4; d[k, n[k]] = $5; if (!(k in seen)) { seen[k] = 1; order[++m] = k } }
	function med(a, k, c,   i, t, v, x, y) { for (i = 1; i <= c; i++) v[i] = a[k, i]
		for (x = 1; x <= c; x++) for (y = x + 1; y <= c; y++) if (v[y] < v[x]) { t = v[x]; v[x] = v[y]; v[y] = t }
		return (c % 2) ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2 }
	END { for (i = 1; i <= m; i++) { k = order[i]; split(k, p, " ")
		oo = med(o, k, n[k]); dd = med(d, k, n[k]); gsub(/\|/, "\\|", p[1])
		printf "| `%s` | %s | %.1f | %.1f | %.1f | %.1fx |\n", p[1], p[2], oo, med(j, k, n[k]), dd, dd / oo } }' "$WORK/rows")
{
	echo "## The request-time matcher (bench/bench_match.sh)"
	echo
	bench_sysinfo
	echo "- settings: $ROUNDS rounds of $ITERS matches per value, 5 values (cookie jars with and without \`user=test-user\`, a user agent, a path); medians of the rounds, ns per match"
	echo
	echo "| regex | how ours runs it | ours (split_rules_match) | PCRE2 JIT alone | PCRE2 DFA alone (before) | DFA / ours |"
	echo "|---|---|---:|---:|---:|---:|"
	echo "$summary"
	echo
	echo "Ours includes finding the header among the request's headers; the two PCRE2 columns match the value alone. The literal idioms (the seed's cookie rule, \`.*lit.*\`, \`lit.*\`, a bare literal) compile to string checks (user/lib/config/istio/re_lit.c); the rest run on the JIT, with the DFA as the fallback where the JIT hits its match limit. tests/unit/config/istio/test_re_lit.c checks that all of them answer as PCRE2's interpreter does."
} >"$WORK/section.md"
bench_section_done bench_match
