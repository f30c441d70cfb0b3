package cli

import (
	"bytes"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"go.yaml.in/yaml/v2"
)

// TestSecretsAreRedacted checks that neither output of a dump prints a private
// key, while the certificate stays readable.
func TestSecretsAreRedacted(t *testing.T) {
	inline := func(s string) *corev3.DataSource {
		return &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: s}}
	}
	secret := mustAny(t, &tlsv3.Secret{Name: "gw-cert", Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
		CertificateChain: inline("CERTIFICATE-PEM"), PrivateKey: inline("PRIVATE-KEY-PEM"),
	}}})

	v, err := anyToYAML(resourcev3.SecretType, secret)
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var dump bytes.Buffer
	if err := writeEnvoyDump(&dump, "json", nil, []xdsResource{{typeURL: resourcev3.SecretType, name: "gw-cert", version: "1", resource: secret}}); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"YAML list": string(out), "config dump": dump.String()} {
		if strings.Contains(text, "PRIVATE-KEY-PEM") || !strings.Contains(text, redacted) || !strings.Contains(text, "CERTIFICATE-PEM") {
			t.Errorf("%s:\n%s", name, text)
		}
	}
}
