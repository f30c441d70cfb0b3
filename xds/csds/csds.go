// Package csds serves Envoy's Client Status Discovery Service
// (envoy.service.status.v3.ClientStatusDiscoveryService) on the xDS port: for
// every connected node, each resource it holds or is being sent, with the
// management server's view of its state. `arcturus proxy-status` and
// `arcturus config-dump` read it; so can any CSDS client.
//
// Sources, all read-only: the feedback tracker (what each node was sent, ACKed and
// rejected), and optionally the snapshot cache (what each node is served now) and
// the index (what each node should be served: the accepted custom resources).
//
// Per resource (generic_xds_configs), config_status is:
//
//	SYNCED    the node ACKed the content it should run
//	STALE     newer content is published or on the wire, not yet answered
//	ERROR     the node NACKed the content it should run (error_state has Envoy's
//	          message, the time and, when known, the rejected configuration)
//	NOT_SENT  served, but the node ACKed the current version without it (it did
//	          not subscribe to the name)
//
// version_info, xds_config and last_updated describe what the node holds (its last
// ACK); for a resource it does not hold yet, xds_config is what it is being sent.
// Only the types the node was sent something of are listed.
package csds

import (
	"context"
	"errors"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	statusv3 "github.com/envoyproxy/go-control-plane/envoy/service/status/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/arcturus-dev/arcturus/xds/feedback"
	"github.com/arcturus-dev/arcturus/xds/index"
	"github.com/arcturus-dev/arcturus/xds/translate"
)

// Proxies tells what the connected nodes hold; *feedback.Tracker implements it.
type Proxies interface {
	Nodes() []feedback.NodeStatus
	Rejected(nodeID, typeURL, name string) (feedback.RejectedResource, bool)
}

// Served returns the snapshot a node is served; cachev3.SnapshotCache implements it.
type Served interface {
	GetSnapshot(nodeID string) (cachev3.ResourceSnapshot, error)
}

// Desired returns what a node should be served; *index.Index implements it.
type Desired interface {
	NodeResources(nodeID string) (map[string][]*index.Resource, bool)
}

// Server answers CSDS requests. Register it on the xDS gRPC server.
type Server struct {
	statusv3.UnimplementedClientStatusDiscoveryServiceServer
	proxies Proxies
	served  Served
	desired Desired
}

// New returns a CSDS server reading proxies, and served and desired when not nil.
func New(proxies Proxies, served Served, desired Desired) *Server {
	return &Server{proxies: proxies, served: served, desired: desired}
}

// Register registers the service; it fits xds/server's Options.Register.
func (s *Server) Register(r grpc.ServiceRegistrar) {
	statusv3.RegisterClientStatusDiscoveryServiceServer(r, s)
}

// FetchClientStatus implements the unary CSDS call.
func (s *Server) FetchClientStatus(_ context.Context, req *statusv3.ClientStatusRequest) (*statusv3.ClientStatusResponse, error) {
	return s.Status(req)
}

// StreamClientStatus answers every request of the stream.
func (s *Server) StreamClientStatus(stream grpc.BidiStreamingServer[statusv3.ClientStatusRequest, statusv3.ClientStatusResponse]) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		resp, err := s.Status(req)
		if err != nil {
			return err
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

// Status returns the client status of every connected node that req's node
// matchers select (all nodes when there are none), sorted by node ID.
func (s *Server) Status(req *statusv3.ClientStatusRequest) (*statusv3.ClientStatusResponse, error) {
	match, err := nodeMatcher(req.GetNodeMatchers())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	resp := &statusv3.ClientStatusResponse{}
	for _, n := range s.proxies.Nodes() {
		if match(n.NodeID) {
			resp.Config = append(resp.Config, s.clientConfig(n, req.GetExcludeResourceContents()))
		}
	}
	return resp, nil
}

// target is what a node should run of one resource.
type target struct {
	hash    uint64
	message proto.Message
}

func (s *Server) clientConfig(n feedback.NodeStatus, exclude bool) *statusv3.ClientConfig {
	cc := &statusv3.ClientConfig{Node: &corev3.Node{Id: n.NodeID}}
	var snap cachev3.ResourceSnapshot
	if s.served != nil {
		if sn, err := s.served.GetSnapshot(n.NodeID); err == nil {
			snap = sn
		}
	}
	var desired map[string][]*index.Resource
	if s.desired != nil {
		desired, _ = s.desired.NodeResources(n.NodeID)
		if desired == nil {
			desired = map[string][]*index.Resource{} // no pod: nothing is desired
		}
	}
	for _, typeURL := range slices.Sorted(maps.Keys(n.Types)) {
		ts := n.Types[typeURL]
		t := typeView{Server: s, node: n.NodeID, ts: ts, exclude: exclude}
		if snap != nil {
			t.served = snap.GetResources(typeURL)
			t.servedVersion = snap.GetVersion(typeURL)
		}
		// What the node should run: the index's view, else the snapshot's.
		switch {
		case desired != nil:
			t.fromIndex = true
			t.targets = map[string]target{}
			for _, r := range desired[typeURL] {
				t.targets[r.Name] = target{hash: r.Hash, message: r.Message}
			}
		case snap != nil:
			t.targets = map[string]target{}
			for name, r := range t.served {
				t.targets[name] = target{hash: index.Hash(r), message: r}
			}
		}
		names := map[string]struct{}{}
		for name := range ts.Held {
			names[name] = struct{}{}
		}
		for name := range t.served {
			names[name] = struct{}{}
		}
		for name := range t.targets {
			names[name] = struct{}{}
		}
		if ts.Rejection != nil {
			for name := range ts.Rejection.Resources {
				names[name] = struct{}{}
			}
		}
		for _, name := range slices.Sorted(maps.Keys(names)) {
			if c := t.resource(name); c != nil {
				cc.GenericXdsConfigs = append(cc.GenericXdsConfigs, c)
			}
		}
	}
	return cc
}

// typeView is one node's type with what it should run.
type typeView struct {
	*Server
	node          string
	ts            *feedback.TypeStatus
	exclude       bool
	served        map[string]types.Resource // nil: unknown
	servedVersion string
	targets       map[string]target // nil: unknown
	fromIndex     bool              // targets come from the index, not the snapshot
}

func (t typeView) resource(name string) *statusv3.ClientConfig_GenericXdsConfig {
	ts := t.ts
	c := &statusv3.ClientConfig_GenericXdsConfig{TypeUrl: ts.TypeURL, Name: name}
	held, isHeld := ts.Held[name]
	if isHeld {
		c.VersionInfo = ts.AckedVersion
		c.ClientStatus = adminv3.ClientResourceStatus_ACKED
		if !ts.AckedAt.IsZero() {
			c.LastUpdated = timestamppb.New(ts.AckedAt)
		}
		if !t.exclude {
			c.XdsConfig = held.Resource
		}
	}
	tgt, hasTarget := t.targets[name]
	known := t.targets != nil
	rej, isRejected := t.proxies.Rejected(t.node, ts.TypeURL, name)
	// Refused: the content the node should run, or (not knowing that: the
	// snapshot serves the rolled-back content) content other than what it holds.
	refused := isRejected && ((t.fromIndex && hasTarget && rej.Hash == tgt.hash) || (!t.fromIndex && (!isHeld || rej.Hash != held.Hash)))
	switch {
	case refused:
		c.ConfigStatus = statusv3.ConfigStatus_ERROR
		c.ClientStatus = adminv3.ClientResourceStatus_NACKED
		c.ErrorState = &adminv3.UpdateFailureState{Details: rej.Message, LastUpdateAttempt: timestamppb.New(rej.At)}
		if r := ts.Rejection; r != nil && r.Resources[name] == rej.Hash {
			c.ErrorState.VersionInfo = r.Version // the node's last answer refused it
		}
		if hasTarget && !t.exclude {
			c.ErrorState.FailedConfiguration = anyOf(tgt.message)
		}
	case !known:
		if !isHeld {
			return nil
		}
		if ts.SentVersion == ts.AckedVersion {
			c.ConfigStatus = statusv3.ConfigStatus_SYNCED
		} else {
			c.ConfigStatus = statusv3.ConfigStatus_STALE
		}
	case isHeld && hasTarget && held.Hash == tgt.hash:
		c.ConfigStatus = statusv3.ConfigStatus_SYNCED
	case !isHeld && !hasTarget:
		return nil // e.g. blamed by a NACK, deleted since
	case !isHeld:
		_, isServed := t.served[name]
		if isServed && ts.Rejection == nil && ts.AckedVersion == t.servedVersion {
			c.ConfigStatus = statusv3.ConfigStatus_NOT_SENT
		} else {
			c.ConfigStatus = statusv3.ConfigStatus_STALE
		}
		if !t.exclude {
			c.XdsConfig = anyOf(tgt.message)
		}
	default: // held, but newer content (or its removal) is on its way
		c.ConfigStatus = statusv3.ConfigStatus_STALE
	}
	// Whoever can read CSDS must not read private keys.
	c.XdsConfig = redacted(ts.TypeURL, c.XdsConfig)
	if c.ErrorState != nil {
		c.ErrorState.FailedConfiguration = redacted(ts.TypeURL, c.ErrorState.FailedConfiguration)
	}
	return c
}

// redacted is translate.Redact, dropping what cannot be redacted.
func redacted(typeURL string, a *anypb.Any) *anypb.Any {
	r, err := translate.Redact(typeURL, a)
	if err != nil {
		return nil
	}
	return r
}

func anyOf(m proto.Message) *anypb.Any {
	if m == nil {
		return nil
	}
	a, err := anypb.New(m)
	if err != nil {
		return nil
	}
	return a
}

// nodeMatcher returns whether a node ID matches any of ms (OR); no matchers match
// every node. Only node_id matchers are supported: Arcturus does not keep node
// metadata.
func nodeMatcher(ms []*matcherv3.NodeMatcher) (func(string) bool, error) {
	if len(ms) == 0 {
		return func(string) bool { return true }, nil
	}
	var fs []func(string) bool
	for _, m := range ms {
		if len(m.GetNodeMetadatas()) > 0 {
			return nil, errors.New("node_metadatas matchers are not supported: match on node_id")
		}
		f, err := stringMatcher(m.GetNodeId())
		if err != nil {
			return nil, err
		}
		fs = append(fs, f)
	}
	return func(id string) bool {
		for _, f := range fs {
			if f(id) {
				return true
			}
		}
		return false
	}, nil
}

func stringMatcher(m *matcherv3.StringMatcher) (func(string) bool, error) {
	if m == nil || m.GetMatchPattern() == nil {
		return func(string) bool { return true }, nil
	}
	fold := func(s string) string { return s }
	if m.GetIgnoreCase() {
		fold = strings.ToLower
	}
	switch p := m.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		want := fold(p.Exact)
		return func(s string) bool { return fold(s) == want }, nil
	case *matcherv3.StringMatcher_Prefix:
		want := fold(p.Prefix)
		return func(s string) bool { return strings.HasPrefix(fold(s), want) }, nil
	case *matcherv3.StringMatcher_Suffix:
		want := fold(p.Suffix)
		return func(s string) bool { return strings.HasSuffix(fold(s), want) }, nil
	case *matcherv3.StringMatcher_Contains:
		want := fold(p.Contains)
		return func(s string) bool { return strings.Contains(fold(s), want) }, nil
	case *matcherv3.StringMatcher_SafeRegex:
		re, err := regexp.Compile("^(?:" + p.SafeRegex.GetRegex() + ")$")
		if err != nil {
			return nil, err
		}
		return re.MatchString, nil
	default:
		return nil, errors.New("unsupported node_id matcher: use exact, prefix, suffix, contains or safe_regex")
	}
}
