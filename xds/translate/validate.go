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

	p, seg := validationPath(ve.Field(), md, path)
	if cause := ve.Cause(); cause != nil {
		_, isMulti := cause.(multiError)
		_, isValidation := cause.(validationError)
		if isMulti || isValidation {
			return validationErrors(cause, seg.next(), p)
		}
	}

	if k, ok := ve.(keyError); ok && k.Key() {
		detail := plainReason(ve.Reason())
		if cause := ve.Cause(); cause != nil {
			detail += ": " + cause.Error()
		}
		return field.ErrorList{field.Invalid(p, omit, "invalid map key: "+detail)}
	}
	if cause := ve.Cause(); cause != nil {
		return field.ErrorList{field.Invalid(p, omit, plainReason(ve.Reason())+": "+cause.Error())}
	}
	return field.ErrorList{violation(ve.Reason(), p, path, seg)}
}

// violation words the protoc-gen-validate failure reason of the field (or
// oneof) seg at p, whose message is at parent. protoc-gen-validate's reasons
// are written for Go programmers ("value length must be at least 1 runes");
// the common ones are reworded here for people writing YAML, the rest are
// passed through with plainReason.
func violation(reason string, p, parent *field.Path, seg segment) *field.Error {
	switch reason {
	case "value is required":
		if seg.od != nil {
			// A oneof has no JSON key of its own: point at its message
			// and say which fields can satisfy it.
			return field.Required(parent, "one of "+oneofFieldNames(seg.od)+" must be set")
		}
		return field.Required(p, "")
	case "value length must be at least 1 runes", "value length must be at least 1 bytes":
		return field.Required(p, "must not be empty")
	case "value must contain at least 1 item(s)":
		return field.Required(p, "must contain at least one item")
	case "value must contain at least 1 pair(s)":
		return field.Required(p, "must contain at least one entry")
	case "value must be one of the defined enum values":
		if fd := seg.fd; fd != nil && fd.Enum() != nil {
			ed := fd.Enum()
			return field.Invalid(p, omit, "not a defined "+string(ed.FullName())+" value; valid values: "+enumValues(ed))
		}
	}
	return field.Invalid(p, omit, plainReason(reason))
}

// patternWords describes the regular expressions protoc-gen-validate uses for
// Envoy's well-known string rules, which say more as words than as regexes.
var patternWords = map[string]string{
	// HTTP_HEADER_NAME and HTTP_HEADER_VALUE with strict: false.
	"^[^\x00\n\r]*$": "must not contain NUL, carriage return or line feed characters",
	// HTTP_HEADER_NAME, strict.
	"^:?[0-9a-zA-Z!#$%&'*+-.^_|~`]+$": "must be an HTTP header name: letters, digits and !#$%&'*+-.^_|~` only, after an optional ':' for a pseudo-header",
	// HTTP_HEADER_VALUE, strict.
	"^[^\x00-\b\n-\x1f\x7f]*$": "must be an HTTP header value: no control characters other than horizontal tab",
}

// plainReason rewords a protoc-gen-validate reason that has no better
// rewording in violation.
func plainReason(reason string) string {
	if quoted, ok := strings.CutPrefix(reason, "value does not match regex pattern "); ok {
		if pattern, err := strconv.Unquote(quoted); err == nil && patternWords[pattern] != "" {
			return patternWords[pattern]
		}
	}
	switch reason {
	case "value length must be at least 1 runes", "value length must be at least 1 bytes":
		return "must not be empty"
	}
	// "value length must be at least 3 runes": runes are characters.
	if strings.HasPrefix(reason, "value length must be ") && strings.HasSuffix(reason, " runes") {
		return strings.TrimSuffix(reason, " runes") + " characters"
	}
	return reason
}

// oneofFieldNames lists the proto names of the fields of od.
func oneofFieldNames(od protoreflect.OneofDescriptor) string {
	fields := od.Fields()
	names := make([]string, 0, fields.Len())
	for i := 0; i < fields.Len(); i++ {
		names = append(names, string(fields.Get(i).Name()))
	}
	return strings.Join(names, ", ")
}

// segment is what one Go-named path segment of a validation error matched.
type segment struct {
	fd protoreflect.FieldDescriptor // the field, or nil
	od protoreflect.OneofDescriptor // the oneof, when the segment names one
}

// next returns the descriptor of the message the segment leads to, or nil
// when it leads to no message or could not be matched.
func (s segment) next() protoreflect.MessageDescriptor {
	switch {
	case s.fd == nil:
		return nil
	case s.fd.IsMap():
		return s.fd.MapValue().Message()
	default:
		return s.fd.Message()
	}
}

// validationPath appends the Go-named segment goField (e.g. "LbEndpoints[1]"
// or "TypedPerFilterConfig[envoy.filters.http.router]") of md to path, and
// returns what the segment matched in md.
func validationPath(goField string, md protoreflect.MessageDescriptor, path *field.Path) (*field.Path, segment) {
	if goField == "" {
		return path, segment{}
	}
	name, sub, hasSub := goField, "", false
	if i := strings.IndexByte(goField, '['); i > 0 && strings.HasSuffix(goField, "]") {
		name, sub, hasSub = goField[:i], goField[i+1:len(goField)-1], true
	}

	protoName, fd, ok := fieldByGoName(md, name)
	if !ok {
		protoName = snakeCase(name)
	}
	var od protoreflect.OneofDescriptor
	if ok && fd == nil && md != nil {
		od = md.Oneofs().ByName(protoreflect.Name(protoName))
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
	return p, segment{fd: fd, od: od}
}
