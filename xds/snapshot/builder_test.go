package snapshot

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/arcturus-dev/arcturus/xds/feedback"
	"github.com/arcturus-dev/arcturus/xds/index"
)

// harness is a running builder over a real index and go-control-plane cache.
type harness struct {
	idx   *index.Index
	cache cachev3.SnapshotCache
	b     *Builder
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{cache: cachev3.NewSnapshotCache(false, cachev3.IDHash{}, nil)}
	h.idx = index.New(func(ids []string) { h.b.NodesChanged(ids) })
	h.b = NewBuilder(h.idx, h.cache, Options{Debounce: time.Millisecond, MaxDelay: 10 * time.Millisecond}, logr.Discard())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = h.b.Start(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

// clusterVersion waits until the node's snapshot has a cluster version other than
// not, and returns it with the cluster names.
func (h *harness) clusterVersion(t *testing.T, node, not string) (string, []string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if s, err := h.cache.GetSnapshot(node); err == nil {
			if v := s.GetVersion(resourcev3.ClusterType); v != not {
				var names []string
				for n := range s.GetResources(resourcev3.ClusterType) {
					names = append(names, n)
				}
				return v, names
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%s: no snapshot with cluster version other than %q", node, not)
	return "", nil
}

func (h *harness) setClusters(names ...string) {
	var rs []index.Resource
	for _, n := range names {
		rs = append(rs, index.Resource{Name: n, Message: &clusterv3.Cluster{Name: n, ConnectTimeout: durationpb.New(time.Second)}})
	}
	h.idx.ReplaceResources("ns", resourcev3.ClusterType, rs)
}

func TestBuilderPublishesOnlyForConnectedReadyNodes(t *testing.T) {
	h := newHarness(t)
	h.idx.SetPod(index.Pod{Namespace: "ns", Name: "gw"})
	h.idx.SetPod(index.Pod{Namespace: "ns", Name: "idle"})
	h.setClusters("a")

	h.b.StreamOpened("gw.ns")
	time.Sleep(20 * time.Millisecond)
	if _, err := h.cache.GetSnapshot("gw.ns"); err == nil {
		t.Fatal("published before MarkReady")
	}
	h.b.MarkReady()
	v1, names := h.clusterVersion(t, "gw.ns", "")
	if len(names) != 1 || names[0] != "a" {
		t.Errorf("clusters %v, want [a]", names)
	}
	if _, err := h.cache.GetSnapshot("idle.ns"); err == nil {
		t.Error("a node without a stream got a snapshot")
	}

	h.setClusters("a", "b")
	v2, names := h.clusterVersion(t, "gw.ns", v1)
	if len(names) != 2 {
		t.Errorf("clusters %v after adding b", names)
	}
	s, _ := h.cache.GetSnapshot("gw.ns")
	if s.GetVersion(resourcev3.ListenerType) == "" {
		t.Error("empty listener set has no version")
	}

	// Back to the first content: back to the first version.
	h.setClusters("a")
	if v3, _ := h.clusterVersion(t, "gw.ns", v2); v3 != v1 {
		t.Errorf("same content gave version %s, first time %s", v3, v1)
	}

	h.b.StreamClosed("gw.ns")
	if _, err := h.cache.GetSnapshot("gw.ns"); err == nil {
		t.Error("snapshot kept after the last stream closed")
	}
	if n := len(h.b.streams); n != 0 {
		t.Errorf("%d nodes connected", n)
	}
}

func TestBuilderServesUnknownNodesAnEmptySet(t *testing.T) {
	h := newHarness(t)
	h.setClusters("a")
	h.b.MarkReady()
	h.b.StreamOpened("ghost.ns")
	v, names := h.clusterVersion(t, "ghost.ns", "")
	if len(names) != 0 || v != Version(nil) {
		t.Errorf("unknown node: version %s clusters %v; want the empty version %s", v, names, Version(nil))
	}
	h.idx.SetPod(index.Pod{Namespace: "ns", Name: "ghost"})
	if _, names := h.clusterVersion(t, "ghost.ns", v); len(names) != 1 {
		t.Errorf("after pod appeared: clusters %v", names)
	}
}

func TestBuilderCountsStreams(t *testing.T) {
	h := newHarness(t)
	h.b.MarkReady()
	h.idx.SetPod(index.Pod{Namespace: "ns", Name: "gw"})
	h.b.StreamOpened("gw.ns")
	h.b.StreamOpened("gw.ns")
	h.clusterVersion(t, "gw.ns", "")
	h.b.StreamClosed("gw.ns")
	if _, err := h.cache.GetSnapshot("gw.ns"); err != nil {
		t.Error("snapshot released while a stream is still open")
	}
	h.b.StreamClosed("gw.ns")
	if _, err := h.cache.GetSnapshot("gw.ns"); err == nil {
		t.Error("snapshot kept after the last stream closed")
	}
}

func TestVersion(t *testing.T) {
	a := &index.Resource{Name: "a", Hash: 1}
	b := &index.Resource{Name: "b", Hash: 2}
	tests := map[string]struct {
		x, y []*index.Resource // two lists to compare
		same bool              // whether their versions must be equal
	}{
		"same resources give the same version": {x: []*index.Resource{a, b}, y: []*index.Resource{{Name: "a", Hash: 1}, {Name: "b", Hash: 2}}, same: true},
		"changed content changes the version":  {x: []*index.Resource{a}, y: []*index.Resource{{Name: "a", Hash: 3}}},
		"a renamed resource changes it":        {x: []*index.Resource{a}, y: []*index.Resource{{Name: "c", Hash: 1}}},
		"an added resource changes it":         {x: []*index.Resource{a}, y: []*index.Resource{a, b}},
		"the empty set differs from any other": {x: nil, y: []*index.Resource{a}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Version(tc.x) == Version(tc.y); got != tc.same {
				t.Errorf("versions equal = %v, want %v", got, tc.same)
			}
		})
	}
	if Version(nil) == "" {
		t.Error("the empty set must have a non-empty version")
	}
}

func TestBuilderSharesEncodedResourcesAcrossNodes(t *testing.T) {
	h := newHarness(t)
	h.b.MarkReady()
	h.idx.SetPod(index.Pod{Namespace: "ns", Name: "gw-0"})
	h.idx.SetPod(index.Pod{Namespace: "ns", Name: "gw-1"})
	h.setClusters("a")
	h.b.StreamOpened("gw-0.ns")
	h.b.StreamOpened("gw-1.ns")
	h.clusterVersion(t, "gw-0.ns", "")
	h.clusterVersion(t, "gw-1.ns", "")
	s0, _ := h.cache.GetSnapshot("gw-0.ns")
	s1, _ := h.cache.GetSnapshot("gw-1.ns")
	r0, r1 := s0.GetResources(resourcev3.ClusterType)["a"], s1.GetResources(resourcev3.ClusterType)["a"]
	if _, ok := r0.(*index.Encoded); !ok {
		t.Fatalf("snapshot holds %T, want the index's encoded wrapper", r0)
	}
	if r0 != r1 {
		t.Error("two nodes got separate copies of the same resource version")
	}
}

// fakeAnswers answers Caught with whatever the test allows.
type fakeAnswers struct {
	mu     sync.Mutex
	caught bool
}

func (f *fakeAnswers) Caught(string, string, time.Time) (bool, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.caught, true
}

func (f *fakeAnswers) set(caught bool) {
	f.mu.Lock()
	f.caught = caught
	f.mu.Unlock()
}

func TestBuilderPublishesMakeBeforeBreak(t *testing.T) {
	h := newHarness(t)
	answers := &fakeAnswers{caught: true}
	h.b.Answers = answers
	h.b.MarkReady()
	h.idx.SetPod(index.Pod{Namespace: "ns", Name: "gw"})
	route := func(cluster string) []index.Resource {
		return []index.Resource{{Name: "r", Message: &routev3.RouteConfiguration{Name: "r", VirtualHosts: []*routev3.VirtualHost{{
			Name: "all", Domains: []string{"*"}, Routes: []*routev3.Route{{Action: &routev3.Route_Route{Route: &routev3.RouteAction{
				ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster}}}}},
		}}}}}
	}
	h.setClusters("old")
	h.idx.ReplaceResources("ns", resourcev3.RouteType, route("old"))
	h.b.StreamOpened("gw.ns")
	v0, _ := h.clusterVersion(t, "gw.ns", "")

	routeTarget := func() string {
		s, _ := h.cache.GetSnapshot("gw.ns")
		for _, r := range s.GetResources(resourcev3.RouteType) {
			rc := r.(*index.Encoded).Message.(*routev3.RouteConfiguration)
			return rc.GetVirtualHosts()[0].GetRoutes()[0].GetRoute().GetCluster()
		}
		return ""
	}

	// The route moves to a new cluster, and the old one goes, in one change.
	answers.set(false)
	h.setClusters("new")
	h.idx.ReplaceResources("ns", resourcev3.RouteType, route("new"))
	v1, clusters := h.clusterVersion(t, "gw.ns", v0)
	slices.Sort(clusters)
	if !slices.Equal(clusters, []string{"new", "old"}) || routeTarget() != "old" {
		t.Fatalf("step 1: clusters %v, route to %q; want both clusters and the old route", clusters, routeTarget())
	}

	// The node ACKs the clusters: the route moves, the old cluster stays.
	answers.set(true)
	h.b.Answered("gw.ns")
	deadline := time.Now().Add(5 * time.Second)
	for routeTarget() != "new" && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if routeTarget() != "new" {
		t.Fatal("step 2: the route did not move after the clusters were ACKed")
	}
	// Then the old cluster goes.
	if _, clusters := h.clusterVersion(t, "gw.ns", v1); len(clusters) != 1 || clusters[0] != "new" {
		t.Fatalf("step 3: clusters %v, want [new]", clusters)
	}
}

// TestBuilderRejectionPolicy runs the builder with the real tracker: what a node
// refused is withheld (new), rolled back (changed) or kept (removed), so the
// snapshot goes back to what the node accepted, and is not re-sent.
func TestBuilderRejectionPolicy(t *testing.T) {
	const node = "gw.ns"
	tests := []struct {
		name            string
		before, refused []string // cluster names; "a*" is a with another content
		want            []string // clusters in the snapshot after the NACK
	}{
		{"a new resource is withheld", []string{"a"}, []string{"a", "new"}, []string{"a"}},
		{"a changed resource is rolled back", []string{"a", "b"}, []string{"a*", "b"}, []string{"a", "b"}},
		{"a removal is held back", []string{"a", "b"}, []string{"a"}, []string{"a", "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			tracker := feedback.NewTracker(nil)
			h.b.Rejections, h.b.Answers = tracker, tracker
			h.b.MarkReady()
			h.idx.SetPod(index.Pod{Namespace: "ns", Name: "gw"})
			tracker.StreamOpened(node)
			h.b.StreamOpened(node)

			// send publishes names, waits for the snapshot, and returns it as the
			// node receives it; the node answers with errorMessage.
			nonce := 0
			send := func(prev string, names []string, errorMessage string) string {
				t.Helper()
				var rs []index.Resource
				var want []string
				for _, n := range names {
					timeout := time.Second
					if strings.HasSuffix(n, "*") {
						n, timeout = strings.TrimSuffix(n, "*"), 5*time.Second
					}
					want = append(want, n)
					rs = append(rs, index.Resource{Name: n, Message: &clusterv3.Cluster{Name: n, ConnectTimeout: durationpb.New(timeout)}})
				}
				h.idx.ReplaceResources("ns", resourcev3.ClusterType, rs)
				// Wait for the snapshot with exactly these clusters (a removal is
				// published make-before-break, in two steps).
				v, _ := h.clusterVersion(t, node, prev)
				for !slices.Equal(h.snapshotClusters(t, node), want) {
					v, _ = h.clusterVersion(t, node, v)
				}
				snap, _ := h.cache.GetSnapshot(node)
				var anys []*anypb.Any
				for _, name := range slices.Sorted(maps.Keys(snap.GetResources(resourcev3.ClusterType))) {
					a, err := anypb.New(snap.GetResources(resourcev3.ClusterType)[name].(*index.Encoded).Message)
					if err != nil {
						t.Fatal(err)
					}
					anys = append(anys, a)
				}
				nonce++
				n := strconv.Itoa(nonce)
				tracker.SentSotW(node, &discoveryv3.DiscoveryResponse{TypeUrl: resourcev3.ClusterType, VersionInfo: v, Nonce: n, Resources: anys})
				tracker.Answered(node, resourcev3.ClusterType, n, errorMessage)
				return v
			}
			accepted := send("", tc.before, "")
			refused := send(accepted, tc.refused, "refused")
			h.b.BuildNow(context.Background(), node)
			snap, _ := h.cache.GetSnapshot(node)
			if got := h.snapshotClusters(t, node); !slices.Equal(got, tc.want) {
				t.Errorf("after the NACK the snapshot has %v, want %v", got, tc.want)
			}
			if v := snap.GetVersion(resourcev3.ClusterType); v != accepted || v == refused {
				t.Errorf("after the NACK version %s, want the accepted %s (refused: %s)", v, accepted, refused)
			}
		})
	}
}

// snapshotClusters returns the sorted cluster names of the node's snapshot.
func (h *harness) snapshotClusters(t *testing.T, node string) []string {
	t.Helper()
	snap, err := h.cache.GetSnapshot(node)
	if err != nil {
		t.Fatal(err)
	}
	return slices.Sorted(maps.Keys(snap.GetResources(resourcev3.ClusterType)))
}
