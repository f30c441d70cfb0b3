package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestHostileClients checks that no client can hurt the others: each hostile
// client is refused with a clear gRPC status (or, for one that never reads, held
// by flow control), while a victim keeps exactly its configuration and keeps
// receiving changes. The controller's memory is logged per case (docs/reliability.md).
func TestHostileClients(t *testing.T) {
	a, victimKeepsUp, victimNode := startWithVictim(t)
	node := &corev3.Node{Id: victimNode}
	// refused opens a stream, sends reqs and returns the status the stream ends with.
	refused := func(t *testing.T, reqs ...*discoveryv3.DiscoveryRequest) error {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		stream, err := dial(t, a.XDSAddr).StreamAggregatedResources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range reqs {
			if err := stream.Send(r); err != nil {
				break // the server ended the stream; Recv returns why
			}
		}
		for {
			if _, err := stream.Recv(); err != nil {
				return err
			}
		}
	}
	names := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "c" + strconv.Itoa(i)
		}
		return out
	}

	tests := []struct {
		name     string
		reqs     []*discoveryv3.DiscoveryRequest
		wantCode codes.Code
		wantText string
	}{
		{"a million names", []*discoveryv3.DiscoveryRequest{{Node: node, TypeUrl: resourcev3.ClusterType, ResourceNames: names(1_000_000)}}, codes.ResourceExhausted, "larger than max"},
		{"200,000 names", []*discoveryv3.DiscoveryRequest{{Node: node, TypeUrl: resourcev3.ClusterType, ResourceNames: names(200_000)}}, codes.ResourceExhausted, "--xds-max-resource-names"},
		{"a 10 MB request", []*discoveryv3.DiscoveryRequest{{Node: &corev3.Node{Id: victimNode, UserAgentName: strings.Repeat("x", 10<<20)}, TypeUrl: resourcev3.ClusterType}}, codes.ResourceExhausted, "larger than max"},
		{"a garbage type URL", []*discoveryv3.DiscoveryRequest{{Node: node, TypeUrl: "garbage"}}, codes.InvalidArgument, "not an xDS type URL"},
		{"a request before the node ID", []*discoveryv3.DiscoveryRequest{{TypeUrl: resourcev3.ClusterType}}, codes.InvalidArgument, "must name its node"},
		{"forty types on one stream", func() []*discoveryv3.DiscoveryRequest {
			var reqs []*discoveryv3.DiscoveryRequest
			for i := range 40 {
				reqs = append(reqs, &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: fmt.Sprintf("type.googleapis.com/made.up.T%d", i)})
			}
			return reqs
		}(), codes.ResourceExhausted, "--xds-max-types-per-stream"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := refused(t, tc.reqs...)
			if status.Code(err) != tc.wantCode || !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("stream ended with %v, want %v with %q", err, tc.wantCode, tc.wantText)
			}
			victimKeepsUp(t)
		})
	}

	t.Run("200 streams that never read", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		for i := range 200 {
			// One connection each (as many Envoys would), so flow control holds
			// each stream's responses on its own connection.
			stream, err := dial(t, a.XDSAddr).StreamAggregatedResources(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ClusterType}); err != nil {
				t.Fatalf("stream %d: %v", i, err)
			}
		}
		// Ten changes, each a response of ~50 KiB to every stream that never reads.
		for range 10 {
			victimKeepsUp(t)
		}
	})

}

// TestClientsPerIP checks the per-IP limits: concurrent streams, and a reconnect
// loop, refused with a status that names the flag, while a victim from the same IP,
// already connected, keeps its configuration.
func TestClientsPerIP(t *testing.T) {
	a, victimKeepsUp, victimNode := startWithVictim(t, "--xds-max-streams-per-ip=20", "--xds-stream-burst-per-ip=60", "--xds-streams-per-ip-per-second=1")
	node := &corev3.Node{Id: victimNode}

	t.Run("more streams from one IP than allowed", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		conn := dial(t, a.XDSAddr)
		var last error
		for range 100 {
			stream, err := conn.StreamAggregatedResources(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ClusterType}); err != nil {
				continue
			}
			if _, err := stream.Recv(); err != nil {
				last = err
				break
			}
		}
		if status.Code(last) != codes.ResourceExhausted || !strings.Contains(last.Error(), "--xds-max-streams-per-ip") {
			t.Errorf("the stream beyond the limit ended with %v, want ResourceExhausted naming --xds-max-streams-per-ip", last)
		}
		victimKeepsUp(t)
	})

	t.Run("a reconnect loop", func(t *testing.T) {
		conn := dial(t, a.XDSAddr)
		var last error
		for range 200 {
			ctx, cancel := context.WithCancel(context.Background())
			stream, err := conn.StreamAggregatedResources(ctx)
			if err == nil {
				_ = stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ClusterType})
				_, err = stream.Recv()
			}
			cancel()
			// Streams of earlier iterations still closing may hit the
			// concurrent limit first on a busy machine; the pace is what
			// this case is about.
			if status.Code(err) == codes.ResourceExhausted && strings.Contains(err.Error(), "per-second") {
				last = err
				break
			}
		}
		if !strings.Contains(fmt.Sprint(last), "--xds-streams-per-ip-per-second") {
			t.Errorf("a reconnect loop ended with %v, want ResourceExhausted naming --xds-streams-per-ip-per-second", last)
		}
		victimKeepsUp(t)
	})
}

// startWithVictim starts a controller with args, serving 50 clusters of about
// 1 KiB to a victim, and returns a check that the victim was sent nothing since
// the last check (it holds exactly its configuration) and still receives a change,
// and the victim's node ID.
func startWithVictim(t *testing.T, args ...string) (a *arcturus, victimKeepsUp func(*testing.T), victimNode string) {
	t.Helper()
	a = startArcturus(t, args...)
	ns := newNamespace(t)
	newPod(t, ns, "gw-0", "127.0.0.1", nil)
	victimNode = "gw-0." + ns
	all := make([]string, 50)
	for i := range all {
		all[i] = fmt.Sprintf("c%02d", i)
		c := staticCluster(all[i], 8000+i)
		c["alt_stat_name"] = strings.Repeat("x", 1000)
		apply(t, ns, object{kind: "Cluster", name: all[i], config: c})
	}
	waitAccepted(t, ns, "Cluster", all[49], "Valid")
	victim := newSotW(t, a.XDSAddr, victimNode, resourcev3.ClusterType, "")
	held := victim.waitFor(all...)
	change := 0
	return a, func(t *testing.T) {
		t.Helper()
		victim.quiet(0)
		change++
		c := staticCluster("c00", 9000+change)
		c["alt_stat_name"] = strings.Repeat("x", 1000)
		apply(t, ns, object{kind: "Cluster", name: "c00", config: c})
		r := victim.waitFor(all...)
		if r.GetVersionInfo() == held.GetVersionInfo() {
			t.Fatal("the victim's configuration did not change")
		}
		held = r
		t.Logf("controller RSS: %d MiB", rssMiB(t, a))
	}, victimNode
}

// rssMiB returns the controller's resident memory.
func rssMiB(t *testing.T, a *arcturus) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return kb / 1024
		}
	}
	return 0
}
