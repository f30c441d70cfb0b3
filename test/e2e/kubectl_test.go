package e2e

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// runKubectl runs the test kubectl against the test API server.
func runKubectl(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(kubectl, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr // warnings, such as the core Endpoints deprecation
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// TestKubectl checks what users see with kubectl: the envoy category, short names
// that leave core kinds alone, and the printer columns.
func TestKubectl(t *testing.T) {
	startArcturus(t)
	ns := newNamespace(t)
	apply(t, ns, object{kind: "Cluster", name: "backend", config: edsCluster("backend-v1")})
	apply(t, ns, object{kind: "Endpoint", name: "backend", config: endpoints("backend-v1", 8001)})
	apply(t, ns, object{kind: "Route", name: "routes", config: map[string]any{"name": "routes"}})
	apply(t, ns, object{kind: "Listener", name: "http", config: map[string]any{
		"address": map[string]any{"socket_address": map[string]any{"address": "0.0.0.0", "port_value": 10080}},
	}})
	core := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "backend"}}
	if err := k8s.Create(testContext(t), core); err != nil {
		t.Fatal(err)
	}
	waitAccepted(t, ns, "Cluster", "backend", "Valid")

	lines := func(s string) []string {
		l := strings.Fields(s)
		slices.Sort(l)
		return l
	}
	tests := map[string]struct {
		args []string // kubectl arguments (namespace added)
		want []string // sorted output lines of -o name
	}{
		"the envoy category lists every kind": {
			args: []string{"get", "envoy", "-o", "name"},
			want: []string{"cluster.envoy.arcturus.dev/backend", "endpoint.envoy.arcturus.dev/backend", "listener.envoy.arcturus.dev/http", "route.envoy.arcturus.dev/routes"},
		},
		"endpoints still means the core kind": {
			args: []string{"get", "endpoints", "-o", "name"},
			want: []string{"endpoints/backend"},
		},
		"short names reach the Arcturus kinds": {
			args: []string{"get", "eep,ec,el,er", "-o", "name"},
			want: []string{"cluster.envoy.arcturus.dev/backend", "endpoint.envoy.arcturus.dev/backend", "listener.envoy.arcturus.dev/http", "route.envoy.arcturus.dev/routes"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := lines(runKubectl(t, append(tc.args, "-n", ns)...))
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("printer columns show the Envoy name, acceptance, readiness and proxies", func(t *testing.T) {
		out := runKubectl(t, "get", "clusters.envoy.arcturus.dev", "-n", ns)
		rows := strings.Split(strings.TrimSpace(out), "\n")
		if len(rows) != 2 {
			t.Fatalf("output:\n%s", out)
		}
		if got := strings.Fields(rows[0]); !slices.Equal(got, []string{"NAME", "ENVOY", "NAME", "ACCEPTED", "RESOLVED", "READY", "PROXIES", "AGE"}) {
			t.Errorf("header %q", rows[0])
		}
		// No pod is selected: nothing to wait for, so Ready, with 0 of 0 proxies.
		if got := strings.Fields(rows[1]); len(got) < 6 || !slices.Equal(got[:6], []string{"backend", "backend-v1", "True", "True", "True", "0/0"}) {
			t.Errorf("row %q", rows[1])
		}
	})

	t.Run("a route to a missing cluster is not resolved", func(t *testing.T) {
		ns := newNamespace(t)
		newPod(t, ns, "gateway-0", "10.0.0.1", nil)
		apply(t, ns, object{kind: "Route", name: "dangling", config: map[string]any{"virtual_hosts": []any{map[string]any{
			"name": "all", "domains": []any{"*"},
			"routes": []any{map[string]any{"match": map[string]any{"prefix": "/"}, "route": map[string]any{"cluster": "nowhere"}}},
		}}}})
		eventually(t, "the RESOLVED column to say False", func() error {
			out := runKubectl(t, "get", "envoy", "-n", ns)
			rows := strings.Split(strings.TrimSpace(out), "\n")
			if len(rows) != 2 {
				return fmt.Errorf("output:\n%s", out)
			}
			header, row := strings.Fields(rows[0]), strings.Fields(rows[1])
			i := slices.Index(header, "RESOLVED")
			// ENVOY NAME is two header words: the row has one field fewer before it.
			if i < 0 || len(row) < i || row[0] != "route.envoy.arcturus.dev/dangling" || row[i-1] != "False" {
				return fmt.Errorf("output:\n%s", out)
			}
			return nil
		})
	})
}
