package server

import (
	"strconv"
	"strings"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestCheckRequest(t *testing.T) {
	limits := Limits{MaxResourceNames: 3, MaxTypesPerStream: 2}
	names := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "r" + strconv.Itoa(i)
		}
		return out
	}
	tests := []struct {
		name     string
		seen     []string
		req      any
		wantCode codes.Code
		wantText string
	}{
		{"a SotW request within limits", nil, &discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResourceNames: names(3)}, codes.OK, ""},
		{"too many names", nil, &discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResourceNames: names(4)}, codes.ResourceExhausted, "--xds-max-resource-names"},
		{"delta names add up", nil, &discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResourceNamesSubscribe: names(2), ResourceNamesUnsubscribe: names(2)}, codes.ResourceExhausted, "names 4"},
		{"no type URL", nil, &discoveryv3.DiscoveryRequest{}, codes.InvalidArgument, "not an xDS type URL"},
		{"a garbage type URL", nil, &discoveryv3.DiscoveryRequest{TypeUrl: "garbage"}, codes.InvalidArgument, "not an xDS type URL"},
		{"an overlong type URL", nil, &discoveryv3.DiscoveryRequest{TypeUrl: typeURLPrefix + strings.Repeat("x", 300)}, codes.InvalidArgument, "not an xDS type URL"},
		{"a third type", []string{resourcev3.ClusterType, resourcev3.ListenerType}, &discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.RouteType}, codes.ResourceExhausted, "--xds-max-types-per-stream"},
		{"a type already used", []string{resourcev3.ClusterType, resourcev3.ListenerType}, &discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ClusterType}, codes.OK, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[string]bool{}
			for _, s := range tc.seen {
				seen[s] = true
			}
			err := limits.checkRequest(tc.req, seen)
			if got := status.Code(err); got != tc.wantCode || !strings.Contains(status.Convert(err).Message(), tc.wantText) {
				t.Errorf("got %v, want code %v with %q", err, tc.wantCode, tc.wantText)
			}
		})
	}
}

func TestPeerLimits(t *testing.T) {
	t.Run("streams per IP", func(t *testing.T) {
		p := newPeerLimits(Limits{MaxStreamsPerIP: 2})
		for i := range 2 {
			if err := p.open("10.0.0.1"); err != nil {
				t.Fatalf("stream %d refused: %v", i, err)
			}
		}
		if err := p.open("10.0.0.1"); status.Code(err) != codes.ResourceExhausted {
			t.Errorf("third stream: %v, want ResourceExhausted", err)
		}
		if err := p.open("10.0.0.2"); err != nil {
			t.Errorf("another IP refused: %v", err)
		}
		p.close("10.0.0.1")
		if err := p.open("10.0.0.1"); err != nil {
			t.Errorf("after a close: %v", err)
		}
	})
	t.Run("new streams per second", func(t *testing.T) {
		p := newPeerLimits(Limits{StreamsPerIPPerSecond: 0.001, StreamBurstPerIP: 3})
		for i := range 3 {
			if err := p.open("10.0.0.1"); err != nil {
				t.Fatalf("stream %d of the burst refused: %v", i, err)
			}
			p.close("10.0.0.1")
		}
		if err := p.open("10.0.0.1"); status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "retry with backoff") {
			t.Errorf("a reconnect loop beyond the burst: %v, want ResourceExhausted", err)
		}
	})
	t.Run("idle peers are forgotten", func(t *testing.T) {
		p := newPeerLimits(Limits{MaxStreamsPerIP: 1})
		for i := range 100 {
			ip := "10.0.1." + strconv.Itoa(i)
			if err := p.open(ip); err != nil {
				t.Fatal(err)
			}
			p.close(ip)
		}
		// The next close after a second prunes every idle peer.
		p.mu.Lock()
		p.lastPrune = time.Now().Add(-time.Second)
		p.mu.Unlock()
		if err := p.open("10.0.2.1"); err != nil {
			t.Fatal(err)
		}
		p.close("10.0.2.1")
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(p.peers) != 0 {
			t.Errorf("%d idle peers kept", len(p.peers))
		}
	})
}
