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

	"github.com/arcturus-dev/arcturus/xds/kinds"
)

// Reference is a reference of a resource to another, and where it is.
type Reference struct {
	kinds.Ref
	// Path is where the reference is, as a field path relative to the
	// resource (proto field names, like Translate's errors without their
	// root), e.g. "filter_chains[0].filters[0].typed_config.rds.route_config_name".
	Path string
}

// refRule is a kinds.RefRule ready to apply.
type refRule struct {
	typeURL         string
	field, fallback []protoreflect.Name
	source          []protoreflect.Name
	unsetSource     bool
	when            func(protoreflect.Message) bool
}

// secretRefRules are the references to SDS secrets, which are not a kind: a TLS
// certificate or validation context fetched over SDS. Without an sds_config Envoy
// looks the name up among the static secrets of its bootstrap, which is not
// something Arcturus serves, so only ads and self count.
var secretRefRules = []kinds.RefRule{
	{In: "envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig", Field: "name", Source: "sds_config"},
}

// refRules maps the full name of a message to the fields of it that name
// other resources: every kind's ReferencedBy, and the secrets. References
// applies them wherever such a message occurs.
var refRules = func() map[protoreflect.FullName][]refRule {
	rules := map[protoreflect.FullName][]refRule{}
	add := func(typeURL string, rs []kinds.RefRule) {
		for _, r := range rs {
			rules[r.In] = append(rules[r.In], refRule{
				typeURL: typeURL, field: names(r.Field), fallback: names(r.Fallback),
				source: names(r.Source), unsetSource: r.UnsetSource, when: r.When,
			})
		}
	}
	for _, k := range kinds.All {
		add(k.TypeURL, k.ReferencedBy)
	}
	add(resource.SecretType, secretRefRules)
	return rules
}()

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

// names splits a dotted field path; "" is no path.
func names(path string) []protoreflect.Name {
	if path == "" {
		return nil
	}
	parts := strings.Split(path, ".")
	out := make([]protoreflect.Name, len(parts))
	for i, p := range parts {
		out[i] = protoreflect.Name(p)
	}
	return out
}

// References returns the references of a resource of kind msg (as returned by
// Translate) to other resources: the routes, clusters, endpoints and secrets
// Envoy must also be given for it to work. They are sorted by TypeURL, then
// Name, and de-duplicated on those two, keeping the first Path in field
// order. A reference of the resource to itself is left out. References never
// panics; for a nil or unknown message it returns nil.
func References(kind kinds.Kind, msg proto.Message) (refs []Reference) {
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
func references(kind kinds.Kind, msg proto.Message) []Reference {
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

	self := kind.NameOf(msg)
	refs := slices.DeleteFunc(w.refs, func(r Reference) bool {
		return r.TypeURL == kind.TypeURL && r.Name == self
	})
	// Stable, so that among equal references the first in field order comes
	// first and is the one Compact keeps.
	slices.SortStableFunc(refs, compareRefs)
	refs = slices.CompactFunc(refs, func(a, b Reference) bool { return compareRefs(a, b) == 0 })
	if len(refs) == 0 {
		return nil
	}
	return slices.Clip(refs)
}

func compareRefs(a, b Reference) int { return kinds.CompareRefs(a.Ref, b.Ref) }

// refWalker collects references while walking a message tree.
type refWalker struct {
	refs []Reference
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
	w.refs = append(w.refs, Reference{Ref: kinds.Ref{TypeURL: typeURL, Name: name}, Path: w.pathString(field) + index})
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
