package snapshot

import (
	"context"
	"fmt"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/arcturus-dev/arcturus/xds/index"
)

// BenchmarkBuildFanOut measures one change reaching every connected node: the
// builder's work per node (selection, versions, snapshot) for 500 resources.
func BenchmarkBuildFanOut(b *testing.B) {
	for _, nodes := range []int{100, 1000} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			idx := index.New(nil)
			c := cachev3.NewSnapshotCache(false, cachev3.IDHash{}, nil)
			bl := NewBuilder(idx, c, Options{}, logr.Discard())
			bl.MarkReady()
			ids := make([]string, nodes)
			for i := range ids {
				p := index.Pod{Namespace: "ns", Name: fmt.Sprintf("gw-%d", i), Labels: map[string]string{"app": "gw"}}
				idx.SetPod(p)
				ids[i] = p.NodeID()
				bl.StreamOpened(ids[i])
			}
			for _, typeURL := range TypeURLs {
				rs := make([]index.Resource, 125)
				for i := range rs {
					name := fmt.Sprintf("%s-%d", typeURL[len(typeURL)-8:], i)
					rs[i] = index.Resource{Name: name, Message: &clusterv3.Cluster{Name: name, ConnectTimeout: durationpb.New(time.Second)}}
				}
				idx.ReplaceResources("ns", typeURL, rs)
			}
			ctx := context.Background()
			b.ResetTimer()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				// One cluster changes; every node is rebuilt.
				rs := make([]index.Resource, 125)
				for j := range rs {
					name := fmt.Sprintf("%s-%d", resourcev3.ClusterType[len(resourcev3.ClusterType)-8:], j)
					rs[j] = index.Resource{Name: name, Message: &clusterv3.Cluster{Name: name, ConnectTimeout: durationpb.New(time.Duration(1+(i%2)*(j%2)) * time.Second)}}
				}
				idx.ReplaceResources("ns", resourcev3.ClusterType, rs)
				shared := selections{} // one build pass
				for _, id := range ids {
					bl.build(ctx, id, time.Time{}, shared)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(nodes), "ns/node")
		})
	}
}
