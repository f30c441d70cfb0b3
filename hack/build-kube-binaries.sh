#!/usr/bin/env bash
# Builds the kube-apiserver, etcd and kubectl binaries that envtest, `make dev`
# and the e2e tests run, from source through the Go module proxy. No other way to
# get them exists on our build machines. Results are cached under bin/k8s/<version>/
# and reused until the Kubernetes version (derived from go.mod's k8s.io/client-go)
# changes. The first build takes several minutes on 2 cores.
#
# Usage: hack/build-kube-binaries.sh            # prints the asset directory on stdout
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

log() { echo "[build-kube-binaries] $*" >&2; }

# k8s.io/client-go v0.X.Y ships with Kubernetes v1.X.Y. The module proxy does not
# serve every k8s.io/kubernetes release (some zips are refused), so fall back to the
# newest earlier patch release of the same minor that it does serve.
CLIENT_GO="$(go list -m -f '{{.Version}}' k8s.io/client-go)"
MINOR="${CLIENT_GO#v0.}"; MINOR="${MINOR%%.*}"
PATCH="${CLIENT_GO##*.}"

for ((p = PATCH; p >= 0; p--)); do
  candidate="v1.${MINOR}.${p}"
  if [[ -x "${ROOT}/bin/k8s/${candidate}/kube-apiserver" && -x "${ROOT}/bin/k8s/${candidate}/etcd" && -x "${ROOT}/bin/k8s/${candidate}/kubectl" ]]; then
    echo "${ROOT}/bin/k8s/${candidate}"
    exit 0
  fi
done
KUBE_VERSION=""
for ((p = PATCH; p >= 0; p--)); do
  candidate="v1.${MINOR}.${p}"
  log "Checking that the module proxy serves k8s.io/kubernetes@${candidate}..."
  if go mod download -json "k8s.io/kubernetes@${candidate}" | grep -q '"Zip"'; then
    KUBE_VERSION="${candidate}"
    break
  fi
done
if [[ -z "${KUBE_VERSION}" ]]; then
  log "no k8s.io/kubernetes v1.${MINOR}.x source is available through the module proxy"
  exit 1
fi
STAGING_VERSION="v0.${KUBE_VERSION#v1.}"
ASSETS="${ROOT}/bin/k8s/${KUBE_VERSION}"
WORK="${ROOT}/bin/.build/kube-${KUBE_VERSION}"

mkdir -p "${ASSETS}" "${WORK}"

# kube-apiserver and kubectl: k8s.io/kubernetes refers to its staging modules as
# v0.0.0 with a replace to ./staging; outside its repo those must point at the
# published v0.X.Y tags instead.
if [[ ! -x "${ASSETS}/kube-apiserver" || ! -x "${ASSETS}/kubectl" ]]; then
  log "Building kube-apiserver and kubectl ${KUBE_VERSION} from source (first time: about 10 minutes on 2 idle cores, more when they are busy)..."
  mkdir -p "${WORK}/kube"
  cd "${WORK}/kube"
  rm -f go.mod go.sum
  go mod init arcturus.local/kube-binaries >/dev/null 2>&1
  KMOD="$(go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  replaces=()
  while read -r mod; do
    replaces+=("-replace=${mod}=${mod}@${STAGING_VERSION}")
  done < <(awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" {print $1}' "${KMOD}" | sort -u)
  log "  pinning ${#replaces[@]} staging modules to ${STAGING_VERSION}"
  go mod edit "${replaces[@]}" -require="k8s.io/kubernetes@${KUBE_VERSION}"
  cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  log "  resolving dependencies (downloads a few hundred MB the first time)"
  go mod tidy >/dev/null 2>&1 || go mod tidy
  log "  compiling kube-apiserver"
  go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=${KUBE_VERSION} -X k8s.io/client-go/pkg/version.gitVersion=${KUBE_VERSION}" \
    -o "${ASSETS}/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
  log "  compiling kubectl"
  go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=${KUBE_VERSION} -X k8s.io/client-go/pkg/version.gitVersion=${KUBE_VERSION}" \
    -o "${ASSETS}/kubectl" k8s.io/kubernetes/cmd/kubectl
  cd "${ROOT}"
fi

# etcd: the server version Kubernetes itself depends on.
if [[ ! -x "${ASSETS}/etcd" ]]; then
  KMOD="$(go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  ETCD_VERSION="$(awk '$1 == "go.etcd.io/etcd/server/v3" {print $2}' "${KMOD}")"
  log "Building etcd ${ETCD_VERSION} from source..."
  mkdir -p "${WORK}/etcd"
  cd "${WORK}/etcd"
  rm -f go.mod go.sum
  go mod init arcturus.local/etcd-binary >/dev/null 2>&1
  go mod edit -require="go.etcd.io/etcd/server/v3@${ETCD_VERSION}"
  cat > tools.go <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
  go mod tidy >/dev/null 2>&1 || go mod tidy
  go build -trimpath -ldflags "-s -w" -o "${ASSETS}/etcd" go.etcd.io/etcd/server/v3
  cd "${ROOT}"
fi

log "Kubernetes test binaries ready in ${ASSETS}"
echo "${ASSETS}"
