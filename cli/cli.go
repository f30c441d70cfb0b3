// Package cli is the command line of the arcturus binary: it picks the
// subcommand, runs the controller only when asked to, and implements the
// subcommands that inspect Envoy configuration.
//
//	arcturus controller [flags]        run the controller (the container's command)
//	arcturus proxy-status [flags]      every connected Envoy, over CSDS
//	arcturus config-dump POD [flags]   one connected Envoy's resources, over CSDS
//	arcturus config-dump --pod NS/NAME what a pod would be served, from the API alone
//	arcturus version | help [COMMAND]
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

// Controller runs the controller with its command-line flags and returns the
// exit code; main provides it, because the controller's flags live there. legacy
// is set when the binary ran with flags and no subcommand, as before subcommands
// existed.
type Controller func(args []string, legacy bool) int

// command is one subcommand run in-process by Run.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands are the subcommands Run implements, by name. "controller" is not
// among them: only Main starts it, so nothing in-process can by accident.
var commands = map[string]command{
	"proxy-status": {proxyStatusSummary, proxyStatus},
	"config-dump":  {configDumpSummary, configDump},
	"version":      {versionSummary, version},
}

// controllerSummary describes the controller subcommand in the usage.
const controllerSummary = "Run the controller: watch the Envoy custom resources and pods, serve xDS"

// commandOrder is the order of the usage's command list.
var commandOrder = []string{"controller", "proxy-status", "config-dump", "version", "help"}

// Main runs the binary with args (os.Args) and returns the exit code: 0, 1 on
// failure, 2 on a usage error.
//
// Reasoning: only `arcturus controller` starts the controller, so `arcturus help`
// or a mistyped subcommand can never start a second controller that writes
// status. The one exception keeps existing installs working: flags with no
// subcommand (`arcturus --leader-elect`, what manifests ran before subcommands
// existed) start it too, with a deprecation notice. Under the kubectl plugin
// name that exception does not apply.
func Main(args []string, controller Controller) int {
	plugin := strings.TrimSuffix(filepath.Base(args[0]), ".exe") == PluginName
	rest := args[1:]
	switch {
	case len(rest) > 0 && rest[0] == "controller":
		return controller(rest[1:], false)
	case len(rest) > 1 && rest[0] == "help" && rest[1] == "controller":
		return controller([]string{"--help"}, false)
	case !plugin && len(rest) > 0 && strings.HasPrefix(rest[0], "-") && !isHelpFlag(rest[0]):
		return controller(rest, true)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, rest, os.Stdout, os.Stderr)
}

func isHelpFlag(arg string) bool {
	switch arg {
	case "-h", "-help", "--help":
		return true
	}
	return false
}

// Run runs one subcommand (args[0]) other than controller and returns the exit
// code: 0, 1 on failure, 2 on a usage error.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name := args[0]
	switch {
	case name == "help" && len(args) > 1:
		// `help COMMAND` is `COMMAND --help`.
		name, args = args[1], []string{args[1], "--help"}
	case name == "help" || isHelpFlag(name):
		usage(stdout)
		return 0
	}
	cmd, ok := commands[name]
	if !ok {
		if name == "controller" {
			fmt.Fprintf(stderr, "%s: only the arcturus binary runs the controller\n", name)
			return 2
		}
		fmt.Fprintf(stderr, "arcturus: unknown command %q", name)
		if s := suggest(name); s != "" {
			fmt.Fprintf(stderr, "; did you mean %q?", s)
		}
		fmt.Fprintf(stderr, "\n\n")
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
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	default:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: arcturus COMMAND [flags]   (or %s COMMAND, as the kubectl plugin \"kubectl arcturus\")\n\nCommands:\n", PluginName)
	for _, name := range commandOrder {
		summary := commands[name].summary
		switch name {
		case "controller":
			summary = controllerSummary
		case "help":
			summary = "Print this help, or a command's (help COMMAND)"
		}
		fmt.Fprintf(w, "  %-13s %s\n", name, summary)
	}
	fmt.Fprintf(w, "\nRun \"arcturus COMMAND --help\" for its flags.\n")
}

// suggest returns the command name closest to a mistyped one, or "" when none
// is close: one is a prefix of the other, or at most two edits apart.
func suggest(typo string) string {
	best, bestDist := "", 3
	for _, name := range commandOrder {
		d := editDistance(typo, name)
		if len(typo) >= 3 && (strings.HasPrefix(name, typo) || strings.HasPrefix(typo, name)) {
			d = min(d, 1)
		}
		if d < bestDist {
			best, bestDist = name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
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
