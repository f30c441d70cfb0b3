package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
)

// connectTimeout returns the connect_timeout of the named cluster in a response.
func connectTimeout(t *testing.T, resp *discoveryv3.DiscoveryResponse, name string) time.Duration {
	t.Helper()
	for _, a := range resp.GetResources() {
		var c clusterv3.Cluster
		if err := a.UnmarshalTo(&c); err != nil {
			t.Fatal(err)
		}
		if c.GetName() == name {
			return c.GetConnectTimeout().AsDuration()
		}
	}
	return 0
}

// clusterStatus reads a Cluster's proxies and Ready condition.
func clusterStatus(t *testing.T, ns, name string) (ourv1alpha1.ProxyCounts, *metaCondition) {
	t.Helper()
	var c ourv1alpha1.Cluster
	if err := k8s.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: name}, &c); err != nil {
		t.Fatal(err)
	}
	var counts ourv1alpha1.ProxyCounts
	if c.Status.Proxies != nil {
		counts = *c.Status.Proxies
	}
	cond := meta.FindStatusCondition(c.Status.Conditions, ourv1alpha1.ConditionReady)
	if cond == nil || cond.ObservedGeneration != c.Generation {
		return counts, nil
	}
	return counts, &metaCondition{status: string(cond.Status), reason: cond.Reason, message: cond.Message}
}

type metaCondition struct{ status, reason, message string }

// waitProxies waits until the Cluster's proxies and Ready reason are as wanted,
// and returns the Ready message.
func waitProxies(t *testing.T, ns, name string, want ourv1alpha1.ProxyCounts, reason string) string {
	t.Helper()
	var msg string
	eventually(t, fmt.Sprintf("Cluster %s proxies %+v Ready=%s", name, want, reason), func() error {
		got, cond := clusterStatus(t, ns, name)
		got.Summary = ""
		if got != want || cond == nil || cond.reason != reason {
			return fmt.Errorf("proxies %+v, Ready %+v", got, cond)
		}
		msg = cond.message
		return nil
	})
	return msg
}

// TestFeedback checks the loop from Envoy back to the resource: status.proxies and
// Ready follow ACKs and NACKs, a NACK raises events and rolls the node back to the
// version it accepted (without a resend loop), and fixing the resource recovers.
func TestFeedback(t *testing.T) {
	a := startArcturus(t)
	ns := newNamespace(t)
	newPod(t, ns, "gw-0", "127.0.0.1", map[string]string{"app": "gw"})
	newPod(t, ns, "gw-1", "127.0.0.1", map[string]string{"app": "gw"})
	cluster := func(timeout string) object {
		cfg := staticCluster("backend", 8001)
		cfg["connect_timeout"] = timeout
		return object{kind: "Cluster", name: "backend", selector: map[string]string{"app": "gw"}, config: cfg}
	}
	apply(t, ns, cluster("1s"))
	waitAccepted(t, ns, "Cluster", "backend", "Valid")

	const envoyError = "cluster backend: connect_timeout 5s is not allowed here"
	good := newSotW(t, a.XDSAddr, "gw-0."+ns, resourcev3.ClusterType, "")
	picky := newSotWWith(t, a.XDSAddr, "gw-1."+ns, resourcev3.ClusterType, "", []sotwOption{rejecting(func(r *discoveryv3.DiscoveryResponse) string {
		if connectTimeout(t, r, "backend") == 5*time.Second {
			return envoyError
		}
		return ""
	})})
	good.waitFor("backend")
	picky.waitFor("backend")
	waitProxies(t, ns, "backend", ourv1alpha1.ProxyCounts{Selected: 2, Connected: 2, Acked: 2}, ourv1alpha1.ReasonProgrammed)

	t.Run("a NACK is reported on the resource with Envoy's message", func(t *testing.T) {
		apply(t, ns, cluster("5s"))
		msg := waitProxies(t, ns, "backend", ourv1alpha1.ProxyCounts{Selected: 2, Connected: 2, Acked: 1, Rejected: 1}, ourv1alpha1.ReasonRejected)
		if want := "Rejected by 1 of 2 pods: " + envoyError; msg != want {
			t.Errorf("Ready message %q, want %q", msg, want)
		}
		if r := picky.next(); connectTimeout(t, r, "backend") != 5*time.Second {
			t.Errorf("the rejecting node was not sent the new version first")
		}
	})

	t.Run("the rejecting node keeps its accepted version without a resend loop", func(t *testing.T) {
		// The NACK names the version the node still runs, which is what it is now
		// served: nothing is re-sent (without the policy, go-control-plane would
		// answer every NACK with the rejected version again).
		picky.quiet(time.Second)
		if r := good.waitFor("backend"); connectTimeout(t, r, "backend") != 5*time.Second {
			t.Error("the accepting node did not get the new version")
		}
		// A later change for the node carries the accepted version of backend.
		apply(t, ns, object{kind: "Cluster", name: "extra", selector: map[string]string{"app": "gw"}, config: staticCluster("extra", 8002)})
		r := picky.waitFor("backend", "extra")
		if got := connectTimeout(t, r, "backend"); got != time.Second {
			t.Errorf("rejecting node was sent backend with connect_timeout %s, want its accepted 1s", got)
		}
		picky.quiet(time.Second)
	})

	t.Run("the rejection raises events on the resource and the pod", func(t *testing.T) {
		eventually(t, "Rejected events", func() error {
			var list eventsv1.EventList
			if err := k8s.List(testContext(t), &list, client.InNamespace(ns)); err != nil {
				return err
			}
			found := map[string]bool{}
			for _, e := range list.Items {
				if strings.Contains(e.Note, envoyError) {
					found[e.Regarding.Kind+"/"+e.Regarding.Name+"/"+e.Reason] = true
				}
			}
			for _, want := range []string{"Cluster/backend/Rejected", "Pod/gw-1/ConfigRejected"} {
				if !found[want] {
					return fmt.Errorf("no %s event among %v", want, found)
				}
			}
			return nil
		})
	})

	t.Run("fixing the resource recovers", func(t *testing.T) {
		apply(t, ns, cluster("2s"))
		waitProxies(t, ns, "backend", ourv1alpha1.ProxyCounts{Selected: 2, Connected: 2, Acked: 2}, ourv1alpha1.ReasonProgrammed)
	})

	t.Run("a disconnected pod is no longer counted", func(t *testing.T) {
		picky.cancel()
		waitProxies(t, ns, "backend", ourv1alpha1.ProxyCounts{Selected: 2, Connected: 1, Acked: 1}, ourv1alpha1.ReasonProgrammed)
	})
}

// podGate returns the pod's readiness gate condition, if set.
func podGate(t *testing.T, ns, name string) *corev1.PodCondition {
	t.Helper()
	var pod corev1.Pod
	if err := k8s.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: name}, &pod); err != nil {
		t.Fatal(err)
	}
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == "envoy.arcturus.dev/config-acked" {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

func waitGate(t *testing.T, ns, name string, status corev1.ConditionStatus, reason string) {
	t.Helper()
	eventually(t, fmt.Sprintf("pod %s readiness gate %s/%s", name, status, reason), func() error {
		if c := podGate(t, ns, name); c == nil || c.Status != status || c.Reason != reason {
			return fmt.Errorf("condition %+v", c)
		}
		return nil
	})
}

// TestReadinessGate checks that a pod declaring the Arcturus readiness gate is
// ready once its Envoy ACKed every type, and not while it rejects.
func TestReadinessGate(t *testing.T) {
	a := startArcturus(t)
	ns := newNamespace(t)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gw-0", Labels: map[string]string{"app": "gw"}},
		Spec: corev1.PodSpec{
			Containers:     []corev1.Container{{Name: "envoy", Image: "envoy"}},
			ReadinessGates: []corev1.PodReadinessGate{{ConditionType: "envoy.arcturus.dev/config-acked"}},
		},
	}
	if err := k8s.Create(testContext(t), pod); err != nil {
		t.Fatal(err)
	}
	setPodIP(t, ns, "gw-0", "127.0.0.1")
	newPod(t, ns, "plain", "127.0.0.1", nil) // no gate: never patched
	cluster := func(timeout string) object {
		cfg := staticCluster("backend", 8001)
		cfg["connect_timeout"] = timeout
		return object{kind: "Cluster", name: "backend", config: cfg}
	}
	apply(t, ns, cluster("1s"))
	waitAccepted(t, ns, "Cluster", "backend", "Valid")

	node := "gw-0." + ns
	newSotWWith(t, a.XDSAddr, node, resourcev3.ClusterType, "", []sotwOption{rejecting(func(r *discoveryv3.DiscoveryResponse) string {
		if connectTimeout(t, r, "backend") == 5*time.Second {
			return "no 5s timeouts"
		}
		return ""
	})})
	for _, typeURL := range []string{resourcev3.EndpointType, resourcev3.ListenerType, resourcev3.RouteType} {
		newSotW(t, a.XDSAddr, node, typeURL, "")
	}
	newSotW(t, a.XDSAddr, "plain."+ns, resourcev3.ClusterType, "")
	waitGate(t, ns, "gw-0", corev1.ConditionTrue, "Acked")

	apply(t, ns, cluster("5s"))
	waitGate(t, ns, "gw-0", corev1.ConditionFalse, "Rejected")
	if c := podGate(t, ns, "gw-0"); !strings.Contains(c.Message, "no 5s timeouts") {
		t.Errorf("gate message %q does not carry Envoy's", c.Message)
	}

	apply(t, ns, cluster("2s"))
	waitGate(t, ns, "gw-0", corev1.ConditionTrue, "Acked")
	if c := podGate(t, ns, "plain"); c != nil {
		t.Errorf("a pod without the gate got condition %+v", c)
	}
}
