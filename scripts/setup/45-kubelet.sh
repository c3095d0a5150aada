#!/usr/bin/env bash
# The node rig: a real kubelet (v1.20.2) built from the same Debian `kubernetes` source package and
# with the same recipe as scripts/setup/40-k8s.sh (GOPATH mode, Debian's reflect2 1.0.2, CGO off,
# version ldflags, `nice -n 19` and `go build -p 1`), plus two container images built here with no
# registry: `pause` compiled static from the source tree's build/pause/linux/pause.c (its Makefile's
# flags) and a busybox image from Debian's busybox-static, both as docker-archive tars
# (test/lab/k3s/make-image.sh). The lab's stand-in K3s installer (test/lab/k3s/) runs them with
# Debian's containerd, runc and CNI plugins, and etcdctl from etcd-client for joining servers.
#
# Cached in its own folder under cache_dir, keyed by a hash of this recipe and of make-image.sh (the
# apiserver cache of 40-k8s.sh is keyed by that script alone and is left as it is). A cold build
# takes about 6-10 minutes of CPU once; when the files for the current hash exist this only
# records where they are in kubelet.current.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
REPO=$(pwd)

PKGVER="1.20.5+really1.20.2-1.1+deb12u1"
apt_need dpkg-dev golang-go gcc golang-github-modern-go-reflect2-dev containerd runc containernetworking-plugins iptables \
  busybox-static etcd-server etcd-client curl

CACHE=$(cache_dir)
HASH=$(cat scripts/setup/45-kubelet.sh test/lab/k3s/make-image.sh | sha256sum | cut -c1-16)
OUT="$CACHE/kubelet-$HASH"
done_already() { [ -x "$OUT/kubelet" ] && [ -s "$OUT/images/pause.tar" ] && [ -s "$OUT/images/busybox.tar" ]; }
if done_already; then
  echo "$OUT" > "$CACHE/kubelet.current"
  exit 0
fi

exec 9> "$CACHE/kubelet.lock"
flock 9
if done_already; then echo "$OUT" > "$CACHE/kubelet.current"; exit 0; fi
start=$(date +%s)

if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
  CODENAME=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$CODENAME" "$CODENAME" > /etc/apt/sources.list.d/pi-controller-src.sources
  apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
fi

W="$OUT.work"
rm -rf "$W" "$OUT.tmp"
mkdir -p "$W" "$OUT.tmp/images"
trap 'rm -rf "$W"' EXIT
echo "node rig: apt-get source kubernetes=$PKGVER (about 34 MB)" >&2
(cd "$W" && { apt-get source -qq "kubernetes=$PKGVER" || apt-get source -qq kubernetes; } >/dev/null 2>&1)
SRC=$(ls -d "$W"/kubernetes-*/ 2>/dev/null | head -1)
[ -n "$SRC" ] || { echo "node rig: apt-get source kubernetes failed" >&2; exit 1; }

# reflect2 1.0.2 from Debian (1.0.1 faults under Go >= 1.18), as in 40-k8s.sh.
rm -rf "$SRC/vendor/github.com/modern-go/reflect2"
mkdir -p "$SRC/vendor/github.com/modern-go/reflect2"
cp -L /usr/share/gocode/src/github.com/modern-go/reflect2/*.go /usr/share/gocode/src/github.com/modern-go/reflect2/*.s \
  "$SRC/vendor/github.com/modern-go/reflect2/"

# GOPATH mode, offline.
export GOPATH="$W/gopath" GO111MODULE=off CGO_ENABLED=0 GOPROXY=off GOFLAGS= GOCACHE="$W/gocache"
mkdir -p "$GOPATH/src/k8s.io"
ln -sfn "$SRC" "$GOPATH/src/k8s.io/kubernetes"
cd "$GOPATH/src/k8s.io/kubernetes"

# kubelet does not import the generated OpenAPI definitions that the apiserver needs; stop plainly
# if a future source package changes that, rather than failing deep in the build.
if nice -n 19 go list -deps ./cmd/kubelet 2>/dev/null | grep -q '^k8s.io/kubernetes/pkg/generated/openapi$'; then
  echo "node rig: kubelet now needs pkg/generated/openapi; add the openapi-gen step of 40-k8s.sh here" >&2
  exit 1
fi

LDF="-s -w"
for P in k8s.io/kubernetes/vendor/k8s.io/component-base/version k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
  LDF="$LDF -X $P.gitVersion=v1.20.2 -X $P.gitMajor=1 -X $P.gitMinor=20 -X $P.gitTreeState=clean"
  LDF="$LDF -X $P.gitCommit=faecb196815e248d3ecfb03c680a4507229c2a56 -X $P.buildDate=2021-01-13T00:00:00Z"
done
echo "node rig: go build kubelet (several minutes of CPU, once)" >&2
nice -n 19 go build -p 1 -tags selinux,notest -trimpath -ldflags "$LDF" -o "$OUT.tmp/kubelet" ./cmd/kubelet
"$OUT.tmp/kubelet" --version | grep -q 'v1.20.2' || { echo "node rig: kubelet --version is wrong" >&2; exit 1; }

# Images: pause from the source tree, busybox from busybox-static.
cd /
I="$W/img"
mkdir -p "$I/rootfs-pause" "$I/rootfs-busybox/bin" "$I/rootfs-busybox/etc" "$I/rootfs-busybox/tmp"
gcc -Os -Wall -Werror -static -DVERSION=v3.4.1-lab -o "$I/rootfs-pause/pause" "$SRC/build/pause/linux/pause.c"
strip "$I/rootfs-pause/pause"
cp /bin/busybox "$I/rootfs-busybox/bin/busybox"
for a in $("$I/rootfs-busybox/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$I/rootfs-busybox/bin/$a"; done
echo 'root:x:0:0:root:/:/bin/sh' > "$I/rootfs-busybox/etc/passwd"
echo 'root:x:0:' > "$I/rootfs-busybox/etc/group"
chmod 1777 "$I/rootfs-busybox/tmp"
MK="$REPO/test/lab/k3s/make-image.sh"
"$MK" k8s.gcr.io/pause:3.2 "$I/rootfs-pause" "$OUT.tmp/images/pause.tar" '["/pause"]' >&2
"$MK" lab.local/busybox:1.35 "$I/rootfs-busybox" "$OUT.tmp/images/busybox.tar" 'null' '["sh"]' >&2

rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
echo "$OUT" > "$CACHE/kubelet.current"
echo "node rig: built in $(( $(date +%s) - start )) s into $OUT" >&2
