package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
	"github.com/arcturus-dev/arcturus/test/testenv"
	"github.com/arcturus-dev/arcturus/xds/index"
)

const waitFor = 15 * time.Second

// newNamespace creates a namespace for one test.
func newNamespace(t *testing.T, c client.Client) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ctrl-"}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// newCluster creates a Cluster CR with the given Envoy config and selector.
func newCluster(t *testing.T, c client.Client, ns, name string, cfg map[string]any, selector map[string]string) *ourv1alpha1.Cluster {
	t.Helper()
	obj := &ourv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	obj.Spec.Config = rawJSON(t, cfg)
	if selector != nil {
		obj.Spec.WorkloadSelector = &ourv1alpha1.WorkloadSelector{Labels: selector}
	}
	if err := c.Create(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

func rawJSON(t *testing.T, v any) runtime.RawExtension {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return runtime.RawExtension{Raw: b}
}

// newPod creates a pod with the given labels that looks running (there is no
// kubelet): it has an IP, without which it would get no configuration.
func newPod(t *testing.T, c client.Client, ns, name string, labels map[string]string) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "envoy", Image: "envoy"}}},
	}
	if err := c.Create(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}}}
	if err := c.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it returns nil or waitFor passes.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	testenv.Eventually(t, waitFor, what, cond)
}

// acceptedCondition waits until the Cluster's Accepted condition has the reason and
// observes the current generation, and returns the object.
func waitAccepted(t *testing.T, c client.Client, ns, name, reason string) *ourv1alpha1.Cluster {
	t.Helper()
	var obj ourv1alpha1.Cluster
	eventually(t, fmt.Sprintf("Cluster %s Accepted reason %s", name, reason), func() error {
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &obj); err != nil {
			return err
		}
		cond := meta.FindStatusCondition(obj.Status.Conditions, ourv1alpha1.ConditionAccepted)
		if cond == nil || cond.Reason != reason || cond.ObservedGeneration != obj.Generation || obj.Status.ObservedGeneration != obj.Generation {
			return fmt.Errorf("status %+v", obj.Status.Conditions)
		}
		return nil
	})
	return &obj
}

// servedClusters returns the names (and connect timeouts) of the clusters a node is served.
func servedClusters(idx *index.Index, nodeID string) map[string]string {
	rs, _ := idx.NodeResources(nodeID)
	out := map[string]string{}
	for _, r := range rs[resourcev3.ClusterType] {
		out[r.Name] = r.Message.(*clusterv3.Cluster).GetConnectTimeout().AsDuration().String()
	}
	return out
}

func waitServed(t *testing.T, idx *index.Index, nodeID string, want map[string]string) {
	t.Helper()
	eventually(t, "clusters served to "+nodeID, func() error {
		if got := servedClusters(idx, nodeID); fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("got %v, want %v", got, want)
		}
		return nil
	})
}

func TestEnvoyReconciler(t *testing.T) {
	ctl := startController(t)
	c := ctl.client

	t.Run("valid config is accepted, recorded and served to the selected pods", func(t *testing.T) {
		ns := newNamespace(t, c)
		newPod(t, c, ns, "gw-0", map[string]string{"app": "gw"})
		newPod(t, c, ns, "other", map[string]string{"app": "other"})
		newCluster(t, c, ns, "backend", map[string]any{"connect_timeout": "2s", "type": "STATIC"}, map[string]string{"app": "gw"})

		obj := waitAccepted(t, c, ns, "backend", ourv1alpha1.ReasonValid)
		if obj.Status.EnvoyName != "backend" || obj.Status.LastAccepted == nil || obj.Status.LastAccepted.Generation != obj.Generation {
			t.Errorf("status %+v", obj.Status)
		}
		waitServed(t, ctl.index, index.NodeID("gw-0", ns), map[string]string{"backend": "2s"})
		waitServed(t, ctl.index, index.NodeID("other", ns), map[string]string{})
	})

	t.Run("invalid update is refused with the field named and the last accepted config stays served", func(t *testing.T) {
		ns := newNamespace(t, c)
		newPod(t, c, ns, "gw-0", nil)
		obj := newCluster(t, c, ns, "backend", map[string]any{"connect_timeout": "2s"}, nil)
		waitAccepted(t, c, ns, "backend", ourv1alpha1.ReasonValid)

		obj = waitAccepted(t, c, ns, "backend", ourv1alpha1.ReasonValid)
		obj.Spec.Config = rawJSON(t, map[string]any{"conect_timeout": "5s"})
		if err := c.Update(context.Background(), obj); err != nil {
			t.Fatal(err)
		}
		obj = waitAccepted(t, c, ns, "backend", ourv1alpha1.ReasonInvalidConfig)
		msg := meta.FindStatusCondition(obj.Status.Conditions, ourv1alpha1.ConditionAccepted).Message
		for _, want := range []string{"spec.config.conect_timeout", "generation 1) is still served"} {
			if !strings.Contains(msg, want) {
				t.Errorf("message %q does not contain %q", msg, want)
			}
		}
		waitServed(t, ctl.index, index.NodeID("gw-0", ns), map[string]string{"backend": "2s"})

		// A valid update replaces it.
		obj.Spec.Config = rawJSON(t, map[string]any{"connect_timeout": "7s"})
		if err := c.Update(context.Background(), obj); err != nil {
			t.Fatal(err)
		}
		waitAccepted(t, c, ns, "backend", ourv1alpha1.ReasonValid)
		waitServed(t, ctl.index, index.NodeID("gw-0", ns), map[string]string{"backend": "7s"})
	})

	t.Run("a name conflict goes to the oldest and the next claimant takes over on delete", func(t *testing.T) {
		ns := newNamespace(t, c)
		newPod(t, c, ns, "gw-0", nil)
		first := newCluster(t, c, ns, "first", map[string]any{"name": "shared", "connect_timeout": "1s"}, nil)
		waitAccepted(t, c, ns, "first", ourv1alpha1.ReasonValid)
		time.Sleep(1100 * time.Millisecond) // creationTimestamp has second precision
		newCluster(t, c, ns, "second", map[string]any{"name": "shared", "connect_timeout": "3s"}, nil)

		obj := waitAccepted(t, c, ns, "second", ourv1alpha1.ReasonConflict)
		if msg := meta.FindStatusCondition(obj.Status.Conditions, ourv1alpha1.ConditionAccepted).Message; !strings.Contains(msg, `Cluster "first"`) {
			t.Errorf("conflict message %q does not name the winner", msg)
		}
		waitServed(t, ctl.index, index.NodeID("gw-0", ns), map[string]string{"shared": "1s"})

		if err := c.Delete(context.Background(), first); err != nil {
			t.Fatal(err)
		}
		waitAccepted(t, c, ns, "second", ourv1alpha1.ReasonValid)
		waitServed(t, ctl.index, index.NodeID("gw-0", ns), map[string]string{"shared": "3s"})
	})

	t.Run("status is not rewritten when nothing changed", func(t *testing.T) {
		ns := newNamespace(t, c)
		newCluster(t, c, ns, "stable", map[string]any{"connect_timeout": "1s"}, nil)
		before := waitAccepted(t, c, ns, "stable", ourv1alpha1.ReasonValid)
		// Another object in the namespace triggers a reconcile of the whole namespace.
		newCluster(t, c, ns, "trigger", map[string]any{"connect_timeout": "1s"}, nil)
		waitAccepted(t, c, ns, "trigger", ourv1alpha1.ReasonValid)
		after := waitAccepted(t, c, ns, "stable", ourv1alpha1.ReasonValid)
		if before.ResourceVersion != after.ResourceVersion {
			t.Errorf("status was rewritten: resourceVersion %s → %s", before.ResourceVersion, after.ResourceVersion)
		}
	})

	t.Run("selection follows pod labels, selector changes and pod deletion", func(t *testing.T) {
		ns := newNamespace(t, c)
		newPod(t, c, ns, "gw-0", map[string]string{"app": "gw", "tier": "edge"})
		node := index.NodeID("gw-0", ns)
		obj := newCluster(t, c, ns, "edge", map[string]any{"connect_timeout": "1s"}, map[string]string{"app": "gw"})
		waitServed(t, ctl.index, node, map[string]string{"edge": "1s"})

		// Narrowing the selector to a label the pod lacks removes the cluster.
		obj = waitAccepted(t, c, ns, "edge", ourv1alpha1.ReasonValid)
		obj.Spec.WorkloadSelector.Labels["tier"] = "internal"
		if err := c.Update(context.Background(), obj); err != nil {
			t.Fatal(err)
		}
		waitServed(t, ctl.index, node, map[string]string{})

		// Relabelling the pod to match brings it back.
		var pod corev1.Pod
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "gw-0"}, &pod); err != nil {
			t.Fatal(err)
		}
		pod.Labels["tier"] = "internal"
		if err := c.Update(context.Background(), &pod); err != nil {
			t.Fatal(err)
		}
		waitServed(t, ctl.index, node, map[string]string{"edge": "1s"})

		// Deleting the pod forgets the node.
		if err := c.Delete(context.Background(), &pod, client.GracePeriodSeconds(0)); err != nil {
			t.Fatal(err)
		}
		eventually(t, "pod forgotten", func() error {
			if _, found := ctl.index.NodeResources(node); found {
				return fmt.Errorf("node %s still indexed", node)
			}
			return nil
		})

		// Deleting the CR removes what it served from other pods.
		newPod(t, c, ns, "gw-1", map[string]string{"app": "gw", "tier": "internal"})
		waitServed(t, ctl.index, index.NodeID("gw-1", ns), map[string]string{"edge": "1s"})
		if err := c.Delete(context.Background(), obj); err != nil {
			t.Fatal(err)
		}
		waitServed(t, ctl.index, index.NodeID("gw-1", ns), map[string]string{})
	})
}

// TestRestartKeepsDecisions checks that a fresh controller, starting from the API
// state alone, serves the same winner and the last accepted config of an invalid CR.
func TestRestartKeepsDecisions(t *testing.T) {
	first := startController(t)
	c := first.client
	ns := newNamespace(t, c)
	newPod(t, c, ns, "gw-0", nil)
	node := index.NodeID("gw-0", ns)

	newCluster(t, c, ns, "old", map[string]any{"name": "shared", "connect_timeout": "1s"}, nil)
	waitAccepted(t, c, ns, "old", ourv1alpha1.ReasonValid)
	time.Sleep(1100 * time.Millisecond)
	newCluster(t, c, ns, "young", map[string]any{"name": "shared", "connect_timeout": "2s"}, nil)
	waitAccepted(t, c, ns, "young", ourv1alpha1.ReasonConflict)
	broken := newCluster(t, c, ns, "broken", map[string]any{"connect_timeout": "4s"}, nil)
	broken = waitAccepted(t, c, ns, "broken", ourv1alpha1.ReasonValid)
	broken.Spec.Config = rawJSON(t, map[string]any{"connect_timeout": "-1s"})
	if err := c.Update(context.Background(), broken); err != nil {
		t.Fatal(err)
	}
	waitAccepted(t, c, ns, "broken", ourv1alpha1.ReasonInvalidConfig)
	want := map[string]string{"shared": "1s", "broken": "4s"}
	waitServed(t, first.index, node, want)
	first.stop()

	second := startController(t)
	// Ready means the warm-up indexed everything: no waiting needed.
	if got := servedClusters(second.index, node); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after restart served %v, want %v", got, want)
	}
}

// relabelPod replaces a pod's labels.
func relabelPod(t *testing.T, c client.Client, ns, name string, labels map[string]string) {
	t.Helper()
	var pod corev1.Pod
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &pod); err != nil {
		t.Fatal(err)
	}
	pod.Labels = labels
	if err := c.Update(context.Background(), &pod); err != nil {
		t.Fatal(err)
	}
}
