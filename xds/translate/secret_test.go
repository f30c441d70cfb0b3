package translate

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// testCert returns a self-signed certificate and its key, in PEM.
func testCert(t *testing.T, cn string) (crt, key []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
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

func TestSecrets(t *testing.T) {
	crt, key := testCert(t, "gw")
	otherCrt, otherKey := testCert(t, "other")
	tests := []struct {
		name    string
		data    map[string][]byte
		want    []string // SDS names, with "cert" or "ca" for what each holds
		wantErr string
	}{
		{"a TLS Secret", map[string][]byte{"tls.crt": crt, "tls.key": key}, []string{"s=cert"}, ""},
		{"a TLS Secret with its CA (cert-manager)", map[string][]byte{"tls.crt": crt, "tls.key": key, "ca.crt": otherCrt}, []string{"s=cert", "s#ca=ca"}, ""},
		{"a CA bundle", map[string][]byte{"ca.crt": crt}, []string{"s=ca"}, ""},
		{"a CA bundle with a CRL", map[string][]byte{"ca.crt": crt, "ca.crl": crt}, nil, "ca.crl"},
		{"a Secret for something else", map[string][]byte{"password": []byte("x")}, nil, ""},
		{"a certificate without its key", map[string][]byte{"tls.crt": crt}, nil, "only one of tls.crt and tls.key"},
		{"a key that is not the certificate's", map[string][]byte{"tls.crt": crt, "tls.key": otherKey}, nil, "not a certificate and its private key"},
		{"a CA that is not PEM", map[string][]byte{"ca.crt": []byte("not pem")}, nil, "ca.crt: no PEM block of type CERTIFICATE"},
		{"a CA that is a key", map[string][]byte{"ca.crt": key}, nil, "ca.crt: no PEM block of type CERTIFICATE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			secrets, err := Secrets("s", tc.data)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one with %q", err, tc.wantErr)
				}
				for _, b := range [][]byte{key, otherKey} {
					if strings.Contains(err.Error(), string(b[30:60])) {
						t.Error("the error quotes a private key")
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range secrets {
				what := "ca"
				if c := s.GetTlsCertificate(); c != nil {
					what = "cert"
					if string(c.GetCertificateChain().GetInlineBytes()) != string(crt) || string(c.GetPrivateKey().GetInlineBytes()) != string(key) {
						t.Error("the certificate or key bytes differ from the Secret's")
					}
				}
				got = append(got, s.GetName()+"="+what)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("secrets %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	crt, key := testCert(t, "gw")
	secrets, err := Secrets("s", map[string][]byte{"tls.crt": crt, "tls.key": key})
	if err != nil {
		t.Fatal(err)
	}
	a, err := anypb.New(secrets[0])
	if err != nil {
		t.Fatal(err)
	}
	r, err := Redact(resourcev3.SecretType, a)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(r.GetValue()), string(key)) || !strings.Contains(string(r.GetValue()), Redacted) {
		t.Error("the private key survived redaction")
	}
	if !strings.Contains(string(r.GetValue()), string(crt)) {
		t.Error("redaction removed the certificate, which is public")
	}
	if !strings.Contains(string(a.GetValue()), string(key)) {
		t.Error("redaction changed the original")
	}
	if other, _ := Redact(resourcev3.ClusterType, a); other != a {
		t.Error("a resource of another type was changed")
	}
}
