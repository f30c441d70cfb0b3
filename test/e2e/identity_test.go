package e2e

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// holdFinalizer keeps a deleted test pod terminating (there is no kubelet here).
const holdFinalizer = "e2e.arcturus.dev/hold"

// newPendingPod creates a pod that was scheduled nowhere yet: Pending, no IP.
func newPendingPod(t *testing.T, ns, name string, finalizers ...string) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Finalizers: finalizers},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "envoy", Image: "envoy"}}},
	}
	if err := k8s.Create(testContext(t), pod); err != nil {
		t.Fatal(err)
	}
	if len(finalizers) > 0 {
		t.Cleanup(func() { releasePod(t, ns, name) })
	}
}

// setPodIP marks the pod running at ip.
func setPodIP(t *testing.T, ns, name, ip string) {
	t.Helper()
	var pod corev1.Pod
	if err := k8s.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: name}, &pod); err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
	if err := k8s.Status().Update(testContext(t), &pod); err != nil {
		t.Fatal(err)
	}
}

// releasePod removes the test finalizer so a terminating pod goes away.
func releasePod(t *testing.T, ns, name string) {
	var pod corev1.Pod
	if err := k8s.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: name}, &pod); err != nil {
		return
	}
	pod.Finalizers = nil
	if err := k8s.Update(testContext(t), &pod); err != nil {
		t.Errorf("release pod %s/%s: %v", ns, name, err)
	}
}

// waitSelected waits until the Cluster's status counts n selected pods: the
// controller has indexed them.
func waitSelected(t *testing.T, ns, cluster string, n int32) {
	t.Helper()
	eventually(t, fmt.Sprintf("Cluster %s selects %d pods", cluster, n), func() error {
		if got, _ := clusterStatus(t, ns, cluster); got.Selected != n {
			return fmt.Errorf("selected %d", got.Selected)
		}
		return nil
	})
}

// TestIdentityBeforeConfiguration checks that a node is served its pod's
// resources only once the pod has an IP, with --verify-node-ip on and off, and
// that a terminating pod, whose Envoy drains, keeps its configuration.
func TestIdentityBeforeConfiguration(t *testing.T) {
	for _, verify := range []bool{true, false} {
		t.Run("verify-node-ip="+strconv.FormatBool(verify), func(t *testing.T) {
			a := startArcturus(t, "--verify-node-ip="+strconv.FormatBool(verify))
			// newNamespaceWithCluster returns a namespace whose pods all select c1.
			newNamespaceWithCluster := func(t *testing.T) string {
				ns := newNamespace(t)
				apply(t, ns, object{kind: "Cluster", name: "c1", config: staticCluster("c1", 8001)})
				waitAccepted(t, ns, "Cluster", "c1", "Valid")
				return ns
			}

			t.Run("a pod without IP gets the empty configuration until its IP arrives", func(t *testing.T) {
				ns := newNamespaceWithCluster(t)
				newPendingPod(t, ns, "pending")
				waitSelected(t, ns, "c1", 1)
				c := newSotW(t, a.XDSAddr, "pending."+ns, resourcev3.ClusterType, "")
				if r := c.next(); len(r.GetResources()) != 0 || r.GetVersionInfo() == "" {
					t.Fatalf("a pod without IP was sent version %q with %v", r.GetVersionInfo(), resourceNames(t, r.GetResources()))
				}
				setPodIP(t, ns, "pending", "127.0.0.1")
				c.waitFor("c1")
			})

			t.Run("a terminating pod keeps its configuration", func(t *testing.T) {
				ns := newNamespaceWithCluster(t)
				apply(t, ns, object{kind: "Cluster", name: "c2", selector: map[string]string{"late": "yes"}, config: staticCluster("c2", 8002)})
				waitAccepted(t, ns, "Cluster", "c2", "Valid")
				newPendingPod(t, ns, "draining", holdFinalizer)
				setPodIP(t, ns, "draining", "127.0.0.1")
				c := newSotW(t, a.XDSAddr, "draining."+ns, resourcev3.ClusterType, "")
				c.waitFor("c1")

				if err := k8s.Delete(testContext(t), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "draining"}}); err != nil {
					t.Fatal(err)
				}
				// A label change after the deletion: once it is served, the
				// controller has seen the pod terminating.
				relabel(t, ns, "draining", map[string]string{"late": "yes"})
				c.waitFor("c1", "c2")
				// A draining Envoy that reconnects gets its configuration back.
				newSotW(t, a.XDSAddr, "draining."+ns, resourcev3.ClusterType, "").waitFor("c1", "c2")
			})

			if !verify {
				return
			}
			t.Run("a pod whose IP turns out elsewhere is never served", func(t *testing.T) {
				ns := newNamespaceWithCluster(t)
				newPendingPod(t, ns, "elsewhere")
				waitSelected(t, ns, "c1", 1)
				c := newSotW(t, a.XDSAddr, "elsewhere."+ns, resourcev3.ClusterType, "")
				if r := c.next(); len(r.GetResources()) != 0 {
					t.Fatalf("a pod without IP was sent %v", resourceNames(t, r.GetResources()))
				}
				setPodIP(t, ns, "elsewhere", "10.9.9.9")
				for {
					select {
					case r, ok := <-c.responses:
						if !ok {
							return // closed, as it must be
						}
						if len(r.GetResources()) != 0 {
							t.Fatalf("a stream from another IP was sent %v", resourceNames(t, r.GetResources()))
						}
					case <-time.After(20 * time.Second):
						t.Fatal("the stream from another IP was not closed")
					}
				}
			})
		})
	}
}
