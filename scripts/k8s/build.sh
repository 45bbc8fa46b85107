#!/usr/bin/env bash
# Builds kube-apiserver and helm from the Go module proxy (no release binaries are reachable here)
# and caches them; a second run returns at once. Used by scripts/services.sh (install, and the
# kube-apiserver service) and so by the test suite.
#
#   scripts/k8s/build.sh           builds what is missing; prints KUBE_APISERVER=<path> and HELM=<path>
#   scripts/k8s/build.sh --paths   prints the paths only (building nothing)
#
# Cache: $SWITCHYARD_CACHE/k8s (default ~/.cache/switchyard/k8s): k8s-<version>/kube-apiserver,
# helm-<version>/helm, and a generated Go module that requires k8s.io/kubernetes. The Go build and
# module caches (several GB) stay where Go keeps them; only the binaries need keeping for CI.
# Cold on 2 cores: kube-apiserver about 4 min, helm about 2 min (see docs/adr/0015).
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.32.13}
HELM_VERSION=${HELM_VERSION:-v3.19.5}
CACHE=${SWITCHYARD_CACHE:-$HOME/.cache/switchyard}/k8s
KUBE_DIR=$CACHE/k8s-$KUBE_VERSION
HELM_DIR=$CACHE/helm-$HELM_VERSION
# Kubernetes v1.N.M publishes its staging modules (k8s.io/api, client-go, ...) as v0.N.M.
STAGING=v0.${KUBE_VERSION#v1.}
MINOR=${KUBE_VERSION#v1.}; MINOR=${MINOR%%.*}

say() { echo "k8s-build: $*" >&2; }
die() { echo "k8s-build: $*" >&2; exit 1; }

paths() {
  echo "KUBE_APISERVER=$KUBE_DIR/kube-apiserver"
  echo "HELM=$HELM_DIR/helm"
}
if [[ ${1:-} == --paths ]]; then paths; exit 0; fi
# Built already (e.g. a restored CI cache): nothing to do, Go or not.
if [[ -x $KUBE_DIR/kube-apiserver && -x $HELM_DIR/helm ]]; then paths; exit 0; fi

command -v go >/dev/null || die "go is missing: install Go 1.23+ (https://go.dev/dl) to build kube-apiserver and helm"
mkdir -p "$KUBE_DIR/mod" "$HELM_DIR"
# One build at a time per cache (parallel test workers may all ask); a cold build takes minutes.
exec 9>"$CACHE/.lock"
flock -w 1200 9 || die "another build has held $CACHE/.lock for 20 minutes; is one stuck?"

export GO111MODULE=on GOWORK=off GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0

build_apiserver() {
  [[ -x $KUBE_DIR/kube-apiserver ]] && return 0
  local t0=$SECONDS info gomod staging m v
  say "building kube-apiserver $KUBE_VERSION from the Go module proxy (a few minutes, once)"
  info=$(timeout 600 go mod download -json "k8s.io/kubernetes@$KUBE_VERSION") || die "k8s.io/kubernetes@$KUBE_VERSION is not served by $(go env GOPROXY)"
  gomod=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' <<<"$info")
  [[ -f $gomod ]] || die "no go.mod for k8s.io/kubernetes@$KUBE_VERSION in the module cache"
  # k8s.io/kubernetes names its staging modules as v0.0.0 replaced by ./staging/...; as a
  # dependency those replaces do not apply, so point each at its published version.
  staging=$(sed -n 's#^[[:space:]]*\(k8s.io/[^[:space:]]*\) => ./staging/.*#\1#p' "$gomod" | sort -u)
  [[ -n $staging ]] || die "k8s.io/kubernetes@$KUBE_VERSION names no staging modules: unexpected go.mod"
  {
    printf 'module switchyard.local/k8s\n\ngo 1.23.0\n\ngodebug default=go1.23\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$KUBE_VERSION"
    while read -r m; do
      v=$STAGING
      # The module proxy refuses k8s.io/endpointslice@v0.32.13 (403); its v0.32.12 is served.
      [[ $m == k8s.io/endpointslice && $KUBE_VERSION == v1.32.13 ]] && v=v0.32.12
      printf '\t%s => %s %s\n' "$m" "$m" "$v"
    done <<<"$staging"
    printf ')\n'
  } >"$KUBE_DIR/mod/go.mod"
  # Without -X the binary reports v0.0.0-master, which clients (helm's kubeVersion checks) reject.
  local x="" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    x+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$MINOR -X $pkg.gitTreeState=clean"
  done
  (cd "$KUBE_DIR/mod" && timeout 1800 go build -trimpath -ldflags "-s -w$x" -o "$KUBE_DIR/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver) \
    || die "go build of kube-apiserver $KUBE_VERSION failed (see above)"
  mv -f "$KUBE_DIR/kube-apiserver.tmp" "$KUBE_DIR/kube-apiserver"
  say "kube-apiserver built in $((SECONDS - t0)) s"
}

build_helm() {
  [[ -x $HELM_DIR/helm ]] && return 0
  local t0=$SECONDS tmp
  say "building helm $HELM_VERSION from the Go module proxy (about 2 minutes, once)"
  tmp=$(mktemp -d "$CACHE/helm.XXXXXX")
  GOBIN=$tmp timeout 1200 go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" || { rm -rf "$tmp"; die "go install of helm $HELM_VERSION failed (see above)"; }
  mv -f "$tmp/helm" "$HELM_DIR/helm"
  rm -rf "$tmp"
  say "helm built in $((SECONDS - t0)) s"
}

build_apiserver
build_helm
paths
