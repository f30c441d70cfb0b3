package webhookcert

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// writeCertFiles writes the serving certificate and key of the Secret data into
// dir as tls.crt and tls.key, unless they already hold exactly that. It reports
// whether it wrote anything.
//
// Each file is replaced atomically (a temporary file renamed over it), the key
// first. The webhook server's certwatcher re-reads both files on every fsnotify
// event and every 10s; if it reads the new key with the old certificate, it
// logs that they do not match, keeps serving the old pair, and picks up the new
// one at the certificate's event a moment later. The CA key is never written.
func writeCertFiles(dir string, data map[string][]byte) (bool, error) {
	certPEM, keyPEM := data[TLSCertKey], data[TLSKeyKey]
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return false, fmt.Errorf("the Secret holds no usable serving certificate: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, err
	}
	wrote := false
	for _, f := range []struct {
		name string
		data []byte
	}{{TLSKeyKey, keyPEM}, {TLSCertKey, certPEM}} {
		path := filepath.Join(dir, f.name)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, f.data) {
			continue
		} else if err != nil && !errors.Is(err, os.ErrNotExist) {
			return wrote, err
		}
		if err := writeFileAtomic(path, f.data); err != nil {
			return wrote, err
		}
		wrote = true
	}
	return wrote, nil
}

func writeFileAtomic(path string, data []byte) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
