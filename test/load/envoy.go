package main

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"

	"github.com/arcturus-dev/arcturus/xds/kinds"
)

// envoy is one simulated Envoy: a single ADS stream (state-of-the-world or delta)
// that carries CDS, EDS, LDS and RDS. Like Envoy it subscribes CDS (wildcard),
// then EDS for its EDS clusters, then LDS (wildcard), then RDS for the route names
// of its listeners' HCMs; it ACKs every response, and keeps what it holds and the
// versions across reconnects, resuming with them.
//
// Only the stream's goroutine changes what it holds; the harness reads it and sets
// targets and watches under mu. Every timestamp is taken after the ACK was sent.
type envoy struct {
	nodeID string
	delta  bool
	client discoveryv3.AggregatedDiscoveryServiceClient

	mu sync.Mutex
	// held: what the Envoy runs. Its per-type maps are replaced on every
	// response and never changed in place, so copies of held can share them.
	held state
	// subscribed: type URL → subscribed names; nil names is a wildcard; a type
	// that is absent is not subscribed yet.
	subscribed map[string][]string
	versions   map[string]string            // SotW: type URL → version_info last ACKed
	resVersion map[string]map[string]string // delta: type URL → name → version

	// responses counts the responses received per type URL, since the start;
	// noops those of them that changed nothing the Envoy held; resources the
	// resources they carried.
	responses, noops, resources map[string]int
	// emptied records every CDS or LDS response that left the Envoy without any
	// cluster or listener after it had some.
	emptied []string
	// lastResponse is when the last response was ACKed.
	lastResponse time.Time
	// sessions counts streams opened; up says whether one is open now.
	sessions int
	up       bool

	// target, when set, is the state whose first arrival convergedAt records.
	target      state
	convergedAt time.Time
	// watched resources record every content change in events.
	watched map[watchKey]bool
	events  []watchEvent
}

// watchKey names a watched resource.
type watchKey struct{ typeURL, name string }

// watchEvent is a watched resource arriving with a new content.
type watchEvent struct {
	At   time.Time
	Name string
	Hash uint64
}

func newEnvoy(nodeID string, delta bool, client discoveryv3.AggregatedDiscoveryServiceClient) *envoy {
	return &envoy{
		nodeID: nodeID, delta: delta, client: client,
		held: state{}, subscribed: map[string][]string{}, versions: map[string]string{},
		resVersion: map[string]map[string]string{}, responses: map[string]int{}, noops: map[string]int{}, resources: map[string]int{},
	}
}

// Envoy's ADS retry backoff: full jitter over an exponentially growing interval
// from 500 ms, capped at 30 s.
const (
	retryBase = 500 * time.Millisecond
	retryMax  = 30 * time.Second
)

// run keeps a stream open until ctx ends, reconnecting with Envoy's backoff.
func (e *envoy) run(ctx context.Context) {
	for attempt := 0; ctx.Err() == nil; attempt++ {
		opened := time.Now()
		// A stream ends when the controller stops (S1); Envoy then reconnects.
		if e.delta {
			_ = e.deltaSession(ctx)
		} else {
			_ = e.sotwSession(ctx)
		}
		e.mu.Lock()
		e.up = false
		e.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		if time.Since(opened) > retryMax {
			attempt = 0
		}
		interval := min(retryBase<<min(attempt, 10), retryMax)
		select {
		case <-ctx.Done():
			return
		case <-time.After(rand.N(interval)):
		}
	}
}

// opened marks a new stream as open.
func (e *envoy) opened() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sessions++
	e.up = true
}

// node identifies the Envoy; it is sent on a stream's first request only, as with
// Envoy's set_node_on_first_message_only.
func (e *envoy) node() *corev3.Node {
	return &corev3.Node{Id: e.nodeID, Cluster: appValue, UserAgentName: "arcturus-load"}
}

// record stores what the Envoy holds of a type after a response carrying sent
// resources was ACKed at at, and returns the names that type makes it subscribe
// to (EDS names for CDS, RDS names for LDS).
func (e *envoy) record(kind kinds.Kind, got map[string]uint64, sent int, at time.Time) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := e.held[kind.TypeURL]
	if (kind.Name == kinds.Cluster.Name || kind.Name == kinds.Listener.Name) && len(old) > 0 && len(got) == 0 {
		e.emptied = append(e.emptied, fmt.Sprintf("%s at %s: %d %ss replaced by none",
			e.nodeID, at.Format(time.StampMilli), len(old), kind.Name))
	}
	for name, h := range got {
		if e.watched[watchKey{kind.TypeURL, name}] && old[name] != h {
			e.events = append(e.events, watchEvent{At: at, Name: name, Hash: h})
		}
	}
	if _, had := e.held[kind.TypeURL]; had && maps.Equal(old, got) {
		e.noops[kind.TypeURL]++
	}
	e.held[kind.TypeURL] = got
	e.responses[kind.TypeURL]++
	e.resources[kind.TypeURL] += sent
	e.lastResponse = at
	if e.target != nil && e.convergedAt.IsZero() && e.held.equal(e.target) {
		e.convergedAt = at
	}
	return refsOf(kind, got)
}

// refsOf is the sorted union of the references of the held resources of a type.
func refsOf(kind kinds.Kind, got map[string]uint64) []string {
	if kind.Name != kinds.Cluster.Name && kind.Name != kinds.Listener.Name {
		return nil
	}
	set := map[string]bool{}
	for _, h := range got {
		if c := cachedContent(kind.TypeURL, h); c != nil {
			for _, r := range c.Refs {
				set[r] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// cachedContent is a content some Envoy already decoded.
func cachedContent(typeURL string, h uint64) *content {
	v, ok := contentCache.Load(contentKey{typeURL, h})
	if !ok {
		return nil
	}
	return v.(*contentEntry).c
}

// subChange moves a subscription from Prev to Next names (nil: wildcard).
type subChange struct{ Prev, Next []string }

// nextSubscriptions decides, after a response of kind, which subscriptions must
// change, in Envoy's order: EDS follows the clusters, LDS starts once clusters
// (and their endpoints, if any) arrived, RDS follows the listeners. It updates
// the subscriptions and returns the changes by type URL.
func (e *envoy) nextSubscriptions(kind kinds.Kind, refs []string) map[string]subChange {
	e.mu.Lock()
	defer e.mu.Unlock()
	next := map[string]subChange{}
	follow := func(dep kinds.Kind) {
		cur, subscribed := e.subscribed[dep.TypeURL]
		if (subscribed || len(refs) > 0) && !slices.Equal(cur, refs) {
			if refs == nil {
				refs = []string{} // no names, which is not the wildcard
			}
			next[dep.TypeURL] = subChange{Prev: cur, Next: refs}
			e.subscribed[dep.TypeURL] = refs
		}
	}
	startLDS := func() {
		if _, ok := e.subscribed[kinds.Listener.TypeURL]; !ok {
			next[kinds.Listener.TypeURL] = subChange{}
			e.subscribed[kinds.Listener.TypeURL] = nil
		}
	}
	switch kind.Name {
	case kinds.Cluster.Name:
		follow(kinds.Endpoint)
		if _, eds := e.subscribed[kinds.Endpoint.TypeURL]; !eds {
			startLDS()
		}
	case kinds.Endpoint.Name:
		startLDS()
	case kinds.Listener.Name:
		follow(kinds.Route)
	}
	return next
}

// resumeOrder lists the subscribed types in ADS order, with their names.
func (e *envoy) resumeOrder() []kinds.Kind {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []kinds.Kind
	for _, k := range simulatedKinds {
		if _, ok := e.subscribed[k.TypeURL]; ok {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		e.subscribed[kinds.Cluster.TypeURL] = nil
		out = []kinds.Kind{kinds.Cluster}
	}
	return out
}

// setTarget makes convergedAt record when the Envoy first holds s, from now on.
func (e *envoy) setTarget(s state) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.target, e.convergedAt = s, time.Time{}
	if e.held.equal(s) {
		e.convergedAt = time.Now()
	}
}

// setWatch records content changes of the named resources from now on.
func (e *envoy) setWatch(kind kinds.Kind, names ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.watched = map[watchKey]bool{}
	for _, n := range names {
		e.watched[watchKey{kind.TypeURL, n}] = true
	}
	e.events = nil
}

// envoyStats is a consistent copy of an Envoy's counters.
type envoyStats struct {
	NodeID       string
	Converged    bool
	ConvergedAt  time.Time
	LastResponse time.Time
	Responses    map[string]int
	Noops        map[string]int
	Resources    map[string]int
	Emptied      []string
	Sessions     int
	Up           bool
	Events       []watchEvent
	Held         state
}

// stats copies the counters; held and events only when asked (they are large).
func (e *envoy) stats(withHeld, withEvents bool) envoyStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := envoyStats{
		NodeID: e.nodeID, Converged: !e.convergedAt.IsZero(), ConvergedAt: e.convergedAt,
		LastResponse: e.lastResponse, Responses: maps.Clone(e.responses), Noops: maps.Clone(e.noops),
		Resources: maps.Clone(e.resources),
		Emptied:   slices.Clone(e.emptied), Sessions: e.sessions, Up: e.up,
	}
	if withHeld {
		s.Held = maps.Clone(e.held) // the per-type maps are replaced, never changed
	}
	if withEvents {
		s.Events = slices.Clone(e.events)
	}
	return s
}

// decodeAll decodes the resources of a response, checking their type.
func decodeAll(kind kinds.Kind, typeURLs []string, values [][]byte, names []string) (map[string]uint64, error) {
	got := make(map[string]uint64, len(values))
	for i, v := range values {
		if typeURLs[i] != kind.TypeURL {
			return nil, fmt.Errorf("resource of type %s in a %s response", typeURLs[i], kind.Name)
		}
		c, h, err := lookupContent(kind, v)
		if err != nil {
			return nil, err
		}
		name := c.Name
		if names != nil && names[i] != "" {
			name = names[i]
		}
		got[name] = h
	}
	return got, nil
}

// sotwSession runs one state-of-the-world stream until it fails or ctx ends.
func (e *envoy) sotwSession(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := e.client.StreamAggregatedResources(ctx, grpc.WaitForReady(true))
	if err != nil {
		return err
	}
	e.opened()
	// Resume every subscription with the version it holds (a fresh Envoy: CDS).
	for i, k := range e.resumeOrder() {
		e.mu.Lock()
		req := &discoveryv3.DiscoveryRequest{TypeUrl: k.TypeURL, VersionInfo: e.versions[k.TypeURL], ResourceNames: e.subscribed[k.TypeURL]}
		e.mu.Unlock()
		if i == 0 {
			req.Node = e.node()
		}
		if err := stream.Send(req); err != nil {
			return err
		}
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		if err := e.handleSotW(stream, resp); err != nil {
			return err
		}
	}
}

// handleSotW ACKs a response, records it and sends the follow-up subscriptions.
func (e *envoy) handleSotW(stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient, resp *discoveryv3.DiscoveryResponse) error {
	kind, ok := kindByTypeURL(resp.GetTypeUrl())
	if !ok {
		return fmt.Errorf("response of unknown type %s", resp.GetTypeUrl())
	}
	typeURLs := make([]string, len(resp.GetResources()))
	values := make([][]byte, len(resp.GetResources()))
	for i, a := range resp.GetResources() {
		typeURLs[i], values[i] = a.GetTypeUrl(), a.GetValue()
	}
	got, err := decodeAll(kind, typeURLs, values, nil)
	if err != nil {
		return err // a real Envoy would NACK; the harness reports the broken stream
	}
	e.mu.Lock()
	names := e.subscribed[kind.TypeURL]
	e.versions[kind.TypeURL] = resp.GetVersionInfo()
	e.mu.Unlock()
	if err := stream.Send(&discoveryv3.DiscoveryRequest{
		TypeUrl: kind.TypeURL, VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce(), ResourceNames: names,
	}); err != nil {
		return err
	}
	refs := e.record(kind, got, len(got), time.Now())
	next := e.nextSubscriptions(kind, refs)
	for _, k := range simulatedKinds {
		change, ok := next[k.TypeURL]
		if !ok {
			continue
		}
		e.mu.Lock()
		version := e.versions[k.TypeURL]
		e.mu.Unlock()
		if err := stream.Send(&discoveryv3.DiscoveryRequest{TypeUrl: k.TypeURL, VersionInfo: version, ResourceNames: change.Next}); err != nil {
			return err
		}
	}
	return nil
}
