package webhookcert

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Keys of the Secret.
const (
	// CACertKey holds the CA bundle the API server must trust: the current CA
	// (the one that ca.key belongs to) first, then any older CA that is still
	// valid, so serving certificates it signed stay trusted during a CA rotation.
	// It is exactly what is injected as caBundle.
	CACertKey = "ca.crt"
	// CAKeyKey holds the current CA's private key (PKCS#8 PEM). It never leaves the Secret.
	CAKeyKey = "ca.key"
	// TLSCertKey and TLSKeyKey hold the serving certificate and its key (PKCS#8 PEM).
	TLSCertKey = corev1.TLSCertKey
	TLSKeyKey  = corev1.TLSPrivateKeyKey
)

// Lifetimes. A certificate is renewed once less than a third of its lifetime is
// left: the serving certificate about four months before it expires, the CA
// about three years before (the old CA stays in the bundle until it expires).
const (
	CALifetime      = 10 * 365 * 24 * time.Hour
	ServingLifetime = 365 * 24 * time.Hour
	// backdate is subtracted from NotBefore, so that an API server whose clock is
	// behind ours does not find a fresh certificate "not yet valid".
	backdate = time.Hour
)

// names are the subject alternative names the serving certificate must carry.
type names struct {
	dns []string
	ips []net.IP
}

// hosts returns every name as a string that x509.Certificate.VerifyHostname accepts.
func (n names) hosts() []string {
	out := append([]string(nil), n.dns...)
	for _, ip := range n.ips {
		out = append(out, ip.String())
	}
	return out
}

// renewalDue reports whether less than a third of cert's lifetime is left at now.
func renewalDue(cert *x509.Certificate, now time.Time) bool {
	return cert.NotAfter.Sub(now) < cert.NotAfter.Sub(cert.NotBefore)/3
}

func validAt(cert *x509.Certificate, now time.Time) bool {
	return !now.Before(cert.NotBefore) && !now.After(cert.NotAfter)
}

// plan is how desired may change the Secret.
type plan struct {
	// renewCA replaces a CA in its renewal window and drops expired CAs from the
	// bundle. Without it, only a missing or unusable CA is replaced.
	renewCA bool
	// renewServing replaces a serving certificate in its renewal window or one
	// that was not issued by the current CA. Without it, only a missing or
	// unusable one is replaced (expired, wrong names, not trusted by the bundle).
	renewServing bool
}

// desired returns the Secret data that should be stored, given what is stored
// (in, possibly nil), and why it differs ("" when it does not: then out is in).
// Keys other than ours are kept.
func desired(in map[string][]byte, n names, now time.Time, p plan) (out map[string][]byte, reason string, err error) {
	var reasons []string

	// The CA: the first certificate of ca.crt, with ca.key.
	stored := parseCerts(in[CACertKey])
	var ca *x509.Certificate
	var caKey crypto.Signer
	if len(stored) > 0 && stored[0].IsCA && validAt(stored[0], now) {
		if key, err := parseKey(in[CAKeyKey]); err == nil && keyMatches(stored[0], key) {
			ca, caKey = stored[0], key
		}
	}
	caPEM, caKeyPEM := firstPEM(in[CACertKey]), in[CAKeyKey]
	switch {
	case ca == nil:
		reasons = append(reasons, "no usable CA")
	case p.renewCA && renewalDue(ca, now):
		reasons = append(reasons, "CA expires on "+ca.NotAfter.UTC().Format(time.DateOnly))
		ca = nil
	}
	newCA := ca == nil
	if newCA {
		if ca, caKey, caPEM, caKeyPEM, err = newCACert(now); err != nil {
			return nil, "", err
		}
	}

	// The bundle: the current CA, then the older ones still valid (an expired one
	// is only dropped when the CA may be renewed, or when the bundle is rewritten).
	bundle := append([]byte(nil), caPEM...)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	for _, old := range stored {
		if old.Equal(ca) {
			continue
		}
		if !validAt(old, now) && (p.renewCA || newCA) {
			continue
		}
		bundle = append(bundle, pemCert(old.Raw)...)
		pool.AddCert(old)
	}
	if !bytes.Equal(bundle, in[CACertKey]) && !newCA {
		if !p.renewCA {
			bundle = in[CACertKey] // leave a well-formed but untidy bundle to the leader
		} else {
			reasons = append(reasons, "CA bundle pruned")
		}
	}

	// The serving certificate.
	certPEM, keyPEM := in[TLSCertKey], in[TLSKeyKey]
	why := servingProblem(certPEM, keyPEM, pool, n, now)
	if why == "" && p.renewServing {
		leaf, _ := parseLeaf(certPEM)
		switch {
		case renewalDue(leaf, now):
			why = "serving certificate expires on " + leaf.NotAfter.UTC().Format(time.DateOnly)
		case leaf.CheckSignatureFrom(ca) != nil:
			why = "serving certificate was issued by the previous CA"
		}
	}
	if why != "" {
		reasons = append(reasons, why)
		if certPEM, keyPEM, err = newServingCert(ca, caKey, n, now); err != nil {
			return nil, "", err
		}
	}

	if len(reasons) == 0 {
		return in, "", nil
	}
	out = make(map[string][]byte, len(in)+4)
	for k, v := range in {
		out[k] = v
	}
	out[CACertKey], out[CAKeyKey], out[TLSCertKey], out[TLSKeyKey] = bundle, caKeyPEM, certPEM, keyPEM
	return out, strings.Join(reasons, "; "), nil
}

// servingProblem says what is wrong with a serving certificate and key, or "".
func servingProblem(certPEM, keyPEM []byte, roots *x509.CertPool, n names, now time.Time) string {
	if len(certPEM) == 0 || len(keyPEM) == 0 {
		return "no serving certificate"
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return "unusable serving certificate: " + err.Error()
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return "unusable serving certificate: " + err.Error()
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return "serving certificate not valid for the CA bundle: " + err.Error()
	}
	for _, h := range n.hosts() {
		if err := leaf.VerifyHostname(h); err != nil {
			return "serving certificate does not cover " + h
		}
	}
	return ""
}

func newCACert(now time.Time) (*x509.Certificate, crypto.Signer, []byte, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: fmt.Sprintf("arcturus-webhook-ca@%d", now.Unix())},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	keyPEM, err := pemKey(key)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return cert, key, pemCert(der), keyPEM, nil
}

// newServingCert issues a serving certificate for n, valid for ServingLifetime
// but never beyond its CA.
func newServingCert(ca *x509.Certificate, caKey crypto.Signer, n names, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	notAfter := now.Add(ServingLifetime)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	cn := "arcturus-webhook"
	if len(n.dns) > 0 {
		cn = n.dns[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		DNSNames:              n.dns,
		IPAddresses:           n.ips,
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, nil, err
	}
	if keyPEM, err = pemKey(key); err != nil {
		return nil, nil, err
	}
	return pemCert(der), keyPEM, nil
}

func newSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func pemKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// parseCerts returns every certificate of a PEM bundle that parses.
func parseCerts(data []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return out
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil {
			out = append(out, c)
		}
	}
}

// firstPEM returns the first PEM block of data, re-encoded.
func firstPEM(data []byte) []byte {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil
	}
	return pem.EncodeToMemory(b)
}

func parseLeaf(certPEM []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(certPEM)
	if b == nil {
		return nil, errors.New("no PEM data")
	}
	return x509.ParseCertificate(b.Bytes)
}

func parseKey(keyPEM []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(keyPEM)
	if b == nil {
		return nil, errors.New("no PEM data")
	}
	if k, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, fmt.Errorf("unsupported key type %T", k)
	}
	if k, err := x509.ParseECPrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	return x509.ParsePKCS1PrivateKey(b.Bytes)
}

func keyMatches(cert *x509.Certificate, key crypto.Signer) bool {
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(key.Public())
}
