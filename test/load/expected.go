package main

import (
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"strings"
	"sync"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/arcturus-dev/arcturus/xds/kinds"
)

// This file computes what every Envoy should hold, from the custom resources and
// the pods alone, without any of the controller's code: the selection rule (same
// namespace, selector labels ⊆ pod labels), the Envoy name rule (config name,
// else metadata.name) and the references an Envoy follows (EDS names of its EDS
// clusters, RDS names of its listeners' HCMs) are re-implemented here.

// state is what an Envoy holds, or should hold: type URL → name → content hash.
type state map[string]map[string]uint64

// equal reports whether two states hold the same names with the same contents.
func (s state) equal(o state) bool {
	for _, k := range simulatedKinds {
		if !maps.Equal(s[k.TypeURL], o[k.TypeURL]) {
			return false
		}
	}
	return true
}

// diff describes how got differs from s (the expectation), briefly.
func (s state) diff(got state) string {
	var parts []string
	for _, k := range simulatedKinds {
		want, have := s[k.TypeURL], got[k.TypeURL]
		var missing, extra, changed []string
		for name, h := range want {
			if g, ok := have[name]; !ok {
				missing = append(missing, name)
			} else if g != h {
				changed = append(changed, name)
			}
		}
		for name := range have {
			if _, ok := want[name]; !ok {
				extra = append(extra, name)
			}
		}
		if len(missing)+len(extra)+len(changed) > 0 {
			parts = append(parts, fmt.Sprintf("%s: missing %s, extra %s, other content %s",
				k.Name, brief(missing), brief(extra), brief(changed)))
		}
	}
	return strings.Join(parts, "; ")
}

// brief lists up to three names and how many more there are.
func brief(names []string) string {
	slices.Sort(names)
	if len(names) > 3 {
		return fmt.Sprintf("%v (+%d)", names[:3], len(names)-3)
	}
	return fmt.Sprint(names)
}

// hashSeed is fixed for the process, so hashes from expectations and from
// responses compare.
var hashSeed = maphash.MakeSeed()

// hashBytes is the content hash of a resource's wire bytes.
func hashBytes(b []byte) uint64 { return maphash.Bytes(hashSeed, b) }

// content is one Envoy resource content as the harness understands it.
type content struct {
	Name string
	// Refs are the names this resource makes an Envoy subscribe to: the EDS
	// name of an EDS cluster, the RDS route names of a listener.
	Refs []string
	Msg  proto.Message
}

// decodeContent decodes a resource of the kind from its wire bytes.
func decodeContent(kind kinds.Kind, raw []byte) (*content, error) {
	m := kind.New()
	if err := proto.Unmarshal(raw, m); err != nil {
		return nil, fmt.Errorf("decode %s: %w", kind.Name, err)
	}
	return &content{Name: envoyName(m), Refs: references(m), Msg: m}, nil
}

// contentCache decodes each distinct content once for the whole fleet: the P
// Envoys receive the same bytes, and decoding them P times would cost the
// machine's CPU that the controller is being measured on.
var contentCache sync.Map // contentKey → *contentEntry

type contentKey struct {
	typeURL string
	hash    uint64
}

type contentEntry struct {
	once sync.Once
	c    *content
	err  error
}

// lookupContent returns the decoded content of raw and its hash.
func lookupContent(kind kinds.Kind, raw []byte) (*content, uint64, error) {
	h := hashBytes(raw)
	v, _ := contentCache.LoadOrStore(contentKey{kind.TypeURL, h}, &contentEntry{})
	e := v.(*contentEntry)
	e.once.Do(func() { e.c, e.err = decodeContent(kind, raw) })
	return e.c, h, e.err
}

// envoyName is the name an Envoy knows a resource by.
func envoyName(m proto.Message) string {
	if c, ok := m.(*endpointv3.ClusterLoadAssignment); ok {
		return c.GetClusterName()
	}
	if n, ok := m.(interface{ GetName() string }); ok {
		return n.GetName()
	}
	return ""
}

// references returns what an Envoy subscribes to because of m, as Envoy does:
// an EDS cluster's service name (or its own name), and the RDS route name of every
// HTTP connection manager of a listener.
func references(m proto.Message) []string {
	switch r := m.(type) {
	case *clusterv3.Cluster:
		if r.GetType() != clusterv3.Cluster_EDS {
			return nil
		}
		if n := r.GetEdsClusterConfig().GetServiceName(); n != "" {
			return []string{n}
		}
		return []string{r.GetName()}
	case *listenerv3.Listener:
		chains := slices.Clone(r.GetFilterChains())
		if r.GetDefaultFilterChain() != nil {
			chains = append(chains, r.GetDefaultFilterChain())
		}
		var names []string
		for _, fc := range chains {
			for _, f := range fc.GetFilters() {
				var hcm hcmv3.HttpConnectionManager
				if tc := f.GetTypedConfig(); tc == nil || tc.UnmarshalTo(&hcm) != nil {
					continue
				}
				if n := hcm.GetRds().GetRouteConfigName(); n != "" {
					names = append(names, n)
				}
			}
		}
		return names
	}
	return nil
}

// crInput is one custom resource as read from the API (or as the harness wants it).
type crInput struct {
	Kind     kinds.Kind
	Name     string // metadata.name
	Selector map[string]string
	Config   []byte // spec.config, proto3 JSON
}

// podInput is one pod as the expectation needs it.
type podInput struct {
	NodeID string
	Labels map[string]string
}

// expected is a resource with the content an Envoy must receive for it.
type expected struct {
	kind     kinds.Kind
	name     string
	selector map[string]string
	hash     uint64
	refs     []string
}

// parseInputs turns CRs into expected resources. Each CR must be valid and own
// its Envoy name: the fixture never creates conflicts, so one is an error here.
func parseInputs(inputs []crInput) ([]expected, error) {
	var out []expected
	seen := map[string]string{}
	for _, in := range inputs {
		m := in.Kind.New()
		if err := protojson.Unmarshal(in.Config, m); err != nil {
			return nil, fmt.Errorf("%s %s: %w", in.Kind.Name, in.Name, err)
		}
		name := envoyName(m)
		if name == "" {
			name = in.Name
			setEnvoyName(m, name)
		}
		if other, dup := seen[in.Kind.Name+"/"+name]; dup {
			return nil, fmt.Errorf("%s %s and %s both claim the Envoy name %q", in.Kind.Name, other, in.Name, name)
		}
		seen[in.Kind.Name+"/"+name] = in.Name
		raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			return nil, err
		}
		out = append(out, expected{kind: in.Kind, name: name, selector: in.Selector, hash: hashBytes(raw), refs: references(m)})
	}
	return out, nil
}

// setEnvoyName defaults the name of a message whose config left it empty.
func setEnvoyName(m proto.Message, name string) {
	switch r := m.(type) {
	case *endpointv3.ClusterLoadAssignment:
		r.ClusterName = name
	case *clusterv3.Cluster:
		r.Name = name
	case *listenerv3.Listener:
		r.Name = name
	case *routev3.RouteConfiguration:
		r.Name = name
	}
}

// selects reports whether a selector selects a pod with these labels.
func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// stateFor is what an Envoy of a pod with these labels holds once converged:
// every selected Cluster and Listener (wildcard CDS and LDS), and the selected
// Endpoints and Routes among the names those make it subscribe to.
func stateFor(resources []expected, labels map[string]string) state {
	byType := map[string][]expected{}
	for _, r := range resources {
		if selects(r.selector, labels) {
			byType[r.kind.TypeURL] = append(byType[r.kind.TypeURL], r)
		}
	}
	s := state{}
	wanted := map[string]map[string]bool{kinds.Endpoint.TypeURL: {}, kinds.Route.TypeURL: {}}
	for _, k := range []kinds.Kind{kinds.Cluster, kinds.Listener} {
		s[k.TypeURL] = map[string]uint64{}
		dep := kinds.Endpoint.TypeURL
		if k.Name == kinds.Listener.Name {
			dep = kinds.Route.TypeURL
		}
		for _, r := range byType[k.TypeURL] {
			s[k.TypeURL][r.name] = r.hash
			for _, ref := range r.refs {
				wanted[dep][ref] = true
			}
		}
	}
	for _, k := range []kinds.Kind{kinds.Endpoint, kinds.Route} {
		s[k.TypeURL] = map[string]uint64{}
		for _, r := range byType[k.TypeURL] {
			if wanted[k.TypeURL][r.name] {
				s[k.TypeURL][r.name] = r.hash
			}
		}
	}
	return s
}

// expectedStates computes every pod's state. Pods with equal labels share one
// (read-only) state.
func expectedStates(inputs []crInput, pods []podInput) (map[string]state, error) {
	resources, err := parseInputs(inputs)
	if err != nil {
		return nil, err
	}
	byLabels := map[string]state{}
	out := make(map[string]state, len(pods))
	for _, p := range pods {
		key := labelsKey(p.Labels)
		s, ok := byLabels[key]
		if !ok {
			s = stateFor(resources, p.Labels)
			byLabels[key] = s
		}
		out[p.NodeID] = s
	}
	return out, nil
}

// labelsKey is a canonical string of a label set.
func labelsKey(labels map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(labels[k])
		b.WriteByte(',')
	}
	return b.String()
}
