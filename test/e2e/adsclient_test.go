package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	// The Envoy types the tests decode.
	_ "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/service/runtime/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// dial connects to an ADS server.
func dial(t *testing.T, addr string) discoveryv3.AggregatedDiscoveryServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
}

// sotwClient is a state-of-the-world ADS stream for one type, ACKing every response.
type sotwClient struct {
	t       *testing.T
	node    string
	typeURL string
	stream  discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	cancel  context.CancelFunc
	// responses delivers every response received, in order.
	responses chan *discoveryv3.DiscoveryResponse
	// reject, when set, decides per response: a non-empty message NACKs it.
	reject func(*discoveryv3.DiscoveryResponse) string
}

// sotwOption changes a sotwClient before it starts.
type sotwOption func(*sotwClient)

// rejecting makes the client NACK the responses for which reject returns a message.
func rejecting(reject func(*discoveryv3.DiscoveryResponse) string) sotwOption {
	return func(c *sotwClient) { c.reject = reject }
}

// newSotW opens a stream as node and subscribes to typeURL (wildcard when names is
// empty), starting from version (empty for a fresh client).
func newSotW(t *testing.T, addr, node, typeURL, version string, names ...string) *sotwClient {
	return newSotWWith(t, addr, node, typeURL, version, nil, names...)
}

// newSotWWith is newSotW with options.
func newSotWWith(t *testing.T, addr, node, typeURL, version string, opts []sotwOption, names ...string) *sotwClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := dial(t, addr).StreamAggregatedResources(ctx)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	c := &sotwClient{t: t, node: node, typeURL: typeURL, stream: stream, cancel: cancel, responses: make(chan *discoveryv3.DiscoveryResponse, 100)}
	for _, o := range opts {
		o(c)
	}
	t.Cleanup(cancel)
	if err := stream.Send(&discoveryv3.DiscoveryRequest{
		Node: &corev3.Node{Id: node}, TypeUrl: typeURL, VersionInfo: version, ResourceNames: names,
	}); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.responses)
		acked := version
		for {
			resp, err := stream.Recv()
			if err != nil {
				return
			}
			c.responses <- resp
			req := &discoveryv3.DiscoveryRequest{TypeUrl: typeURL, VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce(), ResourceNames: names}
			if c.reject != nil {
				if msg := c.reject(resp); msg != "" {
					// A NACK names the version the client still runs, like Envoy.
					req.VersionInfo = acked
					req.ErrorDetail = &status.Status{Code: int32(codes.InvalidArgument), Message: msg}
				}
			}
			if req.ErrorDetail == nil {
				acked = resp.GetVersionInfo()
			}
			_ = stream.Send(req)
		}
	}()
	return c
}

// next waits for the next response.
func (c *sotwClient) next() *discoveryv3.DiscoveryResponse {
	c.t.Helper()
	select {
	case r, ok := <-c.responses:
		if !ok {
			c.t.Fatalf("%s: stream closed", c.node)
		}
		return r
	case <-time.After(20 * time.Second):
		c.t.Fatalf("%s: no %s response within 20s", c.node, c.typeURL)
	}
	return nil
}

// waitFor reads responses until one has exactly the wanted resource names.
func (c *sotwClient) waitFor(want ...string) *discoveryv3.DiscoveryResponse {
	c.t.Helper()
	slices.Sort(want)
	deadline := time.After(20 * time.Second)
	var got []string
	for {
		select {
		case r, ok := <-c.responses:
			if !ok {
				c.t.Fatalf("%s: stream closed while waiting for %v", c.node, want)
			}
			got = resourceNames(c.t, r.GetResources())
			if slices.Equal(got, want) {
				return r
			}
		case <-deadline:
			c.t.Fatalf("%s: resources %v, want %v", c.node, got, want)
			return nil
		}
	}
}

// quiet asserts that no response arrives within d.
func (c *sotwClient) quiet(d time.Duration) {
	c.t.Helper()
	select {
	case r, ok := <-c.responses:
		if ok {
			c.t.Errorf("%s: unexpected response version %s with %v", c.node, r.GetVersionInfo(), resourceNames(c.t, r.GetResources()))
		}
	case <-time.After(d):
	}
}

// resourceNames returns the sorted names of the resources in anys.
func resourceNames(t *testing.T, anys []*anypb.Any) []string {
	t.Helper()
	names := []string{}
	for _, a := range anys {
		m, err := a.UnmarshalNew()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, envoyName(m))
	}
	slices.Sort(names)
	return names
}

// envoyName returns the name of an Envoy resource.
func envoyName(m proto.Message) string {
	if n, ok := m.(interface{ GetName() string }); ok {
		return n.GetName()
	}
	if n, ok := m.(interface{ GetClusterName() string }); ok {
		return n.GetClusterName()
	}
	return fmt.Sprintf("<%T>", m)
}

// deltaClient is a delta ADS stream for one type, ACKing every response.
type deltaClient struct {
	t         *testing.T
	node      string
	responses chan *discoveryv3.DeltaDiscoveryResponse
	// cancel ends the stream.
	cancel context.CancelFunc
}

// newDelta opens a delta stream as node subscribed to every resource of typeURL.
func newDelta(t *testing.T, addr, node, typeURL string, initialVersions map[string]string) *deltaClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := dial(t, addr).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := &deltaClient{t: t, node: node, responses: make(chan *discoveryv3.DeltaDiscoveryResponse, 100), cancel: cancel}
	if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{
		Node: &corev3.Node{Id: node}, TypeUrl: typeURL, ResourceNamesSubscribe: []string{"*"}, InitialResourceVersions: initialVersions,
	}); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.responses)
		for {
			resp, err := stream.Recv()
			if err != nil {
				return
			}
			c.responses <- resp
			_ = stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: typeURL, ResponseNonce: resp.GetNonce()})
		}
	}()
	return c
}

// next waits for the next delta response.
func (c *deltaClient) next() *discoveryv3.DeltaDiscoveryResponse {
	c.t.Helper()
	select {
	case r, ok := <-c.responses:
		if !ok {
			c.t.Fatalf("%s: delta stream closed", c.node)
		}
		return r
	case <-time.After(20 * time.Second):
		c.t.Fatalf("%s: no delta response within 20s", c.node)
	}
	return nil
}

// quiet asserts that no delta response arrives within d.
func (c *deltaClient) quiet(d time.Duration) {
	c.t.Helper()
	select {
	case r, ok := <-c.responses:
		if ok {
			c.t.Errorf("%s: unexpected delta response: %d resources, removed %v", c.node, len(r.GetResources()), r.GetRemovedResources())
		}
	case <-time.After(d):
	}
}
