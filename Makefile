# Arcturus — an Envoy control plane that serves raw Envoy v3 configuration from
# Kubernetes custom resources over ADS.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
export GOTOOLCHAIN := local

LOCALBIN ?= $(shell pwd)/bin
CONTROLLER_TOOLS_VERSION ?= v0.23.0
CONTROLLER_GEN ?= $(LOCALBIN)/tools/controller-gen-$(CONTROLLER_TOOLS_VERSION)/controller-gen
# Fuzz time per target in `make test` (CI); raise it locally for deeper runs.
FUZZTIME ?= 20s

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate CRDs, RBAC and webhook manifests into config/ (and the chart's crds/).
	$(CONTROLLER_GEN) rbac:roleName=arcturus-manager crd webhook paths="./api/...;./controllers/...;./internal/..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac output:webhook:artifacts:config=config/webhook
	@mkdir -p charts/arcturus/crds && cp config/crd/bases/*.yaml charts/arcturus/crds/

.PHONY: generate
generate: controller-gen ## Generate deepcopy code and the Envoy extension imports.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."
	go run ./hack/gen-extensions

.PHONY: fmt
fmt: ## Run gofmt over the tree.
	gofmt -l -w $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bin/*')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: verify
verify: manifests generate fmt ## Regenerate everything and fail if the tree changed.
	@git diff --exit-code -- . ':!go.sum' || { echo "generated files are out of date: run make manifests generate fmt"; exit 1; }

.PHONY: kube-binaries
kube-binaries: ## Build kube-apiserver, etcd and kubectl from source into bin/k8s/ (first time: minutes).
	@hack/build-kube-binaries.sh >/dev/null

.PHONY: test
test: manifests generate fmt vet kube-binaries helm kustomize ## Run unit, envtest, e2e tests and short fuzzing.
	KUBEBUILDER_ASSETS="$$(hack/build-kube-binaries.sh)" go test ./... -count=1 -timeout 20m
	go test ./xds/translate -run '^$$' -fuzz '^FuzzTranslate$$' -fuzztime $(FUZZTIME)
	go test ./xds/translate -run '^$$' -fuzz '^FuzzReferences$$' -fuzztime $(FUZZTIME)

.PHONY: bench
bench: kube-binaries ## Run the fleet-scale load harness (test/load, defaults: 1000 pods, R500, all scenarios); JSON in bin/bench/results.json. Extra flags: BENCH_ARGS.
	@mkdir -p $(LOCALBIN)/bench
	KUBEBUILDER_ASSETS="$$(hack/build-kube-binaries.sh)" go run ./test/load -json $(LOCALBIN)/bench/results.json $(BENCH_ARGS)

##@ Build

.PHONY: build
build: ## Build the arcturus binary into bin/arcturus.
	@# The same flags as the test builds (go test, test/e2e, test/load), so they
	@# share one build cache: make dev or make build after make test compiles little.
	@# Release images build static and -trimpath in the Dockerfile.
	go build -o $(LOCALBIN)/arcturus .

.PHONY: run
run: ## Run the controller against the cluster of $KUBECONFIG.
	go run . $(ARGS)

.PHONY: dev
dev: build kube-binaries ## Start a local API server, install CRDs and samples, and run the controller.
	go build -o $(LOCALBIN)/dev/arcturus-dev ./hack/dev && $(LOCALBIN)/dev/arcturus-dev

.PHONY: docker-build
docker-build: ## Build the container image (needs a container engine).
	docker build -t $${IMG:-arcturus:dev} .

##@ Deployment

.PHONY: install
install: manifests ## Install the CRDs into the cluster of $KUBECONFIG.
	kubectl apply --server-side -f config/crd/bases

.PHONY: deploy
deploy: manifests ## Deploy the controller with kustomize (config/default).
	kubectl apply --server-side -k config/default

.PHONY: undeploy
undeploy: ## Remove the controller deployed by make deploy.
	kubectl delete -k config/default --ignore-not-found

##@ Tools

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Install controller-gen into bin/.
$(CONTROLLER_GEN):
	GOBIN=$(dir $(CONTROLLER_GEN)) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)

# helm and kustomize, for the chart and the overlays (test/deploy renders and
# dry-runs them). Built from source through the Go module proxy, each with its own
# go.mod (go install pkg@version), into a versioned directory.
HELM_VERSION ?= v4.3.1
HELM ?= $(LOCALBIN)/tools/helm-$(HELM_VERSION)/helm
KUSTOMIZE_VERSION ?= v5.8.2
KUSTOMIZE ?= $(LOCALBIN)/tools/kustomize-$(KUSTOMIZE_VERSION)/kustomize

.PHONY: helm
helm: $(HELM) ## Install helm into bin/tools/ (first time: ~3 minutes on 2 cores).
$(HELM):
	@echo "Building helm $(HELM_VERSION) into $(dir $(HELM)) (first time: a few minutes)..." >&2
	GOBIN=$(LOCALBIN)/tools/helm-$(HELM_VERSION) go install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)

.PHONY: kustomize
kustomize: $(KUSTOMIZE) ## Install kustomize into bin/tools/.
$(KUSTOMIZE):
	@echo "Building kustomize $(KUSTOMIZE_VERSION) into $(dir $(KUSTOMIZE))..." >&2
	GOBIN=$(LOCALBIN)/tools/kustomize-$(KUSTOMIZE_VERSION) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

.PHONY: tool-paths
tool-paths: helm kustomize ## Build helm and kustomize if missing and print HELM=<path> and KUSTOMIZE=<path>.
	@echo "HELM=$(HELM)"
	@echo "KUSTOMIZE=$(KUSTOMIZE)"

##@ Deployment checks

.PHONY: test-deploy
test-deploy: helm kustomize kube-binaries ## Lint and render the chart and overlays, dry-run them against a test API server.
	KUBEBUILDER_ASSETS="$$(hack/build-kube-binaries.sh)" go test ./test/deploy -count=1 -v

.PHONY: docker-build-check
docker-build-check: ## Run the Dockerfile's go build on its build context (.dockerignore applied), without docker.
	go run ./hack/docker-build-check
