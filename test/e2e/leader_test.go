package e2e

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/arcturus-dev/arcturus/test/testenv"
)

// proxiedKubeconfig writes a kubeconfig that reaches the test API server through
// an Outage proxy, and returns its path and the proxy.
func proxiedKubeconfig(t *testing.T) (string, *testenv.Outage) {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	var proxy *testenv.Outage
	for _, c := range cfg.Clusters {
		u, err := url.Parse(c.Server)
		if err != nil {
			t.Fatal(err)
		}
		proxy = testenv.NewOutage(t, u.Host)
		c.Server = "https://" + proxy.Addr
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path, proxy
}

// TestLeaderSurvivesAnAPIServerOutage cuts a --leader-elect controller off the
// API server until its lease is lost: it keeps running and keeps its Envoy's
// stream, and once the API server is reachable again it serves changes and
// writes status again.
func TestLeaderSurvivesAnAPIServerOutage(t *testing.T) {
	ns := newNamespace(t)
	newPod(t, ns, "gw-0", "127.0.0.1", nil)
	path, proxy := proxiedKubeconfig(t)
	a := startArcturus(t, "--kubeconfig", path, "--leader-elect", "--leader-election-namespace", ns)
	apply(t, ns, object{kind: "Cluster", name: "c1", config: staticCluster("c1", 8001)})
	waitAccepted(t, ns, "Cluster", "c1", "Valid")
	c := newSotW(t, a.XDSAddr, "gw-0."+ns, resourcev3.ClusterType, "")
	c.waitFor("c1")

	proxy.Cut()
	start := time.Now()
	logs, err := filepath.Glob(filepath.Join(workDir, "arcturus-"+filepath.Base(t.Name())+"-*.log"))
	if err != nil || len(logs) != 1 {
		t.Fatalf("controller log: %v %v", logs, err)
	}
	eventually(t, "the leader loses its lease", func() error {
		b, err := os.ReadFile(logs[0])
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), "Lost the leader lease") {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	t.Logf("lease lost %s after the API server became unreachable", time.Since(start).Round(100*time.Millisecond))
	select {
	case <-a.done:
		t.Fatal("the controller exited when it lost the lease")
	case r, ok := <-c.responses:
		t.Fatalf("the Envoy's stream changed during the outage: %v, open %v", r, ok)
	default:
	}

	proxy.Restore()
	cfg := staticCluster("c1", 8001)
	cfg["connect_timeout"] = "5s"
	apply(t, ns, object{kind: "Cluster", name: "c1", config: cfg})
	for r := c.next(); connectTimeout(t, r, "c1") != 5*time.Second; r = c.next() {
	}
	waitAccepted(t, ns, "Cluster", "c1", "Valid") // generation 2: status written again
	t.Logf("outage and recovery took %s", time.Since(start).Round(100*time.Millisecond))
}
