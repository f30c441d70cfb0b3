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
	"bytes"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/arcturus-dev/arcturus/xds/kinds"
)

// Limits that protect the controller from hostile input.
const (
	// MaxConfigBytes is the largest spec.config accepted, in bytes of JSON.
	MaxConfigBytes = 1 << 20
	// MaxDepth is the deepest JSON nesting of objects and arrays accepted.
	MaxDepth = 100
)

// maxErrors caps how many validation errors are returned; a config with
// thousands of bad endpoints should not produce a status of megabytes.
const maxErrors = 50

// unmarshalOptions is strict: an unknown field is an error, never dropped.
// The recursion limit counts messages rather than JSON levels, and one JSON
// object can be two messages (an Any and its payload, a Value and its
// Struct), hence twice MaxDepth; the depth scan has already bounded the JSON.
var unmarshalOptions = protojson.UnmarshalOptions{
	DiscardUnknown: false,
	RecursionLimit: 2*MaxDepth + 8,
}

// Translate parses one raw Envoy resource (proto3 JSON bytes as stored in a
// CR's spec.config) strictly, defaults its name to defaultName when the
// config leaves it empty, and validates it, including every message packed in
// a google.protobuf.Any.
//
// On success it returns the message and no errors; otherwise it returns nil
// and at least one error. Every error is a *field.Error whose Field is rooted
// at fldPath and names the offending field by its proto (snake_case) name,
// e.g. "spec.config.filter_chains[0].filters[0].typed_config.stat_prefix".
func Translate(kind kinds.Kind, raw []byte, defaultName string, fldPath *field.Path) (msg proto.Message, errs field.ErrorList) {
	defer func() {
		// Last resort: the parsers and validators are third-party code fed
		// user input, and a panic here would crash-loop the controller.
		if r := recover(); r != nil {
			msg = nil
			errs = field.ErrorList{field.InternalError(fldPath, fmt.Errorf("translating %s config: panic: %v", kind.Name, r))}
		}
	}()

	m := kind.New()
	if m == nil {
		return nil, field.ErrorList{field.InternalError(fldPath, fmt.Errorf("translate: incomplete Kind %q", kind.Name))}
	}
	md := m.ProtoReflect().Descriptor()

	if len(raw) > MaxConfigBytes {
		return nil, field.ErrorList{field.TooLong(fldPath, "", MaxConfigBytes)}
	}
	if trimmed := bytes.TrimSpace(raw); len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return nil, field.ErrorList{field.Required(fldPath, fmt.Sprintf("an Envoy %s in proto3 JSON", md.FullName()))}
	}
	// encoding/json's validator does not recurse, so it is safe on deep
	// input; its syntax errors read better than protojson's, and once it has
	// passed, the depth scan is exact and the error path walk can rely on
	// well-formed JSON.
	if !json.Valid(raw) {
		return nil, field.ErrorList{syntaxError(raw, fldPath)}
	}
	// Checked before any parser that recurses sees the input.
	if jsonDepth(raw) > MaxDepth {
		return nil, field.ErrorList{field.Invalid(fldPath, omit, fmt.Sprintf("JSON is nested more than %d levels deep", MaxDepth))}
	}

	if err := unmarshalOptions.Unmarshal(raw, m); err != nil {
		return nil, field.ErrorList{unmarshalError(raw, err, md, fldPath)}
	}

	// Defaulted before validation because some kinds (Cluster) require it.
	if kind.NameOf(m) == "" {
		kind.SetName(m, defaultName)
	}
	if errs := validate(m, fldPath); len(errs) > 0 {
		return nil, capErrors(errs, fldPath)
	}
	return m, nil
}

// capErrors keeps the first maxErrors errors and says how many were dropped.
func capErrors(errs field.ErrorList, fldPath *field.Path) field.ErrorList {
	if len(errs) <= maxErrors {
		return errs
	}
	dropped := len(errs) - maxErrors
	return append(errs[:maxErrors:maxErrors], field.Invalid(fldPath, omit, fmt.Sprintf("%d more errors not shown", dropped)))
}
