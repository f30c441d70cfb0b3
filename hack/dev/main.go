//go:build unix

// Command dev runs Arcturus on a machine with no cluster (`make dev`). It starts a
// local kube-apiserver and etcd (envtest, binaries from hack/build-kube-binaries.sh)
// with the Arcturus CRDs, creates a demo Pod that looks like a running Envoy gateway,
// applies config/samples/, runs bin/arcturus against it and prints how to connect.
// Ctrl-C stops the controller first, then the API server and etcd.
//
// Usage (from the repository root, after `make build kube-binaries`):
//
//	go run ./hack/dev [flags] [-- extra bin/arcturus flags]
//
// The bind addresses default to $ARCTURUS_XDS_ADDR, $ARCTURUS_METRICS_ADDR and
// $ARCTURUS_PROBE_ADDR, else to the controller's own defaults.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Paths are relative to the repository root, where run changes directory to.
const (
	kubeconfigPath = "bin/dev/kubeconfig"
	arcturusPath   = "bin/arcturus"
	crdDir         = "config/crd/bases"
	samplesDir     = "config/samples"
	bootstrapPath  = "docs/envoy-bootstrap.yaml"
	kubeBinScript  = "hack/build-kube-binaries.sh"

	// The demo pod the samples select (app=demo-gateway); its node ID is what an
	// Envoy started with docs/envoy-bootstrap.yaml announces.
	podNamespace = "default"
	podName      = "demo-gateway-0"
	podIP        = "127.0.0.1"

	readyTimeout = 2 * time.Minute
	// Longer than the controller's own graceful shutdown timeout (15s).
	controllerStopTimeout = 30 * time.Second
)

// options are the bind addresses handed to the controller, plus any extra flags.
type options struct {
	xdsAddr, metricsAddr, probeAddr string
	extraArgs                       []string
}

func main() {
	o := parseFlags()
	// A terminal's Ctrl-C reaches this process but not its children: the
	// controller, the API server and etcd run in their own process groups, so
	// they stop in the order run decides.
	// The handler stays installed until exit, so a second Ctrl-C cannot cut the
	// shutdown short and leave an API server or etcd behind.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	err := run(ctx, o)
	if err != nil && !(errors.Is(err, context.Canceled) && ctx.Err() != nil) {
		fmt.Fprintln(os.Stderr, "dev:", err)
		stop()
		os.Exit(1)
	}
}

func parseFlags() options {
	var o options
	// Its own FlagSet: controller-runtime registers --kubeconfig on the global one,
	// which means nothing here (the dev API server is the cluster).
	fs := flag.NewFlagSet("dev", flag.ExitOnError)
	fs.StringVar(&o.xdsAddr, "xds-bind-address", envOr("ARCTURUS_XDS_ADDR", ":18000"), "gRPC ADS address of the controller ($ARCTURUS_XDS_ADDR).")
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", envOr("ARCTURUS_METRICS_ADDR", ":8080"), "Metrics address of the controller; 0 disables ($ARCTURUS_METRICS_ADDR).")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", envOr("ARCTURUS_PROBE_ADDR", ":8081"), "Health probe address of the controller ($ARCTURUS_PROBE_ADDR).")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./hack/dev [flags] [-- extra bin/arcturus flags]\n")
		fs.PrintDefaults()
	}
	_ = fs.Parse(os.Args[1:]) // ExitOnError: never returns an error
	o.extraArgs = fs.Args()
	return o
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// run brings the environment up, waits for a signal or for the controller to
// exit, and tears everything down in reverse order through its defers.
func run(ctx context.Context, o options) (err error) {
	if err := chdirToRepoRoot(); err != nil {
		return err
	}
	if _, err := os.Stat(arcturusPath); err != nil {
		return fmt.Errorf("%s is missing (run `make build` first): %w", arcturusPath, err)
	}
	assets, err := kubeBinaries(ctx)
	if err != nil {
		return err
	}

	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{crdDir},
		ErrorIfCRDPathMissing: true,
		// envtest's 20s default is tight for a cold first start on a small machine.
		ControlPlaneStartTimeout: time.Minute,
	}
	logf("Starting kube-apiserver and etcd from %s...", assets)
	restConfig, err := env.Start()
	if err != nil {
		// Start may have launched etcd before failing; do not leave it running.
		_ = env.Stop()
		return fmt.Errorf("start kube-apiserver and etcd: %w", err)
	}
	defer func() {
		logf("Stopping kube-apiserver and etcd...")
		if stopErr := env.Stop(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("stop kube-apiserver and etcd: %w", stopErr))
		}
	}()

	kubeconfig, err := writeKubeconfig(env)
	if err != nil {
		return err
	}
	if err := createDemoPod(ctx, restConfig); err != nil {
		return err
	}
	if err := applySamples(ctx, filepath.Join(assets, "kubectl")); err != nil {
		return err
	}

	ctrl, err := startController(o, kubeconfig)
	if err != nil {
		return err
	}
	defer func() {
		if stopErr := ctrl.stop(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
	}()
	if err := waitReady(ctx, "http://"+dialAddr(o.probeAddr)+"/readyz", ctrl); err != nil {
		return err
	}

	printBanner(o, kubeconfig, assets)

	select {
	case <-ctx.Done():
		logf("Shutting down...")
		return nil
	case <-ctrl.done:
		return fmt.Errorf("arcturus exited on its own: %v", ctrl.err)
	}
}

// chdirToRepoRoot makes every relative path above work wherever `go run` was
// started inside the repository.
func chdirToRepoRoot() error {
	dir, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("get working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, kubeBinScript)); err == nil {
				return os.Chdir(dir)
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return errors.New("run this from inside the Arcturus repository")
		}
		dir = parent
	}
}

// kubeBinaries returns the directory holding kube-apiserver, etcd and kubectl. The
// script builds them from source the first time (minutes) and is a cache lookup
// afterwards; its progress goes to stderr, its result to stdout.
func kubeBinaries(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, "./"+kubeBinScript)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w", kubeBinScript, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	dir := lines[len(lines)-1]
	for _, bin := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("%s printed %q, which has no %s: %w", kubeBinScript, dir, bin, err)
		}
	}
	return dir, nil
}

// writeKubeconfig provisions a cluster-admin user and writes its kubeconfig, for
// the controller, kubectl and anything else the developer runs.
func writeKubeconfig(env *envtest.Environment) (string, error) {
	user, err := env.AddUser(envtest.User{Name: "dev-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", fmt.Errorf("add admin user: %w", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return "", fmt.Errorf("render admin kubeconfig: %w", err)
	}
	path, err := filepath.Abs(kubeconfigPath)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	// It holds the admin's client key.
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return "", fmt.Errorf("write kubeconfig: %w", err)
	}
	return path, nil
}

// createDemoPod creates the pod the samples select. No kubelet exists to run it,
// so its status is set by hand to what a running Envoy pod reports: the
// controller only reads labels, phase and IP.
func createDemoPod(ctx context.Context, restConfig *rest.Config) error {
	clients, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return fmt.Errorf("create Kubernetes client: %w", err)
	}
	pods := clients.CoreV1().Pods(podNamespace)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      podName,
			Namespace: podNamespace,
			Labels:    map[string]string{"app": "demo-gateway"},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:  "envoy",
				Image: "envoyproxy/envoy", // never pulled: no kubelet runs here
				Args:  []string{"-c", "/etc/envoy/envoy.yaml", "--service-node", podName + "." + podNamespace},
			}},
		},
	}
	pod, err = pods.Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create pod %s/%s: %w", podNamespace, podName, err)
	}

	now := metav1.Now()
	pod.Status = corev1.PodStatus{
		Phase:     corev1.PodRunning,
		PodIP:     podIP,
		PodIPs:    []corev1.PodIP{{IP: podIP}},
		HostIP:    podIP,
		HostIPs:   []corev1.HostIP{{IP: podIP}},
		StartTime: &now,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		},
		ContainerStatuses: []corev1.ContainerStatus{{
			Name:    pod.Spec.Containers[0].Name,
			Image:   pod.Spec.Containers[0].Image,
			Ready:   true,
			Started: ptr.To(true),
			State:   corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		}},
	}
	if _, err := pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("set status of pod %s/%s: %w", podNamespace, podName, err)
	}
	logf("Created pod %s/%s (app=demo-gateway, Running, IP %s)", podNamespace, podName, podIP)
	return nil
}

// applySamples installs config/samples/ the way a user would, with kubectl and
// kustomize, so the dev setup also exercises the samples' manifests.
func applySamples(ctx context.Context, kubectl string) error {
	cmd := exec.CommandContext(ctx, kubectl, "--kubeconfig", kubeconfigPath, "apply", "-k", samplesDir)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kubectl apply -k %s: %w", samplesDir, err)
	}
	return nil
}

// controller is the running bin/arcturus child process.
type controller struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited; err is set then
	err  error
}

func startController(o options, kubeconfig string) (*controller, error) {
	args := []string{
		"--kubeconfig", kubeconfig,
		"--xds-bind-address", o.xdsAddr,
		"--metrics-bind-address", o.metricsAddr,
		"--health-probe-bind-address", o.probeAddr,
		// No webhook configuration or serving certificate exists in the dev API
		// server; the controller still validates every CR and reports it in status.
		"--enable-webhooks=false",
	}
	args = append(args, o.extraArgs...)
	cmd := exec.Command(arcturusPath, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	// Its own process group: a terminal's Ctrl-C must not stop it before we do.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logf("Starting %s %s", arcturusPath, strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", arcturusPath, err)
	}
	c := &controller{cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// stop asks the controller to shut down gracefully and kills it if it does not.
func (c *controller) stop() error {
	select {
	case <-c.done:
		return nil // it already exited; run reports why
	default:
	}
	logf("Stopping arcturus...")
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("signal arcturus: %w", err)
	}
	select {
	case <-c.done:
		return nil
	case <-time.After(controllerStopTimeout):
		_ = c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("arcturus did not stop within %s; killed it", controllerStopTimeout)
	}
}

// waitReady polls the controller's /readyz, which answers 200 once every existing
// pod and CR is indexed, i.e. once the samples are being served.
func waitReady(ctx context.Context, url string, c *controller) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.After(readyTimeout)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return fmt.Errorf("arcturus exited before it became ready: %v", c.err)
		case <-deadline:
			return fmt.Errorf("arcturus not ready at %s after %s", url, readyTimeout)
		case <-tick.C:
		}
	}
}

// dialAddr turns a bind address such as ":18000" into one a client can dial.
func dialAddr(bind string) string {
	host, port, err := net.SplitHostPort(bind)
	if err != nil {
		return bind
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func printBanner(o options, kubeconfig, assets string) {
	metrics := "disabled"
	if o.metricsAddr != "0" {
		metrics = "http://" + dialAddr(o.metricsAddr) + "/metrics"
	}
	fmt.Printf(`
================================================================================
 Arcturus dev environment is running. Ctrl-C stops it.

 kubeconfig   %[1]s
                export KUBECONFIG=%[1]s
                export PATH=%[2]s:$PATH   # kubectl for this API server
 ADS (gRPC)   %[3]s
 Envoy node   %[4]s.%[5]s   (pod %[5]s/%[4]s, app=demo-gateway, IP %[6]s)
 bootstrap    %[7]s   (envoy -c %[7]s)
 metrics      %[8]s
 readyz       http://%[9]s/readyz

 Try:
   kubectl get envoy
   kubectl get clusters.envoy.arcturus.dev -o yaml
   kubectl edit routes.envoy.arcturus.dev demo-routes
================================================================================

`, kubeconfig, assets, dialAddr(o.xdsAddr), podName, podNamespace, podIP,
		bootstrapPath, metrics, dialAddr(o.probeAddr))
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[dev] "+format+"\n", args...)
}
