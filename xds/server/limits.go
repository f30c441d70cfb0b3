package server

import (
	"strings"
	"sync"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"golang.org/x/time/rate"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Limits bound what one xDS client may cost the replica, so that no client can
// hurt the others. A zero field disables its limit. Refusals carry a gRPC status
// that names the limit and its flag.
type Limits struct {
	// MaxRequestBytes bounds one request message (gRPC's receive size limit).
	MaxRequestBytes int
	// MaxResourceNames bounds the resource names one request carries (SotW
	// resource_names; delta subscribe + unsubscribe + initial versions).
	MaxResourceNames int
	// MaxTypesPerStream bounds the distinct type URLs one stream subscribes to.
	MaxTypesPerStream int
	// MaxStreamsPerConnection bounds concurrent streams on one HTTP/2 connection.
	MaxStreamsPerConnection uint32
	// MaxStreamsPerIP bounds concurrent xDS streams from one peer IP.
	MaxStreamsPerIP int
	// StreamsPerIPPerSecond and StreamBurstPerIP rate-limit new streams from one
	// peer IP (a reconnect loop).
	StreamsPerIPPerSecond float64
	StreamBurstPerIP      int
}

// DefaultLimits leave room for the largest real Envoys (tens of thousands of
// clusters subscribed by name over EDS) and a whole node of pods behind one
// address, while keeping a hostile client's cost in the megabytes.
var DefaultLimits = Limits{
	MaxRequestBytes:         4 << 20,
	MaxResourceNames:        100_000,
	MaxTypesPerStream:       32,
	MaxStreamsPerConnection: 100,
	MaxStreamsPerIP:         1024,
	StreamsPerIPPerSecond:   50,
	StreamBurstPerIP:        500,
}

// typeURLPrefix starts the type URL of every xDS resource type.
const typeURLPrefix = "type.googleapis.com/"

// maxTypeURLLength is far above the longest Envoy type name.
const maxTypeURLLength = 256

// checkRequest refuses a request that exceeds the limits or is malformed; seen
// holds the type URLs the stream already used.
func (l Limits) checkRequest(m any, seen map[string]bool) error {
	var typeURL string
	var names int
	switch req := m.(type) {
	case *discoveryv3.DiscoveryRequest:
		typeURL, names = req.GetTypeUrl(), len(req.GetResourceNames())
	case *discoveryv3.DeltaDiscoveryRequest:
		typeURL = req.GetTypeUrl()
		names = len(req.GetResourceNamesSubscribe()) + len(req.GetResourceNamesUnsubscribe()) + len(req.GetInitialResourceVersions())
	default:
		return nil
	}
	if typeURL == "" || len(typeURL) > maxTypeURLLength || !strings.HasPrefix(typeURL, typeURLPrefix) {
		return status.Errorf(codes.InvalidArgument, "type_url %.64q is not an xDS type URL (%s<proto name>)", typeURL, typeURLPrefix)
	}
	if !seen[typeURL] {
		if l.MaxTypesPerStream > 0 && len(seen) >= l.MaxTypesPerStream {
			return status.Errorf(codes.ResourceExhausted, "a stream may subscribe to at most %d types (--xds-max-types-per-stream)", l.MaxTypesPerStream)
		}
		seen[typeURL] = true
	}
	if l.MaxResourceNames > 0 && names > l.MaxResourceNames {
		return status.Errorf(codes.ResourceExhausted, "a request may name at most %d resources, this one names %d (--xds-max-resource-names)", l.MaxResourceNames, names)
	}
	return nil
}

// peerLimits counts streams and paces new ones per peer IP.
type peerLimits struct {
	limits Limits

	mu        sync.Mutex
	peers     map[string]*peerState
	lastPrune time.Time
}

type peerState struct {
	streams int
	pace    *rate.Limiter
}

func newPeerLimits(l Limits) *peerLimits {
	return &peerLimits{limits: l, peers: map[string]*peerState{}}
}

// open admits a new stream from ip, or refuses it; an admitted stream must be
// closed with close.
func (p *peerLimits) open(ip string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.peers[ip]
	if st == nil {
		st = &peerState{}
		if p.limits.StreamsPerIPPerSecond > 0 {
			st.pace = rate.NewLimiter(rate.Limit(p.limits.StreamsPerIPPerSecond), max(p.limits.StreamBurstPerIP, 1))
		}
		p.peers[ip] = st
	}
	if p.limits.MaxStreamsPerIP > 0 && st.streams >= p.limits.MaxStreamsPerIP {
		return status.Errorf(codes.ResourceExhausted, "%s already has %d xDS streams open (--xds-max-streams-per-ip)", ip, st.streams)
	}
	if st.pace != nil && !st.pace.Allow() {
		return status.Errorf(codes.ResourceExhausted, "%s opens xDS streams faster than %g per second (--xds-streams-per-ip-per-second); retry with backoff", ip, p.limits.StreamsPerIPPerSecond)
	}
	st.streams++
	return nil
}

// close releases a stream admitted by open. A peer with no stream left is
// forgotten once its pace has recovered, so the map holds only recent peers.
func (p *peerLimits) close(ip string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.peers[ip]
	if st == nil {
		return
	}
	st.streams--
	// At most once a second, so closing many streams stays linear.
	if now := time.Now(); now.Sub(p.lastPrune) >= time.Second {
		p.lastPrune = now
		p.pruneLocked(now)
	}
}

// pruneLocked forgets idle peers whose pace is full again.
func (p *peerLimits) pruneLocked(now time.Time) {
	for ip, st := range p.peers {
		if st.streams <= 0 && (st.pace == nil || st.pace.TokensAt(now) >= float64(st.pace.Burst())) {
			delete(p.peers, ip)
		}
	}
}
