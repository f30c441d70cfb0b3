package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWebhookCertDirAloneServesItsFiles checks that --webhook-cert-dir without
// --webhook-cert-mode serves the certificate found there (files mode) and starts
// at once, without looking for the builtin mode's namespace, which does not
// exist in the test API server.
func TestWebhookCertDirAloneServesItsFiles(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "webhook-ca")
	ca.issue(t, "webhook-files", filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), false)
	port := freePorts(t, 1)[0]

	start := time.Now()
	startArcturus(t, "--enable-webhooks", "--webhook-cert-dir", dir, "--webhook-port", port)
	t.Logf("ready after %s", time.Since(start).Round(time.Millisecond))

	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	eventually(t, "the webhook serves the certificate of --webhook-cert-dir", func() error {
		conn, err := tls.Dial("tcp", "127.0.0.1:"+port, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		if err != nil {
			return err
		}
		defer conn.Close()
		if cn := conn.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "webhook-files" {
			return errors.New("served certificate " + cn)
		}
		return nil
	})
}

// TestWebhookFlagsFailFast checks that webhook flags that cannot work stop the
// controller within seconds, with a message that says what to do.
func TestWebhookFlagsFailFast(t *testing.T) {
	withCerts := t.TempDir()
	newCA(t, "ca").issue(t, "webhook", filepath.Join(withCerts, "tls.crt"), filepath.Join(withCerts, "tls.key"), false)
	empty := t.TempDir()

	tests := map[string]struct {
		args []string // webhook flags
		want []string // in the output
	}{
		"a cert dir with builtin-only flags and no mode is ambiguous": {
			args: []string{"--webhook-cert-dir", withCerts, "--webhook-cert-extra-sans", "127.0.0.1"},
			want: []string{"--webhook-cert-extra-sans configure the builtin mode", "add --webhook-cert-mode=builtin"},
		},
		"builtin-only flags contradict files mode": {
			args: []string{"--webhook-cert-mode", "files", "--webhook-cert-dir", withCerts, "--webhook-cert-secret", "mine"},
			want: []string{"--webhook-cert-secret configure --webhook-cert-mode=builtin, but the mode is files"},
		},
		"files mode without certificates": {
			args: []string{"--webhook-cert-dir", empty},
			want: []string{"--webhook-cert-mode=files serves tls.crt and tls.key", filepath.Join(empty, "tls.crt"), "mount them there"},
		},
		"an unknown mode": {
			args: []string{"--webhook-cert-mode", "magic"},
			want: []string{`want builtin, certmanager or files, got \"magic\"`},
		},
		"builtin mode without its namespace": {
			args: []string{"--webhook-cert-mode", "builtin", "--webhook-cert-dir", t.TempDir(), "--pod-namespace", "no-such-namespace"},
			want: []string{`namespace \"no-such-namespace\" does not exist`, "set --pod-namespace"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ports := freePorts(t, 4)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary, append([]string{
				"--kubeconfig", kubeconfig,
				"--xds-bind-address", "127.0.0.1:" + ports[0],
				"--metrics-bind-address", "127.0.0.1:" + ports[1],
				"--health-probe-bind-address", "127.0.0.1:" + ports[2],
				"--webhook-port", ports[3],
				"--enable-webhooks",
			}, tc.args...)...)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			took := time.Since(start)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || ctx.Err() != nil {
				t.Fatalf("want a failed exit, got %v after %s:\n%s", err, took, out)
			}
			if took > 10*time.Second {
				t.Errorf("exited after %s, want within 10s", took)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
