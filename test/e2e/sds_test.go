package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
)

// selfSigned returns a self-signed certificate and its private key, in PEM.
func selfSigned(t *testing.T, cn string) (crt, key []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// tlsListener terminates TLS with the certificate of SDS secret cert and checks
// clients against the CA of SDS secret ca, both fetched over ADS.
func tlsListener(name, cert, ca string) map[string]any {
	ads := map[string]any{"ads": map[string]any{}, "resource_api_version": "V3"}
	return map[string]any{
		"name":    name,
		"address": map[string]any{"socket_address": map[string]any{"address": "0.0.0.0", "port_value": 10443}},
		"filter_chains": []any{map[string]any{
			"transport_socket": map[string]any{
				"name": "envoy.transport_sockets.tls",
				"typed_config": map[string]any{
					"@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
					"common_tls_context": map[string]any{
						"tls_certificate_sds_secret_configs":   []any{map[string]any{"name": cert, "sds_config": ads}},
						"validation_context_sds_secret_config": map[string]any{"name": ca, "sds_config": ads},
					},
				},
			},
		}},
	}
}

// secretsOf decodes the Envoy secrets of a response by name.
func secretsOf(t *testing.T, r *discoveryv3.DiscoveryResponse) map[string]*tlsv3.Secret {
	t.Helper()
	out := map[string]*tlsv3.Secret{}
	for _, a := range r.GetResources() {
		var s tlsv3.Secret
		if err := a.UnmarshalTo(&s); err != nil {
			t.Fatal(err)
		}
		out[s.GetName()] = &s
	}
	return out
}

// TestSecretsOverSDS checks that Kubernetes Secrets are served over SDS only to
// the pods whose resources reference them, that rotation pushes the new bytes,
// that a deleted Secret turns ResolvedRefs False naming it, and that the private
// key appears nowhere but in the SDS response to the referencing pod: not in
// status, Events, the controller's log or a CSDS dump.
func TestSecretsOverSDS(t *testing.T) {
	a := startArcturus(t)
	ns := newNamespace(t)
	newPod(t, ns, "gw-0", "127.0.0.1", map[string]string{"app": "gw"})
	newPod(t, ns, "web-0", "127.0.0.1", map[string]string{"app": "web"})
	crt, key := selfSigned(t, "gw.example")
	caCrt, _ := selfSigned(t, "clients-ca")
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gw-cert"},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{"tls.crt": crt, "tls.key": key, "ca.crt": caCrt},
	}
	if err := k8s.Create(testContext(t), secret); err != nil {
		t.Fatal(err)
	}
	apply(t, ns, object{kind: "Listener", name: "https", selector: map[string]string{"app": "gw"}, config: tlsListener("https", "gw-cert", "gw-cert#ca")})
	waitAccepted(t, ns, "Listener", "https", "Valid")
	waitResolved(t, ns, "Listener", "https", metav1.ConditionTrue, "")

	names := []string{"gw-cert", "gw-cert#ca"}
	gw := newSotW(t, a.XDSAddr, "gw-0."+ns, resourcev3.SecretType, "", names...)
	first := secretsOf(t, gw.waitFor(names...))

	t.Run("the referencing pod gets the certificate and the CA", func(t *testing.T) {
		c := first["gw-cert"].GetTlsCertificate()
		if !bytes.Equal(c.GetCertificateChain().GetInlineBytes(), crt) || !bytes.Equal(c.GetPrivateKey().GetInlineBytes(), key) {
			t.Error("tls_certificate differs from the Secret's tls.crt and tls.key")
		}
		if !bytes.Equal(first["gw-cert#ca"].GetValidationContext().GetTrustedCa().GetInlineBytes(), caCrt) {
			t.Error("validation_context differs from the Secret's ca.crt")
		}
	})

	t.Run("over delta too, only to the referencing pod", func(t *testing.T) {
		r := newDelta(t, a.XDSAddr, "gw-0."+ns, resourcev3.SecretType, nil).next()
		var got []string
		for _, res := range r.GetResources() {
			got = append(got, res.GetName())
		}
		slices.Sort(got)
		if !slices.Equal(got, names) {
			t.Errorf("gw-0 over delta: %v, want %v", got, names)
		}
		web := newDelta(t, a.XDSAddr, "web-0."+ns, resourcev3.SecretType, nil)
		if r := web.next(); len(r.GetResources()) != 0 {
			t.Errorf("web-0 over delta was sent %d secrets", len(r.GetResources()))
		}
	})

	t.Run("a pod that does not reference it gets nothing, even by name", func(t *testing.T) {
		web := newSotW(t, a.XDSAddr, "web-0."+ns, resourcev3.SecretType, "", names...)
		if r := web.next(); len(r.GetResources()) != 0 {
			t.Errorf("web-0 was sent %d secrets", len(r.GetResources()))
		}
		web.quiet(time.Second)
	})

	t.Run("no private key in status, Events, the log or a CSDS dump", func(t *testing.T) {
		keyBody := string(key[40:100]) // inside the PEM body
		var l ourv1alpha1.Listener
		if err := k8s.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: "https"}, &l); err != nil {
			t.Fatal(err)
		}
		status, _ := json.Marshal(l.Status)
		var events eventsv1.EventList
		if err := k8s.List(testContext(t), &events, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		eventsJSON, _ := json.Marshal(events)
		log, err := os.ReadFile(a.LogPath)
		if err != nil {
			t.Fatal(err)
		}
		dump := cli(t, binary, "config-dump", "gw-0", "-n", ns, "-o", "json", "--kubeconfig", kubeconfig, "--xds-address", a.XDSAddr)
		for what, text := range map[string]string{"status": string(status), "Events": string(eventsJSON), "the log": string(log), "the CSDS dump": dump} {
			if strings.Contains(text, keyBody) || strings.Contains(text, strings.ReplaceAll(keyBody, "\n", `\n`)) {
				t.Errorf("the private key appears in %s", what)
			}
		}
		if !strings.Contains(dump, "[redacted]") || !strings.Contains(dump, "gw-cert") {
			t.Errorf("the CSDS dump does not show gw-cert with its key redacted:\n%s", dump)
		}
	})

	t.Run("rotation pushes the new certificate", func(t *testing.T) {
		crt2, key2 := selfSigned(t, "gw.example")
		secret.Data["tls.crt"], secret.Data["tls.key"] = crt2, key2
		if err := k8s.Update(testContext(t), secret); err != nil {
			t.Fatal(err)
		}
		for {
			got := secretsOf(t, gw.next())["gw-cert"].GetTlsCertificate()
			if bytes.Equal(got.GetCertificateChain().GetInlineBytes(), crt2) {
				if !bytes.Equal(got.GetPrivateKey().GetInlineBytes(), key2) {
					t.Error("the rotated certificate came with another key")
				}
				break
			}
		}
	})

	t.Run("a deleted Secret is a missing reference", func(t *testing.T) {
		if err := k8s.Delete(testContext(t), secret); err != nil {
			t.Fatal(err)
		}
		waitResolved(t, ns, "Listener", "https", metav1.ConditionFalse, `Secret "gw-cert" is missing`)
		gw.waitFor()
	})

	t.Run("a malformed Secret is a missing reference, with an Event saying why", func(t *testing.T) {
		bad := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gw-cert"}, Data: map[string][]byte{"tls.crt": crt}}
		if err := k8s.Create(testContext(t), bad); err != nil {
			t.Fatal(err)
		}
		eventually(t, "an InvalidTLSSecret Event", func() error {
			var events eventsv1.EventList
			if err := k8s.List(testContext(t), &events, client.InNamespace(ns)); err != nil {
				return err
			}
			for _, e := range events.Items {
				if e.Reason == "InvalidTLSSecret" && e.Regarding.Name == "gw-cert" && strings.Contains(e.Note, "only one of tls.crt and tls.key") {
					return nil
				}
			}
			return fmt.Errorf("none among %d events", len(events.Items))
		})
		waitResolved(t, ns, "Listener", "https", metav1.ConditionFalse, `Secret "gw-cert" is missing`)
	})
}
