#!/usr/bin/env bash
# Build a busybox root filesystem for tests, the demo and benchmarks.
#
# Usage: hack/mkrootfs.sh DIR
#
# DIR gets bin/busybox (Debian's busybox-static), a symlink in bin/ for every
# applet, the usual top-level directories and minimal /etc files, including
# an unprivileged user `berth` (1000:1000).
#
# Fast path: when DIR/bin/busybox already matches /usr/bin/busybox nothing is
# done, so tests can call this freely. Otherwise the rootfs is built in
# DIR.tmp.$$ and renamed into place, so concurrent callers never see half a
# rootfs: the first rename wins and the losers throw their copy away.
set -euo pipefail

usage() { echo "usage: $0 DIR" >&2; exit 2; }
[[ $# -eq 1 && -n $1 ]] || usage

busybox=/usr/bin/busybox
dir=${1%/}
[[ -n $dir ]] || { echo "mkrootfs: refusing to use / as the rootfs" >&2; exit 1; }

is_current() { cmp -s "$busybox" "$dir/bin/busybox" 2>/dev/null; }

[[ -x $busybox ]] && is_current && exit 0

if [[ ! -x $busybox ]]; then
	"$(dirname "${BASH_SOURCE[0]}")/install-deps.sh"
	[[ -x $busybox ]] || { echo "mkrootfs: $busybox is missing after installing busybox-static" >&2; exit 1; }
	is_current && exit 0
fi

# Never replace a directory that is not one of ours: a typo must not cost data.
if [[ -e $dir && ! -L $dir/bin/busybox && ! -f $dir/bin/busybox ]] &&
	[[ -n $(find "$dir" -mindepth 1 -maxdepth 1 -print -quit 2>/dev/null) ]]; then
	echo "mkrootfs: $dir exists, is not empty and has no bin/busybox; refusing to overwrite it" >&2
	exit 1
fi

tmp=$dir.tmp.$$
old=$dir.old.$$
cleanup() { rm -rf -- "$tmp" "$old"; }
trap cleanup EXIT
rm -rf -- "$tmp"
mkdir -p -- "$tmp"

(
	cd "$tmp"
	mkdir -p bin etc proc sys dev tmp root home/berth usr/bin sbin var run
	chmod 0755 bin etc proc sys dev home usr usr/bin sbin var run
	chmod 1777 tmp
	chmod 0700 root
	chown 1000:1000 home/berth 2>/dev/null || true

	cp "$busybox" bin/busybox
	chmod 0755 bin/busybox
	# `busybox --list` prints bare applet names; all go in bin/ as relative
	# links so the rootfs works wherever it is mounted.
	while IFS= read -r applet; do
		[[ -n $applet && $applet != busybox && ! -e bin/$applet ]] || continue
		ln -s busybox "bin/$applet"
	done < <("$busybox" --list)
	# Scripts with `#!/usr/bin/env` shebangs.
	ln -sf ../../bin/busybox usr/bin/env

	cat >etc/passwd <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
berth:x:1000:1000:berth:/home/berth:/bin/sh
PASSWD
	# tty (5) is the gid runc-style configs give to /dev/pts.
	cat >etc/group <<'GROUP'
root:x:0:
tty:x:5:
berth:x:1000:
nogroup:x:65534:
GROUP
	echo berth >etc/hostname
	cat >etc/hosts <<'HOSTS'
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
HOSTS
	chmod 0644 etc/passwd etc/group etc/hostname etc/hosts
)

# Another caller may have finished first while we were building.
is_current && exit 0

# Move an outdated rootfs (different busybox) out of the way.
if [[ -e $dir ]] && ! rmdir -- "$dir" 2>/dev/null; then
	mv -T -- "$dir" "$old" 2>/dev/null || true
fi

# rename(2) onto a non-empty directory fails: that means someone else won.
if ! mv -T -- "$tmp" "$dir" 2>/dev/null; then
	is_current && exit 0
	echo "mkrootfs: failed to move $tmp to $dir" >&2
	exit 1
fi
