#!/usr/bin/env bash
# The Kubernetes rig: a real kube-apiserver and kube-controller-manager (v1.20.2) built from
# Debian's `kubernetes` source package, plus Debian's etcd 3.4, for test/cluster and test/e2e.
# kubectl comes from the machine (/usr/bin/kubectl); Debian's kubernetes-client conflicts with it
# and is never installed. The binaries are built once into cache_dir, keyed by a hash of this
# recipe, in a .tmp folder renamed into place, so a change to the recipe rebuilds. When the
# binaries for the current hash exist this does nothing but record where they are.
#
# The build runs under `nice` with one Go build action at a time (`go build -p 1`) so a test run
# or other work beside it keeps the CPU it needs; it takes longer in wall time, once.
#
# Four things the build needs that the source package does not do by itself:
#  1. GOPATH mode (GO111MODULE=off, the tree linked at $GOPATH/src/k8s.io/kubernetes): module
#     mode stops with "updates to go.mod needed".
#  2. pkg/generated/openapi/zz_generated.openapi.go is absent from the tarball: generate it with
#     the vendored openapi-gen, over the same package list upstream's Makefile uses.
#  3. The vendored modern-go/reflect2 1.0.1 faults in mapiterinit under Go >= 1.18 on the first
#     custom-resource create: replace it with Debian's 1.0.2.
#  4. Version ldflags for both component-base/version and client-go/pkg/version, or /version
#     says v0.0.0 (and clients that check the server version get confused).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh

PKGVER="1.20.5+really1.20.2-1.1+deb12u1"
apt_need dpkg-dev golang-go etcd-server golang-github-modern-go-reflect2-dev openssl curl

CACHE=$(cache_dir)
HASH=$(sha256sum scripts/setup/40-k8s.sh | cut -c1-16)
OUT="$CACHE/k8s-$HASH"
if [ -x "$OUT/kube-apiserver" ] && [ -x "$OUT/kube-controller-manager" ]; then
  echo "$OUT" > "$CACHE/k8s.current"
  exit 0
fi

exec 9> "$CACHE/k8s.lock"
flock 9
if [ -x "$OUT/kube-apiserver" ]; then echo "$OUT" > "$CACHE/k8s.current"; exit 0; fi
start=$(date +%s)

# The source package needs a deb-src entry; add one for Debian's archive if there is none.
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
  CODENAME=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$CODENAME" "$CODENAME" > /etc/apt/sources.list.d/pi-controller-src.sources
  apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
fi

W="$OUT.work"
rm -rf "$W" "$OUT.tmp"
mkdir -p "$W" "$OUT.tmp"
trap 'rm -rf "$W"' EXIT
echo "k8s rig: apt-get source kubernetes=$PKGVER (about 34 MB)" >&2
(cd "$W" && { apt-get source -qq "kubernetes=$PKGVER" || apt-get source -qq kubernetes; } >/dev/null 2>&1)
SRC=$(ls -d "$W"/kubernetes-*/ 2>/dev/null | head -1)
[ -n "$SRC" ] || { echo "k8s rig: apt-get source kubernetes failed" >&2; exit 1; }

# Trap 3: reflect2 1.0.2 from Debian.
rm -rf "$SRC/vendor/github.com/modern-go/reflect2"
mkdir -p "$SRC/vendor/github.com/modern-go/reflect2"
cp -L /usr/share/gocode/src/github.com/modern-go/reflect2/*.go /usr/share/gocode/src/github.com/modern-go/reflect2/*.s \
  "$SRC/vendor/github.com/modern-go/reflect2/"

# Trap 1: GOPATH mode, offline.
export GOPATH="$W/gopath" GO111MODULE=off CGO_ENABLED=0 GOPROXY=off GOFLAGS= GOCACHE="$W/gocache"
mkdir -p "$GOPATH/src/k8s.io"
ln -sfn "$SRC" "$GOPATH/src/k8s.io/kubernetes"
cd "$GOPATH/src/k8s.io/kubernetes"

# Trap 2: the generated OpenAPI definitions.
echo "k8s rig: openapi-gen" >&2
nice -n 19 go build -p 1 -o "$W/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen
DIRS=$(find -H . \( -path './_*' -o -path './.*' -o -path ./vendor \) -prune -o -type f -name '*.go' -print \
  | sed 's|^./staging/src|vendor|; s|^\./||' | xargs grep -l '^// *+k8s:' | xargs grep -l '+k8s:openapi-gen=' \
  | xargs -n1 dirname | grep -v -E '^vendor/k8s.io/(code-generator|sample-apiserver)(/|$)' \
  | LC_ALL=C sort -u | sed 's|^|k8s.io/kubernetes/|' | paste -sd, -)
nice -n 19 "$W/openapi-gen" -i "$DIRS" -p k8s.io/kubernetes/pkg/generated/openapi -O zz_generated.openapi \
  -h vendor/k8s.io/code-generator/hack/boilerplate.go.txt -r "$W/openapi-violations.report" 2>/dev/null
[ -s pkg/generated/openapi/zz_generated.openapi.go ] || { echo "k8s rig: openapi-gen wrote nothing" >&2; exit 1; }

# Trap 4: version ldflags.
LDF="-s -w"
for P in k8s.io/kubernetes/vendor/k8s.io/component-base/version k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
  LDF="$LDF -X $P.gitVersion=v1.20.2 -X $P.gitMajor=1 -X $P.gitMinor=20 -X $P.gitTreeState=clean"
  LDF="$LDF -X $P.gitCommit=faecb196815e248d3ecfb03c680a4507229c2a56 -X $P.buildDate=2021-01-13T00:00:00Z"
done
for cmd in kube-apiserver kube-controller-manager; do
  echo "k8s rig: go build $cmd" >&2
  nice -n 19 go build -p 1 -tags selinux,notest -trimpath -ldflags "$LDF" -o "$OUT.tmp/$cmd" "./cmd/$cmd"
done
cd /
"$OUT.tmp/kube-apiserver" --version | grep -q 'v1.20.2' || { echo "k8s rig: kube-apiserver --version is wrong" >&2; exit 1; }
rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
echo "$OUT" > "$CACHE/k8s.current"
echo "k8s rig: built in $(( $(date +%s) - start )) s into $OUT" >&2
