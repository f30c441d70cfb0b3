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
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// omit leaves the bad value out of a field.Error, for values that are whole
// objects or that the detail already names.
var omit = field.OmitValueType{}

// protojsonPosition matches the "(line L:C): " that protojson puts before the
// message of every error it can place. The "proto: " prefix before it is not
// matched because protojson randomly spells its space as U+00A0.
var protojsonPosition = regexp.MustCompile(`\(line (\d+):(\d+)\): `)

// mapKeyError matches protojson's message for a map key of the wrong type.
var mapKeyError = regexp.MustCompile(`^invalid value for \w+ key: `)

// maxValueLen caps how much of a user's string (a value, a key, a type URL)
// an error repeats, so hostile input cannot make errors huge.
const maxValueLen = 128

// clip shortens s to about maxValueLen bytes.
func clip(s string) string {
	if len(s) <= maxValueLen {
		return s
	}
	return strings.ToValidUTF8(s[:maxValueLen], "") + "..."
}

// syntaxError reports data that is not JSON at all. encoding/json's messages
// are the familiar ones, so they are kept; only the position is made human.
func syntaxError(data []byte, fldPath *field.Path) *field.Error {
	var v json.RawMessage
	err := json.Unmarshal(data, &v)
	if err == nil {
		return field.Invalid(fldPath, omit, "invalid JSON")
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := lineColumn(data, int(se.Offset)-1)
		if se.Offset == 0 {
			line, col = 1, 1
		}
		return field.Invalid(fldPath, omit, fmt.Sprintf("invalid JSON at line %d, column %d: %s", line, col, se.Error()))
	}
	return field.Invalid(fldPath, omit, "invalid JSON: "+err.Error())
}

// unmarshalError turns a protojson error into a field error at the path of
// the JSON value protojson was decoding. md is the top-level message type.
func unmarshalError(data []byte, err error, md protoreflect.MessageDescriptor, fldPath *field.Path) *field.Error {
	text := err.Error()
	loc := protojsonPosition.FindStringSubmatchIndex(text)
	if loc == nil {
		// Only a few errors carry no position: the recursion limit and some
		// range checks. There is nothing better to point at than the root.
		msg := stripProtoPrefix(text)
		if strings.Contains(msg, "exceeded max recursion depth") {
			msg = fmt.Sprintf("config is nested too deeply (more than %d levels of messages)", MaxDepth)
		}
		return field.Invalid(fldPath, omit, msg)
	}
	line, _ := strconv.Atoi(text[loc[2]:loc[3]])
	col, _ := strconv.Atoi(text[loc[4]:loc[5]])
	msg := text[loc[1]:]

	root := parseJSONTree(data)
	if root == nil {
		return field.Invalid(fldPath, omit, fmt.Sprintf("line %d, column %d: %s", line, col, msg))
	}
	s := locate(root, md, offsetAt(data, line, col), fldPath)
	return describe(s, msg)
}

// stripProtoPrefix removes protojson's "proto: " (or "proto:\u00a0") prefix.
func stripProtoPrefix(s string) string {
	if rest, ok := strings.CutPrefix(s, "proto:"); ok {
		return strings.TrimLeft(rest, " \u00a0")
	}
	return s
}

// describe writes the error for protojson message msg at site s. Each case
// matches one of the messages protojson's decoder produces; anything else is
// passed through at the right path.
func describe(s site, msg string) *field.Error {
	switch {
	case strings.HasPrefix(msg, "unknown field "):
		return unknownField(s)

	case strings.HasPrefix(msg, "duplicate field "):
		return field.Invalid(s.path, omit, "field is set more than once (its snake_case and camelCase names are the same field)")

	case strings.HasPrefix(msg, "error parsing ") && strings.Contains(msg, ", oneof "):
		return oneofConflict(s)

	case mapKeyError.MatchString(msg):
		detail := "invalid map key"
		if fd := s.exp.fd; fd != nil && fd.IsMap() {
			detail = "map key must be " + describeScalar(fd.MapKey())
		}
		return field.Invalid(s.path, s.key, detail)

	case strings.HasPrefix(msg, "invalid value for "):
		return badScalar(s)

	case strings.HasPrefix(msg, "duplicate map key "):
		return field.Duplicate(s.path, s.key)

	case strings.HasPrefix(msg, "unable to resolve "):
		url := s.node.text()
		detail := fmt.Sprintf("unknown type URL: no message type %q is known", clip(typeName(url)))
		if hint := suggestType(typeName(url)); hint != "" {
			detail += fmt.Sprintf(" (did you mean %q?)", clip(typePrefix(url)+hint))
		}
		return field.Invalid(s.path, clip(url), detail)

	case strings.HasPrefix(msg, "invalid google.protobuf.Duration value"):
		return field.Invalid(s.path, nodeValue(s.node), `invalid duration: expected a number of seconds with an "s" suffix, such as "5s" or "0.25s"`)

	case strings.HasPrefix(msg, "google.protobuf.Duration value out of range"):
		return field.Invalid(s.path, nodeValue(s.node), "duration out of range: must be within ±315576000000s")

	case strings.HasPrefix(msg, "invalid google.protobuf.Timestamp value"),
		strings.HasPrefix(msg, "google.protobuf.Timestamp value out of range"):
		return field.Invalid(s.path, nodeValue(s.node), `invalid timestamp: expected RFC 3339 between years 0001 and 9999, such as "2026-01-02T15:04:05Z"`)

	case msg == `missing "@type" field` || strings.HasSuffix(msg, `missing "@type" field`):
		return field.Required(s.path.Child("@type"), `an Any must name its message type, e.g. "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"`)

	case msg == `missing "value" field`:
		return field.Required(s.path.Child("value"), "an Any holding a well-known type carries its JSON under \"value\"")

	case msg == `duplicate "@type" field`:
		return field.Invalid(s.path, omit, `"@type" is set more than once`)

	case strings.HasPrefix(msg, "@type field value is not a string"):
		return field.Invalid(s.path, nodeValue(s.node), "expected a type URL string")

	case msg == "@type field contains empty value":
		return field.Required(s.path, "the type URL must not be empty")

	case strings.HasPrefix(msg, "unexpected token "):
		return unexpectedValue(s)
	}
	return field.Invalid(s.path, omit, msg)
}

func unknownField(s site) *field.Error {
	detail := fmt.Sprintf("unknown field %q", s.key)
	if s.owner != nil {
		detail += " in " + string(s.owner.FullName())
		if hint := suggestField(s.owner, s.key); hint != "" {
			detail += fmt.Sprintf(" (did you mean %q?)", hint)
		}
	}
	return field.Invalid(s.path, omit, detail)
}

func oneofConflict(s site) *field.Error {
	fd := s.keyFor
	if fd == nil {
		fd = s.exp.fd
	}
	if fd == nil || fd.ContainingOneof() == nil {
		return field.Invalid(s.path, omit, "only one field of its oneof may be set")
	}
	od := fd.ContainingOneof()
	var names []string
	for i := 0; i < od.Fields().Len(); i++ {
		names = append(names, string(od.Fields().Get(i).Name()))
	}
	return field.Invalid(s.path, omit, fmt.Sprintf("only one of %s may be set (oneof %s)", strings.Join(names, ", "), od.Name()))
}

// badScalar handles a JSON value of the wrong type or range for a scalar or
// enum field.
func badScalar(s site) *field.Error {
	fd := s.exp.scalar()
	if fd == nil {
		if md := s.exp.message(); md != nil && wrapperNames[md.FullName()] {
			fd = md.Fields().ByName("value")
		}
	}
	if fd == nil {
		return unexpectedValue(s)
	}
	if ed := fd.Enum(); ed != nil {
		detail := "unknown " + string(ed.FullName()) + " value"
		if s.node.kind != jsonString {
			detail = "expected the name of a value of enum " + string(ed.FullName())
		}
		return field.Invalid(s.path, nodeValue(s.node), detail+"; valid values: "+enumValues(ed))
	}
	return field.Invalid(s.path, nodeValue(s.node), "expected "+describeScalar(fd)+", got "+describeNode(s.node))
}

// unexpectedValue handles a JSON value whose type cannot hold what the field
// expects, e.g. a number for a message or an object for a string.
func unexpectedValue(s site) *field.Error {
	if s.exp.scalar() != nil && s.exp.message() == nil {
		return badScalar(s)
	}
	return field.Invalid(s.path, nodeValue(s.node), "expected "+describeExpect(s.exp)+", got "+describeNode(s.node))
}

// nodeValue is the bad value as field.Error should print it: strings as
// quoted strings, other scalars verbatim, objects and arrays omitted.
func nodeValue(n *jsonNode) any {
	if n == nil {
		return omit
	}
	switch n.kind {
	case jsonString:
		return clip(n.text())
	case jsonNumber, jsonBool, jsonNull:
		if len(n.raw) > maxValueLen {
			return omit
		}
		return json.RawMessage(n.raw)
	}
	return omit
}

func describeNode(n *jsonNode) string {
	if n == nil {
		return "nothing"
	}
	switch n.kind {
	case jsonObject:
		return "an object"
	case jsonArray:
		return "an array"
	case jsonString:
		return "a string"
	case jsonNumber:
		return "a number"
	case jsonBool:
		return "a boolean"
	default:
		return "null"
	}
}

func describeExpect(e expect) string {
	switch {
	case e.typeURL:
		return "a type URL string"
	case e.fd != nil && !e.elem && e.fd.IsList():
		return "an array"
	case e.fd != nil && !e.elem && e.fd.IsMap():
		return "an object (a map)"
	}
	if md := e.message(); md != nil {
		return describeMessage(md)
	}
	if fd := e.scalar(); fd != nil {
		return describeScalar(fd)
	}
	return "a JSON value"
}

func describeMessage(md protoreflect.MessageDescriptor) string {
	switch md.FullName() {
	case durationName:
		return `a duration string such as "5s" or "0.25s"`
	case timestampName:
		return `an RFC 3339 timestamp string such as "2026-01-02T15:04:05Z"`
	case fieldMaskName:
		return "a comma-separated field mask string"
	case structName:
		return "an object"
	case listValueName:
		return "an array"
	case valueName:
		return "any JSON value"
	case anyName:
		return `an object with an "@type" field`
	case emptyName:
		return "an empty object"
	}
	if wrapperNames[md.FullName()] {
		return describeScalar(md.Fields().ByName("value"))
	}
	return "an object (" + string(md.FullName()) + ")"
}

func describeScalar(fd protoreflect.FieldDescriptor) string {
	if fd == nil {
		return "a JSON value"
	}
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return "true or false"
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return fmt.Sprintf("an integer in the int32 range (%d to %d)", math.MinInt32, math.MaxInt32)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return fmt.Sprintf("an integer in the uint32 range (0 to %d)", uint32(math.MaxUint32))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return "an integer in the int64 range (a number or a decimal string)"
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return "an integer in the uint64 range (a number or a decimal string)"
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return `a number (or "NaN", "Infinity", "-Infinity")`
	case protoreflect.StringKind:
		return "a string"
	case protoreflect.BytesKind:
		return "a base64-encoded string"
	case protoreflect.EnumKind:
		return "the name of a value of enum " + string(fd.Enum().FullName())
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return describeMessage(fd.Message())
	}
	return "a JSON value"
}

// maxEnumValues caps how many valid values an enum error lists.
const maxEnumValues = 12

// enumValues lists the names an enum accepts, leaving out deprecated ones
// since suggesting them would only lead to another warning.
func enumValues(ed protoreflect.EnumDescriptor) string {
	var names []string
	values := ed.Values()
	for i := 0; i < values.Len(); i++ {
		v := values.Get(i)
		if opts, ok := v.Options().(*descriptorpb.EnumValueOptions); ok && opts.GetDeprecated() {
			continue
		}
		names = append(names, strconv.Quote(string(v.Name())))
	}
	if len(names) > maxEnumValues {
		names = append(names[:maxEnumValues], "...")
	}
	return strings.Join(names, ", ")
}

// typePrefix is the part of a type URL before the message name, with its
// slash, e.g. "type.googleapis.com/"; it is empty when the URL has no slash.
func typePrefix(url string) string {
	if i := strings.LastIndexByte(url, '/'); i >= 0 {
		return url[:i+1]
	}
	return ""
}

// typeName is the message name part of a type URL.
func typeName(url string) string {
	if i := strings.LastIndexByte(url, '/'); i >= 0 {
		return url[i+1:]
	}
	return url
}
