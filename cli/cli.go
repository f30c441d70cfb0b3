// Package cli is the command-line side of the arcturus binary: subcommands that
// inspect what the connected Envoys run, over the Client Status Discovery Service
// (CSDS) the controller serves on its xDS port.
//
//	arcturus proxy-status [--xds-address host:port]
//	arcturus config-dump POD [-n NAMESPACE] [--xds-address host:port] [--kubeconfig FILE] [--context NAME]
//
// A copy or symlink of the binary named kubectl-arcturus is a kubectl plugin:
// `kubectl arcturus proxy-status`.
package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	statusv3 "github.com/envoyproxy/go-control-plane/envoy/service/status/v3"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// PluginName is the binary name under which kubectl runs it as a plugin.
const PluginName = "kubectl-arcturus"

// DefaultXDSAddress is where the CLI finds the xDS port unless told otherwise
// (--xds-address or $ARCTURUS_XDS_ADDRESS): a local controller, or
// `kubectl port-forward svc/arcturus-xds 18000`.
const DefaultXDSAddress = "127.0.0.1:18000"

// commands are the subcommands, by name.
var commands = map[string]struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}{
	"proxy-status": {proxyStatusSummary, proxyStatus},
	"config-dump":  {configDumpSummary, configDump},
}

// IsCommand reports whether arg names a subcommand.
func IsCommand(arg string) bool {
	_, ok := commands[arg]
	return ok
}

// Main runs the CLI when args (os.Args) ask for it: when the first argument is
// a subcommand, or the binary runs as kubectl-arcturus. ran is false when the
// caller should run the controller instead.
func Main(args []string) (code int, ran bool) {
	plugin := strings.TrimSuffix(filepath.Base(args[0]), ".exe") == PluginName
	if !plugin && (len(args) < 2 || !IsCommand(args[1])) {
		return 0, false
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, args[1:], os.Stdout, os.Stderr), true
}

// Run runs one subcommand (args[0]) and returns the exit code: 0, 1 on failure,
// 2 on a usage error.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	err := cmd.run(ctx, args[1:], stdout, stderr)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, pflag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "%s: %v\n", args[0], err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: arcturus COMMAND [flags]   (or %s COMMAND, as the kubectl plugin \"kubectl arcturus\")\n\nCommands:\n", PluginName)
	for _, name := range []string{"proxy-status", "config-dump"} {
		fmt.Fprintf(w, "  %-13s %s\n", name, commands[name].summary)
	}
	fmt.Fprintf(w, "\nRun \"arcturus COMMAND --help\" for its flags. Without a command, arcturus runs the controller.\n")
}

// usageError is a bad command line.
type usageError struct{ error }

// commonFlags are the flags every subcommand has.
type commonFlags struct {
	xdsAddress string
	timeout    time.Duration
	// TLS to an xDS port served with --xds-tls-*: the CA that signed the server's
	// certificate, and a client certificate when it requires one (mTLS).
	tlsCA, tlsCert, tlsKey, tlsServerName string
}

func (c *commonFlags) bind(fs *pflag.FlagSet) {
	def := os.Getenv("ARCTURUS_XDS_ADDRESS")
	if def == "" {
		def = DefaultXDSAddress
	}
	fs.StringVar(&c.xdsAddress, "xds-address", def, "host:port of the Arcturus xDS server, which serves CSDS ($ARCTURUS_XDS_ADDRESS)")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "how long to wait for answers")
	fs.StringVar(&c.tlsCA, "tls-ca-file", "", "connect over TLS, trusting this CA (PEM) for the server's certificate")
	fs.StringVar(&c.tlsCert, "tls-cert-file", "", "client certificate (PEM) for an mTLS xDS port")
	fs.StringVar(&c.tlsKey, "tls-key-file", "", "key of --tls-cert-file (PEM)")
	fs.StringVar(&c.tlsServerName, "tls-server-name", "", "name to verify in the server's certificate (default: the host of --xds-address)")
}

// credentials returns the transport credentials the flags ask for.
func (c *commonFlags) credentials() (credentials.TransportCredentials, error) {
	if c.tlsCA == "" && c.tlsCert == "" {
		return insecure.NewCredentials(), nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.tlsServerName}
	if c.tlsCA != "" {
		pem, err := os.ReadFile(c.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("read --tls-ca-file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca-file %s holds no PEM certificate", c.tlsCA)
		}
	}
	if c.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("load --tls-cert-file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return credentials.NewTLS(cfg), nil
}

// newFlagSet returns a flag set whose errors and help go to stderr.
func newFlagSet(name, args, summary string, stderr io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: arcturus %s %s\n\n%s.\n\nFlags:\n%s", name, args, summary, fs.FlagUsages())
	}
	return fs
}

// parse parses args, turning flag errors into usage errors.
func parse(fs *pflag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	return nil
}

// fetchStatus asks the xDS server's CSDS for the client status.
func fetchStatus(ctx context.Context, c commonFlags, req *statusv3.ClientStatusRequest) (*statusv3.ClientStatusResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	creds, err := c.credentials()
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(c.xdsAddress, grpc.WithTransportCredentials(creds),
		// Every node's status in one message: allow far more than the default 4 MiB.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20)))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", c.xdsAddress, err)
	}
	defer func() { _ = conn.Close() }()
	resp, err := statusv3.NewClientStatusDiscoveryServiceClient(conn).FetchClientStatus(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("client status from %s: %w", c.xdsAddress, err)
	}
	return resp, nil
}
