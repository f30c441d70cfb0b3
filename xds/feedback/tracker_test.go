package feedback

import (
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/arcturus-dev/arcturus/xds/index"
)

// marshal encodes a resource as go-control-plane does.
func marshal(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return &anypb.Any{TypeUrl: "type.googleapis.com/" + string(m.ProtoReflect().Descriptor().FullName()), Value: b}
}

func cluster(name string, timeout time.Duration) *clusterv3.Cluster {
	return &clusterv3.Cluster{Name: name, ConnectTimeout: durationpb.New(timeout)}
}

func sotw(t *testing.T, version, nonce string, clusters ...*clusterv3.Cluster) *discoveryv3.DiscoveryResponse {
	r := &discoveryv3.DiscoveryResponse{TypeUrl: resourcev3.ClusterType, VersionInfo: version, Nonce: nonce}
	for _, c := range clusters {
		r.Resources = append(r.Resources, marshal(t, c))
	}
	return r
}

func TestHashAnyMatchesIndexHash(t *testing.T) {
	for _, m := range []proto.Message{cluster("a", time.Second), &endpointv3.ClusterLoadAssignment{ClusterName: "a"}} {
		if HashAny(marshal(t, m)) != index.Hash(m) {
			t.Errorf("%T: hash of the marshalled resource differs from index.Hash", m)
		}
	}
}

func TestResourceNameReadsFieldOne(t *testing.T) {
	if got := resourceName(marshal(t, cluster("backend", time.Second))); got != "backend" {
		t.Errorf("cluster name %q", got)
	}
	if got := resourceName(marshal(t, &endpointv3.ClusterLoadAssignment{ClusterName: "eds"})); got != "eds" {
		t.Errorf("endpoint cluster_name %q", got)
	}
	if got := resourceName(&anypb.Any{Value: []byte{0xff}}); got != "" {
		t.Errorf("garbage gave %q", got)
	}
}

func TestTrackerSotW(t *testing.T) {
	var changes []Change
	tr := NewTracker(func(c Change) { changes = append(changes, c) })
	const node, ct = "gw-0.ns", resourcev3.ClusterType
	tr.StreamOpened(node)

	v1 := cluster("a", time.Second)
	tr.SentSotW(node, sotw(t, "v1", "1", v1, cluster("b", time.Second)))
	if _, ok := tr.Holds(node, ct, "a"); ok {
		t.Fatal("holds a before ACK")
	}
	tr.Answered(node, ct, "1", "")
	if h, ok := tr.Holds(node, ct, "a"); !ok || h.Hash != index.Hash(v1) {
		t.Fatalf("after ACK: holds a=%v (hash match %v)", ok, h.Hash == index.Hash(v1))
	}

	// v2 changes a only; the NACK blames a, and b stays held.
	v2 := cluster("a", 5*time.Second)
	tr.SentSotW(node, sotw(t, "v2", "2", v2, cluster("b", time.Second)))
	tr.Answered(node, ct, "2", "bad timeout")
	rej, ok := tr.Rejected(node, ct, "a")
	if !ok || rej.Hash != index.Hash(v2) || rej.Message != "bad timeout" {
		t.Errorf("rejection of a: %+v %v", rej, ok)
	}
	if _, ok := tr.Rejected(node, ct, "b"); ok {
		t.Error("b was blamed though it did not change")
	}
	if h, _ := tr.Holds(node, ct, "a"); h.Hash != index.Hash(v1) {
		t.Error("a NACK changed what the node holds")
	}
	st, _ := tr.Node(node)
	if ts := st.Types[ct]; ts.AckedVersion != "v1" || ts.SentVersion != "v2" || ts.Rejection == nil {
		t.Errorf("type status %+v", ts)
	}

	// The rejection outlives a later ACK of something else, and ends when the node
	// ACKs the rejected content after all.
	tr.SentSotW(node, sotw(t, "v1", "3", v1, cluster("b", time.Second)))
	tr.Answered(node, ct, "3", "")
	if _, ok := tr.Rejected(node, ct, "a"); !ok {
		t.Error("rejection forgotten after ACK of the rolled-back version")
	}
	tr.SentSotW(node, sotw(t, "v2", "4", v2, cluster("b", time.Second)))
	tr.Answered(node, ct, "4", "")
	if _, ok := tr.Rejected(node, ct, "a"); ok {
		t.Error("rejection kept after the node ACKed that content")
	}

	// Unknown nonces are ignored; the last stream closing forgets the node.
	before := len(changes)
	tr.Answered(node, ct, "99", "")
	if len(changes) != before {
		t.Error("an answer to an unknown nonce was recorded")
	}
	tr.StreamClosed(node)
	if _, connected := tr.Node(node); connected || len(tr.Nodes()) != 0 {
		t.Error("node kept after its stream closed")
	}
	if last := changes[len(changes)-1]; !last.Disconnected {
		t.Errorf("last change %+v, want a disconnect", last)
	}
}

func TestTrackerRemembersARefusedRemoval(t *testing.T) {
	tr := NewTracker(nil)
	const node, ct = "gw-0.ns", resourcev3.ClusterType
	tr.StreamOpened(node)
	a, b := cluster("a", time.Second), cluster("b", time.Second)
	tr.SentSotW(node, sotw(t, "v1", "1", a, b))
	tr.Answered(node, ct, "1", "")

	// v2 removes b; the node refuses it.
	tr.SentSotW(node, sotw(t, "v2", "2", a))
	tr.Answered(node, ct, "2", "b is still in use")
	if rej, ok := tr.Rejected(node, ct, "b"); !ok || !rej.Removal || rej.Hash != 0 {
		t.Fatalf("refused removal of b: %+v %v", rej, ok)
	}
	if got := tr.RejectedRemovals(node, ct); len(got) != 1 || got[0] != "b" {
		t.Errorf("RejectedRemovals = %v, want [b]", got)
	}
	if _, ok := tr.Rejected(node, ct, "a"); ok {
		t.Error("a was blamed though it did not change")
	}
	if h, ok := tr.Holds(node, ct, "b"); !ok || h.Hash != index.Hash(b) {
		t.Error("a refused removal changed what the node holds")
	}

	// Holding b again keeps the refusal; accepting the removal after all ends it.
	tr.SentSotW(node, sotw(t, "v1", "3", a, b))
	tr.Answered(node, ct, "3", "")
	if !tr.AnyRejected(node) {
		t.Error("refusal forgotten while the node still holds b")
	}
	tr.SentSotW(node, sotw(t, "v2", "4", a))
	tr.Answered(node, ct, "4", "")
	if tr.AnyRejected(node) {
		t.Error("refusal kept after the node accepted the removal")
	}
}

func TestTrackerDelta(t *testing.T) {
	tr := NewTracker(nil)
	const node, ct = "gw-0.ns", resourcev3.ClusterType
	tr.StreamOpened(node)
	res := func(c *clusterv3.Cluster) *discoveryv3.Resource {
		return &discoveryv3.Resource{Name: c.GetName(), Resource: marshal(t, c)}
	}
	tr.SentDelta(node, &discoveryv3.DeltaDiscoveryResponse{TypeUrl: ct, Nonce: "1", Resources: []*discoveryv3.Resource{res(cluster("a", time.Second)), res(cluster("b", time.Second))}})
	tr.Answered(node, ct, "1", "")
	tr.SentDelta(node, &discoveryv3.DeltaDiscoveryResponse{TypeUrl: ct, Nonce: "2", RemovedResources: []string{"a"}})
	tr.Answered(node, ct, "2", "")
	if _, ok := tr.Holds(node, ct, "a"); ok {
		t.Error("a still held after its removal was ACKed")
	}
	if _, ok := tr.Holds(node, ct, "b"); !ok {
		t.Error("b lost by a delta that did not mention it")
	}
	c := cluster("c", time.Second)
	tr.SentDelta(node, &discoveryv3.DeltaDiscoveryResponse{TypeUrl: ct, Nonce: "3", Resources: []*discoveryv3.Resource{res(c)}})
	tr.Answered(node, ct, "3", "rejected c")
	if rej, ok := tr.Rejected(node, ct, "c"); !ok || rej.Hash != index.Hash(c) {
		t.Error("delta NACK did not blame the resource it carried")
	}
}

func TestTrackerSharesHeldContent(t *testing.T) {
	tr := NewTracker(nil)
	const ct = resourcev3.ClusterType
	for _, node := range []string{"a.ns", "b.ns"} {
		tr.StreamOpened(node)
		tr.SentSotW(node, sotw(t, "v1", "1", cluster("c", time.Second)))
		tr.Answered(node, ct, "1", "")
	}
	ha, _ := tr.Holds("a.ns", ct, "c")
	hb, _ := tr.Holds("b.ns", ct, "c")
	if ha.Resource != hb.Resource {
		t.Error("two nodes holding the same content keep separate copies")
	}
	tr.StreamClosed("a.ns")
	tr.StreamClosed("b.ns")
	if len(tr.contents) != 0 {
		t.Errorf("%d contents kept after every node left", len(tr.contents))
	}
}
