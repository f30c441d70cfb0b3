package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/arcturus-dev/arcturus/internal/webhookcert"
)

// Webhook certificate modes (--webhook-cert-mode).
const (
	certModeBuiltin     = "builtin"
	certModeCertManager = "certmanager"
	certModeFiles       = "files"
)

// builtinOnlyFlags configure the builtin mode and mean nothing in the others.
var builtinOnlyFlags = []string{"webhook-cert-secret", "webhook-service", "webhook-config-name", "webhook-cert-extra-sans"}

// resolveWebhookCertMode decides the certificate mode from the flags the user set
// (set: the names flag.Visit reports) and refuses combinations that contradict
// each other, with a message that says what to do.
//
// Reasoning: a user who points --webhook-cert-dir at a directory of certificates
// means "serve these". Under the builtin default the controller would instead
// wait for its Secret's namespace and overwrite the files, so an explicit
// --webhook-cert-dir without --webhook-cert-mode means files. Modes that serve
// mounted files need tls.crt and tls.key at start; they are checked here so a
// missing mount fails at once with its path rather than deep in the webhook server.
func resolveWebhookCertMode(o options, set map[string]bool) (string, error) {
	mode := o.webhookCertMode
	switch mode {
	case certModeBuiltin, certModeCertManager, certModeFiles:
	default:
		return "", fmt.Errorf("--webhook-cert-mode: want builtin, certmanager or files, got %q", mode)
	}
	var builtinSet []string
	for _, name := range builtinOnlyFlags {
		if set[name] {
			builtinSet = append(builtinSet, "--"+name)
		}
	}
	if !set["webhook-cert-mode"] && set["webhook-cert-dir"] {
		if len(builtinSet) > 0 {
			return "", fmt.Errorf("--webhook-cert-dir without --webhook-cert-mode serves the certificates found in %s (files mode), but %s configure the builtin mode: "+
				"add --webhook-cert-mode=builtin to have the controller write its own certificate into %[1]s, or drop %[2]s to serve the files already there",
				o.webhookCertDir, strings.Join(builtinSet, ", "))
		}
		mode = certModeFiles
	}
	if mode != certModeBuiltin && len(builtinSet) > 0 {
		return "", fmt.Errorf("%s configure --webhook-cert-mode=builtin, but the mode is %s: drop them, or use --webhook-cert-mode=builtin",
			strings.Join(builtinSet, ", "), mode)
	}
	if mode != certModeBuiltin {
		dir := o.webhookCertDir
		if dir == "" {
			dir = webhookcert.DefaultCertDir()
		}
		var missing []error
		for _, f := range []string{webhookcert.TLSCertKey, webhookcert.TLSKeyKey} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				missing = append(missing, err)
			}
		}
		if len(missing) > 0 {
			return "", fmt.Errorf("--webhook-cert-mode=%s serves tls.crt and tls.key from --webhook-cert-dir, but %w: mount them there, "+
				"or use --webhook-cert-mode=builtin to have the controller create them", mode, errors.Join(missing...))
		}
	}
	return mode, nil
}

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}
