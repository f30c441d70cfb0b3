package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
	"github.com/arcturus-dev/arcturus/test/testenv"
)

// useOwnCluster starts an API server and etcd of the test's own, which it may
// stop and start, and points the helpers (k8s, kubeconfig) at it until the test
// ends.
func useOwnCluster(t *testing.T) *envtest.Environment {
	t.Helper()
	env, cfg, err := testenv.Start(testenv.Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	user, err := env.AddUser(envtest.User{Name: "outage-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: k8s.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	sharedClient, sharedKubeconfig := k8s, kubeconfig
	k8s, kubeconfig = c, path
	t.Cleanup(func() { k8s, kubeconfig = sharedClient, sharedKubeconfig })
	return env
}

// ready reports whether the controller's /readyz answers OK.
func (a *arcturus) ready() bool {
	resp, err := http.Get("http://" + a.ProbeAddr + "/readyz")
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// TestAPIServerOutage checks that API server and etcd outages are invisible to
// Envoys: a leader whose lease expires keeps serving (and writing nothing), a
// connected Envoy is sent nothing, a reconnecting one gets the same version, the
// replica stays ready, and changes made after recovery arrive within seconds.
// Then a replica killed with SIGKILL leaves its Envoys to another replica, which
// serves them the same versions and takes over status writing.
func TestAPIServerOutage(t *testing.T) {
	env := useOwnCluster(t)
	leaderArgs := []string{"--leader-elect", "--leader-election-namespace", "default"}
	first := startArcturus(t, leaderArgs...)
	ns := newNamespace(t)
	newPod(t, ns, "gw-0", "127.0.0.1", nil)
	apply(t, ns, object{kind: "Cluster", name: "a", config: staticCluster("a", 8001)})
	waitAccepted(t, ns, "Cluster", "a", "Valid") // the leader writes status
	victim := newSotW(t, first.XDSAddr, "gw-0."+ns, resourcev3.ClusterType, "")
	held := victim.waitFor("a")
	deltaVictim := newDelta(t, first.XDSAddr, "gw-0."+ns, resourcev3.ClusterType, nil)
	deltaVictim.next()

	// outage stops part of the control plane for d, checking the victims and the
	// replica throughout, then starts it again and times how long a change made
	// right after takes to reach the victim.
	change := 0
	outage := func(t *testing.T, stop, start func() error, d time.Duration) {
		t.Helper()
		if err := stop(); err != nil && !strings.Contains(err.Error(), "timeout waiting for process") {
			t.Fatal(err) // a timeout means it was killed: an outage all the same
		}
		deadline := time.Now().Add(d)
		for time.Now().Before(deadline) {
			select {
			case <-first.done:
				t.Fatal("the controller exited during the outage")
			default:
			}
			if !first.ready() {
				t.Error("/readyz failed during the outage")
			}
			victim.quiet(time.Second)
			deltaVictim.quiet(0)
		}
		// A reconnecting Envoy gets exactly the version it had.
		again := newSotW(t, first.XDSAddr, "gw-0."+ns, resourcev3.ClusterType, "")
		if r := again.next(); r.GetVersionInfo() != held.GetVersionInfo() || len(r.GetResources()) != len(held.GetResources()) {
			t.Errorf("a reconnecting Envoy got version %s with %d resources during the outage, want %s with %d",
				r.GetVersionInfo(), len(r.GetResources()), held.GetVersionInfo(), len(held.GetResources()))
		}
		again.cancel()
		if err := start(); err != nil {
			t.Fatal(err)
		}
		change++
		name := fmt.Sprintf("after-%d", change)
		eventually(t, "the API server answers again", func() error {
			return k8s.List(testContext(t), &ourv1alpha1.ClusterList{}, client.InNamespace(ns))
		})
		applied := time.Now()
		apply(t, ns, object{kind: "Cluster", name: name, config: staticCluster(name, 8001)})
		want := []string{"a"}
		for i := 1; i <= change; i++ {
			want = append(want, fmt.Sprintf("after-%d", i))
		}
		held = victim.waitFor(want...)
		if r := deltaVictim.next(); len(r.GetResources()) != 1 || r.GetResources()[0].GetName() != name {
			t.Errorf("the delta victim got %d resources and %v removed, want %s", len(r.GetResources()), r.GetRemovedResources(), name)
		}
		t.Logf("outage of %s: a change made after recovery reached the Envoy in %s", d, time.Since(applied).Round(10*time.Millisecond))
		waitAccepted(t, ns, "Cluster", name, "Valid")
		t.Logf("and its status was written %s after the change", time.Since(applied).Round(10*time.Millisecond))
	}

	t.Run("API server down for longer than the lease", func(t *testing.T) {
		api := env.ControlPlane.APIServer
		outage(t, api.Stop, api.Start, 30*time.Second)
	})

	t.Run("etcd restarted alone", func(t *testing.T) {
		etcd := env.ControlPlane.Etcd
		outage(t, etcd.Stop, etcd.Start, 15*time.Second)
	})

	t.Run("a replica killed with SIGKILL", func(t *testing.T) {
		second := startArcturus(t, leaderArgs...)
		onSecond := newSotW(t, second.XDSAddr, "gw-0."+ns, resourcev3.ClusterType, "")
		if r := onSecond.next(); r.GetVersionInfo() != held.GetVersionInfo() {
			t.Fatalf("the second replica serves version %s, the first %s", r.GetVersionInfo(), held.GetVersionInfo())
		}
		if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-first.done
		// The victim's stream ends; it reconnects to the second replica, which
		// answers its fresh subscription with the very version it holds.
		if _, open := <-victim.responses; open {
			t.Error("the killed replica's stream delivered a response")
		}
		reconnected := newSotW(t, second.XDSAddr, "gw-0."+ns, resourcev3.ClusterType, held.GetVersionInfo())
		if r := reconnected.next(); r.GetVersionInfo() != held.GetVersionInfo() {
			t.Errorf("reconnected to the second replica: version %s, want %s", r.GetVersionInfo(), held.GetVersionInfo())
		}
		// The second replica takes the lease over and writes status.
		apply(t, ns, object{kind: "Cluster", name: "after-kill", config: staticCluster("after-kill", 8001)})
		reconnected.waitFor(append(resourceNames(t, held.GetResources()), "after-kill")...)
		waitAccepted(t, ns, "Cluster", "after-kill", "Valid")
	})
}
