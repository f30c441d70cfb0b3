package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"sigs.k8s.io/yaml"
)

// scrape returns the value of every series on the metrics endpoint, by its text
// form (`name{label="value"}`).
func scrape(t *testing.T, a *arcturus) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + a.MetricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d, %v", resp.StatusCode, err)
	}
	series := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			series[line[:i]] = v
		}
	}
	return series
}

// waitMetric polls the metrics endpoint until ok holds for the series' value.
func waitMetric(t *testing.T, a *arcturus, series string, ok func(float64) bool) {
	t.Helper()
	eventually(t, "metric "+series, func() error {
		v, found := scrape(t, a)[series]
		if !found || !ok(v) {
			return fmt.Errorf("%s = %v (present: %v)", series, v, found)
		}
		return nil
	})
}

func positive(v float64) bool { return v > 0 }
func equals(want float64) func(float64) bool {
	return func(v float64) bool { return v == want }
}

// cli runs the arcturus binary (or the named copy of it) as a CLI and returns
// its standard output.
func cli(t *testing.T, exe string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %q: %v\nstdout: %s\nstderr: %s", filepath.Base(exe), args, err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// proxyStatusRow returns the fields of the node's proxy-status row: NAME, then
// per CDS, LDS, EDS, RDS the status (and version when there is one).
func proxyStatusRow(out, node string) (cds string, ok bool) {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == node {
			return f[1], true
		}
	}
	return "", false
}

// clusterPort returns the port of the first endpoint of the named cluster in a
// response, or 0.
func clusterPort(t *testing.T, resp *discoveryv3.DiscoveryResponse, name string) uint32 {
	t.Helper()
	for _, a := range resp.GetResources() {
		var c clusterv3.Cluster
		if err := a.UnmarshalTo(&c); err != nil {
			t.Fatal(err)
		}
		if c.GetName() == name {
			for _, e := range c.GetLoadAssignment().GetEndpoints() {
				for _, lb := range e.GetLbEndpoints() {
					return lb.GetEndpoint().GetAddress().GetSocketAddress().GetPortValue()
				}
			}
		}
	}
	return 0
}

// dumpEntry is one resource of config-dump's output.
type dumpEntry struct {
	Type, Name, Source, Status, Version, Error string
	Config                                     map[string]any
}

func configDump(t *testing.T, a *arcturus, pod, ns string) []dumpEntry {
	t.Helper()
	out := cli(t, binary, "config-dump", pod, "-n", ns, "--kubeconfig", kubeconfig, "--xds-address", a.XDSAddr)
	if testing.Verbose() {
		t.Logf("arcturus config-dump %s -n %s:\n%s", pod, ns, out)
	}
	var entries []dumpEntry
	if err := yaml.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("config-dump output is not the YAML list: %v\n%s", err, out)
	}
	return entries
}

func findEntry(entries []dumpEntry, typ, name string) (dumpEntry, bool) {
	for _, e := range entries {
		if e.Type == typ && e.Name == name {
			return e, true
		}
	}
	return dumpEntry{}, false
}

// TestObservability closes the loop from the operator's side: the Prometheus
// metrics, CSDS through `arcturus proxy-status` (also as a kubectl plugin), and
// `arcturus config-dump` with each resource's source custom resource, for a node
// that ACKs and one that NACKs.
func TestObservability(t *testing.T) {
	a := startArcturus(t)
	ns := newNamespace(t)
	newPod(t, ns, "gw-0", "127.0.0.1", map[string]string{"app": "gw"})
	newPod(t, ns, "gw-1", "127.0.0.1", map[string]string{"app": "gw"})
	// The custom resource's name differs from the Envoy name it serves.
	backend := object{kind: "Cluster", name: "backend-v1", selector: map[string]string{"app": "gw"}, config: staticCluster("backend", 8001)}
	apply(t, ns, backend)
	waitAccepted(t, ns, "Cluster", "backend-v1", "Valid")

	node0, node1 := "gw-0."+ns, "gw-1."+ns
	good := newSotW(t, a.XDSAddr, node0, resourcev3.ClusterType, "")
	good.waitFor("backend")

	t.Run("metrics", func(t *testing.T) {
		waitMetric(t, a, `arcturus_xds_connected_proxies`, equals(1))
		waitMetric(t, a, `arcturus_xds_responses_total{type="cluster"}`, positive)
		waitMetric(t, a, `arcturus_xds_acks_total{type="cluster"}`, positive)
		waitMetric(t, a, `arcturus_snapshot_resources{type="cluster"}`, equals(1))
		waitMetric(t, a, `arcturus_snapshot_build_seconds_count`, positive)
		if v := scrape(t, a)[`arcturus_xds_nacks_total{type="cluster"}`]; v != 0 {
			t.Errorf("nacks_total{cluster} = %v before any NACK", v)
		}
	})

	t.Run("convergence is measured from the change to the ACK", func(t *testing.T) {
		cfg := staticCluster("backend", 8002)
		apply(t, ns, object{kind: "Cluster", name: "backend-v1", selector: map[string]string{"app": "gw"}, config: cfg})
		for deadline := time.Now().Add(20 * time.Second); clusterPort(t, good.next(), "backend") != 8002; {
			if time.Now().After(deadline) {
				t.Fatal("the new endpoint did not reach gw-0")
			}
		}
		waitMetric(t, a, `arcturus_xds_convergence_seconds_count{type="cluster"}`, positive)
	})

	t.Run("proxy-status", func(t *testing.T) {
		eventually(t, "proxy-status shows gw-0 SYNCED for CDS", func() error {
			out := cli(t, binary, "proxy-status", "--xds-address", a.XDSAddr)
			if !strings.HasPrefix(out, "NAME ") {
				return fmt.Errorf("no table header:\n%s", out)
			}
			if cds, ok := proxyStatusRow(out, node0); !ok || cds != "SYNCED" {
				return fmt.Errorf("CDS of %s is %q:\n%s", node0, cds, out)
			}
			return nil
		})
	})

	t.Run("kubectl plugin", func(t *testing.T) {
		dir := t.TempDir()
		plugin := filepath.Join(dir, "kubectl-arcturus")
		if err := os.Symlink(binary, plugin); err != nil {
			t.Fatal(err)
		}
		if cds, ok := proxyStatusRow(cli(t, plugin, "proxy-status", "--xds-address", a.XDSAddr), node0); !ok || cds != "SYNCED" {
			t.Errorf("kubectl-arcturus proxy-status: CDS of %s is %q", node0, cds)
		}
		if _, err := os.Stat(kubectl); err != nil {
			t.Skipf("no kubectl: %v", err)
		}
		// kubectl finds the plugin on $PATH and passes the arguments on.
		cmd := exec.Command(kubectl, "arcturus", "proxy-status", "--xds-address", a.XDSAddr)
		cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"), "KUBECONFIG="+kubeconfig)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl arcturus proxy-status: %v\n%s", err, out)
		}
		if cds, ok := proxyStatusRow(string(out), node0); !ok || cds != "SYNCED" {
			t.Errorf("kubectl arcturus proxy-status: CDS of %s is %q:\n%s", node0, cds, out)
		}
	})

	t.Run("config-dump", func(t *testing.T) {
		var e dumpEntry
		eventually(t, "config-dump shows backend SYNCED", func() error {
			var ok bool
			e, ok = findEntry(configDump(t, a, "gw-0", ns), "cluster", "backend")
			if !ok || e.Status != "SYNCED" {
				return fmt.Errorf("backend: %+v", e)
			}
			return nil
		})
		if want := "Cluster " + ns + "/backend-v1"; e.Source != want {
			t.Errorf("source %q, want %q", e.Source, want)
		}
		if e.Config["name"] != "backend" || e.Config["@type"] != "type.googleapis.com/envoy.config.cluster.v3.Cluster" || e.Config["connect_timeout"] != "1s" {
			t.Errorf("config %v", e.Config)
		}
		if e.Version == "" {
			t.Error("no version")
		}
	})

	t.Run("a NACK shows in proxy-status, config-dump and the metrics", func(t *testing.T) {
		const envoyError = "cluster bad: refused by the test client"
		picky := newSotWWith(t, a.XDSAddr, node1, resourcev3.ClusterType, "", []sotwOption{rejecting(func(r *discoveryv3.DiscoveryResponse) string {
			for _, res := range r.GetResources() {
				if m, err := res.UnmarshalNew(); err == nil && envoyName(m) == "bad" {
					return envoyError
				}
			}
			return ""
		})})
		picky.waitFor("backend")
		apply(t, ns, object{kind: "Cluster", name: "bad", selector: map[string]string{"app": "gw"}, config: staticCluster("bad", 8003)})
		good.waitFor("backend", "bad")
		picky.waitFor("backend", "bad") // the response it NACKs

		waitMetric(t, a, `arcturus_xds_nacks_total{type="cluster"}`, positive)
		waitMetric(t, a, `arcturus_xds_connected_proxies`, equals(2))
		eventually(t, "proxy-status shows gw-1 NACKED for CDS", func() error {
			out := cli(t, binary, "proxy-status", "--xds-address", a.XDSAddr)
			cds1, _ := proxyStatusRow(out, node1)
			cds0, _ := proxyStatusRow(out, node0)
			if cds1 != "NACKED" || cds0 != "SYNCED" || !strings.Contains(out, envoyError) {
				return fmt.Errorf("CDS: %s %q, %s %q:\n%s", node1, cds1, node0, cds0, out)
			}
			t.Logf("arcturus proxy-status:\n%s", out)
			return nil
		})
		entries := configDump(t, a, "gw-1", ns)
		bad, ok := findEntry(entries, "cluster", "bad")
		if !ok || bad.Status != "NACKED" || bad.Error != envoyError || bad.Source != "Cluster "+ns+"/bad" {
			t.Errorf("bad: %+v", bad)
		}
		if e, ok := findEntry(entries, "cluster", "backend"); !ok || e.Status != "SYNCED" {
			t.Errorf("backend on the rejecting node: %+v", e)
		}
	})
}
