package e2e

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/anypb"
)

// refuseTag marks a resource content the test clients refuse.
const refuseTag = "refuse-me"

// nackKind builds a resource of one kind whose encoding carries tag.
type nackKind struct {
	kind, typeURL string
	config        func(name, tag string) map[string]any
}

var nackKinds = []nackKind{
	{"Cluster", resourcev3.ClusterType, func(name, tag string) map[string]any {
		c := staticCluster(name, 8001)
		c["alt_stat_name"] = tag
		return c
	}},
	{"Endpoint", resourcev3.EndpointType, func(name, tag string) map[string]any {
		return map[string]any{"cluster_name": name, "endpoints": []any{map[string]any{"lb_endpoints": []any{map[string]any{"endpoint": map[string]any{
			"hostname": tag,
			"address":  map[string]any{"socket_address": map[string]any{"address": "127.0.0.1", "port_value": 8001}},
		}}}}}}
	}},
	{"Listener", resourcev3.ListenerType, func(name, tag string) map[string]any {
		return map[string]any{"name": name, "stat_prefix": tag,
			"address": map[string]any{"socket_address": map[string]any{"address": "0.0.0.0", "port_value": 10080}}}
	}},
	{"Route", resourcev3.RouteType, func(name, tag string) map[string]any {
		return map[string]any{"name": name, "virtual_hosts": []any{map[string]any{"name": tag, "domains": []any{"*"}}}}
	}},
	{"Runtime", resourcev3.RuntimeType, func(name, tag string) map[string]any {
		return map[string]any{"name": name, "layer": map[string]any{"tag": tag}}
	}},
	{"ExtensionConfig", resourcev3.ExtensionConfigType, func(name, tag string) map[string]any {
		return map[string]any{"name": name, "typed_config": map[string]any{
			"@type":    "type.googleapis.com/envoy.extensions.filters.network.direct_response.v3.Config",
			"response": map[string]any{"inline_string": tag},
		}}
	}},
	{"ScopedRoute", resourcev3.ScopedRouteType, func(name, tag string) map[string]any {
		return map[string]any{"name": name, "route_configuration_name": "routes",
			"key": map[string]any{"fragments": []any{map[string]any{"string_key": tag}}}}
	}},
}

// nackCase is one rejection: the resources before (name → tag), the change the
// node refuses, the resources it must hold afterwards, and which responses it
// refuses.
type nackCase struct {
	name    string
	initial map[string]string
	change  func(t *testing.T, ns string, k nackKind)
	// refuses reports whether the client NACKs a response that leaves it with
	// these resources (name → tag).
	refuses func(state map[string]string) bool
	// refusesAll is set when refuses refuses every response.
	refusesAll bool
	// sotwResends is how many responses SotW may send after the NACK: a refused
	// removal is answered once with the version the node accepted (go-control-plane
	// counts the refused response's resources as returned, so it sends the kept
	// resource again), which Envoy sees as no change.
	sotwResends int
	// after is what the node holds once a later, unrelated resource "marker"
	// reaches it.
	after map[string]string
}

var nackCases = []nackCase{
	{
		name:    "a new resource is withheld",
		initial: map[string]string{"a": "good"},
		change:  func(t *testing.T, ns string, k nackKind) { applyTagged(t, ns, k, "bad", refuseTag) },
		refuses: func(s map[string]string) bool { return slices.Contains(slices.Collect(maps.Values(s)), refuseTag) },
		after:   map[string]string{"a": "good", "marker": "good"},
	},
	{
		name:    "a changed resource goes back to what the node accepted",
		initial: map[string]string{"a": "good"},
		change:  func(t *testing.T, ns string, k nackKind) { applyTagged(t, ns, k, "a", refuseTag) },
		refuses: func(s map[string]string) bool { return slices.Contains(slices.Collect(maps.Values(s)), refuseTag) },
		after:   map[string]string{"a": "good", "marker": "good"},
	},
	{
		name:        "a removal is held back",
		initial:     map[string]string{"a": "good", "b": "good"},
		change:      func(t *testing.T, ns string, k nackKind) { remove(t, ns, k.kind, "b") },
		refuses:     func(s map[string]string) bool { _, ok := s["b"]; return !ok },
		sotwResends: 1,
		after:       map[string]string{"a": "good", "b": "good", "marker": "good"},
	},
	{
		name:       "a node that refuses everything holds nothing",
		initial:    map[string]string{"a": "good"},
		change:     func(*testing.T, string, nackKind) {},
		refuses:    func(map[string]string) bool { return true },
		refusesAll: true,
		after:      map[string]string{},
	},
}

func applyTagged(t *testing.T, ns string, k nackKind, name, tag string) {
	t.Helper()
	apply(t, ns, object{kind: k.kind, name: name, config: k.config(name, tag)})
}

// TestNACKPolicy checks, for every kind's type and both protocols, that a refused
// response is never sent again in a loop: a refused new resource is withheld, a
// refused change is replaced by what the node accepted, a refused removal is held
// back, and a node that refuses everything is sent nothing more until something
// changes. Responses are counted up to a later, unrelated change ("marker"), which
// orders the check without sleeping: a resend loop would show as many responses
// before the marker's.
func TestNACKPolicy(t *testing.T) {
	a := startArcturus(t)
	for _, k := range nackKinds {
		for _, tc := range nackCases {
			for _, delta := range []bool{false, true} {
				protocol := "SotW"
				if delta {
					protocol = "delta"
				}
				t.Run(fmt.Sprintf("%s/%s/%s", k.kind, protocol, tc.name), func(t *testing.T) {
					ns := newNamespace(t)
					newPod(t, ns, "gw-0", "127.0.0.1", nil)
					for name, tag := range tc.initial {
						applyTagged(t, ns, k, name, tag)
					}
					for name := range tc.initial {
						waitAccepted(t, ns, k.kind, name, "Valid")
					}
					c := newTrackingClient(t, a.XDSAddr, "gw-0."+ns, k.typeURL, delta, tc.refuses)
					if !tc.refusesAll {
						c.waitHolds(tc.initial)
					}
					tc.change(t, ns, k)
					if !tc.refusesAll {
						c.waitNACK()
					}
					applyTagged(t, ns, k, "marker", "good")
					marker := c.waitSent("marker")
					// The refused response is answered by nothing (SotW, but see
					// sotwResends); delta may take back what it sent once.
					limit := tc.sotwResends
					if delta {
						limit = 1
					}
					if tc.refusesAll {
						// The first response is refused before the marker exists.
						limit++
					}
					if marker-1 > limit {
						t.Errorf("%d responses between the NACK and the next change, want at most %d (a resend loop)", marker-1, limit)
					}
					if got := c.holds(); !maps.Equal(got, tc.after) {
						t.Errorf("node holds %v, want %v", got, tc.after)
					}
				})
			}
		}
	}
}

// trackingClient is an ADS client for one type (SotW or delta) that answers like
// Envoy: it NACKs the responses refuses says it cannot use, naming the version it
// still runs, and keeps the state it last accepted.
type trackingClient struct {
	t      *testing.T
	events chan trackingEvent
	state  map[string]string // accepted: name → tag
	sent   int               // responses received
}

type trackingEvent struct {
	sent   map[string]string // what the response would leave the client with
	names  []string          // the resources the response carries
	nacked bool
}

func newTrackingClient(t *testing.T, addr, node, typeURL string, delta bool, refuses func(map[string]string) bool) *trackingClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := &trackingClient{t: t, events: make(chan trackingEvent, 10000), state: map[string]string{}}
	names := []string{}
	if typeURL == resourcev3.EndpointType || typeURL == resourcev3.RouteType || typeURL == resourcev3.RuntimeType || typeURL == resourcev3.ExtensionConfigType {
		// Like Envoy, subscribe to these by name.
		names = []string{"a", "b", "bad", "marker"}
	}
	ads := dial(t, addr)
	if delta {
		stream, err := ads.DeltaAggregatedResources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		subscribe := names
		if len(subscribe) == 0 {
			subscribe = []string{"*"}
		}
		if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: node}, TypeUrl: typeURL, ResourceNamesSubscribe: subscribe}); err != nil {
			t.Fatal(err)
		}
		go func() {
			defer close(c.events)
			accepted := map[string]string{}
			for {
				resp, err := stream.Recv()
				if err != nil {
					return
				}
				next := maps.Clone(accepted)
				var carried []string
				for _, name := range resp.GetRemovedResources() {
					delete(next, name)
				}
				for _, r := range resp.GetResources() {
					next[r.GetName()] = tagOf(r.GetResource())
					carried = append(carried, r.GetName())
				}
				req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: typeURL, ResponseNonce: resp.GetNonce()}
				ev := trackingEvent{sent: next, names: carried, nacked: refuses(next)}
				if ev.nacked {
					req.ErrorDetail = &status.Status{Code: int32(codes.InvalidArgument), Message: "refused by the test"}
				} else {
					accepted = next
				}
				c.events <- ev
				_ = stream.Send(req)
			}
		}()
		return c
	}
	stream, err := ads.StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: node}, TypeUrl: typeURL, ResourceNames: names}); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.events)
		acked := ""
		for {
			resp, err := stream.Recv()
			if err != nil {
				return
			}
			next := map[string]string{}
			var carried []string
			for _, a := range resp.GetResources() {
				m, err := a.UnmarshalNew()
				if err != nil {
					return
				}
				next[envoyName(m)] = tagOf(a)
				carried = append(carried, envoyName(m))
			}
			req := &discoveryv3.DiscoveryRequest{TypeUrl: typeURL, VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce(), ResourceNames: names}
			ev := trackingEvent{sent: next, names: carried, nacked: refuses(next)}
			if ev.nacked {
				// Envoy names the version it still runs.
				req.VersionInfo = acked
				req.ErrorDetail = &status.Status{Code: int32(codes.InvalidArgument), Message: "refused by the test"}
			} else {
				acked = resp.GetVersionInfo()
			}
			c.events <- ev
			_ = stream.Send(req)
		}
	}()
	return c
}

// tagOf returns which test tag a resource's encoding carries.
func tagOf(a *anypb.Any) string {
	for _, tag := range []string{refuseTag, "good"} {
		if bytes.Contains(a.GetValue(), []byte(tag)) {
			return tag
		}
	}
	return ""
}

// next returns the next response's event and applies it to the accepted state.
func (c *trackingClient) next(what string) trackingEvent {
	c.t.Helper()
	select {
	case ev, ok := <-c.events:
		if !ok {
			c.t.Fatalf("stream closed while waiting for %s", what)
		}
		c.sent++
		if !ev.nacked {
			c.state = ev.sent
		}
		return ev
	case <-time.After(20 * time.Second):
		c.t.Fatalf("no response within 20s while waiting for %s; holds %v", what, c.state)
	}
	return trackingEvent{}
}

// waitHolds reads responses until the client accepted exactly want.
func (c *trackingClient) waitHolds(want map[string]string) {
	c.t.Helper()
	for !maps.Equal(c.state, want) {
		c.next(fmt.Sprintf("holding %v", want))
	}
}

// waitNACK reads responses until one is refused, and starts counting there.
func (c *trackingClient) waitNACK() {
	c.t.Helper()
	for !c.next("a refused response").nacked {
	}
	c.sent = 0
}

// waitSent reads responses until one carries the named resource, and returns how
// many responses were read since counting started, that one included.
func (c *trackingClient) waitSent(name string) int {
	c.t.Helper()
	for !slices.Contains(c.next("a response with "+name).names, name) {
	}
	return c.sent
}

// holds returns what the client accepted.
func (c *trackingClient) holds() map[string]string { return c.state }
