package snapshot

import (
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/arcturus-dev/arcturus/xds/index"
)

func res(name string, hash uint64) *index.Resource { return &index.Resource{Name: name, Hash: hash} }

func sets(c, e, l, r []*index.Resource) typeSets {
	return typeSets{resourcev3.ClusterType: newResourceSet(c), resourcev3.EndpointType: newResourceSet(e),
		resourcev3.ListenerType: newResourceSet(l), resourcev3.RouteType: newResourceSet(r)}
}

func names(s *resourceSet) []string {
	out := []string{}
	for _, r := range s.rs {
		out = append(out, r.Name)
	}
	return out
}

func TestPlanMakesBeforeBreaking(t *testing.T) {
	oldC, newC := res("old", 1), res("new", 2)
	routeOld, routeNew := res("r", 10), res("r", 11)
	prev := sets([]*index.Resource{oldC}, nil, nil, []*index.Resource{routeOld})
	// The route moves from cluster old to cluster new.
	desired := sets([]*index.Resource{newC}, nil, nil, []*index.Resource{routeNew})

	all := func(string) bool { return true }
	none := func(string) bool { return false }

	step1 := plan(prev, desired, all)
	if got := names(step1[resourcev3.ClusterType]); len(got) != 2 || got[0] != "new" || got[1] != "old" {
		t.Fatalf("step 1 clusters %v, want new added and old kept", got)
	}
	if step1[resourcev3.RouteType].rs[0] != routeOld {
		t.Fatal("step 1 changed the route before the new cluster was held")
	}

	// Until the node ACKs the clusters, the route waits.
	if s := plan(step1, desired, none); s[resourcev3.RouteType].rs[0] != routeOld {
		t.Fatal("the route moved before the clusters were ACKed")
	}
	step2 := plan(step1, desired, all)
	if step2[resourcev3.RouteType].rs[0] != routeNew || len(step2[resourcev3.ClusterType].rs) != 2 {
		t.Fatalf("step 2: route %v clusters %v", step2[resourcev3.RouteType].rs[0], names(step2[resourcev3.ClusterType]))
	}

	// The stale cluster goes only once the route change is ACKed.
	if s := plan(step2, desired, none); len(s[resourcev3.ClusterType].rs) != 2 {
		t.Fatal("the old cluster went before the new route was ACKed")
	}
	if step3 := plan(step2, desired, all); !sameSets(step3, desired) {
		t.Fatal("step 3 is not the desired configuration")
	}
}

func TestPlanPublishesSimpleChangesAtOnce(t *testing.T) {
	c1, c2 := res("c", 1), res("c", 2)
	l1, l2 := res("l", 1), res("l", 2)
	all := func(string) bool { return true }
	tests := map[string]struct {
		prev, desired typeSets // what the node holds and what it should hold
	}{
		"first configuration":    {prev: nil, desired: sets([]*index.Resource{c1}, nil, []*index.Resource{l1}, nil)},
		"a cluster changes":      {prev: sets([]*index.Resource{c1}, nil, nil, nil), desired: sets([]*index.Resource{c2}, nil, nil, nil)},
		"a listener changes":     {prev: sets(nil, nil, []*index.Resource{l1}, nil), desired: sets(nil, nil, []*index.Resource{l2}, nil)},
		"a cluster is added":     {prev: sets(nil, nil, nil, nil), desired: sets([]*index.Resource{c1}, nil, nil, nil)},
		"nothing changes at all": {prev: sets([]*index.Resource{c1}, nil, nil, nil), desired: sets([]*index.Resource{c1}, nil, nil, nil)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := plan(tc.prev, tc.desired, all); !sameSets(got, tc.desired) {
				t.Error("a change needing no ordering took more than one step")
			}
		})
	}
}

func TestDeltaVersionMatchesGoControlPlane(t *testing.T) {
	m := &clusterv3.Cluster{Name: "c", ConnectTimeout: durationpb.New(time.Second)}
	e, err := index.NewEncoded("c", m)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := cachev3.MarshalResource(m)
	want := cachev3.HashResource(b)
	for name, r := range map[string]*index.Resource{
		"encoded": {Name: "c", Message: m, Wire: e},
		"plain":   {Name: "c", Message: m},
	} {
		if got := deltaVersion(r); got != want {
			t.Errorf("%s: delta version %s, go-control-plane's %s", name, got, want)
		}
	}
}
