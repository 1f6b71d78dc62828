#!/bin/sh
# Run unit test binaries given as arguments; print one closing total line.
set -u
pass=0 fail=0 skip=0
run() { # BINARY [ENV=VALUE...]: run it, count its closing line
	t=$1
	shift
	out=$(env "$@" "$t" 2>&1); rc=$?
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
}
for t in "$@"; do
	run "$t"
done
# The L7 engine's suites run on the default backend above (io_uring where
# the kernel allows it), and again here with every proxy on epoll (--l7-io
# epoll): both backends keep every behaviour. (test_uring is io_uring's own;
# the drive tests run no loop.)
for t in "$@"; do
	case $t in
	*/unit/l7/test_uring | */unit/l7/test_drive) ;;
	*/unit/l7/test_*) run "$t" L7_TEST_IO=epoll TEST_SUITE_TAG=epoll ;;
	esac
done
if [ $skip -gt 0 ]; then
	echo "unit: $pass passed, $fail failed, $skip skipped"
else
	echo "unit: $pass passed, $fail failed"
fi
[ $fail -eq 0 ]
