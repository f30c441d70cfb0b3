//go:build unix

// Command dev runs Arcturus on a machine with no cluster (`make dev`). It starts a
// local kube-apiserver and etcd (envtest, binaries from hack/build-kube-binaries.sh)
// with the Arcturus CRDs, creates a demo Pod that looks like a running Envoy gateway,
// registers the validating admission webhook (config/webhook/manifests.yaml, called
// at https://127.0.0.1:<webhook port>), runs bin/arcturus against it, applies
// config/samples/ through the webhook once the controller is ready and prints how
// to connect. Ctrl-C stops the controller first, then the API server and etcd.
//
// The webhook's serving certificate is the controller's own (its built-in mode):
// it creates the CA and certificate in the Secret arcturus-webhook-cert of
// arcturus-system, writes them into bin/dev/webhook-certs and injects the CA into
// the ValidatingWebhookConfiguration arcturus-validating-webhook; the certificate
// also names 127.0.0.1, which is how this API server reaches the webhook.
//
// Usage (from the repository root, after `make build kube-binaries`):
//
//	go run ./hack/dev [flags] [-- extra bin/arcturus flags]
//
// The bind addresses default to $ARCTURUS_XDS_ADDR, $ARCTURUS_METRICS_ADDR,
// $ARCTURUS_PROBE_ADDR and $ARCTURUS_WEBHOOK_PORT, else to the controller's own
// defaults. With `-- --enable-webhooks=false` no webhook is registered, and the
// controller still validates every CR and reports it in status.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
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
	// The generated webhook configuration, and where the controller writes the
	// webhook's serving certificate.
	webhookManifest = "config/webhook/manifests.yaml"
	webhookCertDir  = "bin/dev/webhook-certs"

	// What config/webhook and config/manager deploy, and the defaults of the
	// controller's --pod-namespace and --webhook-config-name.
	controllerNamespace = "arcturus-system"
	webhookConfigName   = "arcturus-validating-webhook"
	// The API server calls the webhook here; the serving certificate names it
	// (--webhook-cert-extra-sans).
	webhookHost = "127.0.0.1"

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
	webhookPort                     int
	extraArgs                       []string
}

// webhooks reports whether the controller serves the validating webhook: yes,
// unless the extra flags say --enable-webhooks=false (the last one counts).
func (o options) webhooks() bool {
	enabled := true
	for _, arg := range o.extraArgs {
		name, value, ok := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if name != "enable-webhooks" || !strings.HasPrefix(arg, "-") {
			continue
		}
		if !ok {
			enabled = true // a bare boolean flag means true
		} else if b, err := strconv.ParseBool(value); err == nil {
			enabled = b
		}
	}
	return enabled
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
	defaultWebhookPort, err := strconv.Atoi(envOr("ARCTURUS_WEBHOOK_PORT", "9443"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "dev: $ARCTURUS_WEBHOOK_PORT: %v\n", err)
		os.Exit(2)
	}
	fs.IntVar(&o.webhookPort, "webhook-port", defaultWebhookPort, "Port of the controller's validating webhook, called at https://"+webhookHost+":<port> ($ARCTURUS_WEBHOOK_PORT).")
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
	// Registered before the controller starts: its built-in certificate mode
	// injects the CA bundle into this configuration.
	if o.webhooks() {
		if err := registerWebhook(ctx, restConfig, o.webhookPort); err != nil {
			return err
		}
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
	// With failurePolicy Ignore the API server admits everything while it cannot
	// call the webhook (the CA bundle is injected shortly after the controller
	// starts), so make sure the webhook answers before the samples go through it.
	if o.webhooks() {
		if err := waitWebhook(ctx, restConfig, ctrl); err != nil {
			return err
		}
	}
	kubectl := filepath.Join(assets, "kubectl")
	if err := applySamples(ctx, kubectl, o.webhooks()); err != nil {
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

// registerWebhook creates the controller's namespace and the
// ValidatingWebhookConfiguration the deployment installs (config/webhook),
// except that each webhook calls https://127.0.0.1:<port><path> instead of the
// in-cluster Service, which does not exist here. Its caBundle is left empty for
// the controller to inject.
func registerWebhook(ctx context.Context, restConfig *rest.Config, port int) error {
	vwc, err := webhookConfiguration(port)
	if err != nil {
		return err
	}
	clients, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return fmt.Errorf("create Kubernetes client: %w", err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controllerNamespace}}
	if _, err := clients.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create namespace %s: %w", controllerNamespace, err)
	}
	if _, err := clients.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, vwc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create ValidatingWebhookConfiguration %s: %w", webhookConfigName, err)
	}
	logf("Created ValidatingWebhookConfiguration %s (%d webhooks at https://%s)", webhookConfigName,
		len(vwc.Webhooks), net.JoinHostPort(webhookHost, strconv.Itoa(port)))
	return nil
}

// webhookConfiguration reads the generated webhook configuration and points it
// at the controller running on this machine; rules, failurePolicy, timeouts
// and the rest stay as generated.
func webhookConfiguration(port int) (*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	f, err := os.Open(webhookManifest)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		var vwc admissionregistrationv1.ValidatingWebhookConfiguration
		if err := dec.Decode(&vwc); errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s holds no ValidatingWebhookConfiguration", webhookManifest)
		} else if err != nil {
			return nil, fmt.Errorf("decode %s: %w", webhookManifest, err)
		}
		if vwc.Kind != "ValidatingWebhookConfiguration" {
			continue // an empty document, or another kind
		}
		vwc.ObjectMeta = metav1.ObjectMeta{Name: webhookConfigName}
		for i := range vwc.Webhooks {
			cc := &vwc.Webhooks[i].ClientConfig
			path := "/"
			if cc.Service != nil && cc.Service.Path != nil {
				path = *cc.Service.Path
			}
			cc.Service, cc.CABundle = nil, nil
			cc.URL = ptr.To("https://" + net.JoinHostPort(webhookHost, strconv.Itoa(port)) + path)
		}
		if len(vwc.Webhooks) == 0 {
			return nil, fmt.Errorf("%s: %s has no webhooks", webhookManifest, vwc.Kind)
		}
		return &vwc, nil
	}
}

// invalidCluster is a Cluster with a misspelt field (conect_timeout), which the
// webhook refuses; the banner shows it, and waitWebhook dry-runs it.
const invalidCluster = `{"apiVersion":"envoy.arcturus.dev/v1alpha1","kind":"Cluster",` +
	`"metadata":{"name":"typo"},"spec":{"config":{"name":"typo","conect_timeout":"1s"}}}`

// waitWebhook dry-runs the creation of invalidCluster until the API server
// refuses it, i.e. until it trusts the injected CA bundle and the webhook
// answers. Before that, failurePolicy Ignore lets the object through.
func waitWebhook(ctx context.Context, restConfig *rest.Config, c *controller) error {
	client, err := dynamic.NewForConfig(restConfig)
	if err != nil {
		return fmt.Errorf("create dynamic client: %w", err)
	}
	var obj unstructured.Unstructured
	if err := obj.UnmarshalJSON([]byte(invalidCluster)); err != nil {
		return err
	}
	clusters := client.Resource(schema.GroupVersionResource{Group: "envoy.arcturus.dev", Version: "v1alpha1", Resource: "clusters"}).Namespace(podNamespace)
	deadline := time.After(readyTimeout)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	last := "nothing tried yet"
	for {
		_, err := clusters.Create(ctx, &obj, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		switch {
		case apierrors.IsInvalid(err) && strings.Contains(err.Error(), "conect_timeout"):
			logf("The validating webhook is active: %v", err)
			return nil
		case err == nil:
			last = "the API server admitted an invalid Cluster (webhook not reachable or not trusted yet)"
		default:
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return fmt.Errorf("arcturus exited before its webhook answered: %v", c.err)
		case <-deadline:
			return fmt.Errorf("the validating webhook did not refuse an invalid Cluster within %s (check the caBundle of ValidatingWebhookConfiguration %s): %s",
				readyTimeout, webhookConfigName, last)
		case <-tick.C:
		}
	}
}

// applySamples installs config/samples/ the way a user would, with kubectl and
// kustomize, so the dev setup also exercises the samples' manifests (and, with
// the webhook active, their admission), then waits until the controller has
// accepted them.
func applySamples(ctx context.Context, kubectl string, webhooks bool) error {
	if webhooks {
		logf("Applying %s through the webhook (warnings that a referenced resource is not served yet are expected: the samples refer to each other)", samplesDir)
	} else {
		logf("Applying %s", samplesDir)
	}
	cmd := exec.CommandContext(ctx, kubectl, "--kubeconfig", kubeconfigPath, "apply", "-k", samplesDir)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kubectl apply -k %s: %w", samplesDir, err)
	}
	// kubectl wait takes no -k: hand it the rendered manifests.
	cmd = exec.CommandContext(ctx, kubectl, "kustomize", samplesDir)
	cmd.Stderr = os.Stderr
	manifests, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("kubectl kustomize %s: %w", samplesDir, err)
	}
	cmd = exec.CommandContext(ctx, kubectl, "--kubeconfig", kubeconfigPath, "wait", "--for=condition=Accepted", "--timeout=1m", "-f", "-")
	cmd.Stdin = strings.NewReader(string(manifests))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kubectl wait --for=condition=Accepted (the samples): %w", err)
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
		"controller",
		"--kubeconfig", kubeconfig,
		"--xds-bind-address", o.xdsAddr,
		"--metrics-bind-address", o.metricsAddr,
		"--health-probe-bind-address", o.probeAddr,
		// The webhook in built-in certificate mode, reachable by the API server
		// at 127.0.0.1 (see registerWebhook).
		"--webhook-port", strconv.Itoa(o.webhookPort),
		"--webhook-cert-mode=builtin", // explicit: a cert dir alone means files mode
		"--webhook-cert-dir", webhookCertDirAbs(),
		"--webhook-cert-extra-sans=" + webhookHost,
		"--pod-namespace=" + controllerNamespace,
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

// webhookCertDirAbs is webhookCertDir as an absolute path, for the log line and
// anyone copying the command.
func webhookCertDirAbs() string {
	if dir, err := filepath.Abs(webhookCertDir); err == nil {
		return dir
	}
	return webhookCertDir
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
	webhook := "disabled (--enable-webhooks=false): invalid CRs are admitted, and refused in status"
	tryWebhook := ""
	if o.webhooks() {
		webhook = fmt.Sprintf("https://%s   (ValidatingWebhookConfiguration %s;\n"+
			"              certificate in Secret %s/arcturus-webhook-cert and %s)",
			net.JoinHostPort(webhookHost, strconv.Itoa(o.webhookPort)), webhookConfigName, controllerNamespace, webhookCertDir)
		tryWebhook = "\n   # validation is active: this is refused (spec.config.conect_timeout: unknown field)\n" +
			"   kubectl apply --dry-run=server -f - <<<'" + invalidCluster + "'"
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
 webhook      %[10]s

 Try:
   kubectl get envoy
   kubectl get clusters.envoy.arcturus.dev -o yaml
   kubectl edit routes.envoy.arcturus.dev demo-routes%[11]s

   # what the demo pod is served, from the API alone (no Envoy needed);
   # -o json|yaml for Envoy's config dump shape
   %[12]s config-dump --pod %[5]s/%[4]s --kubeconfig %[1]s
   # once an Envoy is connected: what it holds, over CSDS
   %[12]s proxy-status --xds-address %[3]s
================================================================================

`, kubeconfig, assets, dialAddr(o.xdsAddr), podName, podNamespace, podIP,
		bootstrapPath, metrics, dialAddr(o.probeAddr), webhook, tryWebhook, arcturusPath)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[dev] "+format+"\n", args...)
}
