// Package metrics exports Prometheus metrics of the xDS pipeline, registered in
// controller-runtime's registry so they are served on --metrics-bind-address:
//
//	arcturus_xds_connected_proxies             gauge: nodes with an open ADS stream
//	arcturus_xds_responses_total{type}         counter: responses sent (SotW + delta)
//	arcturus_xds_acks_total{type}              counter: responses ACKed
//	arcturus_xds_nacks_total{type}             counter: responses NACKed
//	arcturus_xds_convergence_seconds{type}     histogram: index change → the node's ACK of it
//	arcturus_snapshot_build_seconds            histogram: one pass over the dirty nodes
//	arcturus_snapshot_resources{type}          gauge: resources published, summed over connected nodes
//
// type is the short name of the xDS type: the lowercase kind (cluster, endpoint,
// listener, route, ...), or other.
//
// Observer collects them. It wraps the xds/server Observer (the feedback tracker)
// as a decorator, and is the snapshot builder's Observer: so nothing in the
// pipeline knows about metrics.
//
// Convergence is measured per node and type from the first index change that the
// node has not yet acknowledged (when the builder first marked the node dirty for
// it) to the node's ACK of a version that includes it. A NACK of that version
// ends the measurement without an observation; the nacks counter shows it.
package metrics

import (
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"sync"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/arcturus-dev/arcturus/xds/kinds"
	"github.com/arcturus-dev/arcturus/xds/server"
)

// Metric names.
const (
	ConnectedProxies   = "arcturus_xds_connected_proxies"
	Responses          = "arcturus_xds_responses_total"
	Acks               = "arcturus_xds_acks_total"
	Nacks              = "arcturus_xds_nacks_total"
	ConvergenceSeconds = "arcturus_xds_convergence_seconds"
	BuildSeconds       = "arcturus_snapshot_build_seconds"
	SnapshotResources  = "arcturus_snapshot_resources"
)

// ShortType returns the type label of an xDS type URL: the lowercase kind
// (cluster, endpoint, listener, route, ...), secret for SDS, or other.
func ShortType(typeURL string) string {
	if k, ok := kinds.ByTypeURL(typeURL); ok {
		return k.Label()
	}
	if typeURL == resourcev3.SecretType {
		return "secret"
	}
	return "other"
}

// Metrics are the collectors. Create them once per registry with New.
type Metrics struct {
	connected    prometheus.Gauge
	responses    *prometheus.CounterVec
	acks         *prometheus.CounterVec
	nacks        *prometheus.CounterVec
	convergence  *prometheus.HistogramVec
	buildSeconds prometheus.Histogram
	resources    *prometheus.GaugeVec
}

// New creates the collectors and registers them with reg (in the binary,
// sigs.k8s.io/controller-runtime/pkg/metrics.Registry).
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: ConnectedProxies,
			Help: "Envoy nodes with at least one open ADS stream.",
		}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: Responses,
			Help: "xDS responses sent (state-of-the-world and delta), by type.",
		}, []string{"type"}),
		acks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: Acks,
			Help: "xDS responses ACKed by the node, by type.",
		}, []string{"type"}),
		nacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: Nacks,
			Help: "xDS responses rejected (NACKed) by the node, by type.",
		}, []string{"type"}),
		convergence: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    ConvergenceSeconds,
			Help:    "Time from an index change (custom resource or pod change observed) to the ACK, by an affected node, of the first version that includes it, by type.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14), // 5 ms … 41 s
		}, []string{"type"}),
		buildSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    BuildSeconds,
			Help:    "Duration of one snapshot build pass over the dirty nodes.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms … 4 s
		}),
		resources: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: SnapshotResources,
			Help: "Resources in the last published snapshot of every connected node, summed over the nodes, by type.",
		}, []string{"type"}),
	}
	for _, c := range []prometheus.Collector{m.connected, m.responses, m.acks, m.nacks, m.convergence, m.buildSeconds, m.resources} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Every served type has its series from the start, at zero.
	labels := []string{ShortType(resourcev3.SecretType)}
	for _, k := range kinds.All {
		labels = append(labels, k.Label())
	}
	for _, t := range labels {
		m.responses.WithLabelValues(t)
		m.acks.WithLabelValues(t)
		m.nacks.WithLabelValues(t)
		m.resources.WithLabelValues(t)
	}
	return m, nil
}

// maxAwaiting bounds the responses remembered per node and type while waiting for
// answers, as the feedback tracker does.
const maxAwaiting = 16

// Observer records the metrics and passes every stream callback on to next. It
// implements server.Observer (wrap the feedback tracker with it) and
// snapshot.Observer (set it as the builder's Observer). It never holds its lock
// while calling next, so next may call back into the builder.
type Observer struct {
	next server.Observer
	m    *Metrics
	now  func() time.Time

	mu    sync.Mutex
	nodes map[string]*nodeState
}

type nodeState struct {
	streams   int
	published map[string]string // type URL → version last published
	counts    map[string]int    // type URL → resources last published
	types     map[string]*typeState
}

type typeState struct {
	awaiting map[string]string // nonce → version sent, awaiting an answer
	acked    string            // version last ACKed
	ackedAt  time.Time
	// waiting is set while an index change published to the node is not ACKed:
	// since is when the first such change was observed, target the newest
	// version published since (it includes the change).
	waiting bool
	since   time.Time
	target  string
}

// Wrap returns an Observer recording metrics and passing callbacks to next (may be nil).
func (m *Metrics) Wrap(next server.Observer) *Observer {
	return &Observer{next: next, m: m, now: time.Now, nodes: map[string]*nodeState{}}
}

func (n *nodeState) typeState(typeURL string) *typeState {
	ts := n.types[typeURL]
	if ts == nil {
		ts = &typeState{awaiting: map[string]string{}}
		n.types[typeURL] = ts
	}
	return ts
}

// StreamOpened implements server.Observer.
func (o *Observer) StreamOpened(nodeID string) {
	o.mu.Lock()
	n := o.nodes[nodeID]
	if n == nil {
		n = &nodeState{published: map[string]string{}, counts: map[string]int{}, types: map[string]*typeState{}}
		o.nodes[nodeID] = n
		o.m.connected.Inc()
	}
	n.streams++
	o.mu.Unlock()
	if o.next != nil {
		o.next.StreamOpened(nodeID)
	}
}

// StreamClosed implements server.Observer.
func (o *Observer) StreamClosed(nodeID string) {
	o.mu.Lock()
	if n := o.nodes[nodeID]; n != nil {
		n.streams--
		if n.streams <= 0 {
			delete(o.nodes, nodeID)
			o.m.connected.Dec()
			for typeURL, c := range n.counts {
				o.m.resources.WithLabelValues(ShortType(typeURL)).Sub(float64(c))
			}
		}
	}
	o.mu.Unlock()
	if o.next != nil {
		o.next.StreamClosed(nodeID)
	}
}

// SentSotW implements server.Observer.
func (o *Observer) SentSotW(nodeID string, resp *discoveryv3.DiscoveryResponse) {
	o.sent(nodeID, resp.GetTypeUrl(), resp.GetNonce(), resp.GetVersionInfo())
	if o.next != nil {
		o.next.SentSotW(nodeID, resp)
	}
}

// SentDelta implements server.Observer. The system version of a delta response is
// the snapshot version of its type, as version_info is for state-of-the-world.
func (o *Observer) SentDelta(nodeID string, resp *discoveryv3.DeltaDiscoveryResponse) {
	o.sent(nodeID, resp.GetTypeUrl(), resp.GetNonce(), resp.GetSystemVersionInfo())
	if o.next != nil {
		o.next.SentDelta(nodeID, resp)
	}
}

func (o *Observer) sent(nodeID, typeURL, nonce, version string) {
	o.m.responses.WithLabelValues(ShortType(typeURL)).Inc()
	o.mu.Lock()
	defer o.mu.Unlock()
	n := o.nodes[nodeID]
	if n == nil {
		return
	}
	ts := n.typeState(typeURL)
	if len(ts.awaiting) >= maxAwaiting {
		clear(ts.awaiting)
	}
	ts.awaiting[nonce] = version
}

// Answered implements server.Observer. Requests that answer no response sent on
// record (the first request of a stream, a resubscription) count as nothing.
func (o *Observer) Answered(nodeID, typeURL, nonce, errorMessage string) {
	o.answered(nodeID, typeURL, nonce, errorMessage)
	if o.next != nil {
		o.next.Answered(nodeID, typeURL, nonce, errorMessage)
	}
}

func (o *Observer) answered(nodeID, typeURL, nonce, errorMessage string) {
	if nonce == "" {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	n := o.nodes[nodeID]
	if n == nil || n.types[typeURL] == nil {
		return
	}
	ts := n.types[typeURL]
	version, ok := ts.awaiting[nonce]
	if !ok {
		return
	}
	delete(ts.awaiting, nonce)
	short := ShortType(typeURL)
	if errorMessage != "" {
		o.m.nacks.WithLabelValues(short).Inc()
		if ts.waiting && ts.target == version {
			ts.waiting = false // the change will not converge in this version
		}
		return
	}
	o.m.acks.WithLabelValues(short).Inc()
	ts.acked, ts.ackedAt = version, o.now()
	o.converged(short, ts)
}

// converged observes and ends the measurement when the node ACKed the target.
func (o *Observer) converged(short string, ts *typeState) {
	if !ts.waiting || ts.acked != ts.target {
		return
	}
	ts.waiting = false
	// An ACK from before the change means the node already ran this version.
	if ts.ackedAt.After(ts.since) {
		o.m.convergence.WithLabelValues(short).Observe(ts.ackedAt.Sub(ts.since).Seconds())
	}
}

// Published implements snapshot.Observer: it starts (or moves the target of)
// the convergence measurement of every type whose version changed.
func (o *Observer) Published(nodeID string, versions map[string]string, counts map[string]int, changedAt time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := o.nodes[nodeID]
	if n == nil {
		return
	}
	first := len(n.published) == 0 // the node's initial configuration: not a change
	for typeURL, v := range versions {
		if n.published[typeURL] == v {
			continue
		}
		n.published[typeURL] = v
		ts := n.typeState(typeURL)
		switch {
		case ts.waiting:
			ts.target = v // newer, and still includes the first change
		case !first && !changedAt.IsZero():
			ts.waiting, ts.since, ts.target = true, changedAt, v
		}
		// The ACK may have come before this call.
		o.converged(ShortType(typeURL), ts)
	}
	for typeURL, c := range counts {
		if d := c - n.counts[typeURL]; d != 0 {
			o.m.resources.WithLabelValues(ShortType(typeURL)).Add(float64(d))
		}
		n.counts[typeURL] = c
	}
}

// Built implements snapshot.Observer.
func (o *Observer) Built(_ int, d time.Duration) {
	o.m.buildSeconds.Observe(d.Seconds())
}
