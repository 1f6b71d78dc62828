#!/bin/sh
# image.sh IMAGE - build the splitd image from Containerfile with podman or
# docker, whichever works here. Neither (or no running engine): say so and
# succeed, so `make image` never breaks a build without one.
set -eu
cd "$(dirname "$0")/.."
image=${1:-split:latest}
for engine in podman docker; do
	command -v "$engine" >/dev/null 2>&1 || continue
	if ! "$engine" info >/dev/null 2>&1; then
		echo "image: $engine is installed but not usable here ($engine info failed)"
		continue
	fi
	echo "image: building $image with $engine"
	"$engine" build -f Containerfile -t "$image" .
	exit $?
done
echo "image: SKIP: no working podman or docker on this machine; $image not built"
exit 0
