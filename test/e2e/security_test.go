package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// firstResponse opens an ADS stream as node and returns the first CDS response or
// the stream's error.
func firstResponse(t *testing.T, conn *grpc.ClientConn, node string) (*discoveryv3.DiscoveryResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return nil, err
	}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: node}, TypeUrl: resourcev3.ClusterType}); err != nil {
		return nil, err
	}
	return stream.Recv()
}

// TestVerifyNodeIP checks that a stream must come from the IP of the pod its node
// ID names: a spoofed node ID is refused, the right one is served, and a stream
// opened before its pod had an IP is closed when the pod turns out elsewhere.
func TestVerifyNodeIP(t *testing.T) {
	a := startArcturus(t)
	ns := newNamespace(t)
	newPod(t, ns, "local", "127.0.0.1", nil)
	newPod(t, ns, "remote", "10.1.2.3", nil)
	apply(t, ns, object{kind: "Cluster", name: "secret-backend", config: staticCluster("secret-backend", 8001)})
	waitAccepted(t, ns, "Cluster", "secret-backend", "Valid")

	t.Run("a node ID naming another pod's IP is refused", func(t *testing.T) {
		_, err := firstResponse(t, dialConn(t, a.XDSAddr, nil), "remote."+ns)
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("spoofed node: %v, want PermissionDenied", err)
		}
	})

	t.Run("the pod's own IP is served", func(t *testing.T) {
		resp, err := firstResponse(t, dialConn(t, a.XDSAddr, nil), "local."+ns)
		if err != nil || len(resp.GetResources()) != 1 {
			t.Fatalf("own node: %v, %d resources", err, len(resp.GetResources()))
		}
	})

	t.Run("a stream waiting for its pod is closed when the pod has another IP", func(t *testing.T) {
		c := newSotW(t, a.XDSAddr, "late."+ns, resourcev3.ClusterType, "")
		if r := c.next(); len(r.GetResources()) != 0 {
			t.Fatalf("a node without pod got %d resources", len(r.GetResources()))
		}
		newPod(t, ns, "late", "10.9.9.9", nil)
		select {
		case r, ok := <-c.responses:
			if ok {
				t.Fatalf("the stranger was sent %d resources", len(r.GetResources()))
			}
		case <-time.After(10 * time.Second):
			t.Fatal("stream not closed")
		}
	})
}

// TestXDSTLS checks TLS and mTLS on the xDS port, and that a rotated server
// certificate is picked up without restart.
func TestXDSTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "xds-ca")
	otherCA := newCA(t, "other-ca")
	serverCert, serverKey := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca.issue(t, "arcturus-v1", serverCert, serverKey, false)
	clientCAFile := filepath.Join(dir, "client-ca.crt")
	writePEM(t, clientCAFile, "CERTIFICATE", ca.cert.Raw)

	a := startArcturus(t, "--xds-tls-cert-file", serverCert, "--xds-tls-key-file", serverKey, "--xds-tls-client-ca-file", clientCAFile)
	ns := newNamespace(t)
	newPod(t, ns, "gw-0", "127.0.0.1", nil)
	node := "gw-0." + ns

	goodCert, goodKey := filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	ca.issue(t, "envoy", goodCert, goodKey, true)
	badCert, badKey := filepath.Join(dir, "bad.crt"), filepath.Join(dir, "bad.key")
	otherCA.issue(t, "intruder", badCert, badKey, true)
	clientTLS := func(certFile, keyFile string) *tls.Config {
		pool := x509.NewCertPool()
		pool.AddCert(ca.cert)
		cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
		if certFile != "" {
			cert, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		return cfg
	}

	t.Run("a client certificate from the trusted CA is served", func(t *testing.T) {
		if _, err := firstResponse(t, dialConn(t, a.XDSAddr, clientTLS(goodCert, goodKey)), node); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no client certificate is refused", func(t *testing.T) {
		if _, err := firstResponse(t, dialConn(t, a.XDSAddr, clientTLS("", "")), node); err == nil {
			t.Fatal("served without a client certificate")
		}
	})
	t.Run("a client certificate from another CA is refused", func(t *testing.T) {
		if _, err := firstResponse(t, dialConn(t, a.XDSAddr, clientTLS(badCert, badKey)), node); err == nil {
			t.Fatal("served an untrusted client certificate")
		}
	})
	t.Run("the CLI reaches CSDS over mTLS", func(t *testing.T) {
		out, err := exec.Command(binary, "proxy-status", "--xds-address", a.XDSAddr,
			"--tls-ca-file", clientCAFile, "--tls-cert-file", goodCert, "--tls-key-file", goodKey).CombinedOutput()
		if err != nil {
			t.Fatalf("proxy-status over mTLS: %v\n%s", err, out)
		}
		if out, err := exec.Command(binary, "proxy-status", "--xds-address", a.XDSAddr, "--timeout", "3s").CombinedOutput(); err == nil {
			t.Fatalf("proxy-status in plaintext succeeded against an mTLS port:\n%s", out)
		}
	})
	t.Run("plaintext is refused", func(t *testing.T) {
		if _, err := firstResponse(t, dialConn(t, a.XDSAddr, nil), node); err == nil {
			t.Fatal("served plaintext")
		}
	})
	t.Run("a rotated server certificate is served without restart", func(t *testing.T) {
		time.Sleep(10 * time.Millisecond) // a later modification time
		ca.issue(t, "arcturus-v2", serverCert, serverKey, false)
		eventually(t, "rotated certificate served", func() error {
			conn, err := tls.Dial("tcp", a.XDSAddr, &tls.Config{RootCAs: clientTLS("", "").RootCAs, ServerName: "127.0.0.1",
				Certificates: clientTLS(goodCert, goodKey).Certificates, NextProtos: []string{"h2"}})
			if err != nil {
				return err
			}
			defer conn.Close()
			if cn := conn.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "arcturus-v2" {
				return fmt.Errorf("server certificate %s", cn)
			}
			return nil
		})
	})
}

// TestGracefulShutdown checks that SIGTERM ends the open streams at once (so Envoys
// reconnect to another replica) and that two replicas serve identical versions.
func TestGracefulShutdown(t *testing.T) {
	first := startArcturus(t)
	second := startArcturus(t)
	ns := newNamespace(t)
	newPod(t, ns, "gw-0", "127.0.0.1", nil)
	apply(t, ns, object{kind: "Cluster", name: "backend", config: staticCluster("backend", 8001)})
	waitAccepted(t, ns, "Cluster", "backend", "Valid")

	c1 := newSotW(t, first.XDSAddr, "gw-0."+ns, resourcev3.ClusterType, "")
	c2 := newSotW(t, second.XDSAddr, "gw-0."+ns, resourcev3.ClusterType, "")
	v1, v2 := c1.waitFor("backend").GetVersionInfo(), c2.waitFor("backend").GetVersionInfo()
	if v1 != v2 {
		t.Errorf("replicas serve versions %s and %s for the same resources", v1, v2)
	}

	start := time.Now()
	go first.Stop()
	select {
	case _, ok := <-c1.responses:
		if ok {
			t.Fatal("unexpected response while stopping")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stream not closed on SIGTERM")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stream closed after %s", d)
	}
	// The client reconnects to the other replica and finds the same version there:
	// nothing changes for the Envoy.
	again := newSotW(t, second.XDSAddr, "gw-0."+ns, resourcev3.ClusterType, v1)
	if v := again.waitFor("backend").GetVersionInfo(); v != v1 {
		t.Errorf("after moving replicas the version changed from %s to %s", v1, v)
	}
}

// testCA is a throwaway certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key}
}

// issue writes a leaf certificate and key signed by the CA.
func (ca *testCA) issue(t *testing.T, cn, certFile, keyFile string, client bool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	usage := x509.ExtKeyUsageServerAuth
	if client {
		usage = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Write the key first: the server reloads once the certificate changes.
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
	writePEM(t, certFile, "CERTIFICATE", der)
}

func writePEM(t *testing.T, file, typ string, der []byte) {
	t.Helper()
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
}

// dialConn connects to addr, over TLS when cfg is not nil.
func dialConn(t *testing.T, addr string, cfg *tls.Config) *grpc.ClientConn {
	t.Helper()
	creds := insecure.NewCredentials()
	if cfg != nil {
		creds = credentials.NewTLS(cfg)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}
