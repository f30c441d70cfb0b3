/*
Copyright 2026 The Arcturus Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package translate

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// Ref names another Envoy resource that a resource depends on.
type Ref struct {
	// TypeURL is the resource type URL of the referenced resource, one of
	// resource.RouteType, resource.ClusterType, resource.EndpointType and
	// resource.SecretType.
	TypeURL string
	// Name is the referenced resource's name.
	Name string
	// Path is where the reference is, as a field path relative to the
	// resource (proto field names, like Translate's errors without their
	// root), e.g. "filter_chains[0].filters[0].typed_config.rds.route_config_name".
	Path string
}

// refRule is one field that names another resource.
type refRule struct {
	// field is the path, from the message the rule is keyed by, to a string
	// or repeated string field holding the referenced name(s). Every step but
	// the last is a singular message field.
	field []protoreflect.Name
	// typeURL is the type of the referenced resource.
	typeURL string
	// fallback, when set, is the path to a string used (and reported) as the
	// name when field is empty.
	fallback []protoreflect.Name
	// source, when set, is the path to the envoy.config.core.v3.ConfigSource
	// the referenced resource is fetched from. The reference only counts when
	// that source is Arcturus itself, since a resource fetched from a file or
	// another management server is nothing Arcturus can serve or check.
	source []protoreflect.Name
	// unsetSource says whether an absent source still means Arcturus.
	unsetSource bool
	// when, if set, must hold for the rule to apply.
	when func(protoreflect.Message) bool
}

// refRules maps the full name of a message to the fields of it that name
// other resources. References applies them wherever such a message occurs,
// however deep and inside however many google.protobuf.Any (typed_config,
// typed_extension_protocol_options, transport sockets, ...), so a rule is
// written once per message type rather than once per place it is used.
var refRules = map[protoreflect.FullName][]refRule{
	// An HTTP connection manager (in a filter chain or an api_listener)
	// taking its routes from RDS.
	"envoy.extensions.filters.network.http_connection_manager.v3.Rds": {{
		field: names("route_config_name"), typeURL: resource.RouteType,
		source: names("config_source"),
	}},

	// Routes: in a RouteConfiguration, and in the route_config an HTTP
	// connection manager carries inline.
	"envoy.config.route.v3.RouteAction": {{
		field: names("cluster"), typeURL: resource.ClusterType,
	}},
	"envoy.config.route.v3.WeightedCluster.ClusterWeight": {{
		field: names("name"), typeURL: resource.ClusterType,
	}},
	// Mirrored traffic needs its cluster as much as the primary does.
	"envoy.config.route.v3.RouteAction.RequestMirrorPolicy": {{
		field: names("cluster"), typeURL: resource.ClusterType,
	}},

	// TCP proxying, plain or weighted.
	"envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy": {{
		field: names("cluster"), typeURL: resource.ClusterType,
	}},
	"envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster.ClusterWeight": {{
		field: names("name"), typeURL: resource.ClusterType,
	}},

	// Side calls that filters and loggers make through Envoy's own cluster
	// manager: ext_authz, ext_proc, rate limiting, gRPC access logs, JWKS
	// fetching, OAuth2 token endpoints, ... They all go through one of these
	// two messages. (Not when they sit in an ApiConfigSource: see
	// noRefsBelow.)
	"envoy.config.core.v3.GrpcService.EnvoyGrpc": {{
		field: names("cluster_name"), typeURL: resource.ClusterType,
	}},
	"envoy.config.core.v3.HttpUri": {{
		field: names("cluster"), typeURL: resource.ClusterType,
	}},

	// Tracers that send spans to a cluster by name; Envoy accepts a cluster
	// added over CDS for them.
	"envoy.config.trace.v3.ZipkinConfig": {{
		field: names("collector_cluster"), typeURL: resource.ClusterType,
	}},
	"envoy.config.trace.v3.DatadogConfig": {{
		field: names("collector_cluster"), typeURL: resource.ClusterType,
	}},

	// An EDS cluster needs its ClusterLoadAssignment, named by service_name
	// or, when that is empty, by the cluster's own name. Envoy fetches it
	// over ADS when eds_config says ads (or self, the server that sent the
	// cluster); an absent eds_config is taken the same way.
	"envoy.config.cluster.v3.Cluster": {{
		field:       names("eds_cluster_config", "service_name"),
		typeURL:     resource.EndpointType,
		fallback:    names("name"),
		source:      names("eds_cluster_config", "eds_config"),
		unsetSource: true,
		when:        enumIs("type", "EDS"),
	}},
	// An aggregate cluster (cluster_type envoy.clusters.aggregate) fails
	// over across other clusters.
	"envoy.extensions.clusters.aggregate.v3.ClusterConfig": {{
		field: names("clusters"), typeURL: resource.ClusterType,
	}},

	// A TLS certificate or validation context fetched over SDS. Without an
	// sds_config Envoy looks the name up among the static secrets of its
	// bootstrap, which is not something Arcturus serves, so only ads and
	// self count.
	"envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig": {{
		field: names("name"), typeURL: resource.SecretType,
		source: names("sds_config"),
	}},
}

// noRefsBelow lists messages whose subtree holds no references Arcturus
// could satisfy. Envoy requires the clusters an ApiConfigSource names (its
// cluster_names and envoy_grpc cluster_name) to be defined statically in the
// bootstrap, and rejects them when they come over CDS, so reporting them as
// references would only ever produce false "missing" results.
var noRefsBelow = map[protoreflect.FullName]bool{
	"envoy.config.core.v3.ApiConfigSource": true,
}

// servedSources are the ConfigSource oneof members that mean "fetch it from
// the management server", i.e. from Arcturus over ADS.
var servedSources = []protoreflect.Name{"ads", "self"}

func names(n ...protoreflect.Name) []protoreflect.Name { return n }

// enumIs returns a condition that holds when the enum field name of a
// message is set to the value called value.
func enumIs(name, value protoreflect.Name) func(protoreflect.Message) bool {
	return func(m protoreflect.Message) bool {
		fd := m.Descriptor().Fields().ByName(name)
		if fd == nil || fd.Enum() == nil || fd.IsList() || !m.Has(fd) {
			return false
		}
		ev := fd.Enum().Values().ByName(value)
		return ev != nil && m.Get(fd).Enum() == ev.Number()
	}
}

// References returns the references of a resource of kind msg (as returned by
// Translate) to other resources: the routes, clusters, endpoints and secrets
// Envoy must also be given for it to work. They are sorted by TypeURL, then
// Name, and de-duplicated on those two, keeping the first Path in field
// order. A reference of the resource to itself is left out. References never
// panics; for a nil or unknown message it returns nil.
func References(kind Kind, msg proto.Message) (refs []Ref) {
	defer func() {
		// Last resort, as in Translate: a panic here would crash-loop the
		// controller. The walk is written not to panic; fuzzing checks it
		// through the unguarded references.
		if r := recover(); r != nil {
			refs = nil
		}
	}()
	return references(kind, msg)
}

// references is References without the recover.
func references(kind Kind, msg proto.Message) []Ref {
	if msg == nil {
		return nil
	}
	m := msg.ProtoReflect()
	if m == nil || !m.IsValid() {
		return nil
	}
	w := refWalker{}
	w.message(m, 0)
	if len(w.refs) == 0 {
		return nil
	}

	var self string
	if kind.NameOf != nil {
		self = kind.NameOf(msg)
	}
	refs := slices.DeleteFunc(w.refs, func(r Ref) bool {
		return r.TypeURL == kind.TypeURL && r.Name == self
	})
	// Stable, so that among equal references the first in field order comes
	// first and is the one Compact keeps.
	slices.SortStableFunc(refs, compareRefs)
	refs = slices.CompactFunc(refs, func(a, b Ref) bool { return compareRefs(a, b) == 0 })
	if len(refs) == 0 {
		return nil
	}
	return slices.Clip(refs)
}

func compareRefs(a, b Ref) int {
	return cmp.Or(cmp.Compare(a.TypeURL, b.TypeURL), cmp.Compare(a.Name, b.Name))
}

// refWalker collects references while walking a message tree.
type refWalker struct {
	refs []Ref
	// path is the current field path as segments: "name", "[0]", "[key]".
	path []string
}

func (w *refWalker) push(seg string) { w.path = append(w.path, seg) }
func (w *refWalker) pop()            { w.path = w.path[:len(w.path)-1] }

// pathString renders the current path, extended by extra, the way
// field.Path does.
func (w *refWalker) pathString(extra []protoreflect.Name) string {
	var b strings.Builder
	add := func(seg string) {
		if b.Len() > 0 && !strings.HasPrefix(seg, "[") {
			b.WriteByte('.')
		}
		b.WriteString(seg)
	}
	for _, seg := range w.path {
		add(seg)
	}
	for _, seg := range extra {
		add(string(seg))
	}
	return b.String()
}

// message applies the rules for m's type, then visits every populated
// message-typed field of m in declaration order (map entries in key order),
// so the first Path of a duplicate is deterministic.
func (w *refWalker) message(m protoreflect.Message, depth int) {
	if depth > maxAnyNesting || !m.IsValid() {
		return
	}
	md := m.Descriptor()
	if noRefsBelow[md.FullName()] {
		return
	}
	for _, r := range refRules[md.FullName()] {
		w.apply(r, m)
	}

	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if !m.Has(fd) {
			continue
		}
		w.push(string(fd.Name()))
		switch {
		case fd.IsList():
			if fd.Message() != nil {
				list := m.Get(fd).List()
				for j := 0; j < list.Len(); j++ {
					w.push("[" + strconv.Itoa(j) + "]")
					w.value(list.Get(j).Message(), depth+1)
					w.pop()
				}
			}
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				mp := m.Get(fd).Map()
				keys := make([]protoreflect.MapKey, 0, mp.Len())
				mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
					keys = append(keys, k)
					return true
				})
				slices.SortFunc(keys, func(a, b protoreflect.MapKey) int { return cmp.Compare(a.String(), b.String()) })
				for _, k := range keys {
					w.push("[" + clip(k.String()) + "]")
					w.value(mp.Get(k).Message(), depth+1)
					w.pop()
				}
			}
		case fd.Message() != nil:
			w.value(m.Get(fd).Message(), depth+1)
		}
		w.pop()
	}
}

// value visits one message, unpacking it first if it is an Any. An Any whose
// type does not resolve is skipped: Translate has rejected it already, and
// there is nothing in it to read.
func (w *refWalker) value(m protoreflect.Message, depth int) {
	if !m.IsValid() {
		return
	}
	if m.Descriptor().FullName() != anyName {
		w.message(m, depth)
		return
	}
	a, ok := m.Interface().(*anypb.Any)
	if !ok {
		a = &anypb.Any{}
		fields := m.Descriptor().Fields()
		if fd := fields.ByName("type_url"); fd != nil {
			a.TypeUrl = m.Get(fd).String()
		}
		if fd := fields.ByName("value"); fd != nil {
			a.Value = m.Get(fd).Bytes()
		}
	}
	if a == nil || a.GetTypeUrl() == "" {
		return
	}
	inner, err := anypb.UnmarshalNew(a, proto.UnmarshalOptions{})
	if err != nil || inner == nil {
		return
	}
	im := inner.ProtoReflect()
	if typedStructNames[im.Descriptor().FullName()] {
		return // an untyped Struct: no schema, so nothing known to look for
	}
	if hasCustomJSON(im.Descriptor()) {
		// Where protojson, and so Translate's error paths, put it.
		w.push("value")
		defer w.pop()
	}
	w.message(im, depth+1)
}

// apply records what rule r finds in m.
func (w *refWalker) apply(r refRule, m protoreflect.Message) {
	if r.when != nil && !r.when(m) {
		return
	}
	if r.source != nil && !served(m, r.source, r.unsetSource) {
		return
	}
	fd, v, ok := lookup(m, r.field)
	switch {
	case ok && fd.IsList():
		list := v.List()
		for j := 0; j < list.Len(); j++ {
			if name := list.Get(j).String(); name != "" {
				w.add(r.typeURL, name, r.field, "["+strconv.Itoa(j)+"]")
			}
		}
		return
	case ok:
		if name := v.String(); name != "" {
			w.add(r.typeURL, name, r.field, "")
			return
		}
	}
	if r.fallback != nil {
		if fd, v, ok := lookup(m, r.fallback); ok && !fd.IsList() && v.String() != "" {
			w.add(r.typeURL, v.String(), r.fallback, "")
		}
	}
}

func (w *refWalker) add(typeURL, name string, field []protoreflect.Name, index string) {
	w.refs = append(w.refs, Ref{TypeURL: typeURL, Name: name, Path: w.pathString(field) + index})
}

// lookup follows path from m through singular message fields to a string
// field, which it returns with its value; ok is false when any step is
// missing or unset, or the last field is not a string (or repeated string).
func lookup(m protoreflect.Message, path []protoreflect.Name) (fd protoreflect.FieldDescriptor, v protoreflect.Value, ok bool) {
	for i, name := range path {
		fd = m.Descriptor().Fields().ByName(name)
		if fd == nil || fd.IsMap() || !m.Has(fd) {
			return nil, protoreflect.Value{}, false
		}
		if i == len(path)-1 {
			if fd.Kind() != protoreflect.StringKind {
				return nil, protoreflect.Value{}, false
			}
			return fd, m.Get(fd), true
		}
		if fd.IsList() || fd.Message() == nil {
			return nil, protoreflect.Value{}, false
		}
		m = m.Get(fd).Message()
	}
	return nil, protoreflect.Value{}, false
}

// served reports whether the ConfigSource at path below m points at the
// management server (ads or self). An absent ConfigSource, or one that
// names no source at all, counts as served only when unset says so.
func served(m protoreflect.Message, path []protoreflect.Name, unset bool) bool {
	for i, name := range path {
		fd := m.Descriptor().Fields().ByName(name)
		if fd == nil || fd.IsList() || fd.IsMap() || fd.Message() == nil {
			return false // the rule does not fit this message
		}
		if !m.Has(fd) {
			return unset
		}
		m = m.Get(fd).Message()
		if i < len(path)-1 {
			continue
		}
		od := m.Descriptor().Oneofs().ByName("config_source_specifier")
		if od == nil {
			return false
		}
		set := m.WhichOneof(od)
		if set == nil {
			return unset
		}
		return slices.Contains(servedSources, set.Name())
	}
	return unset
}
