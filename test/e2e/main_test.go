// Package e2e runs the built arcturus binary against a real kube-apiserver and
// etcd, and acts as its data plane: a plain ADS client (state-of-the-world and
// delta) and grpc-go's xDS client.
package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
	"github.com/arcturus-dev/arcturus/test/testenv"
)

var (
	// binary is the arcturus binary under test, built by TestMain.
	binary string
	// kubeconfig is an admin kubeconfig for the test API server.
	kubeconfig string
	// k8s is a client of the test API server.
	k8s client.Client
	// workDir holds the binary and kubeconfig.
	workDir string
	// kubectl is the kubectl built with the test API server.
	kubectl string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	workDir, err = os.MkdirTemp("", "arcturus-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(workDir)

	binary = filepath.Join(workDir, "arcturus")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Dir = testenv.RepoRoot()
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build arcturus:", err)
		return 1
	}

	assets, err := testenv.AssetsDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	kubectl = filepath.Join(assets, "kubectl")
	env, cfg, err := testenv.Start(testenv.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()

	user, err := env.AddUser(envtest.User{Name: "e2e-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	kc, err := user.KubeConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	kubeconfig = filepath.Join(workDir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(ourv1alpha1.AddToScheme(scheme))
	if k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// arcturus is one running controller process.
type arcturus struct {
	// XDSAddr is the host:port of its ADS server.
	XDSAddr string
	// MetricsAddr is the host:port of its Prometheus metrics endpoint.
	MetricsAddr string
	// ProbeAddr is the host:port of its /healthz and /readyz.
	ProbeAddr string
	// LogPath is the file its output goes to.
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{}
	once    sync.Once
}

// startArcturus runs the binary with the given extra flags and waits until it is
// ready (every existing resource indexed). It is stopped when the test ends.
func startArcturus(t *testing.T, args ...string) *arcturus {
	t.Helper()
	ports := freePorts(t, 3)
	a := &arcturus{XDSAddr: "127.0.0.1:" + ports[0], MetricsAddr: "127.0.0.1:" + ports[1], done: make(chan struct{})}
	probe := "127.0.0.1:" + ports[2]
	a.ProbeAddr = probe
	a.cmd = exec.Command(binary, append([]string{
		"controller",
		"--kubeconfig", kubeconfig,
		"--xds-bind-address", a.XDSAddr,
		"--metrics-bind-address", a.MetricsAddr,
		"--health-probe-bind-address", probe,
		"--enable-webhooks=false",
		"--zap-log-level", strconv.Itoa(logLevel()),
	}, args...)...)
	logFile, err := os.Create(filepath.Join(workDir, fmt.Sprintf("arcturus-%s-%s.log", filepath.Base(t.Name()), ports[0])))
	if err != nil {
		t.Fatal(err)
	}
	a.LogPath = logFile.Name()
	a.cmd.Stdout, a.cmd.Stderr = logFile, logFile
	if os.Getenv("ARCTURUS_E2E_LOG") != "" {
		a.cmd.Stdout, a.cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = a.cmd.Wait(); _ = logFile.Close(); close(a.done) }()
	t.Cleanup(func() {
		a.Stop()
		if t.Failed() {
			if b, err := os.ReadFile(logFile.Name()); err == nil {
				t.Logf("arcturus log:\n%s", b)
			}
		}
	})

	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + probe + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return a
			}
		}
		select {
		case <-a.done:
			t.Fatalf("arcturus exited before it was ready")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("arcturus not ready after 60s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop sends SIGTERM and waits for the process to exit.
func (a *arcturus) Stop() {
	a.once.Do(func() {
		_ = a.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-a.done:
		case <-time.After(20 * time.Second):
			_ = a.cmd.Process.Kill()
			<-a.done
		}
	})
}

// logLevel is the controller's log verbosity: ARCTURUS_E2E_V, default 1.
func logLevel() int {
	if n, err := strconv.Atoi(os.Getenv("ARCTURUS_E2E_V")); err == nil {
		return n
	}
	return 1
}

// freePorts reserves n free loopback ports.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var ports []string
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}

// testContext returns a context that ends with the test or after a minute.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
