package e2e

import (
	"slices"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
)

// TestStateOfTheWorld checks per-pod selection, namespace isolation, updates and
// removals over state-of-the-world ADS.
func TestStateOfTheWorld(t *testing.T) {
	a := startArcturus(t)
	ns, other := newNamespace(t), newNamespace(t)
	newPod(t, ns, "gw-0", "127.0.0.1", map[string]string{"app": "gw"})
	newPod(t, ns, "web-0", "127.0.0.1", map[string]string{"app": "web"})
	newPod(t, other, "gw-0", "127.0.0.1", map[string]string{"app": "gw"})

	apply(t, ns, object{kind: "Cluster", name: "everyone", config: staticCluster("everyone", 8001)})
	apply(t, ns, object{kind: "Cluster", name: "gw-only", selector: map[string]string{"app": "gw"}, config: staticCluster("gw-only", 8002)})
	apply(t, other, object{kind: "Cluster", name: "elsewhere", config: staticCluster("elsewhere", 8003)})
	for _, n := range []string{"everyone", "gw-only"} {
		waitAccepted(t, ns, "Cluster", n, "Valid")
	}
	waitAccepted(t, other, "Cluster", "elsewhere", "Valid")

	gw := newSotW(t, a.XDSAddr, "gw-0."+ns, resourcev3.ClusterType, "")
	web := newSotW(t, a.XDSAddr, "web-0."+ns, resourcev3.ClusterType, "")
	otherGW := newSotW(t, a.XDSAddr, "gw-0."+other, resourcev3.ClusterType, "")
	first := gw.waitFor("everyone", "gw-only")
	web.waitFor("everyone")
	otherGW.waitFor("elsewhere")

	t.Run("an update reaches only the selected pods with a new version", func(t *testing.T) {
		apply(t, ns, object{kind: "Cluster", name: "gw-only", selector: map[string]string{"app": "gw"}, config: staticCluster("gw-only", 9002)})
		r := gw.waitFor("everyone", "gw-only")
		for r.GetVersionInfo() == first.GetVersionInfo() {
			r = gw.waitFor("everyone", "gw-only")
		}
		web.quiet(time.Second)
		otherGW.quiet(0)
	})

	t.Run("deleting a resource removes it from the list", func(t *testing.T) {
		remove(t, ns, "Cluster", "gw-only")
		gw.waitFor("everyone")
	})

	t.Run("an invalid resource disturbs nothing that is served", func(t *testing.T) {
		apply(t, ns, object{kind: "Cluster", name: "broken", config: map[string]any{"name": "broken", "connect_timeout": "soon"}})
		waitAccepted(t, ns, "Cluster", "broken", "InvalidConfig")
		gw.quiet(500 * time.Millisecond)
		web.quiet(0)
	})

	t.Run("relabelling a pod moves its selection", func(t *testing.T) {
		apply(t, ns, object{kind: "Cluster", name: "web-only", selector: map[string]string{"app": "web"}, config: staticCluster("web-only", 8004)})
		web.waitFor("everyone", "web-only")
		relabel(t, ns, "web-0", map[string]string{"app": "gw"})
		web.waitFor("everyone")
	})
}

// TestDelta checks additions and removed_resources over delta ADS, and that a
// client that already holds the current versions is not sent them again.
func TestDelta(t *testing.T) {
	a := startArcturus(t)
	ns := newNamespace(t)
	newPod(t, ns, "gw-0", "127.0.0.1", nil)
	apply(t, ns, object{kind: "Cluster", name: "one", config: staticCluster("one", 8001)})
	waitAccepted(t, ns, "Cluster", "one", "Valid")

	c := newDelta(t, a.XDSAddr, "gw-0."+ns, resourcev3.ClusterType, nil)
	r := c.next()
	if len(r.GetResources()) != 1 || r.GetResources()[0].GetName() != "one" {
		t.Fatalf("first delta response %v", r.GetResources())
	}
	versions := map[string]string{"one": r.GetResources()[0].GetVersion()}

	apply(t, ns, object{kind: "Cluster", name: "two", config: staticCluster("two", 8002)})
	r = c.next()
	if len(r.GetResources()) != 1 || r.GetResources()[0].GetName() != "two" || len(r.GetRemovedResources()) != 0 {
		t.Fatalf("addition: resources %v removed %v", r.GetResources(), r.GetRemovedResources())
	}
	versions["two"] = r.GetResources()[0].GetVersion()

	remove(t, ns, "Cluster", "one")
	r = c.next()
	if len(r.GetResources()) != 0 || !slices.Equal(r.GetRemovedResources(), []string{"one"}) {
		t.Fatalf("removal: resources %v removed %v", r.GetResources(), r.GetRemovedResources())
	}
	delete(versions, "one")

	// A reconnecting client that already holds everything is sent nothing again
	// (go-control-plane answers a wildcard subscription once, possibly empty, so
	// the client knows it is initialized).
	again := newDelta(t, a.XDSAddr, "gw-0."+ns, resourcev3.ClusterType, versions)
	if r := again.next(); len(r.GetResources()) != 0 || len(r.GetRemovedResources()) != 0 {
		t.Errorf("reconnect with current versions got resources %v removed %v", r.GetResources(), r.GetRemovedResources())
	}
	again.quiet(time.Second)
}

// TestUnknownNodeWaitsForItsPod checks that a node naming no pod gets an empty
// configuration on an open stream, and its resources once the pod appears.
func TestUnknownNodeWaitsForItsPod(t *testing.T) {
	a := startArcturus(t)
	ns := newNamespace(t)
	apply(t, ns, object{kind: "Cluster", name: "later", config: staticCluster("later", 8001)})
	waitAccepted(t, ns, "Cluster", "later", "Valid")

	c := newSotW(t, a.XDSAddr, "gw-0."+ns, resourcev3.ClusterType, "")
	empty := c.next()
	if len(empty.GetResources()) != 0 || empty.GetVersionInfo() == "" {
		t.Fatalf("unknown node got version %q with %d resources, want an empty set with a version", empty.GetVersionInfo(), len(empty.GetResources()))
	}
	newPod(t, ns, "gw-0", "127.0.0.1", nil)
	c.waitFor("later")
}

// TestVersionsSurviveRestart checks that versions are content hashes: a restarted
// controller serves the same version_info for the same resources, and every
// listed kind is served.
func TestVersionsSurviveRestart(t *testing.T) {
	first := startArcturus(t)
	ns := newNamespace(t)
	newPod(t, ns, "gw-0", "127.0.0.1", nil)
	apply(t, ns, object{kind: "Cluster", name: "backend", config: edsCluster("backend")})
	apply(t, ns, object{kind: "Endpoint", name: "backend", config: endpoints("backend", 8001, 8002)})
	apply(t, ns, object{kind: "Route", name: "routes", config: routeTo("routes", "backend")})
	apply(t, ns, object{kind: "Listener", name: "http", config: map[string]any{
		"name":    "http",
		"address": map[string]any{"socket_address": map[string]any{"address": "0.0.0.0", "port_value": 10080}},
		"filter_chains": []any{map[string]any{"filters": []any{map[string]any{
			"name": "envoy.filters.network.http_connection_manager",
			"typed_config": map[string]any{
				"@type":       "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
				"stat_prefix": "http",
				"rds":         map[string]any{"route_config_name": "routes", "config_source": map[string]any{"ads": map[string]any{}, "resource_api_version": "V3"}},
				"http_filters": []any{map[string]any{"name": "envoy.filters.http.router", "typed_config": map[string]any{
					"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}},
			},
		}}}},
	}})
	for kind, name := range map[string]string{"Cluster": "backend", "Endpoint": "backend", "Route": "routes", "Listener": "http"} {
		waitAccepted(t, ns, kind, name, "Valid")
	}

	types := map[string][]string{
		resourcev3.ClusterType:  {"backend"},
		resourcev3.EndpointType: {"backend"},
		resourcev3.ListenerType: {"http"},
		resourcev3.RouteType:    {"routes"},
	}
	versions := func(a *arcturus) map[string]string {
		out := map[string]string{}
		for typeURL, names := range types {
			c := newSotW(t, a.XDSAddr, "gw-0."+ns, typeURL, "", names...)
			out[typeURL] = c.waitFor(names...).GetVersionInfo()
			c.cancel()
		}
		return out
	}
	before := versions(first)
	first.Stop()
	second := startArcturus(t)
	after := versions(second)
	for typeURL, v := range before {
		if after[typeURL] != v {
			t.Errorf("%s: version %s before restart, %s after", typeURL, v, after[typeURL])
		}
	}
}

// TestPodLabelSelector checks that --pod-label-selector limits which pods are
// known, and so served.
func TestPodLabelSelector(t *testing.T) {
	a := startArcturus(t, "--pod-label-selector", "role=envoy")
	ns := newNamespace(t)
	newPod(t, ns, "envoy-0", "127.0.0.1", map[string]string{"role": "envoy"})
	newPod(t, ns, "app-0", "127.0.0.1", map[string]string{"role": "app"})
	apply(t, ns, object{kind: "Cluster", name: "backend", config: staticCluster("backend", 8001)})
	waitAccepted(t, ns, "Cluster", "backend", "Valid")

	newSotW(t, a.XDSAddr, "envoy-0."+ns, resourcev3.ClusterType, "").waitFor("backend")
	if r := newSotW(t, a.XDSAddr, "app-0."+ns, resourcev3.ClusterType, "").next(); len(r.GetResources()) != 0 {
		t.Errorf("a pod outside the selector was served %d resources", len(r.GetResources()))
	}
}

// TestMatchExpressions checks that workloadSelector.matchExpressions select pods
// as a Kubernetes label selector does, ANDed with labels.
func TestMatchExpressions(t *testing.T) {
	a := startArcturus(t)
	ns := newNamespace(t)
	newPod(t, ns, "gw-0", "127.0.0.1", map[string]string{"app": "gw"})
	newPod(t, ns, "gw-canary", "127.0.0.1", map[string]string{"app": "gw", "track": "canary"})
	newPod(t, ns, "web-0", "127.0.0.1", map[string]string{"app": "web"})
	apply(t, ns, object{kind: "Cluster", name: "everyone", config: staticCluster("everyone", 8001)})
	stable := object{kind: "Cluster", name: "stable-gw", config: staticCluster("stable-gw", 8002)}
	apply(t, ns, stable)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error { // the controller writes status meanwhile
		obj := newObject("Cluster")
		if err := k8s.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: "stable-gw"}, obj); err != nil {
			return err
		}
		obj.EnvoySpec().WorkloadSelector = &ourv1alpha1.WorkloadSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"gw", "api"}},
			{Key: "track", Operator: metav1.LabelSelectorOpDoesNotExist},
		}}
		return k8s.Update(testContext(t), obj)
	})
	if err != nil {
		t.Fatal(err)
	}
	waitAccepted(t, ns, "Cluster", "stable-gw", "Valid")
	newSotW(t, a.XDSAddr, "gw-0."+ns, resourcev3.ClusterType, "").waitFor("everyone", "stable-gw")
	newSotW(t, a.XDSAddr, "gw-canary."+ns, resourcev3.ClusterType, "").waitFor("everyone")
	newSotW(t, a.XDSAddr, "web-0."+ns, resourcev3.ClusterType, "").waitFor("everyone")
}

// TestRootNamespace checks that a resource in the root namespace applies to the
// matching pods of every namespace, that a namespace's own resource of the same
// name takes precedence for its pods, and that references to root resources
// resolve.
func TestRootNamespace(t *testing.T) {
	root := newNamespace(t)
	a := startArcturus(t, "--root-namespace", root)
	ns, other := newNamespace(t), newNamespace(t)
	newPod(t, ns, "gw-0", "127.0.0.1", map[string]string{"app": "gw"})
	newPod(t, ns, "web-0", "127.0.0.1", map[string]string{"app": "web"})
	newPod(t, other, "gw-0", "127.0.0.1", map[string]string{"app": "gw"})
	apply(t, root, object{kind: "Cluster", name: "shared", selector: map[string]string{"app": "gw"}, config: staticCluster("shared", 8001)})
	apply(t, other, object{kind: "Cluster", name: "shared", config: staticCluster("shared", 9001)})
	apply(t, ns, object{kind: "Route", name: "routes", config: routeTo("routes", "shared")})
	waitAccepted(t, root, "Cluster", "shared", "Valid")
	waitAccepted(t, other, "Cluster", "shared", "Valid")

	port := func(r *discoveryv3.DiscoveryResponse) uint32 {
		var c clusterv3.Cluster
		if err := r.GetResources()[0].UnmarshalTo(&c); err != nil {
			t.Fatal(err)
		}
		return c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress().GetPortValue()
	}
	if p := port(newSotW(t, a.XDSAddr, "gw-0."+ns, resourcev3.ClusterType, "").waitFor("shared")); p != 8001 {
		t.Errorf("gw-0 in %s got shared on port %d, want the root namespace's 8001", ns, p)
	}
	if p := port(newSotW(t, a.XDSAddr, "gw-0."+other, resourcev3.ClusterType, "").waitFor("shared")); p != 9001 {
		t.Errorf("gw-0 in %s got shared on port %d, want its own namespace's 9001", other, p)
	}
	newSotW(t, a.XDSAddr, "web-0."+ns, resourcev3.ClusterType, "").waitFor()
	// The reference resolves for gw-0; web-0 does not get the root cluster (its
	// selector wants app=gw).
	waitResolved(t, ns, "Route", "routes", metav1.ConditionFalse, `Cluster "shared" is missing for 1 of 2 selected pods`)
}

// TestSotWAndDeltaStreamsOfOneNode checks that a node keeps being served on one
// stream when its other stream, of the other protocol, closes. go-control-plane
// numbers SotW and delta streams separately: on a fresh controller both are
// stream 1.
func TestSotWAndDeltaStreamsOfOneNode(t *testing.T) {
	a := startArcturus(t)
	ns := newNamespace(t)
	newPod(t, ns, "gw-0", "127.0.0.1", nil)
	apply(t, ns, object{kind: "Cluster", name: "one", config: staticCluster("one", 8001)})
	waitAccepted(t, ns, "Cluster", "one", "Valid")
	sotw := newSotW(t, a.XDSAddr, "gw-0."+ns, resourcev3.ClusterType, "")
	sotw.waitFor("one")
	delta := newDelta(t, a.XDSAddr, "gw-0."+ns, resourcev3.ClusterType, nil)
	delta.next()
	delta.cancel()
	apply(t, ns, object{kind: "Cluster", name: "two", config: staticCluster("two", 8002)})
	sotw.waitFor("one", "two")
}
