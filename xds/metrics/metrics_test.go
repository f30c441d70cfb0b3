package metrics

import (
	"context"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/arcturus-dev/arcturus/xds/index"
	"github.com/arcturus-dev/arcturus/xds/server"
	"github.com/arcturus-dev/arcturus/xds/snapshot"
)

var (
	_ server.Observer   = (*Observer)(nil)
	_ snapshot.Observer = (*Observer)(nil)
)

// recorder is the next observer: it records the calls it receives.
type recorder struct{ calls []string }

func (r *recorder) StreamOpened(n string) { r.calls = append(r.calls, "open "+n) }
func (r *recorder) StreamClosed(n string) { r.calls = append(r.calls, "close "+n) }
func (r *recorder) SentSotW(n string, resp *discoveryv3.DiscoveryResponse) {
	r.calls = append(r.calls, "sotw "+n+" "+resp.GetNonce())
}
func (r *recorder) SentDelta(n string, resp *discoveryv3.DeltaDiscoveryResponse) {
	r.calls = append(r.calls, "delta "+n+" "+resp.GetNonce())
}
func (r *recorder) Answered(n, _, nonce, msg string) {
	r.calls = append(r.calls, "answer "+n+" "+nonce+" "+msg)
}

type fixture struct {
	reg   *prometheus.Registry
	m     *Metrics
	o     *Observer
	next  *recorder
	clock time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{reg: prometheus.NewRegistry(), next: &recorder{}, clock: time.Unix(1000, 0)}
	var err error
	if f.m, err = New(f.reg); err != nil {
		t.Fatal(err)
	}
	f.o = f.m.Wrap(f.next)
	f.o.now = func() time.Time { return f.clock }
	return f
}

func (f *fixture) sendSotW(node, typeURL, version, nonce string) {
	f.o.SentSotW(node, &discoveryv3.DiscoveryResponse{TypeUrl: typeURL, VersionInfo: version, Nonce: nonce})
}

func allVersions(v string) map[string]string {
	return map[string]string{resourcev3.ClusterType: v, resourcev3.EndpointType: v, resourcev3.ListenerType: v, resourcev3.RouteType: v}
}

func TestRegisterTwiceFails(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := New(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := New(reg); err == nil {
		t.Fatal("second registration in the same registry succeeded")
	}
}

func TestShortType(t *testing.T) {
	for typeURL, want := range map[string]string{
		resourcev3.ClusterType:     "cluster",
		resourcev3.EndpointType:    "endpoint",
		resourcev3.ListenerType:    "listener",
		resourcev3.RouteType:       "route",
		resourcev3.RuntimeType:     "runtime",
		resourcev3.SecretType:      "secret",
		resourcev3.VirtualHostType: "other",
	} {
		if got := ShortType(typeURL); got != want {
			t.Errorf("ShortType(%s) = %s, want %s", typeURL, got, want)
		}
	}
}

func TestConnectedCountsNodesNotStreams(t *testing.T) {
	f := newFixture(t)
	f.o.StreamOpened("a.ns")
	f.o.StreamOpened("a.ns")
	f.o.StreamOpened("b.ns")
	if got := testutil.ToFloat64(f.m.connected); got != 2 {
		t.Fatalf("connected = %v, want 2", got)
	}
	f.o.StreamClosed("a.ns")
	if got := testutil.ToFloat64(f.m.connected); got != 2 {
		t.Fatalf("after closing one of two streams: connected = %v, want 2", got)
	}
	f.o.StreamClosed("a.ns")
	f.o.StreamClosed("unknown.ns")
	if got := testutil.ToFloat64(f.m.connected); got != 1 {
		t.Fatalf("connected = %v, want 1", got)
	}
}

func TestResponsesAcksNacks(t *testing.T) {
	f := newFixture(t)
	f.o.StreamOpened("a.ns")
	f.o.Answered("a.ns", resourcev3.ClusterType, "", "") // initial request: answers nothing
	f.sendSotW("a.ns", resourcev3.ClusterType, "v1", "1")
	f.o.Answered("a.ns", resourcev3.ClusterType, "1", "")
	f.o.Answered("a.ns", resourcev3.ClusterType, "1", "") // resubscription with the same nonce
	f.o.Answered("a.ns", resourcev3.ClusterType, "nope", "")
	f.sendSotW("a.ns", resourcev3.ClusterType, "v2", "2")
	f.o.Answered("a.ns", resourcev3.ClusterType, "2", "bad cluster")
	f.o.SentDelta("a.ns", &discoveryv3.DeltaDiscoveryResponse{TypeUrl: resourcev3.ListenerType, SystemVersionInfo: "l1", Nonce: "3"})
	f.o.Answered("a.ns", resourcev3.ListenerType, "3", "")
	f.o.SentDelta("a.ns", &discoveryv3.DeltaDiscoveryResponse{TypeUrl: resourcev3.SecretType, Nonce: "4"})

	want := `
# HELP arcturus_xds_responses_total xDS responses sent (state-of-the-world and delta), by type.
# TYPE arcturus_xds_responses_total counter
arcturus_xds_responses_total{type="cluster"} 2
arcturus_xds_responses_total{type="endpoint"} 0
arcturus_xds_responses_total{type="extensionconfig"} 0
arcturus_xds_responses_total{type="listener"} 1
arcturus_xds_responses_total{type="route"} 0
arcturus_xds_responses_total{type="runtime"} 0
arcturus_xds_responses_total{type="scopedroute"} 0
arcturus_xds_responses_total{type="secret"} 1
# HELP arcturus_xds_acks_total xDS responses ACKed by the node, by type.
# TYPE arcturus_xds_acks_total counter
arcturus_xds_acks_total{type="cluster"} 1
arcturus_xds_acks_total{type="endpoint"} 0
arcturus_xds_acks_total{type="extensionconfig"} 0
arcturus_xds_acks_total{type="listener"} 1
arcturus_xds_acks_total{type="route"} 0
arcturus_xds_acks_total{type="runtime"} 0
arcturus_xds_acks_total{type="scopedroute"} 0
arcturus_xds_acks_total{type="secret"} 0
# HELP arcturus_xds_nacks_total xDS responses rejected (NACKed) by the node, by type.
# TYPE arcturus_xds_nacks_total counter
arcturus_xds_nacks_total{type="cluster"} 1
arcturus_xds_nacks_total{type="endpoint"} 0
arcturus_xds_nacks_total{type="extensionconfig"} 0
arcturus_xds_nacks_total{type="listener"} 0
arcturus_xds_nacks_total{type="route"} 0
arcturus_xds_nacks_total{type="runtime"} 0
arcturus_xds_nacks_total{type="scopedroute"} 0
arcturus_xds_nacks_total{type="secret"} 0
`
	if err := testutil.GatherAndCompare(f.reg, strings.NewReader(want), Responses, Acks, Nacks); err != nil {
		t.Fatal(err)
	}
	// Every callback reached the tracker, unchanged.
	if len(f.next.calls) != 11 {
		t.Fatalf("next got %d calls: %q", len(f.next.calls), f.next.calls)
	}
}

func TestConvergence(t *testing.T) {
	f := newFixture(t)
	const node = "a.ns"
	f.o.StreamOpened(node)
	// The initial configuration is not a change.
	f.o.Published(node, allVersions("v1"), nil, time.Time{})
	f.sendSotW(node, resourcev3.ClusterType, "v1", "1")
	f.clock = f.clock.Add(time.Second)
	f.o.Answered(node, resourcev3.ClusterType, "1", "")
	if n := testutil.CollectAndCount(f.m.convergence); n != 0 {
		t.Fatalf("initial configuration observed: %d series", n)
	}

	// A change at t0 published as v2, then a second change as v3 before the node
	// answered: the measurement runs from t0 to the ACK of v3.
	t0 := f.clock
	versions := allVersions("v1")
	versions[resourcev3.ClusterType] = "v2"
	f.o.Published(node, versions, nil, t0)
	f.sendSotW(node, resourcev3.ClusterType, "v2", "2")
	versions[resourcev3.ClusterType] = "v3"
	f.o.Published(node, versions, nil, t0.Add(100*time.Millisecond))
	f.clock = t0.Add(200 * time.Millisecond)
	f.o.Answered(node, resourcev3.ClusterType, "2", "") // v2: not yet the target
	f.sendSotW(node, resourcev3.ClusterType, "v3", "3")
	f.clock = t0.Add(1500 * time.Millisecond)
	f.o.Answered(node, resourcev3.ClusterType, "3", "")
	assertConvergence(t, f, "cluster", 1, 1.5)

	// The ACK arrives before the builder reports the publication (it reports after
	// setting the cache): still observed, at the ACK's time.
	t1 := f.clock.Add(time.Second)
	f.clock = t1.Add(300 * time.Millisecond)
	f.sendSotW(node, resourcev3.ClusterType, "v4", "4")
	f.o.Answered(node, resourcev3.ClusterType, "4", "")
	versions[resourcev3.ClusterType] = "v4"
	f.o.Published(node, versions, nil, t1)
	assertConvergence(t, f, "cluster", 2, 1.8)

	// A NACK of the target ends the measurement; the rollback that follows is no
	// index change, so its ACK is not observed either.
	f.clock = f.clock.Add(time.Second)
	versions[resourcev3.ClusterType] = "v5"
	f.o.Published(node, versions, nil, f.clock)
	f.sendSotW(node, resourcev3.ClusterType, "v5", "5")
	f.o.Answered(node, resourcev3.ClusterType, "5", "rejected")
	versions[resourcev3.ClusterType] = "v6"
	f.o.Published(node, versions, nil, time.Time{})
	f.sendSotW(node, resourcev3.ClusterType, "v6", "6")
	f.clock = f.clock.Add(time.Second)
	f.o.Answered(node, resourcev3.ClusterType, "6", "")
	assertConvergence(t, f, "cluster", 2, 1.8)

	// A change reverted to the version the node already runs: nothing to observe.
	f.clock = f.clock.Add(time.Second)
	versions[resourcev3.ClusterType] = "v7"
	f.o.Published(node, versions, nil, f.clock)
	versions[resourcev3.ClusterType] = "v6"
	f.o.Published(node, versions, nil, f.clock)
	assertConvergence(t, f, "cluster", 2, 1.8)
	f.sendSotW(node, resourcev3.ClusterType, "v6", "7")
	f.o.Answered(node, resourcev3.ClusterType, "7", "")
	assertConvergence(t, f, "cluster", 2, 1.8)
}

func assertConvergence(t *testing.T, f *fixture, typ string, count uint64, sum float64) {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != ConvergenceSeconds {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() != typ {
				continue
			}
			h := m.GetHistogram()
			if h.GetSampleCount() != count || h.GetSampleSum() < sum-1e-9 || h.GetSampleSum() > sum+1e-9 {
				t.Fatalf("convergence{type=%q}: count %d sum %v, want %d and %v", typ, h.GetSampleCount(), h.GetSampleSum(), count, sum)
			}
			return
		}
	}
	if count != 0 {
		t.Fatalf("no convergence{type=%q} series, want count %d", typ, count)
	}
}

func TestSnapshotResourcesAndBuilds(t *testing.T) {
	f := newFixture(t)
	f.o.StreamOpened("a.ns")
	f.o.StreamOpened("b.ns")
	f.o.Published("a.ns", allVersions("1"), map[string]int{resourcev3.ClusterType: 2, resourcev3.ListenerType: 1}, time.Time{})
	f.o.Published("b.ns", allVersions("1"), map[string]int{resourcev3.ClusterType: 3}, time.Time{})
	f.o.Published("gone.ns", allVersions("1"), map[string]int{resourcev3.ClusterType: 7}, time.Time{})
	f.o.Published("a.ns", allVersions("2"), map[string]int{resourcev3.ClusterType: 1, resourcev3.ListenerType: 1}, time.Time{})
	if got := testutil.ToFloat64(f.m.resources.WithLabelValues("cluster")); got != 4 {
		t.Fatalf("cluster resources = %v, want 4", got)
	}
	f.o.StreamClosed("b.ns")
	want := `
# HELP arcturus_snapshot_resources Resources in the last published snapshot of every connected node, summed over the nodes, by type.
# TYPE arcturus_snapshot_resources gauge
arcturus_snapshot_resources{type="cluster"} 1
arcturus_snapshot_resources{type="endpoint"} 0
arcturus_snapshot_resources{type="extensionconfig"} 0
arcturus_snapshot_resources{type="listener"} 1
arcturus_snapshot_resources{type="route"} 0
arcturus_snapshot_resources{type="runtime"} 0
arcturus_snapshot_resources{type="scopedroute"} 0
arcturus_snapshot_resources{type="secret"} 0
`
	if err := testutil.GatherAndCompare(f.reg, strings.NewReader(want), SnapshotResources); err != nil {
		t.Fatal(err)
	}

	f.o.Built(2, 3*time.Millisecond)
	f.o.Built(1, time.Millisecond)
	if n := testutil.CollectAndCount(f.m.buildSeconds); n != 1 {
		t.Fatalf("build histogram series = %d", n)
	}
	if err := testutil.GatherAndCompare(f.reg, strings.NewReader(`
# HELP arcturus_xds_connected_proxies Envoy nodes with at least one open ADS stream.
# TYPE arcturus_xds_connected_proxies gauge
arcturus_xds_connected_proxies 1
`), ConnectedProxies); err != nil {
		t.Fatal(err)
	}
	mfs, _ := f.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == BuildSeconds {
			if h := mf.GetMetric()[0].GetHistogram(); h.GetSampleCount() != 2 {
				t.Fatalf("builds observed = %d, want 2", h.GetSampleCount())
			}
		}
	}
}

// TestWithBuilder runs the observer as a real builder's Observer: an index change
// that reaches a connected node is measured until the node ACKs its version.
func TestWithBuilder(t *testing.T) {
	f := newFixture(t)
	cache := cachev3.NewSnapshotCache(false, cachev3.IDHash{}, nil)
	var b *snapshot.Builder
	idx := index.New(func(ids []string) { b.NodesChanged(ids) })
	b = snapshot.NewBuilder(idx, cache, snapshot.Options{Debounce: time.Millisecond, MaxDelay: 10 * time.Millisecond}, logr.Discard())
	b.Observer = f.o
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = b.Start(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	const node = "gw.ns"
	idx.SetPod(index.Pod{Namespace: "ns", Name: "gw"})
	f.o.StreamOpened(node)
	b.StreamOpened(node)
	b.MarkReady()
	v1 := waitClusterVersion(t, cache, node, "")
	f.sendSotW(node, resourcev3.ClusterType, v1, "1")
	f.o.Answered(node, resourcev3.ClusterType, "1", "")

	f.clock = time.Now().Add(time.Minute) // the ACK comes a minute after the change
	idx.ReplaceResources("ns", resourcev3.ClusterType, []index.Resource{{Name: "a", Message: &clusterv3.Cluster{Name: "a", ConnectTimeout: durationpb.New(time.Second)}}})
	v2 := waitClusterVersion(t, cache, node, v1)
	if got := testutil.ToFloat64(f.m.resources.WithLabelValues("cluster")); got != 1 {
		t.Fatalf("cluster resources = %v, want 1", got)
	}
	f.sendSotW(node, resourcev3.ClusterType, v2, "2")
	f.o.Answered(node, resourcev3.ClusterType, "2", "")
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var h *dto.Histogram
	for _, mf := range mfs {
		if mf.GetName() == ConvergenceSeconds {
			h = mf.GetMetric()[0].GetHistogram()
		}
	}
	if h.GetSampleCount() != 1 || h.GetSampleSum() < 59 || h.GetSampleSum() > 61 {
		t.Fatalf("convergence: count %d sum %v, want 1 sample of about 60 s", h.GetSampleCount(), h.GetSampleSum())
	}
	if n := testutil.CollectAndCount(f.m.buildSeconds); n != 1 {
		t.Fatalf("build histogram: %d series", n)
	}
}

func waitClusterVersion(t *testing.T, cache cachev3.SnapshotCache, node, not string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if s, err := cache.GetSnapshot(node); err == nil {
			if v := s.GetVersion(resourcev3.ClusterType); v != not {
				return v
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%s: no snapshot with cluster version other than %q", node, not)
	return ""
}

func TestLint(t *testing.T) {
	f := newFixture(t)
	problems, err := testutil.GatherAndLint(f.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}
}
