// Package testenv starts the real kube-apiserver and etcd that the tests run
// against, built from source by hack/build-kube-binaries.sh (cached under bin/).
package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// RepoRoot returns the repository root, found from this file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// AssetsDir returns the directory holding kube-apiserver, etcd and kubectl:
// $KUBEBUILDER_ASSETS when set, else what hack/build-kube-binaries.sh builds
// (minutes the first time; its progress goes to stderr).
func AssetsDir() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	cmd := exec.Command(filepath.Join(RepoRoot(), "hack", "build-kube-binaries.sh"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build kube binaries: %w", err)
	}
	return strings.TrimSpace(out.String()), nil
}

// Options select what the test API server gets installed besides the CRDs.
type Options struct {
	// Webhooks installs config/webhook's ValidatingWebhookConfiguration, pointed
	// at a local port (env.WebhookInstallOptions) where the test serves it.
	Webhooks bool
	// StateDir, when set, keeps the API server's certificates and etcd's data
	// there, so that a test can stop and start them again (env.ControlPlane)
	// with clients still trusting the server and no data lost.
	StateDir string
}

// Start starts an API server with the Arcturus CRDs installed. Callers must Stop it.
func Start(opts Options) (*envtest.Environment, *rest.Config, error) {
	dir, err := AssetsDir()
	if err != nil {
		return nil, nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: dir,
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	if opts.StateDir != "" {
		certs, data := filepath.Join(opts.StateDir, "apiserver"), filepath.Join(opts.StateDir, "etcd")
		for _, d := range []string{certs, data} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				return nil, nil, err
			}
		}
		// A stop is an outage: a second, then SIGKILL (Stop then reports a timeout).
		env.ControlPlane.APIServer = &envtest.APIServer{CertDir: certs, StopTimeout: time.Second}
		env.ControlPlane.Etcd = &envtest.Etcd{DataDir: data}
	}
	if opts.Webhooks {
		env.WebhookInstallOptions = envtest.WebhookInstallOptions{
			Paths:                    []string{filepath.Join(RepoRoot(), "config", "webhook")},
			IgnoreErrorIfPathMissing: false,
		}
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, nil, fmt.Errorf("start envtest: %w", err)
	}
	return env, cfg, nil
}
