package webhookcert

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
	"github.com/arcturus-dev/arcturus/controllers"
	"github.com/arcturus-dev/arcturus/xds/index"
)

const (
	day = 24 * time.Hour
	// caRenewalStarts is when less than a third of the CA's lifetime is left.
	caRenewalStarts = 10*365*day - 10*365*day/3
)

func TestSecretCreatedWithAValidChain(t *testing.T) {
	ns := newNamespace(t)
	opts := testOptions(t, ns, nil)
	opts.ExtraDNSNames = []string{"arcturus.example.test"}
	opts.ExtraIPs = []net.IP{net.ParseIP("127.0.0.1")}
	start := time.Now()
	startManager(t, restConfig, opts, nil, nil)

	s := getSecret(t, opts)
	if s.Type != corev1.SecretTypeTLS {
		t.Errorf("type %q, want %q", s.Type, corev1.SecretTypeTLS)
	}
	cas := parseCerts(s.Data[CACertKey])
	if len(cas) != 1 {
		t.Fatalf("ca.crt holds %d certificates, want 1", len(cas))
	}
	ca := cas[0]
	if !ca.IsCA || ca.Subject.String() != ca.Issuer.String() || ca.CheckSignatureFrom(ca) != nil {
		t.Errorf("ca.crt is not a self-signed CA: %s issued by %s", ca.Subject, ca.Issuer)
	}
	leaf := mustLeaf(t, s.Data[TLSCertKey])
	for name, c := range map[string]*x509.Certificate{"CA": ca, "serving certificate": leaf} {
		pub, ok := c.PublicKey.(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P256() {
			t.Errorf("%s key is %T, want ECDSA P-256", name, c.PublicKey)
		}
	}
	checkLifetime(t, "CA", ca, start, 10*365*day)
	checkLifetime(t, "serving certificate", leaf, start, 365*day)
	if _, err := tls.X509KeyPair(s.Data[CACertKey], s.Data[CAKeyKey]); err != nil {
		t.Errorf("ca.key does not belong to ca.crt: %v", err)
	}
	if _, err := tls.X509KeyPair(s.Data[TLSCertKey], s.Data[TLSKeyKey]); err != nil {
		t.Errorf("tls.key does not belong to tls.crt: %v", err)
	}

	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, host := range []string{
		"arcturus-webhook." + ns + ".svc",
		"arcturus-webhook." + ns + ".svc.cluster.local",
		"arcturus.example.test",
		"127.0.0.1",
	} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("serving certificate for %s: %v", host, err)
		}
	}
	if err := leaf.VerifyHostname("other.example.test"); err == nil {
		t.Error("serving certificate is valid for a name it was not asked for")
	}

	// The webhook server's files, written before the manager started.
	if err := filesMatch(opts.CertDir, s); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(opts.CertDir, CAKeyKey)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ca.key is in the cert dir (%v)", err)
	}
	if fi, err := os.Stat(filepath.Join(opts.CertDir, TLSKeyKey)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("tls.key: %v, mode %v", err, fi.Mode())
	}

	// A restart (another replica) uses the Secret as it is.
	opts2 := opts
	opts2.CertDir = t.TempDir()
	startManager(t, restConfig, opts2, nil, nil)
	if again := getSecret(t, opts); again.ResourceVersion != s.ResourceVersion {
		t.Error("a second instance rewrote a valid Secret")
	}
	if err := filesMatch(opts2.CertDir, s); err != nil {
		t.Error(err)
	}
}

func checkLifetime(t *testing.T, what string, c *x509.Certificate, start time.Time, want time.Duration) {
	t.Helper()
	if c.NotBefore.After(start) {
		t.Errorf("%s not valid before %v", what, c.NotBefore)
	}
	if d := c.NotAfter.Sub(start); d < want-time.Minute || d > want+time.Minute {
		t.Errorf("%s valid for %v from now, want %v", what, d, want)
	}
}

func TestCABundleIsInjectedAndKept(t *testing.T) {
	ns := newNamespace(t)
	opts := testOptions(t, ns, nil)
	opts.CheckInterval = time.Hour // only the watch may bring the bundle back
	startManager(t, restConfig, opts, nil, nil)
	bundle := getSecret(t, opts).Data[CACertKey]

	// Created after the controller started: injected when it appears.
	createWebhookConfig(t, newWebhookConfig(opts.WebhookConfigName))
	eventually(t, "caBundle injected", func() error { return injected(opts.WebhookConfigName, bundle) })

	// Reset, as a `kubectl replace` of the manifest would: put back.
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	if err := admin.Get(context.Background(), client.ObjectKey{Name: opts.WebhookConfigName}, &vwc); err != nil {
		t.Fatal(err)
	}
	for i := range vwc.Webhooks {
		vwc.Webhooks[i].ClientConfig.CABundle = nil
	}
	if err := admin.Update(context.Background(), &vwc); err != nil {
		t.Fatal(err)
	}
	eventually(t, "caBundle re-injected", func() error { return injected(opts.WebhookConfigName, bundle) })

	// Another configuration is none of its business.
	other := newWebhookConfig("other-" + ns)
	createWebhookConfig(t, other)
	time.Sleep(time.Second)
	if err := injected(other.Name, nil); err != nil {
		t.Errorf("another configuration was changed: %v", err)
	}
}

func TestRotation(t *testing.T) {
	var clk clock
	ns := newNamespace(t)
	opts := testOptions(t, ns, clk.Now)
	createWebhookConfig(t, newWebhookConfig(opts.WebhookConfigName))
	startManager(t, restConfig, opts, nil, nil)
	s0 := getSecret(t, opts)
	eventually(t, "caBundle injected", func() error { return injected(opts.WebhookConfigName, s0.Data[CACertKey]) })
	leaf0 := mustLeaf(t, s0.Data[TLSCertKey])
	ca0 := parseCerts(s0.Data[CACertKey])[0]

	// Eight months in, the serving certificate is still fine.
	clk.Set(240 * day)
	time.Sleep(4 * opts.CheckInterval)
	if s := getSecret(t, opts); s.ResourceVersion != s0.ResourceVersion {
		t.Fatal("Secret rewritten with two thirds of the serving certificate's lifetime left")
	}

	// Nine months in, less than a third is left: a new serving certificate from the same CA.
	clk.Set(270 * day)
	var s1 *corev1.Secret
	eventually(t, "serving certificate renewed", func() error {
		s1 = getSecret(t, opts)
		if bytes.Equal(s1.Data[TLSCertKey], s0.Data[TLSCertKey]) {
			return errors.New("not yet")
		}
		return nil
	})
	if !bytes.Equal(s1.Data[CACertKey], s0.Data[CACertKey]) || !bytes.Equal(s1.Data[CAKeyKey], s0.Data[CAKeyKey]) {
		t.Error("the CA changed with the serving certificate")
	}
	leaf1 := mustLeaf(t, s1.Data[TLSCertKey])
	if leaf1.SerialNumber.Cmp(leaf0.SerialNumber) == 0 || leaf1.CheckSignatureFrom(ca0) != nil {
		t.Error("the new serving certificate is not a new one from the same CA")
	}
	if d := leaf1.NotAfter.Sub(clk.Now()); d < 364*day {
		t.Errorf("renewed serving certificate valid for %v", d)
	}
	eventually(t, "new certificate files", func() error { return filesMatch(opts.CertDir, s1) })
	if err := injected(opts.WebhookConfigName, s0.Data[CACertKey]); err != nil {
		t.Error(err)
	}
	time.Sleep(4 * opts.CheckInterval)
	if s := getSecret(t, opts); s.ResourceVersion != s1.ResourceVersion {
		t.Error("Secret keeps changing after the renewal")
	}

	// Just before the CA's renewal, the serving certificate is renewed once more
	// (by the same CA), so the CA renewal below takes the normal path: the
	// serving certificate is still good, it is re-issued because its CA is not
	// the current one any more.
	clk.Set(caRenewalStarts - 40*day)
	eventually(t, "serving certificate renewed again", func() error {
		s := getSecret(t, opts)
		leaf := mustLeaf(t, s.Data[TLSCertKey])
		if !leaf.NotBefore.After(clk.Now().Add(-2 * time.Hour)) {
			return errors.New("not yet")
		}
		if leaf.CheckSignatureFrom(ca0) != nil || !bytes.Equal(s.Data[CACertKey], s0.Data[CACertKey]) {
			return errors.New("the CA changed")
		}
		return nil
	})

	// Seven years in, the CA has less than a third left: a new CA, trusted next
	// to the old one, issues the serving certificate.
	clk.Set(7 * 365 * day)
	var s2 *corev1.Secret
	eventually(t, "CA renewed", func() error {
		s2 = getSecret(t, opts)
		cas := parseCerts(s2.Data[CACertKey])
		if len(cas) != 2 || cas[0].Equal(ca0) || !cas[1].Equal(ca0) {
			return fmt.Errorf("ca.crt holds %d certificates", len(cas))
		}
		if mustLeaf(t, s2.Data[TLSCertKey]).CheckSignatureFrom(cas[0]) != nil {
			return errors.New("serving certificate not from the new CA yet")
		}
		return nil
	})
	if _, err := tls.X509KeyPair(s2.Data[CACertKey], s2.Data[CAKeyKey]); err != nil {
		t.Errorf("ca.key is not the new CA's: %v", err)
	}
	eventually(t, "old and new CA injected", func() error { return injected(opts.WebhookConfigName, s2.Data[CACertKey]) })
	eventually(t, "certificate files from the new CA", func() error { return filesMatch(opts.CertDir, s2) })

	// Past the old CA's expiry, it leaves the bundle.
	clk.Set(10*365*day + 2*day)
	eventually(t, "expired CA dropped", func() error {
		s3 := getSecret(t, opts)
		cas := parseCerts(s3.Data[CACertKey])
		if len(cas) != 1 || !cas[0].Equal(parseCerts(s2.Data[CACertKey])[0]) {
			return fmt.Errorf("ca.crt holds %d certificates", len(cas))
		}
		return injected(opts.WebhookConfigName, s3.Data[CACertKey])
	})
}

func TestRacingInstancesCreateOneCA(t *testing.T) {
	ns := newNamespace(t)
	// Both instances find no Secret and generate a CA before either creates it.
	var generated sync.WaitGroup
	generated.Add(2)
	var provisioners [2]*provisioner
	for i := range provisioners {
		c, err := client.New(restConfig, client.Options{Scheme: clientgoscheme.Scheme})
		if err != nil {
			t.Fatal(err)
		}
		p, err := newProvisioner(c, testOptions(t, ns, nil), ctrl.Log.WithName(fmt.Sprint("instance", i)))
		if err != nil {
			t.Fatal(err)
		}
		p.beforeCreate = func() { generated.Done(); generated.Wait() }
		provisioners[i] = p
	}
	var wg sync.WaitGroup
	errs := make([]error, len(provisioners))
	for i, p := range provisioners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.firstSync(context.Background())
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
	}
	s := getSecret(t, provisioners[0].opts)
	for i, p := range provisioners {
		if err := filesMatch(p.opts.CertDir, s); err != nil {
			t.Errorf("instance %d serves something else than the Secret: %v", i, err)
		}
	}
	if n := len(parseCerts(s.Data[CACertKey])); n != 1 {
		t.Errorf("ca.crt holds %d certificates", n)
	}
}

// TestAPIServerTrustsTheCertificate runs the real validating webhook with the
// built-in certificate and has the API server call it: the rejection proves the
// API server verified the serving certificate against the injected bundle.
func TestAPIServerTrustsTheCertificate(t *testing.T) {
	ns := newNamespace(t)
	opts := testOptions(t, ns, nil)
	opts.ExtraIPs = []net.IP{net.ParseIP("127.0.0.1")}
	port := freePort(t)
	url := fmt.Sprintf("https://127.0.0.1:%d/validate-envoy-arcturus-dev-v1alpha1-cluster", port)
	createWebhookConfig(t, &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: opts.WebhookConfigName},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    "vcluster.webhookcert.test",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url},
			Rules:                   []admissionregistrationv1.RuleWithOperations{rule("clusters")},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail), // a TLS failure shows as an error
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          ptr.To[int32](5),
		}},
	})
	server := webhook.NewServer(webhook.Options{Host: "127.0.0.1", Port: port, CertDir: opts.CertDir})
	startManager(t, restConfig, opts, server, func(mgr ctrl.Manager) error {
		return controllers.SetupWebhooks(mgr, index.New(nil))
	})

	invalid := &ourv1alpha1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "typo"},
		Spec:       ourv1alpha1.EnvoyConfigSpec{Config: rawConfig(`{"conect_timeout": "1s"}`)},
	}
	eventually(t, "invalid Cluster refused by the webhook", func() error {
		err := admin.Create(context.Background(), invalid.DeepCopy(), client.DryRunAll)
		switch {
		case err == nil:
			return errors.New("admitted")
		case !strings.Contains(err.Error(), "spec.config"):
			return err
		}
		t.Logf("refused: %v", err)
		return nil
	})
	valid := &ourv1alpha1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ok"},
		Spec:       ourv1alpha1.EnvoyConfigSpec{Config: rawConfig(`{"connect_timeout": "1s"}`)},
	}
	if err := admin.Create(context.Background(), valid); err != nil {
		t.Errorf("valid Cluster refused: %v", err)
	}
}

// TestNewCAIsTrustedBeforeItServes checks the order of the leader's writes when
// the CA is renewed: the bundle with the new CA reaches the webhook
// configuration before a serving certificate from the new CA reaches the Secret.
func TestNewCAIsTrustedBeforeItServes(t *testing.T) {
	ns := newNamespace(t)
	var clk clock
	opts := testOptions(t, ns, clk.Now)
	createWebhookConfig(t, newWebhookConfig(opts.WebhookConfigName))

	var events []string // "bundle:<n CAs>" or "serving:<issuer CN>"
	base, err := client.NewWithWatch(restConfig, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	c := interceptor.NewClient(base, interceptor.Funcs{
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			switch o := obj.(type) {
			case *corev1.Secret:
				events = append(events, "serving:"+mustLeaf(t, o.Data[TLSCertKey]).Issuer.CommonName)
			case *admissionregistrationv1.ValidatingWebhookConfiguration:
				events = append(events, fmt.Sprintf("bundle:%d", len(parseCerts(o.Webhooks[0].ClientConfig.CABundle))))
			}
			return c.Update(ctx, obj, opts...)
		},
	})
	p, err := newProvisioner(c, opts, ctrl.Log.WithName("order"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := p.firstSync(ctx); err != nil {
		t.Fatal(err)
	}
	oldCA := parseCerts(getSecret(t, opts).Data[CACertKey])[0].Subject.CommonName
	for _, at := range []time.Duration{0, caRenewalStarts - 40*day} { // inject; renew the serving certificate
		clk.Set(at)
		if err := p.renewPass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	events = nil
	clk.Set(7 * 365 * day) // renew the CA
	if err := p.renewPass(ctx); err != nil {
		t.Fatal(err)
	}
	newCA := parseCerts(getSecret(t, opts).Data[CACertKey])[0].Subject.CommonName
	want := []string{"serving:" + oldCA, "bundle:2", "serving:" + newCA}
	if fmt.Sprint(events) != fmt.Sprint(want) {
		t.Errorf("writes %v, want %v (new CA in the Secret, then in the bundle, then serving)", events, want)
	}
}
