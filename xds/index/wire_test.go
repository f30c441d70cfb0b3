package index

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// bigCluster is a cluster with an inline load assignment of n endpoints.
func bigCluster(n int) *clusterv3.Cluster {
	c := &clusterv3.Cluster{Name: "big", ConnectTimeout: durationpb.New(time.Second), LoadAssignment: &endpointv3.ClusterLoadAssignment{ClusterName: "big"}}
	var lbs []*endpointv3.LbEndpoint
	for i := range n {
		lbs = append(lbs, &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
				Address: fmt.Sprintf("10.0.%d.%d", i/250, i%250), PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 8080},
			}}},
		}}})
	}
	c.LoadAssignment.Endpoints = []*endpointv3.LocalityLbEndpoints{{LbEndpoints: lbs}}
	return c
}

func TestEncodedMarshalsLikeTheMessage(t *testing.T) {
	m := bigCluster(10)
	e, err := NewEncoded("big", m)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	for name, marshal := range map[string]func() ([]byte, error){
		"proto.Marshal":                func() ([]byte, error) { return proto.Marshal(e) },
		"deterministic proto.Marshal":  func() ([]byte, error) { return proto.MarshalOptions{Deterministic: true}.Marshal(e) },
		"go-control-plane marshalling": func() ([]byte, error) { return cachev3.MarshalResource(e) },
		"anypb.New": func() ([]byte, error) {
			a, err := anypb.New(e)
			return a.GetValue(), err
		},
	} {
		got, err := marshal()
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %v; bytes equal: %v", name, err, bytes.Equal(got, want))
		}
	}
	if e.Hash() != Hash(m) {
		t.Error("Encoded.Hash differs from Hash")
	}
	if !proto.Equal(e, m) {
		t.Error("the wrapper does not read like the message")
	}
	if got := cachev3.GetResourceName(e); got != "big" {
		t.Errorf("go-control-plane sees the name %q", got)
	}
	a, _ := anypb.New(e)
	if a.GetTypeUrl() != "type.googleapis.com/envoy.config.cluster.v3.Cluster" {
		t.Errorf("type URL %s", a.GetTypeUrl())
	}
}

func TestReplaceResourcesKeepsUnchangedEncodings(t *testing.T) {
	x := New(nil)
	x.SetPod(Pod{Namespace: "a", Name: "gw"})
	x.ReplaceResources("a", clusterType, []Resource{{Name: "c", Message: bigCluster(3)}})
	first, _ := x.Lookup("a", clusterType, "c")
	x.ReplaceResources("a", clusterType, []Resource{{Name: "c", Message: bigCluster(3)}})
	second, _ := x.Lookup("a", clusterType, "c")
	if first.Wire != second.Wire {
		t.Error("identical content was encoded again")
	}
	x.ReplaceResources("a", clusterType, []Resource{{Name: "c", Message: bigCluster(4)}})
	third, _ := x.Lookup("a", clusterType, "c")
	if third.Wire == second.Wire {
		t.Error("changed content kept the old encoding")
	}
}

// BenchmarkMarshalPerStream compares what go-control-plane does per stream for one
// resource: a full serialization, or a copy of the shared encoding.
func BenchmarkMarshalPerStream(b *testing.B) {
	m := bigCluster(500)
	e, _ := NewEncoded("big", m)
	b.Run("message", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = cachev3.MarshalResource(m)
		}
	})
	b.Run("encoded", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = cachev3.MarshalResource(e)
		}
	})
}

// BenchmarkReplaceResources measures an index update of 150 clusters where one changed.
func BenchmarkReplaceResources(b *testing.B) {
	x := New(nil)
	for i := range 100 {
		x.SetPod(Pod{Namespace: "a", Name: fmt.Sprintf("gw-%d", i), Labels: map[string]string{"app": "gw"}})
	}
	rs := make([]Resource, 150)
	for i := range rs {
		c := bigCluster(20)
		c.Name = fmt.Sprintf("c%d", i)
		rs[i] = Resource{Name: c.Name, Message: c, Hash: Hash(c)}
	}
	x.ReplaceResources("a", clusterType, rs)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c := bigCluster(20)
		c.Name, c.ConnectTimeout = "c0", durationpb.New(time.Duration(i%2+1)*time.Second)
		rs[0] = Resource{Name: "c0", Message: c, Hash: Hash(c)}
		x.ReplaceResources("a", clusterType, rs)
	}
}
