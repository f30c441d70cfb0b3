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
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Full names of the well-known types whose JSON form is not a plain object of
// fields. protojson gives them special syntax, so the path walk must too.
const (
	anyName       protoreflect.FullName = "google.protobuf.Any"
	durationName  protoreflect.FullName = "google.protobuf.Duration"
	timestampName protoreflect.FullName = "google.protobuf.Timestamp"
	fieldMaskName protoreflect.FullName = "google.protobuf.FieldMask"
	structName    protoreflect.FullName = "google.protobuf.Struct"
	valueName     protoreflect.FullName = "google.protobuf.Value"
	listValueName protoreflect.FullName = "google.protobuf.ListValue"
	emptyName     protoreflect.FullName = "google.protobuf.Empty"
)

var wrapperNames = map[protoreflect.FullName]bool{
	"google.protobuf.DoubleValue": true,
	"google.protobuf.FloatValue":  true,
	"google.protobuf.Int64Value":  true,
	"google.protobuf.UInt64Value": true,
	"google.protobuf.Int32Value":  true,
	"google.protobuf.UInt32Value": true,
	"google.protobuf.BoolValue":   true,
	"google.protobuf.StringValue": true,
	"google.protobuf.BytesValue":  true,
}

// hasCustomJSON reports whether protojson encodes md as something other than
// an object of its fields; inside an Any such a message sits under "value".
func hasCustomJSON(md protoreflect.MessageDescriptor) bool {
	switch md.FullName() {
	case anyName, durationName, timestampName, fieldMaskName, structName, valueName, listValueName:
		return true
	}
	return wrapperNames[md.FullName()]
}

// expect says what a JSON value at some position is supposed to hold.
type expect struct {
	// fd is the field whose value this is; nil for the root document, an
	// Any payload, or free-form/unknown JSON.
	fd protoreflect.FieldDescriptor
	// elem is set when the value is one element of a repeated fd or one
	// value of a map fd, rather than the whole list or map.
	elem bool
	// md is the message expected when fd is nil; nil means anything goes.
	md protoreflect.MessageDescriptor
	// typeURL marks the value of an Any's "@type".
	typeURL bool
}

// message returns the message type expected here, or nil for lists, maps,
// scalars and free-form JSON.
func (e expect) message() protoreflect.MessageDescriptor {
	if e.fd == nil {
		return e.md
	}
	if !e.elem && (e.fd.IsList() || e.fd.IsMap()) {
		return nil
	}
	if e.fd.IsMap() {
		return e.fd.MapValue().Message()
	}
	return e.fd.Message()
}

// scalar returns the field descriptor describing a singular value here: the
// field itself, or its map value. It is nil for whole lists and maps.
func (e expect) scalar() protoreflect.FieldDescriptor {
	if e.fd == nil || (!e.elem && (e.fd.IsList() || e.fd.IsMap())) {
		return nil
	}
	if e.fd.IsMap() {
		return e.fd.MapValue()
	}
	return e.fd
}

// site is what lies at a byte offset of the document.
type site struct {
	path *field.Path
	node *jsonNode // the value at (or containing) the offset
	exp  expect    // what that value should be

	// Set when the offset is on an object key rather than a value.
	isKey  bool
	key    string
	owner  protoreflect.MessageDescriptor // message that owns the key, if any
	keyFor protoreflect.FieldDescriptor   // field the key names, nil if unknown
}

// locate finds the innermost value or key of root that starts at, or else
// contains, offset, and describes it with a field path built from proto field
// names. It mirrors how protojson matches keys (JSON name, then proto name)
// and how it treats Any, Struct and the other well-known types, so that the
// path names the same field protojson was decoding when it failed.
func locate(root *jsonNode, md protoreflect.MessageDescriptor, offset int, rootPath *field.Path) site {
	s := site{path: rootPath, node: root, exp: expect{md: md}}
	for s.node.start != offset {
		next, ok := s.step(offset)
		if !ok {
			return s
		}
		s = next
		if s.isKey {
			return s
		}
	}
	return s
}

// step descends one level from s towards offset. It returns false when no
// child of s.node contains offset.
func (s site) step(offset int) (site, bool) {
	n := s.node
	switch n.kind {
	case jsonArray:
		for i, el := range n.elems {
			if offset >= el.start && offset < el.end {
				return site{path: s.path.Index(i), node: el, exp: s.elemExpect()}, true
			}
		}
	case jsonObject:
		for _, m := range n.members {
			if offset < m.start || offset >= m.value.end {
				continue
			}
			path, exp, owner := s.memberExpect(m.name)
			if offset < m.value.start {
				return site{path: path, node: m.value, exp: exp, isKey: true, key: clip(m.name), owner: owner, keyFor: exp.fd}, true
			}
			return site{path: path, node: m.value, exp: exp}, true
		}
	}
	return s, false
}

// elemExpect is the expectation for an element of the array s.node.
func (s site) elemExpect() expect {
	if fd := s.exp.fd; fd != nil && fd.IsList() && !s.exp.elem {
		return expect{fd: fd, elem: true}
	}
	if md := s.exp.message(); md != nil {
		switch md.FullName() {
		case listValueName, valueName:
			return expect{md: md.ParentFile().Messages().ByName("Value")}
		}
	}
	return expect{}
}

// memberExpect returns the path and expectation of member name of the object
// s.node, plus the message owning the key when keys are message fields.
func (s site) memberExpect(key string) (*field.Path, expect, protoreflect.MessageDescriptor) {
	name := clip(key) // for paths; lookups use the full key
	if fd := s.exp.fd; fd != nil && fd.IsMap() && !s.exp.elem {
		return s.path.Key(name), expect{fd: fd, elem: true}, nil
	}
	md := s.exp.message()
	if md == nil {
		return s.path.Child(name), expect{}, nil
	}
	switch md.FullName() {
	case structName, valueName:
		value := md.ParentFile().Messages().ByName("Value")
		return s.path.Key(name), expect{md: value}, nil
	case anyName:
		if key == "@type" {
			return s.path.Child(name), expect{typeURL: true}, nil
		}
		inner := s.anyType()
		if inner == nil {
			return s.path.Child(name), expect{}, nil
		}
		if hasCustomJSON(inner) {
			if key == "value" {
				return s.path.Child(name), expect{md: inner}, nil
			}
			return s.path.Child(name), expect{}, inner
		}
		md = inner
	}
	if hasCustomJSON(md) {
		return s.path.Child(name), expect{}, nil
	}
	if fd := fieldByJSONKey(md, key); fd != nil {
		return s.path.Child(string(fd.Name())), expect{fd: fd}, md
	}
	return s.path.Child(name), expect{}, md
}

// anyType resolves the "@type" of the Any object s.node, or returns nil.
func (s site) anyType() protoreflect.MessageDescriptor {
	t := s.node.member("@type")
	if t == nil || t.kind != jsonString {
		return nil
	}
	return resolveTypeURL(t.text())
}

// resolveTypeURL looks a type URL up in the global registry, which is the
// resolver protojson and anypb use by default.
func resolveTypeURL(url string) protoreflect.MessageDescriptor {
	mt, err := protoregistry.GlobalTypes.FindMessageByURL(url)
	if err != nil {
		return nil
	}
	return mt.Descriptor()
}

// fieldByJSONKey finds the field a JSON key names, the way protojson does.
func fieldByJSONKey(md protoreflect.MessageDescriptor, key string) protoreflect.FieldDescriptor {
	fields := md.Fields()
	if fd := fields.ByJSONName(key); fd != nil {
		return fd
	}
	return fields.ByTextName(key)
}
