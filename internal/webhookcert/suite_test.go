package webhookcert

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
	"github.com/arcturus-dev/arcturus/test/testenv"
)

var (
	restConfig *rest.Config
	admin      client.Client // uncached, as the test API server's admin
	scheme     = runtime.NewScheme()
)

const waitFor = 30 * time.Second

func TestMain(m *testing.M) {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(ourv1alpha1.AddToScheme(scheme))
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(testLogWriter())))

	env, cfg, err := testenv.Start(testenv.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	restConfig = cfg
	if admin, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		_ = env.Stop()
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

// testLogWriter sends the controller's logs to stderr with -v (go test -v) and
// nowhere otherwise.
func testLogWriter() *os.File {
	for _, a := range os.Args {
		if a == "-test.v=true" || a == "-test.v" {
			return os.Stderr
		}
	}
	f, _ := os.Open(os.DevNull)
	return f
}

// clock is a settable Options.Now: real time plus an offset.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Set(offset time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = offset
}

func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	testenv.Eventually(t, waitFor, what, cond)
}

func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "webhookcert-"}}
	if err := admin.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// testOptions are the options of one test: its own namespace, cert dir and
// webhook configuration name, and a fast check interval.
func testOptions(t *testing.T, ns string, now func() time.Time) Options {
	return Options{
		Namespace:         ns,
		SecretName:        "arcturus-webhook-cert",
		ServiceName:       "arcturus-webhook",
		WebhookConfigName: "vwc-" + ns,
		CertDir:           t.TempDir(),
		Now:               now,
		CheckInterval:     200 * time.Millisecond,
		StartTimeout:      20 * time.Second,
	}
}

// startManager runs a manager with the built-in certificates (and whatever
// extra adds) until the test ends. webhookServer may be nil.
func startManager(t *testing.T, cfg *rest.Config, opts Options, webhookServer webhook.Server, extra func(ctrl.Manager) error) {
	t.Helper()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer:          webhookServer,
	})
	if err != nil {
		t.Fatal(err)
	}
	setupCtx, cancelSetup := context.WithTimeout(context.Background(), waitFor)
	defer cancelSetup()
	if err := Setup(setupCtx, mgr, opts); err != nil {
		t.Fatal(err)
	}
	if extra != nil {
		if err := extra(mgr); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func getSecret(t *testing.T, opts Options) *corev1.Secret {
	t.Helper()
	var s corev1.Secret
	if err := admin.Get(context.Background(), client.ObjectKey{Namespace: opts.Namespace, Name: opts.SecretName}, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// newWebhookConfig returns a ValidatingWebhookConfiguration with two webhooks
// that never match anything (namespaceSelector), without caBundle.
func newWebhookConfig(name string) *admissionregistrationv1.ValidatingWebhookConfiguration {
	hook := func(n string) admissionregistrationv1.ValidatingWebhook {
		return admissionregistrationv1.ValidatingWebhook{
			Name:                    n,
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To("https://127.0.0.1:1/never")},
			Rules:                   []admissionregistrationv1.RuleWithOperations{rule("routes")},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"webhookcert.test/never": "true"}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
		}
	}
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks:   []admissionregistrationv1.ValidatingWebhook{hook("a.webhookcert.test"), hook("b.webhookcert.test")},
	}
}

func rule(resource string) admissionregistrationv1.RuleWithOperations {
	return admissionregistrationv1.RuleWithOperations{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
		Rule: admissionregistrationv1.Rule{
			APIGroups:   []string{ourv1alpha1.GroupVersion.Group},
			APIVersions: []string{ourv1alpha1.GroupVersion.Version},
			Resources:   []string{resource},
		},
	}
}

func createWebhookConfig(t *testing.T, vwc *admissionregistrationv1.ValidatingWebhookConfiguration) {
	t.Helper()
	if err := admin.Create(context.Background(), vwc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Delete(context.Background(), vwc) })
}

// injected fails unless every webhook of the configuration has want as caBundle.
func injected(name string, want []byte) error {
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	if err := admin.Get(context.Background(), client.ObjectKey{Name: name}, &vwc); err != nil {
		return err
	}
	for _, w := range vwc.Webhooks {
		if !bytes.Equal(w.ClientConfig.CABundle, want) {
			return fmt.Errorf("webhook %s has caBundle %q", w.Name, w.ClientConfig.CABundle)
		}
	}
	return nil
}

// filesMatch fails unless the cert dir holds the Secret's serving certificate and key.
func filesMatch(dir string, s *corev1.Secret) error {
	for _, k := range []string{TLSCertKey, TLSKeyKey} {
		got, err := os.ReadFile(filepath.Join(dir, k))
		if err != nil {
			return err
		}
		if !bytes.Equal(got, s.Data[k]) {
			return fmt.Errorf("%s differs from the Secret's", k)
		}
	}
	return nil
}

func mustLeaf(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	c, err := parseLeaf(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func rawConfig(s string) runtime.RawExtension { return runtime.RawExtension{Raw: []byte(s)} }
