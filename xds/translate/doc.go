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

// Package translate turns the raw Envoy JSON of a custom resource into a
// validated Envoy proto; it is pure and performs no I/O.
//
// Parsing is strict proto3 JSON: unknown fields are errors rather than being
// silently dropped, because a dropped typo would otherwise reach Envoy as a
// config that differs from what the user wrote.
//
// Validation runs the protoc-gen-validate rules that go-control-plane ships.
// Those generated validators stop at every google.protobuf.Any (typed_config
// and friends), which is where almost all of a real Envoy config lives, so
// Translate walks the message tree, unpacks each Any and validates it too.
// Resolving an Any needs its message type to be registered, which is why
// zz_generated.extensions.go blank-imports every extension package that
// go-control-plane ships (regenerate it with `go run ./hack/gen-extensions`).
//
// All errors are *field.Error values rooted at the caller's path, so they read
// like any other Kubernetes validation error. protojson only reports a
// "(line L:C)" position, so that position is mapped back onto the JSON
// document to recover the field path; protoc-gen-validate reports Go field
// names, so those are mapped back to proto field names through the message
// descriptors.
//
// References lists what a translated resource needs from other resources
// (routes, clusters, endpoints, secrets), found wherever they sit in the
// message tree, including inside every google.protobuf.Any; refs.go holds
// the table of which message fields name which resource type.
//
// testdata/invalid is a golden corpus of rejected configs and the exact
// errors they produce, testdata/valid a set of realistic accepted ones; both
// seed the fuzz targets. Rewrite the golden files after a deliberate message
// change with `go test ./xds/translate/ -run TestInvalidCorpus -update`.
package translate
