#!/bin/sh
# Run unit test binaries given as arguments; print one closing total line.
set -u
pass=0 fail=0 skip=0
for t in "$@"; do
	out=$("$t" 2>&1); rc=$?
	printf '%s\n' "$out"
	# "NAME: N passed, N failed" or "NAME: N passed, N failed, N skipped"
	tot=$(printf '%s\n' "$out" |
		sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed\(, \([0-9]*\) skipped\)\{0,1\}$/\1 \2 \4/p' |
		tail -n1)
	p=$(echo "$tot" | awk '{ print $1 + 0 }')
	f=$(echo "$tot" | awk '{ print $2 + 0 }')
	s=$(echo "$tot" | awk '{ print $3 + 0 }')
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
	# A binary that crashed (sanitizer) or printed no total counts as a failure.
	if [ $rc -ne 0 ] && [ "$f" = 0 ]; then fail=$((fail + 1)); echo "FAIL: $t exited $rc"; fi
done
if [ $skip -gt 0 ]; then
	echo "unit: $pass passed, $fail failed, $skip skipped"
else
	echo "unit: $pass passed, $fail failed"
fi
[ $fail -eq 0 ]
