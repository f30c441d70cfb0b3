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

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validationError is what every protoc-gen-validate error type implements.
type validationError interface {
	error
	Field() string
	Reason() string
	Cause() error
	ErrorName() string
}

// multiError is what protoc-gen-validate's ValidateAll returns.
type multiError interface {
	error
	AllErrors() []error
}

// keyError is implemented by validation errors that can be about a map key.
type keyError interface {
	Key() bool
}

type validatorAll interface {
	ValidateAll() error
}

// typedStructNames are the untyped extension wrappers. Their payload is a
// Struct whose schema only the named extension knows, so there is nothing
// to validate against.
var typedStructNames = map[protoreflect.FullName]bool{
	"xds.type.v3.TypedStruct":  true,
	"udpa.type.v1.TypedStruct": true,
}

// maxAnyNesting bounds the Any walk. Real configs nest Anys a few levels
// deep; the bound only matters for inputs crafted to be pathological.
const maxAnyNesting = 2*MaxDepth + 8

// validate runs the generated validators on m and on every message packed in
// an Any below it, returning the errors with proto-name paths under fldPath.
func validate(m proto.Message, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if v, ok := m.(validatorAll); ok {
		errs = append(errs, validationErrors(v.ValidateAll(), m.ProtoReflect().Descriptor(), fldPath)...)
	}
	w := anyWalker{}
	w.message(m.ProtoReflect(), fldPath, 0)
	return append(errs, w.errs...)
}

// anyWalker finds the Any fields that the generated ValidateAll skips.
type anyWalker struct {
	errs field.ErrorList
}

// message visits every populated message-typed field of m in declaration
// order (and map entries in key order) so errors come out deterministically.
func (w *anyWalker) message(m protoreflect.Message, path *field.Path, depth int) {
	if depth > maxAnyNesting {
		return
	}
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if !m.Has(fd) {
			continue
		}
		p := path.Child(string(fd.Name()))
		switch {
		case fd.IsList():
			if fd.Message() == nil {
				continue
			}
			list := m.Get(fd).List()
			for j := 0; j < list.Len(); j++ {
				w.value(list.Get(j).Message(), p.Index(j), depth+1)
			}
		case fd.IsMap():
			if fd.MapValue().Message() == nil {
				continue
			}
			mp := m.Get(fd).Map()
			keys := make([]protoreflect.MapKey, 0, mp.Len())
			mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
				keys = append(keys, k)
				return true
			})
			slices.SortFunc(keys, func(a, b protoreflect.MapKey) int { return cmp.Compare(a.String(), b.String()) })
			for _, k := range keys {
				w.value(mp.Get(k).Message(), p.Key(clip(k.String())), depth+1)
			}
		case fd.Message() != nil:
			w.value(m.Get(fd).Message(), p, depth+1)
		}
	}
}

// value visits one message, unpacking it first if it is an Any.
func (w *anyWalker) value(m protoreflect.Message, path *field.Path, depth int) {
	if m.Descriptor().FullName() != anyName {
		w.message(m, path, depth)
		return
	}
	a, ok := m.Interface().(*anypb.Any)
	if !ok {
		// A dynamic Any; copy it into the concrete type.
		a = &anypb.Any{}
		fields := m.Descriptor().Fields()
		a.TypeUrl = m.Get(fields.ByName("type_url")).String()
		a.Value = m.Get(fields.ByName("value")).Bytes()
	}
	if a.GetTypeUrl() == "" && len(a.GetValue()) == 0 {
		return // {} decodes to an empty Any; the enclosing validator decides if that is allowed
	}
	inner, err := anypb.UnmarshalNew(a, proto.UnmarshalOptions{})
	if err != nil {
		w.errs = append(w.errs, field.Invalid(path.Child("@type"), a.GetTypeUrl(), "cannot unpack Any: "+err.Error()))
		return
	}
	md := inner.ProtoReflect().Descriptor()
	if typedStructNames[md.FullName()] {
		return
	}
	if hasCustomJSON(md) {
		path = path.Child("value") // where protojson puts a well-known type's JSON
	}
	if v, ok := inner.(validatorAll); ok {
		w.errs = append(w.errs, validationErrors(v.ValidateAll(), md, path)...)
	}
	w.message(inner.ProtoReflect(), path, depth+1)
}

// validationErrors flattens a ValidateAll error into field errors. md is the
// message the error is about; it turns the Go field names in the error into
// proto field names. Causes that are themselves validation errors are the
// errors of embedded messages, so they continue the path.
func validationErrors(err error, md protoreflect.MessageDescriptor, path *field.Path) field.ErrorList {
	if err == nil {
		return nil
	}
	// Plain type assertions, not errors.As: should a validation error ever
	// grow an Unwrap method, errors.As would skip its path segment.
	if multi, ok := err.(multiError); ok {
		var errs field.ErrorList
		for _, e := range multi.AllErrors() {
			errs = append(errs, validationErrors(e, md, path)...)
		}
		return errs
	}
	ve, ok := err.(validationError)
	if !ok {
		return field.ErrorList{field.Invalid(path, omit, err.Error())}
	}

	p, next := validationPath(ve.Field(), md, path)
	if cause := ve.Cause(); cause != nil {
		_, isMulti := cause.(multiError)
		_, isValidation := cause.(validationError)
		if isMulti || isValidation {
			return validationErrors(cause, next, p)
		}
	}

	detail := ve.Reason()
	if cause := ve.Cause(); cause != nil {
		detail += ": " + cause.Error()
	}
	if k, ok := ve.(keyError); ok && k.Key() {
		return field.ErrorList{field.Invalid(p, omit, "invalid map key: "+detail)}
	}
	if detail == "value is required" {
		return field.ErrorList{field.Required(p, detail)}
	}
	return field.ErrorList{field.Invalid(p, omit, detail)}
}

// validationPath appends the Go-named segment goField (e.g. "LbEndpoints[1]"
// or "TypedPerFilterConfig[envoy.filters.http.router]") of md to path, and
// returns the descriptor of the message the segment leads to (nil when it
// leads to no message or could not be matched).
func validationPath(goField string, md protoreflect.MessageDescriptor, path *field.Path) (*field.Path, protoreflect.MessageDescriptor) {
	if goField == "" {
		return path, md
	}
	name, sub, hasSub := goField, "", false
	if i := strings.IndexByte(goField, '['); i > 0 && strings.HasSuffix(goField, "]") {
		name, sub, hasSub = goField[:i], goField[i+1:len(goField)-1], true
	}

	protoName, fd, ok := fieldByGoName(md, name)
	if !ok {
		protoName = snakeCase(name)
	}
	p := path.Child(protoName)
	if hasSub {
		idx, err := strconv.Atoi(sub)
		switch {
		case fd != nil && fd.IsMap():
			p = p.Key(clip(sub))
		case err == nil:
			p = p.Index(idx)
		default:
			p = p.Key(clip(sub))
		}
	}

	var next protoreflect.MessageDescriptor
	switch {
	case fd == nil:
	case fd.IsMap():
		next = fd.MapValue().Message()
	default:
		next = fd.Message()
	}
	return p, next
}
