// Package server is the serving stage of the pipeline: the gRPC listener with
// go-control-plane's ADS (state-of-the-world and delta), health, and the stream
// callbacks that tell the snapshot builder which nodes are connected.
//
// Callbacks observe; they never build configuration. What a node is served is
// decided by the snapshot builder from the index alone.
package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
)

// Streams is told when node streams open and close.
type Streams interface {
	StreamOpened(nodeID string)
	StreamClosed(nodeID string)
}

// Observer is told what was sent on each stream and how the node answered.
type Observer interface {
	Streams
	SentSotW(nodeID string, resp *discoveryv3.DiscoveryResponse)
	SentDelta(nodeID string, resp *discoveryv3.DeltaDiscoveryResponse)
	// Answered records an ACK, or a NACK when errorMessage is not empty.
	Answered(nodeID, typeURL, nonce, errorMessage string)
}

// Options configure the xDS server.
type Options struct {
	// BindAddress is the listen address, e.g. ":18000".
	BindAddress string
	// GracePeriod bounds how long Start waits for streams to finish on shutdown.
	GracePeriod time.Duration
	// Register, when set, registers more services on the gRPC server (e.g. CSDS).
	Register func(grpc.ServiceRegistrar)

	// TLSCertFile and TLSKeyFile, when set, serve xDS over TLS; the files are
	// reloaded when they change, so rotated certificates need no restart.
	TLSCertFile, TLSKeyFile string
	// ClientCAFile, when set with TLS, requires client certificates signed by
	// these CAs (mTLS); reloaded on change as well.
	ClientCAFile string

	// MaxConnectionAge closes connections after about this long (grpc-go adds
	// ±10% jitter), so Envoys rebalance across replicas after a rollout. 0: never.
	MaxConnectionAge time.Duration

	// VerifyNodeIP refuses streams whose peer address is not the IP of the pod
	// their node ID names, once that pod has an IP; Pods answers the IPs.
	VerifyNodeIP bool
	Pods         PodIPs
	// Limits bound what one client may cost (see Limits).
	Limits Limits
	// Denied, when set, is called for every refused stream (a metric).
	Denied func()
}

// Server serves ADS on one gRPC listener. It implements manager.Runnable and runs on
// every replica: only status writing needs leadership, serving does not.
type Server struct {
	opts     Options
	cache    cachev3.SnapshotCache
	streams  Streams
	observer Observer
	log      logr.Logger

	grpc   *grpc.Server
	health *health.Server
	guard  *streamGuard
	tls    *tlsFiles

	mu    sync.Mutex
	addr  net.Addr
	bound chan struct{}
	open  map[streamKey]*stream // once the node identified itself
}

// streamKey identifies a stream: go-control-plane numbers state-of-the-world and
// delta streams separately, so an ID alone can name two streams.
type streamKey struct {
	delta bool
	id    int64
}

// stream is what the server remembers of one open stream.
type stream struct {
	node string
	// sent is the last SotW response per type URL; go-control-plane ignores
	// answers to older nonces, so only the last one can be NACKed.
	sent map[string]sentResponse
}

type sentResponse struct{ nonce, version string }

// New returns a server answering from c, reporting streams to s and, when obs is
// not nil, responses and answers to obs. It fails when TLS files cannot be loaded.
func New(opts Options, c cachev3.SnapshotCache, s Streams, obs Observer, log logr.Logger) (*Server, error) {
	srv := &Server{
		opts:     opts,
		cache:    c,
		streams:  s,
		observer: obs,
		log:      log,
		health:   health.NewServer(),
		guard:    newStreamGuard(opts.Pods, opts.VerifyNodeIP, opts.Limits, log),
		bound:    make(chan struct{}),
		open:     map[streamKey]*stream{},
	}
	srv.guard.denied = opts.Denied
	maxStreams, maxRequest := opts.Limits.MaxStreamsPerConnection, opts.Limits.MaxRequestBytes
	if maxStreams == 0 {
		maxStreams = math.MaxUint32
	}
	if maxRequest <= 0 {
		maxRequest = math.MaxInt32
	}
	keepaliveParams := keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}
	if opts.MaxConnectionAge > 0 {
		keepaliveParams.MaxConnectionAge, keepaliveParams.MaxConnectionAgeGrace = opts.MaxConnectionAge, 30*time.Second
	}
	serverOpts := []grpc.ServerOption{
		// Envoy holds one long-lived stream per connection; bound streams per
		// connection and request sizes (Limits), ping idle connections so dead
		// peers are found, and refuse clients that ping more often than once
		// every 10 s.
		grpc.MaxConcurrentStreams(maxStreams),
		grpc.MaxRecvMsgSize(maxRequest),
		grpc.KeepaliveParams(keepaliveParams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             10 * time.Second,
			PermitWithoutStream: true,
		}),
		grpc.StreamInterceptor(srv.guard.intercept),
	}
	if opts.TLSCertFile != "" || opts.TLSKeyFile != "" {
		files, err := newTLSFiles(opts.TLSCertFile, opts.TLSKeyFile, opts.ClientCAFile)
		if err != nil {
			return nil, err
		}
		srv.tls = files
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewTLS(files.config())))
	} else if opts.ClientCAFile != "" {
		return nil, errors.New("a client CA needs --xds-tls-cert-file and --xds-tls-key-file")
	}
	srv.grpc = grpc.NewServer(serverOpts...)
	xds := serverv3.NewServer(context.Background(), c, srv.callbacks())
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(srv.grpc, xds)
	healthpb.RegisterHealthServer(srv.grpc, srv.health)
	if opts.Register != nil {
		opts.Register(srv.grpc)
	}
	return srv, nil
}

// Verify closes the node's streams that do not come from its pod's IP; the
// snapshot builder calls it before publishing, so a node whose pod appears or
// moves never sends its configuration to a stranger.
func (s *Server) Verify(nodeID, podIP string) { s.guard.Verify(nodeID, podIP) }

// Addr returns the bound address once the listener is open.
func (s *Server) Addr(ctx context.Context) (net.Addr, error) {
	select {
	case <-s.bound:
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.addr, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: every replica serves.
func (s *Server) NeedLeaderElection() bool { return false }

// Start listens and serves until ctx ends, then stops gracefully within GracePeriod.
func (s *Server) Start(ctx context.Context) error {
	lis, err := net.Listen("tcp", s.opts.BindAddress)
	if err != nil {
		return fmt.Errorf("listen for xDS on %s: %w", s.opts.BindAddress, err)
	}
	s.mu.Lock()
	s.addr = lis.Addr()
	s.mu.Unlock()
	close(s.bound)
	s.log.Info("Serving xDS", "address", lis.Addr().String())

	if s.tls != nil {
		go s.tls.watch(ctx, s.log)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.grpc.Serve(lis) }()

	select {
	case err := <-errc:
		return fmt.Errorf("serve xDS: %w", err)
	case <-ctx.Done():
	}
	// Shutdown: stop accepting connections and send GOAWAY, then end the open
	// streams so their Envoys reconnect to another replica at once, rather than
	// when the grace period runs out.
	s.log.Info("Stopping xDS: closing streams so Envoys move to another replica")
	s.health.Shutdown()
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	s.guard.closeAll()
	grace := s.opts.GracePeriod
	if grace <= 0 {
		grace = 5 * time.Second
	}
	select {
	case <-stopped:
	case <-time.After(grace):
		s.grpc.Stop()
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serve xDS: %w", err)
	}
	return nil
}

func (s *Server) callbacks() serverv3.CallbackFuncs {
	sotw := func(id int64) streamKey { return streamKey{id: id} }
	delta := func(id int64) streamKey { return streamKey{delta: true, id: id} }
	return serverv3.CallbackFuncs{
		StreamClosedFunc:      func(id int64, _ *corev3.Node) { s.closeStream(sotw(id)) },
		DeltaStreamClosedFunc: func(id int64, _ *corev3.Node) { s.closeStream(delta(id)) },
		StreamRequestFunc: func(streamID int64, req *discoveryv3.DiscoveryRequest) error {
			node := s.identify(sotw(streamID), req.GetNode().GetId())
			if req.GetErrorDetail() != nil {
				s.log.Info("Envoy rejected configuration", "node", node, "type", req.GetTypeUrl(),
					"version", req.GetVersionInfo(), "nonce", req.GetResponseNonce(), "error", req.GetErrorDetail().GetMessage())
			}
			if s.observer != nil && node != "" {
				s.observer.Answered(node, req.GetTypeUrl(), req.GetResponseNonce(), req.GetErrorDetail().GetMessage())
			}
			if req.GetErrorDetail() != nil && node != "" {
				s.holdAfterNACK(sotw(streamID), node, req)
			}
			return nil
		},
		StreamDeltaRequestFunc: func(streamID int64, req *discoveryv3.DeltaDiscoveryRequest) error {
			node := s.identify(delta(streamID), req.GetNode().GetId())
			if req.GetErrorDetail() != nil {
				s.log.Info("Envoy rejected configuration", "node", node, "type", req.GetTypeUrl(),
					"nonce", req.GetResponseNonce(), "error", req.GetErrorDetail().GetMessage())
			}
			if s.observer != nil && node != "" {
				s.observer.Answered(node, req.GetTypeUrl(), req.GetResponseNonce(), req.GetErrorDetail().GetMessage())
			}
			return nil
		},
		StreamResponseFunc: func(_ context.Context, streamID int64, _ *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
			node := s.recordSent(sotw(streamID), resp)
			if s.observer != nil && node != "" {
				s.observer.SentSotW(node, resp)
			}
		},
		StreamDeltaResponseFunc: func(streamID int64, _ *discoveryv3.DeltaDiscoveryRequest, resp *discoveryv3.DeltaDiscoveryResponse) {
			if node := s.nodeOf(delta(streamID)); s.observer != nil && node != "" {
				s.observer.SentDelta(node, resp)
			}
		},
	}
}

func (s *Server) nodeOf(key streamKey) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.open[key]; st != nil {
		return st.node
	}
	return ""
}

// recordSent remembers a SotW response's nonce and version, and returns the
// stream's node ID.
func (s *Server) recordSent(key streamKey, resp *discoveryv3.DiscoveryResponse) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.open[key]
	if st == nil {
		return ""
	}
	st.sent[resp.GetTypeUrl()] = sentResponse{nonce: resp.GetNonce(), version: resp.GetVersionInfo()}
	return st.node
}

// holdAfterNACK makes a state-of-the-world NACK wait for a change instead of
// being answered with what the node just refused.
//
// Reasoning: a NACK carries the version the node last accepted, so
// go-control-plane's cache, which answers any request whose version differs from
// the snapshot's, would send the refused version straight back, and the node
// would refuse it again, thousands of times a second. The rejection policy (see
// snapshot.Rejections) has already run when this is called: the node's snapshot
// either went back to what the node accepted (the request then matches it), or
// still is the refused version — nothing the policy can take back, such as an
// empty set. In the second case the request is presented to the cache as coming
// from a node at the refused version, so the cache opens a watch and answers at
// the next change. A node that has accepted nothing of the type yet and would be
// sent an empty set again is treated the same way.
func (s *Server) holdAfterNACK(key streamKey, nodeID string, req *discoveryv3.DiscoveryRequest) {
	s.mu.Lock()
	var refused sentResponse
	if st := s.open[key]; st != nil {
		refused = st.sent[req.GetTypeUrl()]
	}
	s.mu.Unlock()
	if refused.nonce == "" || refused.nonce != req.GetResponseNonce() {
		return // go-control-plane ignores an answer to an older response
	}
	snap, err := s.cache.GetSnapshot(nodeID)
	if err != nil {
		return
	}
	current := snap.GetVersion(req.GetTypeUrl())
	emptyAgain := req.GetVersionInfo() == "" && len(snap.GetResources(req.GetTypeUrl())) == 0
	if current == refused.version || emptyAgain {
		req.VersionInfo = current
	}
}

// identify records the node of a stream on its first request that names one, and
// returns the stream's node ID (Envoy names its node in the first request only).
func (s *Server) identify(key streamKey, nodeID string) string {
	s.mu.Lock()
	known, ok := s.open[key]
	if !ok && nodeID != "" {
		s.open[key] = &stream{node: nodeID, sent: map[string]sentResponse{}}
	}
	s.mu.Unlock()
	if ok {
		return known.node
	}
	if nodeID == "" {
		return ""
	}
	s.log.V(1).Info("Opened xDS stream", "node", nodeID, "stream", key.id, "delta", key.delta)
	if s.observer != nil {
		s.observer.StreamOpened(nodeID)
	}
	s.streams.StreamOpened(nodeID)
	return nodeID
}

func (s *Server) closeStream(key streamKey) {
	s.mu.Lock()
	st, known := s.open[key]
	delete(s.open, key)
	s.mu.Unlock()
	if known {
		s.log.V(1).Info("Closed xDS stream", "node", st.node, "stream", key.id, "delta", key.delta)
		s.streams.StreamClosed(st.node)
		if s.observer != nil {
			s.observer.StreamClosed(st.node)
		}
	}
}
