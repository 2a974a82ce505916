#!/usr/bin/env bash
# Build the tests/kube control plane (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, etcd, kwok) from the Go module proxy into a cache outside the
# clone, once per machine: a stamp of every input makes a second run instant. kwokctl is
# left out: the suite starts every component itself, and kwokctl's container-runtime
# dependencies cost build time for nothing.
# The machine has 2 shared cores, so the build runs at the lowest priority; -trimpath and
# -s -w keep the binaries small, and the four Kubernetes programs are built by one `go
# build` so their shared packages compile once.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=/dev/null
source "$here/versions.env"

if ! command -v go >/dev/null; then
    echo "control plane not built: no Go toolchain; the tests/kube suite will skip. Install Go and run \`make k8s\`." >&2
    exit 0
fi

out="${DOME_K8S_CACHE:-$HOME/.cache/dome/k8s}/$KUBE_VERSION"
bin="$out/bin"
stamp="$bin/.stamp"
inputs="$(cd "$here" && cat build.sh versions.env controlplane/go.mod controlplane/go.sum \
    etcd/go.mod etcd/go.sum etcd/main.go; go version)"
want="$(printf '%s' "$inputs" | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    exit 0
fi

# From empty, so nothing a previous pin built (or left half-written) survives.
rm -rf "$bin"
mkdir -p "$bin"
log="$out/build.log"
: >"$log"
echo "building the control plane ($KUBE_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION) into $bin; log: $log" >&2
step() {
    local name="$1"
    shift
    local start=$SECONDS
    if ! nice -n 19 "$@" >>"$log" 2>&1; then
        echo "$name: build failed; the last lines of $log:" >&2
        tail -n 30 "$log" >&2
        exit 1
    fi
    echo "  $name: $((SECONDS - start)) s" >&2
}

# What hack/lib/version.sh stamps into a release build, so `--version` says the release.
minor="${KUBE_VERSION#v1.}"
minor="${minor%%.*}"
version_flags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    version_flags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    version_flags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit=module-k8s.io/kubernetes@$KUBE_VERSION"
done

export CGO_ENABLED=0 GOFLAGS=-mod=readonly
cd "$here/controlplane"
step "kube-apiserver, kube-controller-manager, kube-scheduler, kubectl" \
    go build -trimpath -ldflags="-s -w$version_flags" -o "$bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
cd "$here/etcd"
step "etcd" go build -trimpath -ldflags="-s -w" -o "$bin/etcd" .
cd "$here"
step "kwok" env GOBIN="$bin" GOFLAGS= go install -trimpath -ldflags="-s -w" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"

# KWOK's own fast node and pod stages, from the module just built, for `kwok --config`:
# without stages KWOK manages nothing.
stages="$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage"
for file in "$stages"/node/fast/*.yaml "$stages"/pod/fast/*.yaml; do
    [[ "$(basename "$file")" == kustomization.yaml ]] && continue
    printf -- '---\n'
    cat "$file"
done >"$bin/kwok-stages.yaml"

"$bin/kube-apiserver" --version | grep -qx "Kubernetes $KUBE_VERSION" || {
    echo "kube-apiserver --version does not report $KUBE_VERSION" >&2
    exit 1
}
echo "$want" >"$stamp"
du -sh "$bin" >&2
