package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
	"github.com/arcturus-dev/arcturus/test/testenv"
)

// newNamespace creates a namespace for one test and deletes it afterwards.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-"}}
	if err := k8s.Create(testContext(t), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// newPod creates a pod that looks running at ip (there is no kubelet to run it).
func newPod(t *testing.T, ns, name, ip string, labels map[string]string) *corev1.Pod {
	t.Helper()
	ctx := testContext(t)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "envoy", Image: "envoy"}}},
	}
	if err := k8s.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
	if err := k8s.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	return pod
}

// object is an Arcturus custom resource as a test writes it.
type object struct {
	kind     string            // the kind, e.g. Listener (see xds/kinds)
	name     string            // metadata.name
	selector map[string]string // spec.workloadSelector.labels; nil for none
	config   map[string]any    // spec.config
}

// newObject returns an empty typed object of the kind.
func newObject(kind string) ourv1alpha1.Object {
	obj, err := ourv1alpha1.New(kind)
	if err != nil {
		panic(err)
	}
	return obj
}

// apply creates the object or updates its spec, retrying when the controller
// wrote status in between.
func apply(t *testing.T, ns string, o object) {
	t.Helper()
	ctx := testContext(t)
	raw, err := json.Marshal(o.config)
	if err != nil {
		t.Fatal(err)
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		obj := newObject(o.kind)
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: o.name}, obj)
		create := err != nil
		if create {
			obj.SetNamespace(ns)
			obj.SetName(o.name)
		}
		spec := obj.EnvoySpec()
		spec.Config = runtime.RawExtension{Raw: raw}
		spec.WorkloadSelector = nil
		if o.selector != nil {
			spec.WorkloadSelector = &ourv1alpha1.WorkloadSelector{Labels: o.selector}
		}
		if create {
			return k8s.Create(ctx, obj)
		}
		return k8s.Update(ctx, obj)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// remove deletes an object.
func remove(t *testing.T, ns, kind, name string) {
	t.Helper()
	obj := newObject(kind)
	obj.SetNamespace(ns)
	obj.SetName(name)
	if err := k8s.Delete(testContext(t), obj); err != nil {
		t.Fatal(err)
	}
}

// waitAccepted waits until the object's Accepted condition has the reason for its
// current generation and returns the condition.
func waitAccepted(t *testing.T, ns, kind, name, reason string) metav1.Condition {
	t.Helper()
	var cond metav1.Condition
	eventually(t, fmt.Sprintf("%s %s/%s Accepted=%s", kind, ns, name, reason), func() error {
		obj := newObject(kind)
		if err := k8s.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
			return err
		}
		c := meta.FindStatusCondition(obj.EnvoyStatus().Conditions, ourv1alpha1.ConditionAccepted)
		if c == nil || c.Reason != reason || c.ObservedGeneration != obj.GetGeneration() {
			return fmt.Errorf("conditions %+v", obj.EnvoyStatus().Conditions)
		}
		cond = *c
		return nil
	})
	return cond
}

// waitResolved waits until the object's ResolvedRefs condition has the status
// and a message containing contains.
func waitResolved(t *testing.T, ns, kind, name string, status metav1.ConditionStatus, contains string) {
	t.Helper()
	eventually(t, fmt.Sprintf("%s %s/%s ResolvedRefs=%s %q", kind, ns, name, status, contains), func() error {
		obj := newObject(kind)
		if err := k8s.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
			return err
		}
		c := meta.FindStatusCondition(obj.EnvoyStatus().Conditions, ourv1alpha1.ConditionResolvedRefs)
		if c == nil || c.Status != status || !strings.Contains(c.Message, contains) {
			return fmt.Errorf("ResolvedRefs %+v", c)
		}
		return nil
	})
}

// eventually polls cond until it returns nil, failing the test after 30 s.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, what, cond)
}

// staticCluster is the config of a STATIC Envoy cluster with one endpoint.
func staticCluster(name string, port int) map[string]any {
	return map[string]any{
		"name":            name,
		"connect_timeout": "1s",
		"type":            "STATIC",
		"load_assignment": map[string]any{
			"cluster_name": name,
			"endpoints": []any{map[string]any{"lb_endpoints": []any{map[string]any{"endpoint": map[string]any{
				"address": map[string]any{"socket_address": map[string]any{"address": "127.0.0.1", "port_value": port}},
			}}}}},
		},
	}
}

// edsCluster is the config of an EDS cluster fed over ADS.
func edsCluster(name string) map[string]any {
	return map[string]any{
		"name":               name,
		"connect_timeout":    "1s",
		"type":               "EDS",
		"lb_policy":          "ROUND_ROBIN",
		"eds_cluster_config": map[string]any{"eds_config": map[string]any{"ads": map[string]any{}, "resource_api_version": "V3"}},
	}
}

// endpoints is a ClusterLoadAssignment with one weighted locality of loopback ports.
func endpoints(cluster string, ports ...int) map[string]any {
	var lbs []any
	for _, p := range ports {
		lbs = append(lbs, map[string]any{"endpoint": map[string]any{
			"address": map[string]any{"socket_address": map[string]any{"address": "127.0.0.1", "port_value": p}},
		}})
	}
	return map[string]any{
		"cluster_name": cluster,
		"endpoints":    []any{map[string]any{"locality": map[string]any{"zone": "z1"}, "load_balancing_weight": 1, "lb_endpoints": lbs}},
	}
}

// routeTo is a RouteConfiguration sending every request to cluster.
func routeTo(name, cluster string) map[string]any {
	return map[string]any{
		"name": name,
		"virtual_hosts": []any{map[string]any{"name": "all", "domains": []any{"*"}, "routes": []any{
			map[string]any{"match": map[string]any{"prefix": "/"}, "route": map[string]any{"cluster": cluster}},
		}}},
	}
}

// relabel replaces a pod's labels.
func relabel(t *testing.T, ns, name string, labels map[string]string) {
	t.Helper()
	var pod corev1.Pod
	if err := k8s.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: name}, &pod); err != nil {
		t.Fatal(err)
	}
	pod.Labels = labels
	if err := k8s.Update(testContext(t), &pod); err != nil {
		t.Fatal(err)
	}
}
