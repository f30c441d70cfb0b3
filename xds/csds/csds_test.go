package csds

import (
	"context"
	"net"
	"testing"
	"time"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	statusv3 "github.com/envoyproxy/go-control-plane/envoy/service/status/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/arcturus-dev/arcturus/xds/feedback"
	"github.com/arcturus-dev/arcturus/xds/index"
)

// fakeProxies is canned tracker data.
type fakeProxies struct {
	nodes    []feedback.NodeStatus
	rejected map[[3]string]feedback.RejectedResource // node, type, name
}

func (f *fakeProxies) Nodes() []feedback.NodeStatus { return f.nodes }
func (f *fakeProxies) Rejected(node, typeURL, name string) (feedback.RejectedResource, bool) {
	r, ok := f.rejected[[3]string{node, typeURL, name}]
	return r, ok
}

// fakeDesired is canned index data: node → type → resources.
type fakeDesired map[string]map[string][]*index.Resource

func (f fakeDesired) NodeResources(node string) (map[string][]*index.Resource, bool) {
	r, ok := f[node]
	return r, ok
}

func cluster(name string, timeout time.Duration) *clusterv3.Cluster {
	return &clusterv3.Cluster{Name: name, ConnectTimeout: durationpb.New(timeout)}
}

func listener(name string) *listenerv3.Listener { return &listenerv3.Listener{Name: name} }

func held(t *testing.T, m proto.Message) feedback.Held {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return feedback.Held{Hash: index.Hash(m), Resource: a}
}

func resource(name string, m proto.Message) *index.Resource {
	return &index.Resource{Name: name, Message: m, Hash: index.Hash(m)}
}

func snapshot(byType map[string][]types.Resource, versions map[string]string) *cachev3.Snapshot {
	s := &cachev3.Snapshot{}
	for typeURL, items := range byType {
		s.Resources[cachev3.GetResponseType(typeURL)] = cachev3.NewResources(versions[typeURL], items)
	}
	return s
}

var rejectedAt = time.Unix(1700000000, 0).UTC()

// fixture: node gw.ns holds clusters a (current), b (an update it refused), d
// (deleted since) and is being sent c; it holds listener l and was not sent m
// (it subscribes to l by name). Node other.ns2's pod is gone.
func fixture(t *testing.T) (*fakeProxies, *cachev3.Snapshot, fakeDesired) {
	t.Helper()
	a1, b1, b2, c1, d1 := cluster("a", time.Second), cluster("b", time.Second), cluster("b", 2*time.Second), cluster("c", time.Second), cluster("d", time.Second)
	l1, m1 := listener("l"), listener("m")
	proxies := &fakeProxies{
		nodes: []feedback.NodeStatus{
			{NodeID: "gw.ns", Types: map[string]*feedback.TypeStatus{
				resourcev3.ClusterType: {
					TypeURL: resourcev3.ClusterType, SentVersion: "c3", AckedVersion: "c1", AckedAt: rejectedAt.Add(-time.Minute),
					Held:      map[string]feedback.Held{"a": held(t, a1), "b": held(t, b1), "d": held(t, d1)},
					Rejection: &feedback.Rejection{Version: "c2", Message: "bad b", At: rejectedAt, Resources: map[string]uint64{"b": index.Hash(b2)}},
				},
				resourcev3.ListenerType: {
					TypeURL: resourcev3.ListenerType, SentVersion: "l1", AckedVersion: "l1",
					Held: map[string]feedback.Held{"l": held(t, l1)},
				},
			}},
			{NodeID: "other.ns2", Types: map[string]*feedback.TypeStatus{
				resourcev3.ClusterType: {
					TypeURL: resourcev3.ClusterType, SentVersion: "x1", AckedVersion: "x1",
					Held: map[string]feedback.Held{"x": held(t, cluster("x", time.Second))},
				},
			}},
		},
		rejected: map[[3]string]feedback.RejectedResource{
			{"gw.ns", resourcev3.ClusterType, "b"}: {Hash: index.Hash(b2), Message: "bad b", At: rejectedAt},
		},
	}
	// Served: the rollback keeps b at b1; c is published, d is gone.
	snap := snapshot(map[string][]types.Resource{
		resourcev3.ClusterType:  {a1, b1, c1},
		resourcev3.ListenerType: {l1, m1},
	}, map[string]string{resourcev3.ClusterType: "c3", resourcev3.ListenerType: "l1"})
	desired := fakeDesired{"gw.ns": {
		resourcev3.ClusterType:  {resource("a", a1), resource("b", b2), resource("c", c1)},
		resourcev3.ListenerType: {resource("l", l1), resource("m", m1)},
	}}
	return proxies, snap, desired
}

type servedSnap map[string]*cachev3.Snapshot

func (s servedSnap) GetSnapshot(node string) (cachev3.ResourceSnapshot, error) {
	if sn, ok := s[node]; ok {
		return sn, nil
	}
	return nil, status.Error(codes.NotFound, "no snapshot")
}

type row struct {
	typeURL, name, version string
	status                 statusv3.ConfigStatus
	client                 adminv3.ClientResourceStatus
	hasConfig              bool
}

func rows(cc *statusv3.ClientConfig) []row {
	var out []row
	for _, c := range cc.GetGenericXdsConfigs() {
		out = append(out, row{c.GetTypeUrl(), c.GetName(), c.GetVersionInfo(), c.GetConfigStatus(), c.GetClientStatus(), c.GetXdsConfig() != nil})
	}
	return out
}

func TestStatus(t *testing.T) {
	proxies, snap, desired := fixture(t)
	s := New(proxies, servedSnap{"gw.ns": snap}, desired)
	resp, err := s.Status(&statusv3.ClientStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetConfig()) != 2 || resp.GetConfig()[0].GetNode().GetId() != "gw.ns" || resp.GetConfig()[1].GetNode().GetId() != "other.ns2" {
		t.Fatalf("configs: %v", resp.GetConfig())
	}
	C, L := resourcev3.ClusterType, resourcev3.ListenerType
	want := []row{
		{C, "a", "c1", statusv3.ConfigStatus_SYNCED, adminv3.ClientResourceStatus_ACKED, true},
		{C, "b", "c1", statusv3.ConfigStatus_ERROR, adminv3.ClientResourceStatus_NACKED, true},
		{C, "c", "", statusv3.ConfigStatus_STALE, adminv3.ClientResourceStatus_UNKNOWN, true},
		{C, "d", "c1", statusv3.ConfigStatus_STALE, adminv3.ClientResourceStatus_ACKED, true},
		{L, "l", "l1", statusv3.ConfigStatus_SYNCED, adminv3.ClientResourceStatus_ACKED, true},
		{L, "m", "", statusv3.ConfigStatus_NOT_SENT, adminv3.ClientResourceStatus_UNKNOWN, true},
	}
	got := rows(resp.GetConfig()[0])
	if len(got) != len(want) {
		t.Fatalf("gw.ns: got %+v\nwant %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("gw.ns row %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	b := resp.GetConfig()[0].GetGenericXdsConfigs()[1]
	es := b.GetErrorState()
	if es.GetDetails() != "bad b" || es.GetVersionInfo() != "c2" || !es.GetLastUpdateAttempt().AsTime().Equal(rejectedAt) {
		t.Errorf("b error_state = %v", es)
	}
	var failed clusterv3.Cluster
	if err := es.GetFailedConfiguration().UnmarshalTo(&failed); err != nil || failed.GetConnectTimeout().AsDuration() != 2*time.Second {
		t.Errorf("b failed_configuration = %v (%v), want the refused b2", es.GetFailedConfiguration(), err)
	}
	var running clusterv3.Cluster
	if err := b.GetXdsConfig().UnmarshalTo(&running); err != nil || running.GetConnectTimeout().AsDuration() != time.Second {
		t.Errorf("b xds_config = %v, want the running b1", b.GetXdsConfig())
	}
	if a := resp.GetConfig()[0].GetGenericXdsConfigs()[0]; a.GetErrorState() != nil || a.GetLastUpdated() == nil {
		t.Errorf("a: error_state %v, last_updated %v", a.GetErrorState(), a.GetLastUpdated())
	}
	// The pod of other.ns2 is gone: what it holds is on its way out.
	if got := rows(resp.GetConfig()[1]); len(got) != 1 || got[0].status != statusv3.ConfigStatus_STALE {
		t.Errorf("other.ns2: %+v", got)
	}

	// exclude_resource_contents drops the configs.
	resp, err = s.Status(&statusv3.ClientStatusRequest{ExcludeResourceContents: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, cc := range resp.GetConfig() {
		for _, c := range cc.GetGenericXdsConfigs() {
			if c.GetXdsConfig() != nil || c.GetErrorState().GetFailedConfiguration() != nil {
				t.Errorf("%s %s: contents not excluded", cc.GetNode().GetId(), c.GetName())
			}
		}
	}
}

// TestStatusFromSnapshot: without the index, the snapshot tells what the node
// should run; the refused update of b is still an error.
func TestStatusFromSnapshot(t *testing.T) {
	proxies, snap, _ := fixture(t)
	resp, err := New(proxies, servedSnap{"gw.ns": snap}, nil).Status(&statusv3.ClientStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	C, L := resourcev3.ClusterType, resourcev3.ListenerType
	want := []row{
		{C, "a", "c1", statusv3.ConfigStatus_SYNCED, adminv3.ClientResourceStatus_ACKED, true},
		{C, "b", "c1", statusv3.ConfigStatus_ERROR, adminv3.ClientResourceStatus_NACKED, true},
		{C, "c", "", statusv3.ConfigStatus_STALE, adminv3.ClientResourceStatus_UNKNOWN, true},
		{C, "d", "c1", statusv3.ConfigStatus_STALE, adminv3.ClientResourceStatus_ACKED, true},
		{L, "l", "l1", statusv3.ConfigStatus_SYNCED, adminv3.ClientResourceStatus_ACKED, true},
		{L, "m", "", statusv3.ConfigStatus_NOT_SENT, adminv3.ClientResourceStatus_UNKNOWN, true},
	}
	got := rows(resp.GetConfig()[0])
	if len(got) != len(want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	// other.ns2 has no snapshot: its versions decide.
	if got := rows(resp.GetConfig()[1]); len(got) != 1 || got[0].status != statusv3.ConfigStatus_SYNCED {
		t.Errorf("other.ns2: %+v", got)
	}
}

// TestStatusFromTrackerOnly: without the cache and the index, the versions
// decide; a refused content other than the one held is an error.
func TestStatusFromTrackerOnly(t *testing.T) {
	proxies, _, _ := fixture(t)
	resp, err := New(proxies, nil, nil).Status(&statusv3.ClientStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	C, L := resourcev3.ClusterType, resourcev3.ListenerType
	want := []row{
		{C, "a", "c1", statusv3.ConfigStatus_STALE, adminv3.ClientResourceStatus_ACKED, true},
		{C, "b", "c1", statusv3.ConfigStatus_ERROR, adminv3.ClientResourceStatus_NACKED, true},
		{C, "d", "c1", statusv3.ConfigStatus_STALE, adminv3.ClientResourceStatus_ACKED, true},
		{L, "l", "l1", statusv3.ConfigStatus_SYNCED, adminv3.ClientResourceStatus_ACKED, true},
	}
	got := rows(resp.GetConfig()[0])
	if len(got) != len(want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestNodeMatchers(t *testing.T) {
	proxies, snap, desired := fixture(t)
	s := New(proxies, servedSnap{"gw.ns": snap}, desired)
	sm := func(m *matcherv3.StringMatcher) *matcherv3.NodeMatcher { return &matcherv3.NodeMatcher{NodeId: m} }
	for _, tc := range []struct {
		name     string
		matchers []*matcherv3.NodeMatcher
		want     []string
	}{
		{"none", nil, []string{"gw.ns", "other.ns2"}},
		{"exact", []*matcherv3.NodeMatcher{sm(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "gw.ns"}})}, []string{"gw.ns"}},
		{"exact ignore case", []*matcherv3.NodeMatcher{sm(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "GW.NS"}, IgnoreCase: true})}, []string{"gw.ns"}},
		{"prefix", []*matcherv3.NodeMatcher{sm(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "oth"}})}, []string{"other.ns2"}},
		{"suffix", []*matcherv3.NodeMatcher{sm(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Suffix{Suffix: ".ns"}})}, []string{"gw.ns"}},
		{"regex", []*matcherv3.NodeMatcher{sm(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "o.*"}}})}, []string{"other.ns2"}},
		{"or", []*matcherv3.NodeMatcher{
			sm(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "nope"}}),
			sm(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Contains{Contains: "ns2"}}),
		}, []string{"other.ns2"}},
		{"no match", []*matcherv3.NodeMatcher{sm(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "gw"}})}, nil},
	} {
		resp, err := s.Status(&statusv3.ClientStatusRequest{NodeMatchers: tc.matchers})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got []string
		for _, cc := range resp.GetConfig() {
			got = append(got, cc.GetNode().GetId())
		}
		if len(got) != len(tc.want) || (len(got) > 0 && got[0] != tc.want[0]) || (len(got) > 1 && got[1] != tc.want[1]) {
			t.Errorf("%s: nodes %v, want %v", tc.name, got, tc.want)
		}
	}
	_, err := s.Status(&statusv3.ClientStatusRequest{NodeMatchers: []*matcherv3.NodeMatcher{{NodeMetadatas: []*matcherv3.StructMatcher{{}}}}})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("metadata matcher: %v, want InvalidArgument", err)
	}
}

// TestGRPC serves CSDS on a real gRPC server: unary and streaming.
func TestGRPC(t *testing.T) {
	proxies, snap, desired := fixture(t)
	g := grpc.NewServer()
	New(proxies, servedSnap{"gw.ns": snap}, desired).Register(g)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	client := statusv3.NewClientStatusDiscoveryServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	resp, err := client.FetchClientStatus(ctx, &statusv3.ClientStatusRequest{NodeMatchers: []*matcherv3.NodeMatcher{{
		NodeId: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "gw.ns"}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetConfig()) != 1 || len(resp.GetConfig()[0].GetGenericXdsConfigs()) != 6 {
		t.Fatalf("fetch: %v", resp)
	}

	stream, err := client.StreamClientStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := stream.Send(&statusv3.ClientStatusRequest{}); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetConfig()) != 2 {
			t.Fatalf("stream: %d configs", len(resp.GetConfig()))
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err == nil {
		t.Fatal("stream not closed after CloseSend")
	}
}
