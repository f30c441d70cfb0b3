# Build the arcturus binary.
FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
WORKDIR /workspace
ENV GOTOOLCHAIN=local
# Modules first: this layer stays cached until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
# Then the sources: the whole build context, which .dockerignore narrows to the Go
# packages (no tests, tools, manifests or bin/), so a new package needs no change
# here. `make docker-build-check` runs the go build below on the same context
# without docker (CI).
COPY . .
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} go build -trimpath -ldflags "-s -w" -o arcturus .

# A static binary on distroless, as a non-root user.
FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/arcturus .
USER 65532:65532
# The binary has subcommands (controller, proxy-status, config-dump, version); the
# default one runs the controller. Manifests that pass args name it first
# (`controller --leader-elect`); flags alone still start it, with a deprecation notice.
ENTRYPOINT ["/arcturus"]
CMD ["controller"]
