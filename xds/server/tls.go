package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// tlsFiles serves a certificate and an optional client CA bundle from files,
// reloading them when they change on disk (cert-manager and kubelet Secret
// volumes rotate files in place).
type tlsFiles struct {
	certFile, keyFile, caFile string

	mu      sync.RWMutex
	cert    *tls.Certificate
	pool    *x509.CertPool
	modTime time.Time // newest modification time of the files loaded
}

func newTLSFiles(certFile, keyFile, caFile string) (*tlsFiles, error) {
	if certFile == "" || keyFile == "" {
		return nil, fmt.Errorf("xDS TLS needs both a certificate and a key file")
	}
	f := &tlsFiles{certFile: certFile, keyFile: keyFile, caFile: caFile}
	if err := f.load(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *tlsFiles) load() error {
	cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
	if err != nil {
		return fmt.Errorf("load xDS TLS certificate: %w", err)
	}
	var pool *x509.CertPool
	if f.caFile != "" {
		pem, err := os.ReadFile(f.caFile)
		if err != nil {
			return fmt.Errorf("read xDS client CA: %w", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("xDS client CA file %s holds no PEM certificate", f.caFile)
		}
	}
	f.mu.Lock()
	f.cert, f.pool, f.modTime = &cert, pool, f.newestModTime()
	f.mu.Unlock()
	return nil
}

func (f *tlsFiles) newestModTime() time.Time {
	var newest time.Time
	for _, name := range []string{f.certFile, f.keyFile, f.caFile} {
		if name == "" {
			continue
		}
		if st, err := os.Stat(name); err == nil && st.ModTime().After(newest) {
			newest = st.ModTime()
		}
	}
	return newest
}

// watch reloads the files when they change, until ctx ends. Polling is enough:
// certificates rotate in hours, and it also catches the symlink swaps of
// Kubernetes volumes that file notifications can miss.
func (f *tlsFiles) watch(ctx context.Context, log logr.Logger) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f.mu.RLock()
		loaded := f.modTime
		f.mu.RUnlock()
		if !f.newestModTime().After(loaded) {
			continue
		}
		if err := f.load(); err != nil {
			log.Error(err, "Failed to reload xDS TLS files; keeping the previous ones")
			continue
		}
		log.Info("Reloaded xDS TLS files")
	}
}

// config returns a TLS config that always uses the latest files.
func (f *tlsFiles) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			f.mu.RLock()
			defer f.mu.RUnlock()
			cfg := &tls.Config{
				MinVersion:   tls.VersionTLS12,
				Certificates: []tls.Certificate{*f.cert},
				NextProtos:   []string{"h2"},
			}
			if f.pool != nil {
				cfg.ClientCAs = f.pool
				cfg.ClientAuth = tls.RequireAndVerifyClientCert
			}
			return cfg, nil
		},
	}
}
