// Package deploy checks what users deploy Arcturus with, the way CI can: the Helm
// chart (charts/arcturus: helm lint, helm template with the default values and every
// charts/arcturus/ci/*-values.yaml), the kustomize trees (config/default, with the
// cert-manager component, and every config/overlays/*) and the Envoy examples
// (config/samples/envoy-gateway, with its mtls component).
//
// Every rendered object is applied with a server-side dry run (kubectl apply
// --server-side --dry-run=server --validate=strict) to a real kube-apiserver
// (envtest) that has the Arcturus CRDs, the real cert-manager and Prometheus Operator
// CRDs (from those projects' Go modules at pinned versions, see thirdPartyCRDs:
// `go mod download -json` finds them in the module cache, fetching them the first
// time) and namespaces labelled for the "restricted" Pod Security
// Standard in warn mode: schema errors, unknown fields and Pod Security violations
// all fail the test. Besides that, the tests check what a dry run cannot: the chart's
// RBAC and webhooks equal the ones controller-gen generates into config/, no RBAC
// rule uses a wildcard, every controller argument parses with main.go's flags, and
// the Envoy bootstraps and Envoy resources of the examples pass the controller's own
// translator (strict proto3 JSON, Envoy's validation rules).
//
// helm and kustomize are built when missing (make tool-paths: bin/tools/); the
// kube-apiserver, etcd and kubectl come from hack/build-kube-binaries.sh.
package deploy
