package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/arcturus-dev/arcturus/test/testenv"
)

var (
	// repo is the repository root.
	repo = testenv.RepoRoot()
	// helm and kustomize are the tool binaries (bin/tools/...).
	helm, kustomize string
	// kubectl and kubeconfig reach the test API server as an admin.
	kubectl, kubeconfig string
	// kubectlCache is kubectl's discovery cache, fresh for every run (a stale one
	// from an earlier API server on the same port would hide the test CRDs).
	kubectlCache string
	// workDir holds the kubeconfig and the cache; removed at the end.
	workDir string
)

// Namespaces the rendered objects go into. They exist for real (a dry run of a
// namespaced object needs its namespace) and warn on "restricted" Pod Security
// violations, which kubectl prints and dryRun turns into failures.
const (
	systemNamespace      = "arcturus-system" // config/, and the chart's release namespace
	demoNamespace        = "demo"            // the Envoy examples
	certManagerNamespace = "cert-manager"    // config/overlays/prod's CA Certificate
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	start := time.Now()
	if err := setup(); err != nil {
		fmt.Fprintf(os.Stderr, "[test/deploy] setup: %v\n", err)
		return 1
	}
	env, err := startAPIServer()
	if env != nil {
		defer func() { _ = env.Stop() }()
	}
	if workDir != "" {
		defer os.RemoveAll(workDir)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "[test/deploy] %v\n", err)
		return 1
	}
	progress("ready after %s", time.Since(start).Round(100*time.Millisecond))
	return m.Run()
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[test/deploy] "+format+"\n", args...)
}

// setup builds helm and kustomize if they are missing and finds kubectl.
func setup() error {
	progress("locating helm and kustomize (make tool-paths builds them when missing: a few minutes the first time)")
	cmd := exec.Command("make", "--no-print-directory", "-s", "tool-paths")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.MultiWriter(&out, prefixWriter{}), os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("make tool-paths: %w", err)
	}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "HELM="); ok {
			helm = v
		} else if v, ok := strings.CutPrefix(sc.Text(), "KUSTOMIZE="); ok {
			kustomize = v
		}
	}
	for name, p := range map[string]string{"helm": helm, "kustomize": kustomize} {
		if p == "" {
			return fmt.Errorf("make tool-paths printed no path for %s:\n%s", name, out.String())
		}
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	assets, err := testenv.AssetsDir()
	if err != nil {
		return err
	}
	kubectl = filepath.Join(assets, "kubectl")
	return nil
}

// prefixWriter forwards make's own output (build commands) to stderr as progress.
type prefixWriter struct{}

func (prefixWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if line != "" && !strings.HasPrefix(line, "HELM=") && !strings.HasPrefix(line, "KUSTOMIZE=") {
			progress("make: %s", line)
		}
	}
	return len(p), nil
}

// startAPIServer starts envtest with the Arcturus CRDs, installs the third-party
// test CRDs and creates the namespaces.
func startAPIServer() (*envtest.Environment, error) {
	progress("starting kube-apiserver and etcd")
	env, _, err := testenv.Start(testenv.Options{})
	if err != nil {
		return nil, err
	}
	user, err := env.AddUser(envtest.User{Name: "deploy-test", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return env, err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return env, err
	}
	workDir, err = os.MkdirTemp("", "arcturus-deploy-test-")
	if err != nil {
		return env, err
	}
	kubeconfig = filepath.Join(workDir, "kubeconfig")
	kubectlCache = filepath.Join(workDir, "kubectl-cache")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return env, err
	}

	progress("installing the cert-manager and Prometheus Operator CRDs from their Go modules, and namespaces")
	args := []string{"apply", "--server-side"}
	for _, crds := range thirdPartyCRDs {
		dir, err := moduleDir(crds.module, crds.version)
		if err != nil {
			return env, err
		}
		args = append(args, "-f", filepath.Join(dir, filepath.FromSlash(crds.dir)))
	}
	if out, err := runKubectl(nil, args...); err != nil {
		return env, fmt.Errorf("install third-party CRDs: %w\n%s", err, out)
	}
	if out, err := runKubectl(nil, "wait", "--for=condition=Established", "--timeout=60s",
		"crd/certificates.cert-manager.io", "crd/issuers.cert-manager.io", "crd/clusterissuers.cert-manager.io",
		"crd/servicemonitors.monitoring.coreos.com"); err != nil {
		return env, fmt.Errorf("wait for test CRDs: %w\n%s", err, out)
	}
	var namespaces strings.Builder
	for _, ns := range []string{systemNamespace, demoNamespace, certManagerNamespace} {
		fmt.Fprintf(&namespaces, `---
apiVersion: v1
kind: Namespace
metadata:
  name: %s
  labels:
    pod-security.kubernetes.io/warn: restricted
    pod-security.kubernetes.io/warn-version: latest
`, ns)
	}
	if out, err := runKubectl(strings.NewReader(namespaces.String()), "apply", "--server-side", "-f", "-"); err != nil {
		return env, fmt.Errorf("create namespaces: %w\n%s", err, out)
	}
	return env, nil
}

// thirdPartyCRDs are the CRDs of the projects the manifests integrate with, as
// those projects ship them in their Go modules. The modules are only downloaded
// (to the module cache) and read: they are not dependencies of this module.
var thirdPartyCRDs = []struct {
	module, version string
	dir             string // the CRDs' directory in the module
}{
	{"github.com/cert-manager/cert-manager", "v1.21.2", "deploy/crds"},
	{"github.com/prometheus-operator/prometheus-operator", "v0.85.0", "example/prometheus-operator-crd"},
}

// moduleDir returns the directory of a module version in the module cache,
// downloading it through the module proxy when it is not there yet.
func moduleDir(module, version string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", module+"@"+version)
	// Outside this module, so its go.mod and go.sum stay untouched.
	cmd.Dir = workDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr == nil && info.Error != "" {
		return "", fmt.Errorf("go mod download %s@%s: %s", module, version, info.Error)
	}
	if err != nil || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: %v\n%s%s", module, version, err, out, stderr.String())
	}
	return info.Dir, nil
}

// runKubectl runs kubectl against the test API server and returns its combined output.
func runKubectl(stdin io.Reader, args ...string) (string, error) {
	cmd := exec.Command(kubectl, append([]string{"--kubeconfig", kubeconfig, "--cache-dir", kubectlCache}, args...)...)
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// dryRun applies manifests with a server-side dry run: the API server validates
// every object (strict field validation, CRD schemas, admission including Pod
// Security in warn mode) without storing it. Any error or warning fails the test.
// namespace is the default for objects that name none ("" for kubectl's default).
func dryRun(t *testing.T, manifests []byte, namespace string) {
	t.Helper()
	if err := dryRunErr(manifests, namespace); err != nil {
		t.Fatal(err)
	}
}

func dryRunErr(manifests []byte, namespace string) error {
	args := []string{"apply", "--server-side", "--force-conflicts", "--dry-run=server", "--validate=strict",
		"--field-manager=arcturus-deploy-test", "-f", "-"}
	if namespace != "" {
		args = append(args, "--namespace", namespace)
	}
	out, err := runKubectl(bytes.NewReader(manifests), args...)
	if err != nil {
		return fmt.Errorf("server-side dry run failed: %w\n%s", err, out)
	}
	var warnings []string
	applied := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "Warning:") {
			warnings = append(warnings, line)
		}
		if strings.HasSuffix(line, "(server dry run)") {
			applied++
		}
	}
	if len(warnings) > 0 {
		return fmt.Errorf("server-side dry run warned:\n%s", strings.Join(warnings, "\n"))
	}
	// Every object was applied (kubectl skips nothing silently).
	docs := 0
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(manifests)))
	for {
		doc, err := r.Read()
		if err != nil {
			break
		}
		if js, err := utilyaml.ToJSON(doc); err == nil && len(bytes.TrimSpace(js)) > 0 && string(bytes.TrimSpace(js)) != "null" {
			docs++
		}
	}
	if applied != docs {
		return fmt.Errorf("dry run applied %d objects, want %d:\n%s", applied, docs, out)
	}
	return nil
}

// helmTemplate renders the chart as release "arcturus" in arcturus-system (the names
// of config/) with the given values files and --set flags, CRDs included.
func helmTemplate(t *testing.T, valuesFiles []string, set ...string) []byte {
	t.Helper()
	out, err := helmTemplateErr(valuesFiles, set...)
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	return out
}

func helmTemplateErr(valuesFiles []string, set ...string) ([]byte, error) {
	args := []string{"template", "arcturus", filepath.Join(repo, "charts", "arcturus"), "--namespace", systemNamespace, "--include-crds"}
	for _, f := range valuesFiles {
		args = append(args, "--values", f)
	}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	cmd := exec.Command(helm, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return stderr.Bytes(), err
	}
	return out, nil
}

// kustomizeBuild renders a kustomization directory (relative to the repository root).
func kustomizeBuild(t *testing.T, dir string) []byte {
	t.Helper()
	cmd := exec.Command(kustomize, "build", filepath.Join(repo, dir))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kustomize build %s: %v\n%s", dir, err, stderr.String())
	}
	return out
}

// decode splits a multi-document YAML stream into objects, skipping empty documents.
// Numbers decode as int64 where they are integers, as from the API server.
func decode(t *testing.T, manifests []byte) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(manifests)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs
		} else if err != nil {
			t.Fatalf("read manifests: %v", err)
		}
		js, err := utilyaml.ToJSON(doc)
		if err != nil {
			t.Fatalf("decode manifests: %v\n%s", err, doc)
		}
		if trimmed := bytes.TrimSpace(js); len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			t.Fatalf("decode manifests: %v\n%s", err, doc)
		}
		objs = append(objs, u)
	}
}

// find returns the objects of a kind (and name, when not empty).
func find(objs []*unstructured.Unstructured, kind, name string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind && (name == "" || o.GetName() == name) {
			out = append(out, o)
		}
	}
	return out
}

// one returns the single object of a kind and name, failing the test otherwise.
func one(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	found := find(objs, kind, name)
	if len(found) != 1 {
		t.Fatalf("want one %s %q, found %d", kind, name, len(found))
	}
	return found[0]
}

// readFile reads a file of the repository.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo, path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDryRunCatchesMistakes is the harness's own check: a dry run of an object with
// an unknown field, of one that violates the restricted Pod Security Standard, and
// of a cert-manager Certificate with a misspelled field must fail.
func TestDryRunCatchesMistakes(t *testing.T) {
	deployment := func(extraContainerFields string) string {
		return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: mistake
spec:
  selector:
    matchLabels: {app: mistake}
  template:
    metadata:
      labels: {app: mistake}
    spec:
      securityContext:
        runAsNonRoot: true
        seccompProfile: {type: RuntimeDefault}
      containers:
      - name: c
        image: example.com/c:1
        securityContext:
          allowPrivilegeEscalation: false
          capabilities: {drop: [ALL]}
` + extraContainerFields
	}
	if err := dryRunErr([]byte(deployment("")), demoNamespace); err != nil {
		t.Fatalf("the compliant control object fails: %v", err)
	}
	tests := map[string]struct{ manifest, want string }{
		"unknown field": {deployment("        imagePullPolicyy: Always\n"), "imagePullPolicyy: field not declared in schema"},
		"runs as root":  {deployment("          runAsUser: 0\n"), "would violate PodSecurity"},
		"Certificate with a misspelled field": {`apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: mistake
spec:
  secretName: mistake
  dnsName: [example.com]
  issuerRef: {name: ca}
`, "dnsName: field not declared in schema"},
		"ServiceMonitor with a bad interval": {`apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: mistake
spec:
  selector: {}
  endpoints:
  - port: metrics
    interval: 30
`, "interval"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := dryRunErr([]byte(tc.manifest), demoNamespace)
			if err == nil {
				t.Fatalf("dry run succeeded, want an error mentioning %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error does not mention %q: %v", tc.want, err)
			}
		})
	}
}
