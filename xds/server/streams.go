package server

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// PodIPs answers the IP of the pod a node ID names.
type PodIPs interface {
	// PodIP returns the pod's IP; found is false when no pod has this node ID,
	// and ip is empty while the pod has none yet.
	PodIP(nodeID string) (ip string, found bool)
}

// errShuttingDown ends streams when the replica stops, so Envoys reconnect to another.
var errShuttingDown = status.Error(codes.Unavailable, "arcturus replica is shutting down; reconnect")

// streamGuard wraps every ADS stream. It knows each stream's peer address and
// node, so it can
//   - refuse a stream whose peer is not the pod its node ID names (verifyNodeIP):
//     one workload must not read another's configuration;
//   - close, before anything is published to them, streams of a node whose pod
//     has (or changes to) an IP other than their peer's;
//   - end every stream on shutdown so Envoys move to another replica.
//
// A closed stream's SendMsg fails, so a response racing with the close is never
// written.
type streamGuard struct {
	pods         PodIPs
	verifyNodeIP bool
	limits       Limits
	peers        *peerLimits
	log          logr.Logger
	denied       func() // counts refusals; may be nil

	mu       sync.Mutex
	byNode   map[string]map[*guardedStream]bool
	all      map[*guardedStream]bool
	stopping bool
}

func newStreamGuard(pods PodIPs, verifyNodeIP bool, limits Limits, log logr.Logger) *streamGuard {
	return &streamGuard{pods: pods, verifyNodeIP: verifyNodeIP && pods != nil, limits: limits, peers: newPeerLimits(limits), log: log,
		byNode: map[string]map[*guardedStream]bool{}, all: map[*guardedStream]bool{}}
}

// intercept is the gRPC stream interceptor; it guards the ADS methods.
func (g *streamGuard) intercept(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if !strings.HasPrefix(info.FullMethod, "/envoy.service.discovery.v3.AggregatedDiscoveryService/") {
		return handler(srv, ss)
	}
	ctx, cancel := context.WithCancelCause(ss.Context())
	s := &guardedStream{ServerStream: ss, ctx: ctx, cancel: cancel, guard: g, types: map[string]bool{}}
	if p, ok := peer.FromContext(ss.Context()); ok {
		s.peerIP = addrIP(p.Addr)
	}
	if err := g.peers.open(s.peerIP); err != nil {
		g.refused(err)
		return err
	}
	defer g.peers.close(s.peerIP)
	g.mu.Lock()
	if g.stopping {
		g.mu.Unlock()
		return errShuttingDown
	}
	g.all[s] = true
	g.mu.Unlock()
	defer g.forget(s)
	// go-control-plane only notices a closed stream when its Recv fails, so the
	// handler runs aside and the RPC ends as soon as the guard closes the stream;
	// ending the RPC makes that Recv fail, and SendMsg refuses anything in flight.
	done := make(chan error, 1)
	go func() { done <- handler(srv, s) }()
	select {
	case err := <-done:
		if err == nil {
			// go-control-plane ends a stream whose Recv failed without an
			// error; report why, e.g. a request over the size limit.
			if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
				return cause
			}
		}
		return err
	case <-ctx.Done():
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			return cause // the guard closed it: report why
		}
		return ctx.Err()
	}
}

// admit checks a stream's first node ID against its pod's IP.
func (g *streamGuard) admit(s *guardedStream, nodeID string) error {
	if g.verifyNodeIP {
		if ip, found := g.pods.PodIP(nodeID); found && ip != "" && !sameIP(ip, s.peerIP) {
			return g.deny(nodeID, ip, s.peerIP)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	s.node = nodeID
	if g.byNode[nodeID] == nil {
		g.byNode[nodeID] = map[*guardedStream]bool{}
	}
	g.byNode[nodeID][s] = true
	return nil
}

func (g *streamGuard) deny(nodeID, podIP, peerIP string) error {
	g.log.Info("Refused xDS stream: peer is not the node's pod", "node", nodeID, "podIP", podIP, "peer", peerIP)
	if g.denied != nil {
		g.denied()
	}
	return status.Errorf(codes.PermissionDenied, "node %q names a pod with IP %s, but the stream comes from %s", nodeID, podIP, peerIP)
}

// refused logs a stream refused for exceeding a limit or a malformed request.
func (g *streamGuard) refused(err error) {
	g.log.V(1).Info("Refused xDS stream", "reason", status.Convert(err).Message())
	if g.denied != nil {
		g.denied()
	}
}

// Verify closes the node's streams whose peer is not the pod's current IP. The
// snapshot builder calls it before publishing to the node.
func (g *streamGuard) Verify(nodeID, podIP string) {
	if !g.verifyNodeIP || podIP == "" {
		return
	}
	g.mu.Lock()
	var bad []*guardedStream
	for s := range g.byNode[nodeID] {
		if !sameIP(podIP, s.peerIP) {
			bad = append(bad, s)
		}
	}
	g.mu.Unlock()
	for _, s := range bad {
		s.cancel(g.deny(nodeID, podIP, s.peerIP))
	}
}

// closeAll ends every stream and refuses new ones.
func (g *streamGuard) closeAll() {
	g.mu.Lock()
	g.stopping = true
	streams := make([]*guardedStream, 0, len(g.all))
	for s := range g.all {
		streams = append(streams, s)
	}
	g.mu.Unlock()
	for _, s := range streams {
		s.cancel(errShuttingDown)
	}
}

func (g *streamGuard) forget(s *guardedStream) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.all, s)
	if set := g.byNode[s.node]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(g.byNode, s.node)
		}
	}
}

// guardedStream is an ADS stream under the guard.
type guardedStream struct {
	grpc.ServerStream
	ctx    context.Context
	cancel context.CancelCauseFunc
	guard  *streamGuard
	peerIP string
	node   string // set once admitted; only the stream's receive goroutine writes it
	// types are the type URLs the stream used; only the receive goroutine uses it.
	types map[string]bool
}

// Context returns a context the guard can cancel; go-control-plane ends the stream
// when it is done.
func (s *guardedStream) Context() context.Context { return s.ctx }

// RecvMsg admits the stream on its first request that names a node.
func (s *guardedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		if status.Code(err) == codes.ResourceExhausted { // over --xds-max-request-bytes
			s.guard.refused(err)
			s.cancel(err)
		}
		return err
	}
	if err := s.guard.limits.checkRequest(m, s.types); err != nil {
		s.guard.refused(err)
		s.cancel(err)
		return err
	}
	if s.node != "" {
		return nil
	}
	var id string
	switch req := m.(type) {
	case *discoveryv3.DiscoveryRequest:
		id = req.GetNode().GetId()
	case *discoveryv3.DeltaDiscoveryRequest:
		id = req.GetNode().GetId()
	}
	if id == "" {
		// Nothing can be served to a node that does not say who it is.
		err := status.Error(codes.InvalidArgument, "the first request of a stream must name its node (node.id = <pod>.<namespace>)")
		s.guard.refused(err)
		s.cancel(err)
		return err
	}
	if err := s.guard.admit(s, id); err != nil {
		s.cancel(err)
		return err
	}
	return nil
}

// SendMsg refuses to write once the guard closed the stream.
func (s *guardedStream) SendMsg(m any) error {
	if err := context.Cause(s.ctx); err != nil {
		return err
	}
	return s.ServerStream.SendMsg(m)
}

func addrIP(a net.Addr) string {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// sameIP compares IPs textually after parsing, so "::ffff:10.0.0.1" equals "10.0.0.1".
func sameIP(a, b string) bool {
	pa, pb := net.ParseIP(a), net.ParseIP(b)
	if pa == nil || pb == nil {
		return a == b
	}
	return pa.Equal(pb)
}
