package snapshot

import (
	"slices"
	"strings"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/arcturus-dev/arcturus/xds/index"
)

// typeSets is a node's configuration: per type URL, resources sorted by name.
type typeSets map[string][]*index.Resource

// plan returns what to publish next to a node that holds prev on its way to
// desired, make-before-break. go-control-plane answers each type's watch on its
// own, so a single snapshot may reach Envoy routes before the clusters they use,
// or drop a cluster while a route still sends traffic to it. So:
//
//  1. clusters and endpoints first, keeping those about to be removed;
//  2. listeners and routes, once the node holds (ACKed) those clusters and endpoints;
//  3. the removals, once the node holds the new listeners and routes.
//
// answered reports whether the node has answered (ACK or NACK, or will never
// answer) the version of a type it was last sent; prev nil means nothing was
// published yet, and everything goes at once.
func plan(prev, desired typeSets, answered func(typeURL string) bool) typeSets {
	if prev == nil {
		return desired
	}
	const (
		clusters  = resourcev3.ClusterType
		endpoints = resourcev3.EndpointType
		listeners = resourcev3.ListenerType
		routes    = resourcev3.RouteType
	)
	next := typeSets{
		clusters:  keepRemoved(desired[clusters], prev[clusters]),
		endpoints: keepRemoved(desired[endpoints], prev[endpoints]),
		listeners: prev[listeners],
		routes:    prev[routes],
	}
	if Version(next[clusters]) != Version(prev[clusters]) || Version(next[endpoints]) != Version(prev[endpoints]) {
		return next
	}
	if !answered(clusters) || !answered(endpoints) {
		return next
	}
	next[listeners], next[routes] = desired[listeners], desired[routes]
	if Version(next[listeners]) != Version(prev[listeners]) || Version(next[routes]) != Version(prev[routes]) {
		return next
	}
	if !answered(listeners) || !answered(routes) {
		return next
	}
	return desired
}

// keepRemoved returns desired plus the resources of prev that desired no longer
// has, sorted by name.
func keepRemoved(desired, prev []*index.Resource) []*index.Resource {
	var removed []*index.Resource
	for _, r := range prev {
		if _, found := slices.BinarySearchFunc(desired, r.Name, byName); !found {
			removed = append(removed, r)
		}
	}
	if len(removed) == 0 {
		return desired
	}
	out := append(slices.Clone(desired), removed...)
	slices.SortFunc(out, func(a, b *index.Resource) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func byName(r *index.Resource, name string) int { return strings.Compare(r.Name, name) }

// sameSets reports whether two configurations have the same versions.
func sameSets(a, b typeSets) bool {
	for _, t := range TypeURLs {
		if Version(a[t]) != Version(b[t]) {
			return false
		}
	}
	return true
}
