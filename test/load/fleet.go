package main

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
)

// streamsPerConn is how many Envoy streams share one gRPC connection: thousands
// of Envoys in one process must not need thousands of file descriptors. Real
// Envoys have one connection each; the wide flow-control windows below keep the
// shared connections from throttling what the server sends.
const streamsPerConn = 100

// fleet is the simulated data plane: Envoys multiplexed round-robin over a
// fixed set of connections to one xDS address, which survives controller
// restarts (the same port). Envoys that come and go (pod churn) reuse the
// connections, so the controller's connection count stays constant.
type fleet struct {
	addr  string
	delta bool

	mu      sync.Mutex
	conns   []*grpc.ClientConn // dialled on first use
	added   int
	members map[string]*member // node ID → Envoy
}

type member struct {
	envoy  *envoy
	cancel context.CancelFunc
	done   chan struct{}
}

// newFleet makes a fleet for about size Envoys.
func newFleet(addr string, delta bool, size int) *fleet {
	n := max(1, (size+streamsPerConn-1)/streamsPerConn)
	return &fleet{addr: addr, delta: delta, conns: make([]*grpc.ClientConn, n), members: map[string]*member{}}
}

// conn returns the connection for the next Envoy.
func (f *fleet) conn() (*grpc.ClientConn, error) {
	i := f.added % len(f.conns)
	if f.conns[i] == nil {
		c, err := grpc.NewClient(f.addr,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithInitialWindowSize(4<<20),
			grpc.WithInitialConnWindowSize(64<<20),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20)),
			// Reconnect quickly after a controller restart: the client's own
			// backoff should not dominate the cold-start time being measured.
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
				MinConnectTimeout: 5 * time.Second,
			}),
		)
		if err != nil {
			return nil, err
		}
		f.conns[i] = c
	}
	f.added++
	return f.conns[i], nil
}

// add starts an Envoy with the node ID.
func (f *fleet) add(ctx context.Context, nodeID string) (*envoy, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.conn()
	if err != nil {
		return nil, err
	}
	e := newEnvoy(nodeID, f.delta, discoveryv3.NewAggregatedDiscoveryServiceClient(c))
	ctx, cancel := context.WithCancel(ctx)
	m := &member{envoy: e, cancel: cancel, done: make(chan struct{})}
	f.members[nodeID] = m
	go func() {
		defer close(m.done)
		e.run(ctx)
	}()
	return e, nil
}

// remove closes an Envoy's stream and forgets it.
func (f *fleet) remove(nodeID string) {
	f.mu.Lock()
	m := f.members[nodeID]
	delete(f.members, nodeID)
	f.mu.Unlock()
	if m != nil {
		m.cancel()
		<-m.done
	}
}

// envoys returns the current Envoys, ordered by node ID.
func (f *fleet) envoys() []*envoy {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*envoy, 0, len(f.members))
	for _, m := range f.members {
		out = append(out, m.envoy)
	}
	slices.SortFunc(out, func(a, b *envoy) int { return strings.Compare(a.nodeID, b.nodeID) })
	return out
}

// close stops every Envoy and closes the connections.
func (f *fleet) close() {
	for _, e := range f.envoys() {
		f.remove(e.nodeID)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		if c != nil {
			_ = c.Close()
		}
	}
}

// waitConverged waits until every Envoy reached its target, and returns those
// that did not within timeout.
func waitConverged(ctx context.Context, envoys []*envoy, timeout time.Duration) []*envoy {
	deadline := time.Now().Add(timeout)
	pending := envoys
	for {
		var still []*envoy
		for _, e := range pending {
			e.mu.Lock()
			done := !e.convergedAt.IsZero()
			e.mu.Unlock()
			if !done {
				still = append(still, e)
			}
		}
		pending = still
		if len(pending) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return pending
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitQuiet waits until no Envoy received a response for quiet (or timeout),
// so that counts taken afterwards include every response a change caused.
func waitQuiet(ctx context.Context, envoys []*envoy, quiet, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var last time.Time
		for _, e := range envoys {
			e.mu.Lock()
			if e.lastResponse.After(last) {
				last = e.lastResponse
			}
			e.mu.Unlock()
		}
		if time.Since(last) >= quiet {
			return
		}
		time.Sleep(quiet / 4)
	}
}
