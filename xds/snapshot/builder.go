// Package snapshot is the fourth stage of the pipeline: it turns what the index
// holds into one go-control-plane snapshot per connected Envoy node.
//
// Node → snapshot mapping: one snapshot per node ID (cache.IDHash), because each
// pod's selection is its own. Only nodes with an open stream have a snapshot; a
// node's snapshot is released when its last stream closes, so a pod that is not
// connected costs nothing here.
//
// Versions are content hashes per type, computed from the resource names and
// their content hashes. The same resources therefore give the same version_info on
// every replica and after every restart: a reconnecting Envoy that already holds
// them finds nothing changed (go-control-plane still answers a fresh wildcard
// state-of-the-world subscription, with the version the Envoy has). An empty set has a version too (the hash of
// nothing), because a fresh stream gets no answer at version "".
//
// Reasoning: builds are debounced. A burst of index changes marks nodes dirty; one
// worker builds each dirty connected node once the burst is quiet (or a maximum
// delay has passed), so a node sees one update per burst rather than one per change.
package snapshot

import (
	"context"
	"encoding/binary"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/arcturus-dev/arcturus/xds/index"
	"github.com/arcturus-dev/arcturus/xds/kinds"
)

// TypeURLs are the xDS types Arcturus serves, in make-before-break order: SDS
// secrets first (they are no kind: they come from Kubernetes Secrets), then every
// kind's type by stage.
var TypeURLs = append([]string{resourcev3.SecretType}, kinds.TypeURLs()...)

// Options tune the builder.
type Options struct {
	// Debounce is how long the index must be quiet before dirty nodes are built.
	Debounce time.Duration
	// MaxDelay bounds how long a change waits while the index keeps changing.
	MaxDelay time.Duration
}

// DefaultOptions are short enough to be invisible to users and long enough to
// coalesce the events of one `kubectl apply -f dir/`.
var DefaultOptions = Options{Debounce: 20 * time.Millisecond, MaxDelay: 250 * time.Millisecond}

// Rejections tells the builder what each node refused (NACK), so it is not sent
// again in a loop: a refused new resource is withheld from the node, a refused
// change is replaced by the content the node last ACKed, and a refused removal is
// held back, each until the resource changes again. A nil Rejections turns the
// policy off.
type Rejections interface {
	// AnyRejected reports whether the node refused anything it may still be sent.
	AnyRejected(nodeID string) bool
	// RejectedHash returns the content hash of the resource the node refused
	// (zero when it refused the resource's removal).
	RejectedHash(nodeID, typeURL, name string) (uint64, bool)
	// RejectedRemovals returns the resources whose removal the node refused.
	RejectedRemovals(nodeID, typeURL string) []string
	// AckedResource returns the resource as the node last ACKed it.
	AckedResource(nodeID, typeURL, name string) (hash uint64, resource *anypb.Any, ok bool)
	// Forget drops a refusal once the resource's content has changed.
	Forget(nodeID, typeURL, name string)
}

// Observer is told what the builder publishes, for metrics. Its methods are called
// with the builder's lock held: they must be quick and must not call the builder.
type Observer interface {
	// Published reports a snapshot set in the cache: its version and resource count
	// per type URL, and when the earliest index change it includes was observed
	// (zero when the build only follows a new stream).
	Published(nodeID string, versions map[string]string, counts map[string]int, changedAt time.Time)
	// Built reports one pass over the dirty nodes.
	Built(nodes int, d time.Duration)
}

// Guard closes a node's streams that do not come from its pod's IP. The builder
// calls it before publishing, so configuration never reaches a spoofed node.
type Guard interface {
	Verify(nodeID, podIP string)
}

// Builder keeps the snapshot cache in step with the index for every connected node.
// Its methods are safe for concurrent use. Nothing is built before MarkReady: a
// replica answers Envoys only once it holds the complete picture, because for
// state-of-the-world a partial list deletes what it omits.
type Builder struct {
	index *index.Index
	cache cachev3.SnapshotCache
	opts  Options
	log   logr.Logger
	// Rejections, when set before Start, enables the rejection policy.
	Rejections Rejections
	// Guard, when set before Start, verifies node identities before publishing.
	Guard Guard
	// Observer, when set before Start, is told about builds and publications.
	Observer Observer
	// Answers, when set before Start, tells what each node holds, so changes are
	// published make-before-break (see plan); without it they go at once.
	Answers Answers

	ready     chan struct{}
	readyOnce sync.Once
	kick      chan struct{}

	// buildMu serialises builds, so a snapshot computed from an older index state
	// is never published after a newer one.
	buildMu sync.Mutex

	mu            sync.Mutex
	streams       map[string]int                  // node ID → open streams
	dirty         map[string]struct{}             // connected nodes to rebuild
	changed       map[string]time.Time            // dirty node ID → first index change not yet built
	published     map[string]map[string]string    // node ID → type URL → version set in the cache
	held          map[string]typeSets             // node ID → resources set in the cache
	typeChangedAt map[string]map[string]time.Time // node ID → type URL → when its version last changed
	transition    map[string]bool                 // nodes part-way to their desired configuration
}

// Answers tells whether a node has answered what it was sent.
type Answers interface {
	// Caught reports whether the node answered (ACK or NACK) every response of
	// the type sent since the given time; known is false when none was sent.
	Caught(nodeID, typeURL string, since time.Time) (caught, known bool)
}

// NewBuilder returns a builder that reads idx and writes snapshots into c.
func NewBuilder(idx *index.Index, c cachev3.SnapshotCache, opts Options, log logr.Logger) *Builder {
	return &Builder{
		index:     idx,
		cache:     c,
		opts:      opts,
		log:       log,
		ready:     make(chan struct{}),
		kick:      make(chan struct{}, 1),
		streams:   map[string]int{},
		dirty:     map[string]struct{}{},
		changed:   map[string]time.Time{},
		published: map[string]map[string]string{},

		held:          map[string]typeSets{},
		typeChangedAt: map[string]map[string]time.Time{},
		transition:    map[string]bool{},
	}
}

// NodesChanged marks nodes for rebuilding; nodes without an open stream are
// ignored. It is the index's change notification.
func (b *Builder) NodesChanged(nodeIDs []string) {
	now := time.Now()
	b.mu.Lock()
	n := 0
	for _, id := range nodeIDs {
		if b.streams[id] > 0 {
			b.dirty[id] = struct{}{}
			if _, ok := b.changed[id]; !ok {
				b.changed[id] = now
			}
			n++
		}
	}
	b.mu.Unlock()
	if n > 0 {
		b.wake()
	}
}

// StreamOpened records a stream of a node; the node's first stream makes it
// connected and schedules its first snapshot.
func (b *Builder) StreamOpened(nodeID string) {
	b.mu.Lock()
	b.streams[nodeID]++
	first := b.streams[nodeID] == 1
	if first {
		b.dirty[nodeID] = struct{}{}
	}
	b.mu.Unlock()
	if first {
		b.wake()
	}
}

// StreamClosed forgets a stream of a node; when its last stream closes, the node's
// snapshot is released.
func (b *Builder) StreamClosed(nodeID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.streams[nodeID] <= 1 {
		delete(b.streams, nodeID)
		delete(b.dirty, nodeID)
		delete(b.changed, nodeID)
		delete(b.published, nodeID)
		delete(b.held, nodeID)
		delete(b.typeChangedAt, nodeID)
		delete(b.transition, nodeID)
		// Safe: with no open stream the node has no watch left to drop.
		b.cache.ClearSnapshot(nodeID)
		return
	}
	b.streams[nodeID]--
}

// MarkReady lets the builder publish; call it once the index holds every existing
// custom resource and pod.
func (b *Builder) MarkReady() {
	b.readyOnce.Do(func() {
		close(b.ready)
		b.wake()
	})
}

// Ready reports whether MarkReady was called.
func (b *Builder) Ready() bool {
	select {
	case <-b.ready:
		return true
	default:
		return false
	}
}

func (b *Builder) wake() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// Start runs the build loop until ctx ends. It implements manager.Runnable.
func (b *Builder) Start(ctx context.Context) error {
	select {
	case <-b.ready:
	case <-ctx.Done():
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-b.kick:
		}
		b.debounce(ctx)
		b.buildDirty(ctx)
	}
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: every replica serves.
func (b *Builder) NeedLeaderElection() bool { return false }

// debounce waits until no change arrived for Debounce, or MaxDelay passed.
func (b *Builder) debounce(ctx context.Context) {
	if b.opts.Debounce <= 0 {
		return
	}
	deadline := time.NewTimer(b.opts.MaxDelay)
	defer deadline.Stop()
	quiet := time.NewTimer(b.opts.Debounce)
	defer quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-quiet.C:
			return
		case <-b.kick:
			quiet.Reset(b.opts.Debounce)
		}
	}
}

func (b *Builder) buildDirty(ctx context.Context) {
	b.mu.Lock()
	dirty, changed := b.dirty, b.changed
	b.dirty, b.changed = map[string]struct{}{}, map[string]time.Time{}
	b.mu.Unlock()

	start := time.Now()
	published := 0
	shared := selections{}
	for id := range dirty {
		if b.build(ctx, id, changed[id], shared) {
			published++
		}
	}
	if len(dirty) > 0 {
		b.log.V(1).Info("Built snapshots", "dirty", len(dirty), "published", published, "duration", time.Since(start))
		if b.Observer != nil {
			b.Observer.Built(len(dirty), time.Since(start))
		}
	}
}

// BuildNow rebuilds one node's snapshot synchronously. It serves the rejection
// policy: called from the stream callback of a NACK, it publishes the node's
// accepted version before go-control-plane answers the NACK, which would
// otherwise re-send the rejected version at once.
func (b *Builder) BuildNow(ctx context.Context, nodeID string) {
	if !b.Ready() {
		return
	}
	b.build(ctx, nodeID, time.Time{}, nil)
}

// build computes the node's snapshot and publishes it when a version changed;
// changedAt is when the first index change it includes was observed (or zero).
func (b *Builder) build(ctx context.Context, nodeID string, changedAt time.Time, shared selections) bool {
	b.buildMu.Lock()
	defer b.buildMu.Unlock()
	if b.Guard != nil {
		if ip, found := b.index.PodIP(nodeID); found {
			b.Guard.Verify(nodeID, ip)
		}
	}
	selected, found := b.selection(nodeID, shared)
	if !found {
		b.log.Info("Serving empty configuration: node ID names no existing pod", "node", nodeID)
	}
	b.mu.Lock()
	prev, changedTypes := b.held[nodeID], b.typeChangedAt[nodeID]
	b.mu.Unlock()
	desired := selected
	if b.Rejections != nil && b.Rejections.AnyRejected(nodeID) {
		desired = make(typeSets, len(TypeURLs))
		var held typeSets
		for _, typeURL := range TypeURLs {
			desired[typeURL] = selected[typeURL]
			rs, withheld := b.withoutRejected(nodeID, typeURL, selected[typeURL].rs)
			if !sameSlice(rs, selected[typeURL].rs) {
				desired[typeURL] = newResourceSet(rs)
			}
			// A withheld resource is not a removal to make before breaking: the
			// node never accepted it, so the plan must not keep it.
			if len(withheld) > 0 && prev[typeURL] != nil {
				if held == nil {
					held = maps.Clone(prev)
				}
				held[typeURL] = without(prev[typeURL], withheld)
			}
		}
		if held != nil {
			prev = held
		}
	}
	next := plan(prev, desired, func(typeURL string) bool { return b.answered(nodeID, typeURL, changedTypes[typeURL]) })

	snap := &cachev3.Snapshot{}
	versions := make(map[string]string, len(TypeURLs))
	counts := make(map[string]int, len(TypeURLs))
	snap.VersionMap = make(map[string]map[string]string, len(TypeURLs))
	for _, typeURL := range TypeURLs {
		set := next[typeURL]
		versions[typeURL], counts[typeURL] = set.version, len(set.rs)
		snap.Resources[cachev3.GetResponseType(typeURL)], snap.VersionMap[typeURL] = set.snapshotResources()
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.streams[nodeID] == 0 {
		return false // disconnected while building
	}
	inTransition := !sameSets(next, desired)
	if inTransition {
		b.transition[nodeID] = true
		// A node that never answers a type (it does not subscribe to it) must not
		// hold the transition up: look again after a while.
		time.AfterFunc(answerTimeout, func() { b.NodesChanged([]string{nodeID}) })
	} else {
		delete(b.transition, nodeID)
	}
	if maps.Equal(b.published[nodeID], versions) {
		return false
	}
	// Taken before SetSnapshot, which may send responses at once.
	now := time.Now()
	if err := b.cache.SetSnapshot(ctx, nodeID, snap); err != nil {
		b.log.Error(err, "Failed to set snapshot", "node", nodeID)
		return false
	}
	changedTypes = maps.Clone(b.typeChangedAt[nodeID])
	if changedTypes == nil {
		changedTypes = map[string]time.Time{}
	}
	for typeURL, v := range versions {
		if b.published[nodeID][typeURL] != v {
			changedTypes[typeURL] = now
		}
	}
	b.published[nodeID], b.held[nodeID], b.typeChangedAt[nodeID] = versions, next, changedTypes
	b.log.V(1).Info("Published snapshot", "node", nodeID, "versions", versions, "final", !inTransition)
	if b.Observer != nil {
		b.Observer.Published(nodeID, versions, counts, changedAt)
	}
	return true
}

// selections shares, within one build pass, what nodes with the same namespace
// and labels select: they select the same resources, so the sets, their versions
// and their go-control-plane form are computed once for all of them.
type selections map[string]typeSets

// selection returns what the node's pod selects, per type; found is false when no
// pod has this node ID (the sets are then empty).
func (b *Builder) selection(nodeID string, shared selections) (typeSets, bool) {
	pod, found := b.index.Pod(nodeID)
	key := ""
	if found && shared != nil {
		key = pod.Namespace + "\x00" + index.LabelsKey(pod.Labels)
		if sel, ok := shared[key]; ok {
			return sel, true
		}
	}
	byType, found := b.index.NodeResources(nodeID)
	sel := make(typeSets, len(TypeURLs))
	for _, typeURL := range TypeURLs {
		sel[typeURL] = newResourceSet(byType[typeURL])
	}
	if found && shared != nil {
		shared[key] = sel
	}
	return sel, found
}

func sameSlice(a, b []*index.Resource) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// answerTimeout is how long a transition step waits for a node that was never
// sent a type to answer it; such a node does not subscribe to the type.
const answerTimeout = time.Second

// answered reports whether the node has caught up with the type since its
// version last changed (at changedAt): it answered everything sent since (ACK or
// NACK), or, without answer tracking or after answerTimeout, was sent nothing.
func (b *Builder) answered(nodeID, typeURL string, changedAt time.Time) bool {
	if b.Answers == nil {
		return true
	}
	caught, known := b.Answers.Caught(nodeID, typeURL, changedAt)
	if !known {
		return time.Since(changedAt) >= answerTimeout
	}
	return caught
}

// Answered tells the builder that the node answered a response: a node in the
// middle of a make-before-break transition takes its next step.
func (b *Builder) Answered(nodeID string) {
	b.mu.Lock()
	inTransition := b.transition[nodeID]
	b.mu.Unlock()
	if inTransition {
		b.NodesChanged([]string{nodeID})
	}
}

// withoutRejected applies the rejection policy to one type's selection: each
// resource the node refused in its current content is replaced by the content the
// node last ACKed, or withheld (and named in withheld) if the node never had it;
// each resource whose removal the node refused is kept as the node last ACKed it.
func (b *Builder) withoutRejected(nodeID, typeURL string, rs []*index.Resource) (out []*index.Resource, withheld []string) {
	acked := func(r *index.Resource) *index.Resource {
		hash, resource, ok := b.Rejections.AckedResource(nodeID, typeURL, r.Name)
		if !ok {
			return nil
		}
		msg, err := resource.UnmarshalNew()
		if err != nil {
			return nil
		}
		old := *r
		old.Message, old.Wire, old.Hash = msg, nil, hash
		return &old
	}
	changed := false
	out = make([]*index.Resource, 0, len(rs))
	for _, r := range rs {
		hash, rejected := b.Rejections.RejectedHash(nodeID, typeURL, r.Name)
		if rejected && hash != r.Hash {
			b.Rejections.Forget(nodeID, typeURL, r.Name) // changed since: send the new content
			rejected = false
		}
		if !rejected {
			out = append(out, r)
			continue
		}
		changed = true
		if old := acked(r); old != nil {
			out = append(out, old)
		} else {
			withheld = append(withheld, r.Name)
		}
	}
	for _, name := range b.Rejections.RejectedRemovals(nodeID, typeURL) {
		if _, found := slices.BinarySearchFunc(out, name, byName); found {
			continue // selected again: RejectedHash above has forgotten the refusal
		}
		if old := acked(&index.Resource{TypeURL: typeURL, Name: name}); old != nil {
			out = append(out, old)
			changed = true
		}
	}
	if !changed {
		return rs, nil
	}
	slices.SortFunc(out, func(a, b *index.Resource) int { return strings.Compare(a.Name, b.Name) })
	return out, withheld
}

// resources builds one type's snapshot resources from the shared encoded wrappers
// (see index.Encoded). It is built by hand rather than with cachev3.NewResources,
// which looks names up by concrete message type.
func resources(version string, rs []*index.Resource) cachev3.Resources {
	items := make(map[string]types.ResourceWithTTL, len(rs))
	for _, r := range rs {
		wire := r.Wire
		if wire == nil {
			wire = r.Message
		}
		items[r.Name] = types.ResourceWithTTL{Resource: wire}
	}
	return cachev3.Resources{Version: version, Items: items}
}

// Version is the content version of a sorted resource list: a hash of the names and
// content hashes. An empty list has a version too.
func Version(rs []*index.Resource) string {
	h := fnv.New64a()
	var buf [8]byte
	for _, r := range rs {
		_, _ = h.Write([]byte(r.Name))
		_, _ = h.Write([]byte{0})
		binary.BigEndian.PutUint64(buf[:], r.Hash)
		_, _ = h.Write(buf[:])
	}
	return strconv.FormatUint(h.Sum64(), 16)
}

// Published returns the versions per type last published for the node, or nil.
func (b *Builder) Published(nodeID string) map[string]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.published[nodeID])
}
