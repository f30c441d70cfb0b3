package snapshot

import (
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"maps"
	"slices"
	"strings"
	"sync"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"

	"github.com/arcturus-dev/arcturus/xds/index"
	"github.com/arcturus-dev/arcturus/xds/kinds"
)

// resourceSet is one type's resources for a node, sorted by name, with their
// version. Sets are shared by the nodes that select the same resources, and so is
// the go-control-plane form built from them.
type resourceSet struct {
	rs      []*index.Resource
	version string

	once     sync.Once
	items    cachev3.Resources
	versions map[string]string // resource name → content version, for delta
}

func newResourceSet(rs []*index.Resource) *resourceSet {
	return &resourceSet{rs: rs, version: Version(rs)}
}

// snapshotResources returns the set in go-control-plane's form and the delta
// version of each resource, built once.
//
// Reasoning: left alone, go-control-plane computes delta versions for every node's
// snapshot by marshalling and SHA-256 hashing every resource again; here each
// resource version is hashed once, whatever the number of nodes.
func (s *resourceSet) snapshotResources() (cachev3.Resources, map[string]string) {
	s.once.Do(func() {
		s.items = resources(s.version, s.rs)
		s.versions = make(map[string]string, len(s.rs))
		for _, r := range s.rs {
			s.versions[r.Name] = deltaVersion(r)
		}
	})
	return s.items, s.versions
}

// deltaVersion is a resource's delta version as go-control-plane computes it for
// the responses it sends (hex SHA-256 of the encoding); the versions of a
// snapshot must match those, or reconnecting clients are sent everything again.
func deltaVersion(r *index.Resource) string {
	if e, ok := r.Wire.(*index.Encoded); ok {
		return e.SHA256()
	}
	b, err := cachev3.MarshalResource(r.Message)
	if err != nil {
		return ""
	}
	return cachev3.HashResource(b)
}

// typeSets is a node's configuration: per type URL, a resource set.
type typeSets map[string]*resourceSet

// version returns the version of a type's set; a missing set is empty.
func (t typeSets) version(typeURL string) string {
	if s := t[typeURL]; s != nil {
		return s.version
	}
	return emptyVersion
}

// emptyVersion is the version of an empty set.
var emptyVersion = Version(nil)

// plan returns what to publish next to a node that holds prev on its way to
// desired, make-before-break. go-control-plane answers each type's watch on its
// own, so a single snapshot may reach Envoy routes before the clusters they use,
// or drop a cluster while a route still sends traffic to it. So, stage by stage
// (kinds.Kind.Stage: clusters and endpoints, then listeners, routes and the rest):
//
//  1. each stage but the last (secrets go with the first), keeping the resources about to be removed, once
//     the node holds (answered) the stages before it;
//  2. the last stage, likewise;
//  3. the removals, once the node holds the last stage.
//
// answered reports whether the node has answered (ACK or NACK, or will never
// answer) the version of a type it was last sent; prev nil means nothing was
// published yet, and everything goes at once.
func plan(prev, desired typeSets, answered func(typeURL string) bool) typeSets {
	if prev == nil {
		return desired
	}
	next := maps.Clone(prev)
	for i, stage := range typeStages {
		changed := false
		for _, t := range stage {
			if i == len(typeStages)-1 {
				next[t] = desired[t]
			} else {
				next[t] = keepRemoved(desired[t], prev[t])
			}
			changed = changed || next.version(t) != prev.version(t)
		}
		if changed || slices.ContainsFunc(stage, func(t string) bool { return !answered(t) }) {
			return next
		}
	}
	return desired
}

// typeStages are the served type URLs grouped by push stage, in order; SDS
// secrets go with the first stage, before the clusters and listeners that use them.
var typeStages = func() [][]string {
	stages := kinds.Stages()
	stages[0] = append([]string{resourcev3.SecretType}, stages[0]...)
	return stages
}()

// keepRemoved returns desired plus the resources of prev that desired no longer
// has, sorted by name; desired itself when nothing was removed.
func keepRemoved(desired, prev *resourceSet) *resourceSet {
	if prev == nil {
		return desired
	}
	var want []*index.Resource
	if desired != nil {
		want = desired.rs
	}
	var removed []*index.Resource
	for _, r := range prev.rs {
		if _, found := slices.BinarySearchFunc(want, r.Name, byName); !found {
			removed = append(removed, r)
		}
	}
	if len(removed) == 0 {
		return desired
	}
	out := append(slices.Clone(want), removed...)
	slices.SortFunc(out, func(a, b *index.Resource) int { return strings.Compare(a.Name, b.Name) })
	return newResourceSet(out)
}

// without returns set less the named resources; set itself when it has none of them.
func without(set *resourceSet, names []string) *resourceSet {
	out := slices.DeleteFunc(slices.Clone(set.rs), func(r *index.Resource) bool { return slices.Contains(names, r.Name) })
	if len(out) == len(set.rs) {
		return set
	}
	return newResourceSet(out)
}

func byName(r *index.Resource, name string) int { return strings.Compare(r.Name, name) }

// sameSets reports whether two configurations have the same versions.
func sameSets(a, b typeSets) bool {
	for _, t := range TypeURLs {
		if a.version(t) != b.version(t) {
			return false
		}
	}
	return true
}
