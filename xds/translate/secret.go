package translate

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// Keys of a Kubernetes Secret that make Envoy secrets (the kubernetes.io/tls
// layout; cert-manager writes ca.crt next to them).
const (
	SecretCertKey = "tls.crt"
	SecretKeyKey  = "tls.key"
	SecretCAKey   = "ca.crt"
	SecretCRLKey  = "ca.crl"
)

// CASuffix names the validation context made of a TLS Secret's ca.crt: SDS name
// "<secret>#ca". A Kubernetes name cannot contain '#', so it never clashes
// with a Secret's own name.
const CASuffix = "#ca"

// Secrets returns the Envoy secrets a Kubernetes Secret provides, each named by
// the SDS name that selects it:
//
//   - tls.crt and tls.key: a tls_certificate named after the Secret, and, when
//     ca.crt is there too, a validation_context named <secret>#ca;
//   - ca.crt alone (ca.crl optional): a validation_context named after the Secret.
//
// A Secret with none of these keys provides nothing and is no error; one with
// keys that Envoy could not use is an error naming the key. Errors never quote
// the Secret's data.
func Secrets(name string, data map[string][]byte) ([]*tlsv3.Secret, error) {
	crt, hasCrt := data[SecretCertKey]
	key, hasKey := data[SecretKeyKey]
	ca, hasCA := data[SecretCAKey]
	switch {
	case hasCrt != hasKey:
		return nil, fmt.Errorf("Secret %q has only one of %s and %s", name, SecretCertKey, SecretKeyKey)
	case hasCrt:
		if _, err := tls.X509KeyPair(crt, key); err != nil {
			return nil, fmt.Errorf("Secret %q: %s and %s are not a certificate and its private key in PEM: %w", name, SecretCertKey, SecretKeyKey, err)
		}
		out := []*tlsv3.Secret{{Name: name, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: inline(crt),
			PrivateKey:       inline(key),
		}}}}
		if hasCA {
			vc, err := validationContext(name, ca, data)
			if err != nil {
				return nil, err
			}
			out = append(out, &tlsv3.Secret{Name: name + CASuffix, Type: vc})
		}
		return out, nil
	case hasCA:
		vc, err := validationContext(name, ca, data)
		if err != nil {
			return nil, err
		}
		return []*tlsv3.Secret{{Name: name, Type: vc}}, nil
	}
	return nil, nil
}

func validationContext(name string, ca []byte, data map[string][]byte) (*tlsv3.Secret_ValidationContext, error) {
	if err := pemHas(ca, "CERTIFICATE", func(b []byte) error { _, err := x509.ParseCertificate(b); return err }); err != nil {
		return nil, fmt.Errorf("Secret %q: %s: %w", name, SecretCAKey, err)
	}
	vc := &tlsv3.CertificateValidationContext{TrustedCa: inline(ca)}
	if crl, ok := data[SecretCRLKey]; ok {
		if err := pemHas(crl, "X509 CRL", func(b []byte) error { _, err := x509.ParseRevocationList(b); return err }); err != nil {
			return nil, fmt.Errorf("Secret %q: %s: %w", name, SecretCRLKey, err)
		}
		vc.Crl = inline(crl)
	}
	return &tlsv3.Secret_ValidationContext{ValidationContext: vc}, nil
}

// pemHas checks that b holds PEM blocks of the given type, each of which parse
// accepts, and at least one.
func pemHas(b []byte, blockType string, parse func([]byte) error) error {
	found := 0
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != blockType {
			continue
		}
		if err := parse(block.Bytes); err != nil {
			return err
		}
		found++
	}
	if found == 0 {
		return errors.New("no PEM block of type " + blockType)
	}
	return nil
}

func inline(b []byte) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b}}
}

// Redact returns a marshalled resource fit to show: an SDS secret with its private
// key, its key password and any generic secret replaced by "[redacted]", as in
// Envoy's own config dump; any other resource unchanged. Every dump (CSDS, the
// CLI's config-dump) passes through it, so a private key is never shown.
func Redact(typeURL string, a *anypb.Any) (*anypb.Any, error) {
	if typeURL != resourcev3.SecretType || a == nil {
		return a, nil
	}
	var s tlsv3.Secret
	if err := a.UnmarshalTo(&s); err != nil {
		return nil, err
	}
	hidden := func() *corev3.DataSource {
		return &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: Redacted}}
	}
	if c := s.GetTlsCertificate(); c != nil {
		if c.PrivateKey != nil {
			c.PrivateKey = hidden()
		}
		if c.Password != nil {
			c.Password = hidden()
		}
	}
	if g := s.GetGenericSecret(); g != nil {
		g.Secret = hidden()
	}
	return anypb.New(&s)
}

// Redacted stands for secret material in dumps.
const Redacted = "[redacted]"
