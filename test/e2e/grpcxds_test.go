package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/arcturus-dev/arcturus/test/testenv"
)

// TestGRPCXDS uses grpc-go's production xDS client (the xds:/// resolver, run as
// a separate process, see ./xdsclient) as the data plane: it must accept what
// Arcturus serves (it NACKs what it cannot use), route real RPCs to the backend the
// Endpoint names, follow Endpoint updates, and see nothing when its pod is not
// selected.
func TestGRPCXDS(t *testing.T) {
	a := startArcturus(t)
	ns := newNamespace(t)

	// Two real gRPC backends; each stamps its name on every response.
	one := startBackend(t, "one")
	two := startBackend(t, "two")

	// The client's identity is a pod: its node ID is <pod>.<namespace>. There is
	// no kubelet, so the pod only needs to exist with the right labels.
	selected := map[string]string{"app": "grpc-client"}
	newPod(t, ns, "client-0", "127.0.0.1", selected)
	newPod(t, ns, "other-0", "127.0.0.1", map[string]string{"app": "other"})

	// The resources grpc-go walks: LDS echo → RDS echo-routes → CDS echo-backend →
	// EDS echo-backend, all selecting only app=grpc-client.
	apply(t, ns, object{kind: "Listener", name: "echo", selector: selected, config: grpcAPIListener("echo", "echo-routes")})
	apply(t, ns, object{kind: "Route", name: "echo-routes", selector: selected, config: catchAllRoute("echo-routes", "echo-backend")})
	apply(t, ns, object{kind: "Cluster", name: "echo-backend", selector: selected, config: edsCluster("echo-backend")})
	apply(t, ns, object{kind: "Endpoint", name: "echo-backend", selector: selected, config: endpoints("echo-backend", one)})
	for _, kn := range [][2]string{{"Listener", "echo"}, {"Route", "echo-routes"}, {"Cluster", "echo-backend"}, {"Endpoint", "echo-backend"}} {
		waitAccepted(t, ns, kn[0], kn[1], "Valid")
	}

	t.Run("selected pod follows endpoint updates", func(t *testing.T) {
		c := startXDSClient(t, a.XDSAddr, "client-0."+ns)

		// First contact: grpc-go needs the whole LDS→RDS→CDS→EDS chain before an
		// RPC can succeed; a NACK anywhere on it shows up as failing RPCs.
		c.waitBackend("one", 20*time.Second)
		c.expectOnly("one", 10)

		// Move the Endpoint to backend two: grpc-go must receive the new
		// ClusterLoadAssignment and switch without failing RPCs in between.
		apply(t, ns, object{kind: "Endpoint", name: "echo-backend", selector: selected, config: endpoints("echo-backend", two)})
		waitAccepted(t, ns, "Endpoint", "echo-backend", "Valid")
		c.waitBackend("two", 20*time.Second)
		c.expectOnly("two", 10)

		// grpc-go as a real NACKing client: a load-balancing policy it does not
		// implement is valid Envoy config, so Arcturus accepts and serves it, grpc-go
		// rejects it, and the Cluster says so with grpc-go's own message. The client
		// keeps the cluster it had, so RPCs go on working.
		maglev := edsCluster("echo-backend")
		maglev["lb_policy"] = "MAGLEV"
		apply(t, ns, object{kind: "Cluster", name: "echo-backend", selector: selected, config: maglev})
		waitAccepted(t, ns, "Cluster", "echo-backend", "Valid")
		eventually(t, "Cluster echo-backend Ready=False/Rejected with grpc-go's message", func() error {
			_, cond := clusterStatus(t, ns, "echo-backend")
			if cond == nil || cond.reason != "Rejected" || !strings.Contains(cond.message, "unexpected lbPolicy MAGLEV") {
				return fmt.Errorf("Ready %+v", cond)
			}
			return nil
		})
		c.expectOnly("two", 5)

		// Back to a policy grpc-go knows: Programmed again.
		apply(t, ns, object{kind: "Cluster", name: "echo-backend", selector: selected, config: edsCluster("echo-backend")})
		eventually(t, "Cluster echo-backend Ready=True", func() error {
			_, cond := clusterStatus(t, ns, "echo-backend")
			if cond == nil || cond.reason != "Programmed" {
				return fmt.Errorf("Ready %+v", cond)
			}
			return nil
		})
	})

	t.Run("unselected pod gets no listener", func(t *testing.T) {
		// other-0 is a known pod in the same namespace, but no resource selects it,
		// so its LDS answer is empty and the RPC must fail. grpc-go only declares a
		// resource it has never received absent when its watch timer fires (15 s;
		// an empty SotW answer alone does not count), so until then the RPC just
		// waits for configuration: a 5 s deadline keeps this bounded and fails with
		// DeadlineExceeded. Serving "echo" to this node would make it succeed.
		c := startXDSClient(t, a.XDSAddr, "other-0."+ns, "-count", "1", "-timeout", "5s")
		line := c.next(15 * time.Second)
		if !strings.HasPrefix(line, "error DeadlineExceeded ") && !strings.HasPrefix(line, "error Unavailable ") {
			t.Fatalf("RPC as a node no resource selects: got %q, want it to fail for lack of listener %q (DeadlineExceeded or Unavailable)", line, "echo")
		}
		t.Logf("RPC as unselected node failed as expected: %s", line)
	})
}

// grpcAPIListener is a gRPC (proxyless) listener: an api_listener holding an HTTP
// connection manager whose routes come from RDS over ADS.
func grpcAPIListener(name, routeConfig string) map[string]any {
	return map[string]any{
		"name": name,
		"api_listener": map[string]any{"api_listener": map[string]any{
			"@type":       "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
			"stat_prefix": name,
			"rds": map[string]any{
				"route_config_name": routeConfig,
				"config_source":     map[string]any{"ads": map[string]any{}, "resource_api_version": "V3"},
			},
			"http_filters": []any{map[string]any{
				"name":         "router",
				"typed_config": map[string]any{"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
			}},
		}},
	}
}

// catchAllRoute is a RouteConfiguration sending every request to cluster.
func catchAllRoute(name, cluster string) map[string]any {
	return map[string]any{
		"name": name,
		"virtual_hosts": []any{map[string]any{
			"name":    name,
			"domains": []any{"*"},
			"routes": []any{map[string]any{
				"match": map[string]any{"prefix": ""},
				"route": map[string]any{"cluster": cluster},
			}},
		}},
	}
}

// startBackend runs a gRPC server on a free loopback port serving the standard
// health service; every response carries the header "backend: <name>", so the
// client can tell which backend answered. It returns the port.
func startBackend(t *testing.T, name string) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stamp := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := grpc.SetHeader(ctx, metadata.Pairs("backend", name)); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
	s := grpc.NewServer(grpc.UnaryInterceptor(stamp))
	healthpb.RegisterHealthServer(s, health.NewServer()) // "" is SERVING by default
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	return l.Addr().(*net.TCPAddr).Port
}

var (
	// xdsClientOnce builds the client binary once per test run.
	xdsClientOnce sync.Once
	xdsClientBin  string
	xdsClientErr  error
)

// xdsClientBinary builds ./test/e2e/xdsclient into the run's work directory.
func xdsClientBinary(t *testing.T) string {
	t.Helper()
	xdsClientOnce.Do(func() {
		bin := filepath.Join(workDir, "xdsclient")
		build := exec.Command("go", "build", "-o", bin, "./test/e2e/xdsclient")
		build.Dir = testenv.RepoRoot()
		out, err := build.CombinedOutput()
		if err != nil {
			xdsClientErr = fmt.Errorf("build xdsclient: %v\n%s", err, out)
			return
		}
		xdsClientBin = bin
	})
	if xdsClientErr != nil {
		t.Fatal(xdsClientErr)
	}
	return xdsClientBin
}

// xdsClient is one running xdsclient process: grpc-go's xDS resolver connected to
// Arcturus as one node, making one RPC after another.
type xdsClient struct {
	t    *testing.T
	node string
	// lines delivers the client's stdout, one RPC result per line; closed when
	// the process's stdout ends.
	lines  chan string
	stderr *syncBuffer
}

// startXDSClient runs the xdsclient as node against the ADS server at xdsAddr,
// dialling xds:///echo, with extra flags. It is killed when the test ends, and its
// stderr (grpc-go's log) is printed if the test failed.
func startXDSClient(t *testing.T, xdsAddr, node string, args ...string) *xdsClient {
	t.Helper()
	bootstrap := fmt.Sprintf(`{"xds_servers":[{"server_uri":%q,"channel_creds":[{"type":"insecure"}],"server_features":["xds_v3"]}],"node":{"id":%q}}`, xdsAddr, node)
	cmd := exec.Command(xdsClientBinary(t), append([]string{"-target", "xds:///echo"}, args...)...)
	// grpc-go reads the bootstrap at package init, so it must be in the process
	// environment. Its log goes to stderr; info level shows the xDS resources it
	// receives and why it NACKs one.
	cmd.Env = append(os.Environ(),
		"GRPC_XDS_BOOTSTRAP_CONFIG="+bootstrap,
		"GRPC_GO_LOG_SEVERITY_LEVEL=info",
		"GRPC_GO_LOG_VERBOSITY_LEVEL=2",
	)
	c := &xdsClient{t: t, node: node, lines: make(chan string, 10000), stderr: &syncBuffer{}}
	cmd.Stderr = c.stderr
	// Our own pipe rather than cmd.StdoutPipe: cmd.Wait then never closes the end
	// being read, and the reader simply sees EOF when the process exits.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = w
	if err := cmd.Start(); err != nil {
		_ = r.Close()
		_ = w.Close()
		t.Fatal(err)
	}
	_ = w.Close()
	done := make(chan struct{})
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			select {
			case c.lines <- sc.Text():
			case <-done:
				return
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		close(done)
		_ = r.Close()
		if t.Failed() {
			t.Logf("xdsclient (node %s) stderr:\n%s", node, c.stderr.String())
		}
	})
	return c
}

// next returns the client's next RPC result line, failing the test if none comes
// within d or the process has exited.
func (c *xdsClient) next(d time.Duration) string {
	c.t.Helper()
	select {
	case line, ok := <-c.lines:
		if !ok {
			c.t.Fatalf("xdsclient (node %s) exited; stderr:\n%s", c.node, c.stderr.String())
		}
		return line
	case <-time.After(d):
		c.t.Fatalf("xdsclient (node %s) printed no RPC result within %s", c.node, d)
	}
	return ""
}

// waitBackend reads RPC results until one is answered by backend, failing the test
// if that takes longer than d. Before that, failed RPCs are expected (grpc-go is
// still fetching its configuration) and so are answers from the backend of the
// previous configuration.
func (c *xdsClient) waitBackend(backend string, d time.Duration) {
	c.t.Helper()
	want := "ok " + backend
	deadline := time.Now().Add(d)
	var seen []string // distinct results, for the failure message
	for {
		left := time.Until(deadline)
		if left <= 0 {
			c.t.Fatalf("node %s: no RPC answered by backend %q within %s; results seen: %q", c.node, backend, d, seen)
		}
		var line string
		select {
		case l, ok := <-c.lines:
			if !ok {
				c.t.Fatalf("xdsclient (node %s) exited while waiting for backend %q; results seen: %q", c.node, backend, seen)
			}
			line = l
		case <-time.After(left):
			continue
		}
		if line == want {
			return
		}
		if len(seen) == 0 || seen[len(seen)-1] != line {
			seen = append(seen, line)
		}
	}
}

// expectOnly asserts that the next n RPCs all succeed and are answered by backend:
// once grpc-go has switched, it must stay switched and keep working.
func (c *xdsClient) expectOnly(backend string, n int) {
	c.t.Helper()
	for i := range n {
		if line := c.next(10 * time.Second); line != "ok "+backend {
			c.t.Fatalf("node %s: RPC %d after switching to backend %q got %q", c.node, i+1, backend, line)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the process writing and the test reading.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
