package webhookcert

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/arcturus-dev/arcturus/test/testenv"
)

// TestGeneratedRBACIsEnough runs the built-in mode as the controller's service
// account, with exactly the RBAC of config/ (the Role and ClusterRole generated
// from this package's markers, and their bindings), and checks that it can do
// its whole job and cannot read other Secrets.
func TestGeneratedRBACIsEnough(t *testing.T) {
	const ns = "arcturus-system"
	ctx := context.Background()
	if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for _, f := range []string{"config/rbac/service_account.yaml", "config/rbac/role.yaml", "config/rbac/role_binding.yaml", "config/rbac/webhookcert_role_binding.yaml"} {
		applyFile(t, filepath.Join(testenv.RepoRoot(), f))
	}
	createWebhookConfig(t, newWebhookConfig("arcturus-validating-webhook"))
	other := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "not-yours"}, StringData: map[string]string{"k": "v"}}
	if err := admin.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	// Registered before the manager starts, so they run after it stopped.
	t.Cleanup(func() {
		_ = admin.Delete(ctx, other)
		_ = admin.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "arcturus-webhook-cert"}})
	})

	asController := rest.CopyConfig(restConfig)
	asController.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:arcturus-system:arcturus"}
	var clk clock
	opts := Options{
		Namespace:         ns,
		SecretName:        "arcturus-webhook-cert",
		ServiceName:       "arcturus-webhook",
		WebhookConfigName: "arcturus-validating-webhook",
		CertDir:           t.TempDir(),
		Now:               clk.Now,
		CheckInterval:     200 * time.Millisecond,
		StartTimeout:      20 * time.Second,
	}
	startManager(t, asController, opts, nil, nil) // creates the Secret and writes the files
	s0 := getSecret(t, opts)
	eventually(t, "caBundle injected", func() error { return injected(opts.WebhookConfigName, s0.Data[CACertKey]) })
	clk.Set(270 * day)
	eventually(t, "serving certificate renewed and written", func() error {
		s := getSecret(t, opts)
		if s.ResourceVersion == s0.ResourceVersion {
			return errors.New("not yet")
		}
		return filesMatch(opts.CertDir, s)
	})

	c, err := client.New(asController, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	// The controller reads Secrets (SDS serves TLS Secrets to Envoys) but writes
	// none but its own.
	var read corev1.Secret
	if err := c.Get(ctx, client.ObjectKeyFromObject(other), &read); err != nil {
		t.Fatalf("reading another Secret (SDS): %v", err)
	}
	read.Data = map[string][]byte{"stolen": []byte("x")}
	if err := c.Update(ctx, &read); !apierrors.IsForbidden(err) {
		t.Errorf("updating another Secret: %v, want Forbidden", err)
	}
	if err := c.Delete(ctx, &read); !apierrors.IsForbidden(err) {
		t.Errorf("deleting another Secret: %v, want Forbidden", err)
	}
	if err := c.List(ctx, &corev1.SecretList{}, client.InNamespace(ns),
		client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", opts.SecretName)}); err != nil {
		t.Errorf("listing its own Secret by name: %v", err)
	}
}

// applyFile creates every object of a YAML file (AlreadyExists is fine).
func applyFile(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if err := admin.Create(context.Background(), &u); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("%s: %s %s: %v", path, u.GetKind(), u.GetName(), err)
		}
	}
}
