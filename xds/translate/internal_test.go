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
	"errors"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/arcturus-dev/arcturus/xds/kinds"
)

func TestGoCamelCaseMatchesProtocGenGo(t *testing.T) {
	tests := []struct {
		in   string // proto field name
		want string // Go field name protoc-gen-go generates
	}{
		{"load_assignment", "LoadAssignment"},
		{"lb_endpoints", "LbEndpoints"},
		{"ipv4_compat", "Ipv4Compat"},
		{"http2_protocol_options", "Http2ProtocolOptions"},
		{"typed_per_filter_config", "TypedPerFilterConfig"},
		{"_leading", "XLeading"},
		{"already_CamelCase", "Already_CamelCase"},
		{"foo.bar", "FooBar"},
	}
	for _, tc := range tests {
		if got := goCamelCase(tc.in); got != tc.want {
			t.Errorf("goCamelCase(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSnakeCaseFallsBackSensibly(t *testing.T) {
	tests := []struct {
		in   string // Go field name
		want string // best-guess proto name
	}{
		{"LbEndpoints", "lb_endpoints"},
		{"Http2ProtocolOptions", "http2_protocol_options"},
		{"HTTPFilters", "http_filters"},
		{"Name", "name"},
	}
	for _, tc := range tests {
		if got := snakeCase(tc.in); got != tc.want {
			t.Errorf("snakeCase(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// fakeValidationError is a hand-built protoc-gen-validate style error.
type fakeValidationError struct {
	field, reason string
	cause         error
	key           bool
}

func (e fakeValidationError) Error() string     { return e.field + ": " + e.reason }
func (e fakeValidationError) Field() string     { return e.field }
func (e fakeValidationError) Reason() string    { return e.reason }
func (e fakeValidationError) Cause() error      { return e.cause }
func (e fakeValidationError) Key() bool         { return e.key }
func (e fakeValidationError) ErrorName() string { return "FakeValidationError" }

type fakeMultiError []error

func (m fakeMultiError) Error() string      { return "multiple errors" }
func (m fakeMultiError) AllErrors() []error { return m }

func TestValidationErrorsMapGoNamesToProtoPaths(t *testing.T) {
	md := (&clusterv3.Cluster{}).ProtoReflect().Descriptor()
	root := field.NewPath("spec", "config")
	tests := []struct {
		name string   // what the case shows, as a sentence
		err  error    // what ValidateAll returned
		want []string // expected Error() of each field error
	}{
		{
			name: "Nested embedded-message causes become a dotted path with indexes",
			err: fakeMultiError{fakeValidationError{field: "LoadAssignment", reason: "embedded message failed validation",
				cause: fakeMultiError{fakeValidationError{field: "Endpoints[2]", reason: "embedded message failed validation",
					cause: fakeValidationError{field: "Priority", reason: "value must be less than or equal to 128"}}}}},
			want: []string{"spec.config.load_assignment.endpoints[2].priority: Invalid value: value must be less than or equal to 128"},
		},
		{
			name: "Map entries are keyed by their map key",
			err: fakeValidationError{field: "TypedExtensionProtocolOptions[envoy.x]", reason: "embedded message failed validation",
				cause: fakeValidationError{field: "TypeUrl", reason: "value length must be at least 1 runes"}},
			want: []string{"spec.config.typed_extension_protocol_options[envoy.x].type_url: Required value: must not be empty"},
		},
		{
			name: "A required oneof is reported at its message, listing the fields that satisfy it",
			err:  fakeValidationError{field: "ClusterDiscoveryType", reason: "value is required"},
			want: []string{"spec.config: Required value: one of type, cluster_type must be set"},
		},
		{
			name: "A required message field is a plain Required value",
			err:  fakeValidationError{field: "ConnectTimeout", reason: "value is required"},
			want: []string{"spec.config.connect_timeout: Required value"},
		},
		{
			name: "An undefined enum number lists the defined values",
			err:  fakeValidationError{field: "DnsLookupFamily", reason: "value must be one of the defined enum values"},
			want: []string{`spec.config.dns_lookup_family: Invalid value: not a defined envoy.config.cluster.v3.Cluster.DnsLookupFamily value; valid values: "AUTO", "V4_ONLY", "V6_ONLY", "V4_PREFERRED", "ALL"`},
		},
		{
			name: "Well-known header regexes are put into words",
			err:  fakeValidationError{field: "AltStatName", reason: `value does not match regex pattern "^:?[0-9a-zA-Z!#$%&'*+-.^_|~` + "`" + `]+$"`},
			want: []string{"spec.config.alt_stat_name: Invalid value: must be an HTTP header name: letters, digits and !#$%&'*+-.^_|~` only, after an optional ':' for a pseudo-header"},
		},
		{
			name: "Other regexes are passed through",
			err:  fakeValidationError{field: "AltStatName", reason: `value does not match regex pattern "^[a-z]+$"`},
			want: []string{`spec.config.alt_stat_name: Invalid value: value does not match regex pattern "^[a-z]+$"`},
		},
		{
			name: "Lengths in runes are lengths in characters",
			err:  fakeValidationError{field: "AltStatName", reason: "value length must be at most 60 runes"},
			want: []string{"spec.config.alt_stat_name: Invalid value: value length must be at most 60 characters"},
		},
		{
			name: "Empty lists and maps that need content are Required values",
			err: fakeMultiError{fakeValidationError{field: "HealthChecks", reason: "value must contain at least 1 item(s)"},
				fakeValidationError{field: "Metadata", reason: "value must contain at least 1 pair(s)"}},
			want: []string{"spec.config.health_checks: Required value: must contain at least one item", "spec.config.metadata: Required value: must contain at least one entry"},
		},
		{
			name: "An unknown Go name falls back to snake_case and keeps going",
			err: fakeValidationError{field: "NoSuchField[3]", reason: "embedded message failed validation",
				cause: fakeValidationError{field: "InnerThing", reason: "bad"}},
			want: []string{"spec.config.no_such_field[3].inner_thing: Invalid value: bad"},
		},
		{
			name: "A map key error says it is about the key",
			err:  fakeValidationError{field: "Metadata[]", reason: "value length must be at least 1 runes", key: true},
			want: []string{"spec.config.metadata[]: Invalid value: invalid map key: must not be empty"},
		},
		{
			name: "A plain cause is appended to the reason",
			err:  fakeValidationError{field: "ConnectTimeout", reason: "value is not a valid duration", cause: errors.New("seconds out of range")},
			want: []string{"spec.config.connect_timeout: Invalid value: value is not a valid duration: seconds out of range"},
		},
		{
			name: "An error that is not a validation error is reported at the current path",
			err:  errors.New("something else"),
			want: []string{"spec.config: Invalid value: something else"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := validationErrors(tc.err, md, root)
			if len(errs) != len(tc.want) {
				t.Fatalf("got %v, want %v", errs, tc.want)
			}
			for i, e := range errs {
				if e.Error() != tc.want[i] {
					t.Errorf("got %q, want %q", e.Error(), tc.want[i])
				}
			}
		})
	}
}

func TestEditDistanceCountsASwapAsOneEdit(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"cluster", "cluster", 0},
		{"clutser", "cluster", 1},
		{"adress", "address", 1},
		{"conect_timeout", "connect_timeout", 1},
		{"ab", "ba", 1},
		{"abc", "ca", 3},
		{"kitten", "sitting", 3},
	}
	for _, tc := range tests {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := editDistance(tc.b, tc.a); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.b, tc.a, got, tc.want)
		}
	}
}

func TestSuggestTypeFindsTheIntendedMessage(t *testing.T) {
	tests := []struct {
		in   string // unknown message full name
		want string // suggestion, "" for none
	}{
		{"envoy.extensions.filters.network.http_connection_manager.v3.HttpConectionManager", "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"},
		{"envoy.extensions.filters.network.http_connection_manager.v3.HTTPConnectionManager", "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"},
		{"envoy.extensions.upstreams.http.v4.HttpProtocolOptions", "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"},
		{"envoy.extensions.filters.network.nope.v3.Nope", ""},
		{"", ""},
	}
	for _, tc := range tests {
		if got := suggestType(tc.in); got != tc.want {
			t.Errorf("suggestType(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestOffsetAtInvertsLineColumn(t *testing.T) {
	data := []byte("{\n  \"naïve\": \"é\",\n\t\"x\": [1, 2]\n}")
	for off := 0; off <= len(data); off++ {
		// Only rune starts are positions protojson can report.
		if off < len(data) && data[off]&0xC0 == 0x80 {
			continue
		}
		line, col := lineColumn(data, off)
		if got := offsetAt(data, line, col); got != off {
			t.Errorf("offset %d -> line %d col %d -> offset %d", off, line, col, got)
		}
	}
}

func TestJSONDepthIgnoresBracketsInStrings(t *testing.T) {
	tests := []struct {
		in   string // JSON text
		want int    // deepest nesting
	}{
		{`{}`, 1},
		{`{"a": [1, {"b": []}]}`, 4},
		{`{"a": "[[[[{{{{"}`, 1},
		{`{"a": "\"[[["}`, 1},
		{`"x"`, 0},
	}
	for _, tc := range tests {
		if got := jsonDepth([]byte(tc.in)); got != tc.want {
			t.Errorf("jsonDepth(%s) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// TestEveryValueSwappedForAnotherTypeIsReported replaces each value of some
// realistic configs with JSON of other types; each result must be a clean
// error list (or a valid config), never an internal error.
func TestEveryValueSwappedForAnotherTypeIsReported(t *testing.T) {
	inputs := []struct {
		kind kinds.Kind // kind to translate as
		raw  string     // a valid config
	}{
		{kinds.Listener, `{"name":"l","address":{"socket_address":{"address":"0.0.0.0","port_value":80}},"filter_chains":[{"filters":[{"name":"hcm","typed_config":{"@type":"type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager","stat_prefix":"x","rds":{"route_config_name":"r","config_source":{"ads":{}}},"http_filters":[{"name":"envoy.filters.http.router","typed_config":{"@type":"type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]}}]}]}`},
		{kinds.Cluster, `{"name":"c","type":"EDS","connect_timeout":"1s","lb_policy":"RING_HASH","metadata":{"filter_metadata":{"a":{"b":[1,"x"]}}},"typed_extension_protocol_options":{"k":{"@type":"type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions","explicit_http_config":{"http2_protocol_options":{"max_concurrent_streams":100}}}},"per_connection_buffer_limit_bytes":1000,"dns_lookup_family":"V4_ONLY","transport_socket":{"name":"tls","typed_config":{"@type":"type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext","sni":"a.b"}}}`},
		{kinds.Route, `{"name":"r","virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/","headers":[{"name":"x","string_match":{"exact":"y"}}]},"route":{"timeout":"1s","weighted_clusters":{"clusters":[{"name":"a","weight":1}]}}}],"typed_per_filter_config":{"f":{"@type":"type.googleapis.com/google.protobuf.Struct","value":{"a":1}}}}]}`},
		{kinds.Endpoint, `{"cluster_name":"c","endpoints":[{"locality":{"zone":"z"},"load_balancing_weight":1,"lb_endpoints":[{"endpoint":{"address":{"socket_address":{"address":"10.0.0.1","port_value":80}}}}]}]}`},
	}
	swaps := []string{`1`, `-1`, `1.5`, `99999999999999999999`, `"x"`, `"5x"`, `true`, `null`, `{}`, `[]`, `{"a":1}`, `[1]`,
		`{"@type":"type.googleapis.com/google.protobuf.Duration","value":"1s"}`}
	root := field.NewPath("spec", "config")
	for _, in := range inputs {
		if _, errs := Translate(in.kind, []byte(in.raw), "d", root); len(errs) > 0 {
			t.Fatalf("base config is invalid: %v", errs)
		}
		var nodes []*jsonNode
		var walk func(n *jsonNode)
		walk = func(n *jsonNode) {
			nodes = append(nodes, n)
			for _, m := range n.members {
				walk(m.value)
			}
			for _, e := range n.elems {
				walk(e)
			}
		}
		walk(parseJSONTree([]byte(in.raw)))
		for _, n := range nodes {
			for _, swap := range swaps {
				mutated := in.raw[:n.start] + swap + in.raw[n.end:]
				msg, errs := Translate(in.kind, []byte(mutated), "d", root)
				if (msg == nil) == (len(errs) == 0) {
					t.Fatalf("%s: broken contract: msg=%v errs=%v", mutated, msg, errs)
				}
				for _, e := range errs {
					if e.Type == field.ErrorTypeInternal || !strings.HasPrefix(e.Field, "spec.config") {
						t.Errorf("%s: bad error %v", mutated, e)
					}
				}
			}
		}
	}
}

// A typo in a reference rule would make it match nothing, silently: every
// rule must name a registered message and fields it has.
func TestEveryRefRuleNamesRealFields(t *testing.T) {
	for msgName, rules := range refRules {
		mt, err := protoregistry.GlobalTypes.FindMessageByName(msgName)
		if err != nil {
			t.Errorf("rule on %s: %v", msgName, err)
			continue
		}
		for _, r := range rules {
			for _, path := range [][]protoreflect.Name{r.field, r.fallback, r.source} {
				md := mt.Descriptor()
				for i, name := range path {
					fd := md.Fields().ByName(name)
					if fd == nil {
						t.Errorf("rule on %s (%s): no field %s in %s", msgName, r.typeURL, name, md.FullName())
						break
					}
					if i < len(path)-1 {
						md = fd.Message()
						if md == nil {
							t.Errorf("rule on %s (%s): %s is not a message", msgName, r.typeURL, name)
							break
						}
					}
				}
			}
		}
	}
}
