#!/usr/bin/env bash
# Build a busybox container image without any network, for the integration
# tests (containerd, dockerd, podman) and for anyone who wants one locally.
#
# Usage: hack/mkimage.sh OUT
#
# OUT gets:
#   oci/               an OCI image layout, tag `latest`
#   busybox.tar        a docker-archive named berth-test/busybox:latest
#                      (`docker load -i`, `podman load -i`,
#                      `ctr images import` all read it)
#   busybox-oci.tar    the same image as an oci-archive, ref name
#                      berth-test/busybox:latest
#   pause.tar          a docker-archive named berth-test/pause:latest: the
#                      same layer, running `sleep 2147483647`, for use as a
#                      CRI sandbox ("pause") image
#
# The image is one layer: the rootfs from hack/mkrootfs.sh (Debian's
# busybox-static with an applet symlink for every command), with
# Cmd ["sh"], PATH set and WorkingDir /.
#
# Fast path: when OUT was built from the current /usr/bin/busybox and the
# current version of this script, nothing is done, so tests can call this
# freely. Otherwise the image is built in OUT.tmp.$$ and renamed into place,
# so concurrent callers never see half an image.
set -euo pipefail

usage() { echo "usage: $0 OUT" >&2; exit 2; }
[[ $# -eq 1 && -n $1 ]] || usage

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1%/}
[[ -n $out ]] || { echo "mkimage: refusing to use / as the output directory" >&2; exit 1; }
name=berth-test/busybox:latest

for tool in umoci skopeo; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		"$here/install-deps.sh" umoci skopeo
		break
	fi
done
[[ -x /usr/bin/busybox ]] || "$here/install-deps.sh"

# What the image is made of: when this changes, the image is rebuilt.
stamp() { sha256sum /usr/bin/busybox "$here/mkimage.sh" "$here/mkrootfs.sh" | awk '{print $1}'; }
want=$(stamp)
is_current() {
	[[ -f $out/busybox.tar && -f $out/busybox-oci.tar && -f $out/pause.tar && -d $out/oci ]] &&
		[[ $(cat "$out/.stamp" 2>/dev/null) == "$want" ]]
}
is_current && exit 0

# Never replace a directory that is not one of ours.
if [[ -e $out && ! -f $out/.stamp ]] &&
	[[ -n $(find "$out" -mindepth 1 -maxdepth 1 -print -quit 2>/dev/null) ]]; then
	echo "mkimage: $out exists, is not empty and was not made by mkimage; refusing to overwrite it" >&2
	exit 1
fi

tmp=$out.tmp.$$
old=$out.old.$$
cleanup() { rm -rf -- "$tmp" "$old"; }
trap cleanup EXIT
rm -rf -- "$tmp"
mkdir -p -- "$tmp"

"$here/mkrootfs.sh" "$tmp/rootfs"

# A fixed date keeps the config (and so the image id) the same across builds
# of the same busybox.
created=2000-01-01T00:00:00Z
umoci init --layout "$tmp/oci"
umoci new --image "$tmp/oci:latest"
# `insert` adds the whole rootfs as one layer at /, keeping owners and modes.
umoci insert --image "$tmp/oci:latest" \
	--history.created "$created" --history.created_by "hack/mkimage.sh" \
	"$tmp/rootfs" /
umoci config --image "$tmp/oci:latest" \
	--created "$created" --author berth --os linux \
	--config.cmd sh \
	--config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	--config.workingdir / \
	--no-history
# The pause image: same layer, a process that just waits.
umoci config --image "$tmp/oci:latest" --tag pause \
	--created "$created" --config.cmd sleep --config.cmd 2147483647 --no-history
umoci gc --layout "$tmp/oci"
rm -rf -- "$tmp/rootfs"

skopeo --insecure-policy copy --quiet \
	"oci:$tmp/oci:latest" "docker-archive:$tmp/busybox.tar:$name"
skopeo --insecure-policy copy --quiet \
	"oci:$tmp/oci:latest" "oci-archive:$tmp/busybox-oci.tar:$name"
skopeo --insecure-policy copy --quiet \
	"oci:$tmp/oci:pause" "docker-archive:$tmp/pause.tar:berth-test/pause:latest"
echo "$want" >"$tmp/.stamp"

# Another caller may have finished first while we were building.
is_current && exit 0
if [[ -e $out ]]; then
	mv -T -- "$out" "$old"
fi
# rename(2) onto a non-empty directory fails: that means someone else won.
if ! mv -T -- "$tmp" "$out" 2>/dev/null; then
	is_current && exit 0
	echo "mkimage: failed to move $tmp to $out" >&2
	exit 1
fi
echo "mkimage: $name in $out" >&2
