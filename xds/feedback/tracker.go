// Package feedback is the last stage of the pipeline: it observes, per node and per
// xDS type, what was sent, what the node ACKed and what it rejected (NACK), from the
// stream callbacks of xds/server. The controllers read it to report status
// (status.proxies, the Ready condition, events), the snapshot builder reads it to
// stop re-sending a rejected resource, and CSDS and the CLI read it to show what
// each node holds.
//
// Resources are identified by name and content hash. The hash is FNV-64a of the
// deterministic proto encoding, which is exactly what go-control-plane puts in each
// Any, so hashing the bytes of a response gives the same value as index.Hash of
// the resource that was indexed.
package feedback

import (
	"encoding/binary"
	"hash/fnv"
	"maps"
	"slices"
	"sync"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/anypb"
)

// Held is one resource as a node holds (or was sent) it.
type Held struct {
	Hash     uint64
	Resource *anypb.Any
}

// Rejection is a node's last NACK of one type.
type Rejection struct {
	// Version is the version_info (SotW) or nonce (delta) the node rejected.
	Version string
	// Message is Envoy's error_detail message.
	Message string
	// At is when the NACK arrived.
	At time.Time
	// Resources are the names (with the rejected content hashes) blamed for the NACK:
	// for delta the resources of the rejected response, for SotW those that changed
	// since the node's last ACK.
	Resources map[string]uint64
}

// TypeStatus is what one node holds of one type.
type TypeStatus struct {
	TypeURL string
	// SentVersion and SentAt describe the last response sent.
	SentVersion string
	SentAt      time.Time
	// AckedVersion and AckedAt describe the last response the node ACKed.
	AckedVersion string
	AckedAt      time.Time
	// Held is what the node holds after its last ACK, by resource name; shared,
	// read-only.
	Held map[string]Held
	// Rejection is set while the node's last answer of this type was a NACK.
	Rejection *Rejection
}

// NodeStatus is what one connected node holds.
type NodeStatus struct {
	NodeID string
	Types  map[string]*TypeStatus
}

// pending is a response waiting for its ACK or NACK.
type pending struct {
	version   string
	resources map[string]Held // complete state after applying the response
	changed   map[string]uint64
	removed   []string // held (ACKed) resources the response removes
}

type nodeState struct {
	streams int
	types   map[string]*typeState
}

type typeState struct {
	status  TypeStatus
	held    *HeldSet            // status.Held, interned
	pending map[string]*pending // by nonce
	// rejected remembers, per resource name, the content the node refused, until it
	// ACKs that content after all or is never sent it again (Forget). It outlives
	// status.Rejection, which only describes the node's last answer.
	rejected map[string]RejectedResource
}

// RejectedResource is a resource content a node refused, or its removal.
type RejectedResource struct {
	// Hash is the refused content's hash; zero when Removal is set.
	Hash uint64
	// Removal is set when the node refused a response that removed the resource
	// (possible through dependencies): it keeps the content it last ACKed.
	Removal bool
	Message string
	At      time.Time
}

// Change tells which node and type changed state, and how.
type Change struct {
	NodeID  string
	TypeURL string
	// Acked or Nacked is set when the change is an answer from the node.
	Acked, Nacked bool
	// Disconnected is set when the node's last stream closed.
	Disconnected bool
}

// Tracker records what every connected node was sent, ACKed and rejected. It is
// safe for concurrent use; notify is called without the lock held.
type Tracker struct {
	notify func(Change)
	now    func() time.Time

	mu    sync.RWMutex
	nodes map[string]*nodeState
	// contents interns the resources nodes hold by content hash: a thousand
	// nodes holding the same cluster share one copy of its bytes.
	contents map[uint64]*interned
	// sets interns whole held sets: nodes that hold the same resources of a type
	// share one set, which readers can count once for all of them.
	sets map[uint64]*HeldSet
}

// HeldSet is what a node holds of one type, shared by every node holding the
// same; readers must not modify it.
type HeldSet struct {
	Items map[string]Held
	key   uint64
	refs  int
}

// interned is one shared resource body and how many held entries use it.
type interned struct {
	resource *anypb.Any
	refs     int
}

// NewTracker returns a tracker that reports changes to notify (may be nil).
func NewTracker(notify func(Change)) *Tracker {
	return &Tracker{notify: notify, now: time.Now, nodes: map[string]*nodeState{}, contents: map[uint64]*interned{}, sets: map[uint64]*HeldSet{}}
}

// StreamOpened counts a stream of the node.
func (t *Tracker) StreamOpened(nodeID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.nodes[nodeID]
	if n == nil {
		n = &nodeState{types: map[string]*typeState{}}
		t.nodes[nodeID] = n
	}
	n.streams++
}

// StreamClosed forgets the node once its last stream closed.
func (t *Tracker) StreamClosed(nodeID string) {
	t.mu.Lock()
	n := t.nodes[nodeID]
	gone := n != nil && n.streams <= 1
	if gone {
		for _, ts := range n.types {
			t.releaseSetLocked(ts.held)
		}
		delete(t.nodes, nodeID)
	} else if n != nil {
		n.streams--
	}
	t.mu.Unlock()
	if gone {
		t.emit(Change{NodeID: nodeID, Disconnected: true})
	}
}

func (t *Tracker) typeLocked(nodeID, typeURL string) *typeState {
	n := t.nodes[nodeID]
	if n == nil {
		return nil
	}
	ts := n.types[typeURL]
	if ts == nil {
		ts = &typeState{
			status:   TypeStatus{TypeURL: typeURL, Held: map[string]Held{}},
			pending:  map[string]*pending{},
			rejected: map[string]RejectedResource{},
		}
		n.types[typeURL] = ts
	}
	return ts
}

// maxPending bounds the responses remembered per node and type while waiting for
// answers; Envoy answers every response, so more means a stuck client.
const maxPending = 16

// SentSotW records a state-of-the-world response.
func (t *Tracker) SentSotW(nodeID string, resp *discoveryv3.DiscoveryResponse) {
	state := make(map[string]Held, len(resp.GetResources()))
	for _, a := range resp.GetResources() {
		state[resourceName(a)] = Held{Hash: HashAny(a), Resource: a}
	}
	t.sent(nodeID, resp.GetTypeUrl(), resp.GetNonce(), resp.GetVersionInfo(), state, false)
}

// SentDelta records a delta response.
func (t *Tracker) SentDelta(nodeID string, resp *discoveryv3.DeltaDiscoveryResponse) {
	delta := make(map[string]Held, len(resp.GetResources()))
	for _, r := range resp.GetResources() {
		delta[r.GetName()] = Held{Hash: HashAny(r.GetResource()), Resource: r.GetResource()}
	}
	t.mu.Lock()
	ts := t.typeLocked(nodeID, resp.GetTypeUrl())
	var base map[string]Held
	if ts != nil {
		base = ts.status.Held
		// Build on the newest pending state: responses may be sent before earlier ones are answered.
		if p := newestPending(ts); p != nil {
			base = p.resources
		}
	}
	state := maps.Clone(base)
	if state == nil {
		state = map[string]Held{}
	}
	for _, name := range resp.GetRemovedResources() {
		delete(state, name)
	}
	maps.Copy(state, delta)
	t.mu.Unlock()
	t.sent(nodeID, resp.GetTypeUrl(), resp.GetNonce(), resp.GetNonce(), state, true)
}

func newestPending(ts *typeState) *pending {
	var newest *pending
	for _, p := range ts.pending {
		newest = p
	}
	if len(ts.pending) > 1 {
		return nil // ambiguous order; fall back to the ACKed state
	}
	return newest
}

func (t *Tracker) sent(nodeID, typeURL, nonce, version string, state map[string]Held, delta bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ts := t.typeLocked(nodeID, typeURL)
	if ts == nil {
		return
	}
	changed := map[string]uint64{}
	for name, h := range state {
		if old, ok := ts.status.Held[name]; !ok || old.Hash != h.Hash {
			changed[name] = h.Hash
		}
	}
	var removed []string
	for name := range ts.status.Held {
		if _, ok := state[name]; !ok {
			removed = append(removed, name)
		}
	}
	if len(ts.pending) >= maxPending {
		clear(ts.pending)
	}
	ts.pending[nonce] = &pending{version: version, resources: state, changed: changed, removed: removed}
	ts.status.SentVersion, ts.status.SentAt = version, t.now()
}

// Answered records a request that answers an earlier response (ACK, or NACK when
// errorMessage is not empty). Requests that answer nothing are ignored.
func (t *Tracker) Answered(nodeID, typeURL, nonce, errorMessage string) {
	if nonce == "" {
		return
	}
	t.mu.Lock()
	ts := t.typeLocked(nodeID, typeURL)
	if ts == nil {
		t.mu.Unlock()
		return
	}
	p, ok := ts.pending[nonce]
	if !ok {
		t.mu.Unlock()
		return
	}
	delete(ts.pending, nonce)
	now := t.now()
	change := Change{NodeID: nodeID, TypeURL: typeURL}
	if errorMessage == "" {
		set := t.internSetLocked(p.resources)
		t.releaseSetLocked(ts.held)
		ts.held = set
		ts.status.Held, ts.status.AckedVersion, ts.status.AckedAt = set.Items, p.version, now
		ts.status.Rejection = nil
		// The node accepted, after all, what it once refused: a content it now
		// holds, or the absence of a resource whose removal it refused.
		for name, r := range ts.rejected {
			h, holds := p.resources[name]
			if (holds && !r.Removal && r.Hash == h.Hash) || (!holds && r.Removal) {
				delete(ts.rejected, name)
			}
		}
		change.Acked = true
	} else {
		ts.status.Rejection = &Rejection{Version: p.version, Message: errorMessage, At: now, Resources: p.changed}
		for name, hash := range p.changed {
			ts.rejected[name] = RejectedResource{Hash: hash, Message: errorMessage, At: now}
		}
		for _, name := range p.removed {
			ts.rejected[name] = RejectedResource{Removal: true, Message: errorMessage, At: now}
		}
		change.Nacked = true
	}
	t.mu.Unlock()
	t.emit(change)
}

func (t *Tracker) emit(c Change) {
	if t.notify != nil {
		t.notify(c)
	}
}

// internSetLocked returns the shared set holding exactly items, with a reference
// taken.
func (t *Tracker) internSetLocked(items map[string]Held) *HeldSet {
	key := setKey(items)
	if set := t.sets[key]; set != nil && sameHeld(set.Items, items) {
		set.refs++
		return set
	}
	shared := make(map[string]Held, len(items))
	for name, h := range items {
		shared[name] = t.internLocked(h)
	}
	set := &HeldSet{Items: shared, key: key, refs: 1}
	if t.sets[key] == nil {
		t.sets[key] = set
	}
	return set
}

// releaseSetLocked drops a reference to a set, and the set when it was the last.
func (t *Tracker) releaseSetLocked(set *HeldSet) {
	if set == nil {
		return
	}
	if set.refs--; set.refs > 0 {
		return
	}
	t.releaseLocked(set.Items)
	if t.sets[set.key] == set {
		delete(t.sets, set.key)
	}
}

// setKey hashes a held set's names and content hashes, in name order.
func setKey(items map[string]Held) uint64 {
	h := fnv.New64a()
	var buf [8]byte
	for _, name := range slices.Sorted(maps.Keys(items)) {
		_, _ = h.Write([]byte(name))
		binary.BigEndian.PutUint64(buf[:], items[name].Hash)
		_, _ = h.Write(buf[:])
	}
	return h.Sum64()
}

func sameHeld(a, b map[string]Held) bool {
	if len(a) != len(b) {
		return false
	}
	for name, h := range a {
		if o, ok := b[name]; !ok || o.Hash != h.Hash {
			return false
		}
	}
	return true
}

// internLocked returns h with the shared copy of its content.
func (t *Tracker) internLocked(h Held) Held {
	c := t.contents[h.Hash]
	if c == nil {
		c = &interned{resource: h.Resource}
		t.contents[h.Hash] = c
	}
	c.refs++
	return Held{Hash: h.Hash, Resource: c.resource}
}

// releaseLocked drops the references of held entries to their shared content.
func (t *Tracker) releaseLocked(held map[string]Held) {
	for _, h := range held {
		if c := t.contents[h.Hash]; c != nil {
			if c.refs--; c.refs <= 0 {
				delete(t.contents, h.Hash)
			}
		}
	}
}

// Holds returns what the node holds of a resource after its last ACK.
func (t *Tracker) Holds(nodeID, typeURL, name string) (Held, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := t.nodes[nodeID]
	if n == nil || n.types[typeURL] == nil {
		return Held{}, false
	}
	h, ok := n.types[typeURL].status.Held[name]
	return h, ok
}

// Rejected returns the content of a resource the node refused, if it did.
func (t *Tracker) Rejected(nodeID, typeURL, name string) (RejectedResource, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := t.nodes[nodeID]
	if n == nil || n.types[typeURL] == nil {
		return RejectedResource{}, false
	}
	r, ok := n.types[typeURL].rejected[name]
	return r, ok
}

// Forget drops the memory of a refused resource, once its content has changed.
func (t *Tracker) Forget(nodeID, typeURL, name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := t.nodes[nodeID]; n != nil && n.types[typeURL] != nil {
		delete(n.types[typeURL].rejected, name)
	}
}

// Node returns a copy of what the node holds; ok is false when it is not connected.
func (t *Tracker) Node(nodeID string) (NodeStatus, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := t.nodes[nodeID]
	if n == nil {
		return NodeStatus{}, false
	}
	return copyNode(nodeID, n), true
}

// Nodes returns a copy of every connected node's status, sorted by node ID.
func (t *Tracker) Nodes() []NodeStatus {
	t.mu.RLock()
	defer t.mu.RUnlock()
	ids := slices.Sorted(maps.Keys(t.nodes))
	out := make([]NodeStatus, len(ids))
	for i, id := range ids {
		out[i] = copyNode(id, t.nodes[id])
	}
	return out
}

func copyNode(id string, n *nodeState) NodeStatus {
	ns := NodeStatus{NodeID: id, Types: make(map[string]*TypeStatus, len(n.types))}
	for typeURL, ts := range n.types {
		st := ts.status
		// Held maps are interned and replaced on every ACK, never changed in
		// place: the copy shares them (readers must not modify them).
		if st.Rejection != nil {
			r := *st.Rejection
			st.Rejection = &r
		}
		ns.Types[typeURL] = &st
	}
	return ns
}

// HashAny returns the content hash of a marshalled resource; it equals index.Hash
// of the message it holds.
func HashAny(a *anypb.Any) uint64 {
	h := fnv.New64a()
	_, _ = h.Write(a.GetValue())
	return h.Sum64()
}

// resourceName returns the name of a marshalled Envoy resource without unmarshalling
// it: field 1 is the name of every type Arcturus serves (Listener.name,
// RouteConfiguration.name, Cluster.name, ClusterLoadAssignment.cluster_name), and
// deterministic encoding writes fields in number order, so it comes first.
func resourceName(a *anypb.Any) string {
	b := a.GetValue()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return ""
			}
			return string(v)
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return ""
		}
		b = b[m:]
	}
	return ""
}

// RejectedHash returns the content hash of a resource the node refused (zero for
// a refused removal). It serves the snapshot builder's rejection policy.
func (t *Tracker) RejectedHash(nodeID, typeURL, name string) (uint64, bool) {
	r, ok := t.Rejected(nodeID, typeURL, name)
	return r.Hash, ok
}

// RejectedRemovals returns, sorted, the resources of a type whose removal the node
// refused. It serves the snapshot builder's rejection policy.
func (t *Tracker) RejectedRemovals(nodeID, typeURL string) []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := t.nodes[nodeID]
	if n == nil || n.types[typeURL] == nil {
		return nil
	}
	var names []string
	for name, r := range n.types[typeURL].rejected {
		if r.Removal {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// AckedResource returns a resource as the node last ACKed it.
func (t *Tracker) AckedResource(nodeID, typeURL, name string) (uint64, *anypb.Any, bool) {
	h, ok := t.Holds(nodeID, typeURL, name)
	return h.Hash, h.Resource, ok
}

// Caught reports whether the node has answered (ACK or NACK) every response of a
// type sent to it since the given time; known is false when none was sent since
// (the node may not subscribe to the type, or to the resources that changed). It
// serves the snapshot builder's make-before-break ordering. Comparing answers
// rather than contents works for clients that subscribe to a subset by name.
func (t *Tracker) Caught(nodeID, typeURL string, since time.Time) (caught, known bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := t.nodes[nodeID]
	if n == nil || n.types[typeURL] == nil {
		return false, false
	}
	ts := n.types[typeURL]
	if ts.status.SentAt.Before(since) {
		return false, false
	}
	return len(ts.pending) == 0, true
}

// AnyRejected reports whether the node refused any resource it may still be
// sent; it lets the snapshot builder skip per-resource lookups for most nodes.
func (t *Tracker) AnyRejected(nodeID string) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if n := t.nodes[nodeID]; n != nil {
		for _, ts := range n.types {
			if len(ts.rejected) > 0 {
				return true
			}
		}
	}
	return false
}

// TypeView is what one node holds and refused of one type, read in one go.
type TypeView struct {
	// Held is what the node holds after its last ACK (nil before any); shared
	// with every node holding the same, read-only.
	Held *HeldSet
	// Rejected is the content the node refused, by name.
	Rejected map[string]RejectedResource
}

// View returns what a node holds and refused of a type; ok is false when the
// node is not connected. The status reconcilers read every selected node this
// way, once per node rather than once per node and resource.
func (t *Tracker) View(nodeID, typeURL string) (view TypeView, ok bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := t.nodes[nodeID]
	if n == nil {
		return TypeView{}, false
	}
	if ts := n.types[typeURL]; ts != nil {
		// Held sets are replaced on every ACK, never changed in place: sharing is safe.
		view.Held = ts.held
		if len(ts.rejected) > 0 {
			view.Rejected = maps.Clone(ts.rejected)
		}
	}
	return view, true
}
