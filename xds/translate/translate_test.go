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

package translate_test

import (
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/arcturus-dev/arcturus/xds/kinds"
	"github.com/arcturus-dev/arcturus/xds/translate"
)

// root is the path callers pass; every error must be under it.
var root = field.NewPath("spec", "config")

const hcmType = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"

// A listener whose HCM takes its routes from RDS and ends in the router.
const listenerSnake = `{
  "name": "ingress_http",
  "address": {"socket_address": {"address": "0.0.0.0", "port_value": 8080}},
  "filter_chains": [{
    "filters": [{
      "name": "envoy.filters.network.http_connection_manager",
      "typed_config": {
        "@type": "` + hcmType + `",
        "stat_prefix": "ingress_http",
        "codec_type": "AUTO",
        "rds": {
          "route_config_name": "local_route",
          "config_source": {"ads": {}, "resource_api_version": "V3"}
        },
        "http_filters": [{
          "name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}
        }]
      }
    }]
  }]
}`

const listenerCamel = `{
  "name": "ingress_http",
  "address": {"socketAddress": {"address": "0.0.0.0", "portValue": 8080}},
  "filterChains": [{
    "filters": [{
      "name": "envoy.filters.network.http_connection_manager",
      "typedConfig": {
        "@type": "` + hcmType + `",
        "statPrefix": "ingress_http",
        "codecType": "AUTO",
        "rds": {
          "routeConfigName": "local_route",
          "configSource": {"ads": {}, "resourceApiVersion": "V3"}
        },
        "httpFilters": [{
          "name": "envoy.filters.http.router",
          "typedConfig": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}
        }]
      }
    }]
  }]
}`

// A static route configuration splitting traffic 90/10.
const routeSnake = `{
  "name": "local_route",
  "virtual_hosts": [{
    "name": "backend",
    "domains": ["*"],
    "routes": [{
      "match": {"prefix": "/"},
      "route": {
        "timeout": "15s",
        "weighted_clusters": {"clusters": [{"name": "v1", "weight": 90}, {"name": "v2", "weight": 10}]}
      }
    }]
  }]
}`

const routeCamel = `{
  "name": "local_route",
  "virtualHosts": [{
    "name": "backend",
    "domains": ["*"],
    "routes": [{
      "match": {"prefix": "/"},
      "route": {
        "timeout": "15s",
        "weightedClusters": {"clusters": [{"name": "v1", "weight": 90}, {"name": "v2", "weight": 10}]}
      }
    }]
  }]
}`

// An EDS cluster that speaks HTTP/2 upstream.
const clusterSnake = `{
  "name": "backend",
  "type": "EDS",
  "eds_cluster_config": {"eds_config": {"ads": {}, "resource_api_version": "V3"}},
  "connect_timeout": "0.25s",
  "lb_policy": "LEAST_REQUEST",
  "typed_extension_protocol_options": {
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
      "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
      "explicit_http_config": {"http2_protocol_options": {"max_concurrent_streams": 100}}
    }
  }
}`

const clusterCamel = `{
  "name": "backend",
  "type": "EDS",
  "edsClusterConfig": {"edsConfig": {"ads": {}, "resourceApiVersion": "V3"}},
  "connectTimeout": "0.25s",
  "lbPolicy": "LEAST_REQUEST",
  "typedExtensionProtocolOptions": {
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
      "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
      "explicitHttpConfig": {"http2ProtocolOptions": {"maxConcurrentStreams": 100}}
    }
  }
}`

// Two localities weighted 2:1.
const endpointSnake = `{
  "cluster_name": "backend",
  "endpoints": [
    {
      "locality": {"region": "eu-west-1", "zone": "eu-west-1a"},
      "load_balancing_weight": 2,
      "lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "10.0.0.1", "port_value": 8080}}}}]
    },
    {
      "locality": {"region": "eu-west-1", "zone": "eu-west-1b"},
      "load_balancing_weight": 1,
      "lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "10.0.0.2", "port_value": 8080}}}}]
    }
  ]
}`

const endpointCamel = `{
  "clusterName": "backend",
  "endpoints": [
    {
      "locality": {"region": "eu-west-1", "zone": "eu-west-1a"},
      "loadBalancingWeight": 2,
      "lbEndpoints": [{"endpoint": {"address": {"socketAddress": {"address": "10.0.0.1", "portValue": 8080}}}}]
    },
    {
      "locality": {"region": "eu-west-1", "zone": "eu-west-1b"},
      "loadBalancingWeight": 1,
      "lbEndpoints": [{"endpoint": {"address": {"socketAddress": {"address": "10.0.0.2", "portValue": 8080}}}}]
    }
  ]
}`

type validCase struct {
	name string                          // what the case shows, as a sentence
	kind kinds.Kind                      // kind to translate as
	raw  string                          // spec.config as stored
	want string                          // expected Envoy resource name
	same string                          // optional: another spelling that must give an equal proto
	chk  func(*testing.T, proto.Message) // optional: spot checks on the result
}

var validCases = []validCase{
	{
		name: "A listener with an RDS HTTP connection manager and the router filter is accepted",
		kind: kinds.Listener, raw: listenerSnake, want: "ingress_http", same: listenerCamel,
		chk: func(t *testing.T, m proto.Message) {
			l := m.(*listenerv3.Listener)
			if got := l.GetAddress().GetSocketAddress().GetPortValue(); got != 8080 {
				t.Errorf("port = %d, want 8080", got)
			}
			var hcm hcmv3.HttpConnectionManager
			if err := l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
				t.Fatalf("typed_config is not an HCM: %v", err)
			}
			if got := hcm.GetRds().GetRouteConfigName(); got != "local_route" {
				t.Errorf("rds route_config_name = %q, want local_route", got)
			}
		},
	},
	{
		name: "A static route configuration with weighted clusters is accepted",
		kind: kinds.Route, raw: routeSnake, want: "local_route", same: routeCamel,
		chk: func(t *testing.T, m proto.Message) {
			wc := m.(*routev3.RouteConfiguration).GetVirtualHosts()[0].GetRoutes()[0].GetRoute().GetWeightedClusters()
			if len(wc.GetClusters()) != 2 || wc.GetClusters()[0].GetWeight().GetValue() != 90 {
				t.Errorf("weighted clusters = %v, want v1=90 and v2=10", wc)
			}
		},
	},
	{
		name: "An EDS cluster with a connect timeout and HTTP/2 protocol options is accepted",
		kind: kinds.Cluster, raw: clusterSnake, want: "backend", same: clusterCamel,
		chk: func(t *testing.T, m proto.Message) {
			c := m.(*clusterv3.Cluster)
			if got := c.GetConnectTimeout().AsDuration().Milliseconds(); got != 250 {
				t.Errorf("connect_timeout = %dms, want 250ms", got)
			}
			var opts httpv3.HttpProtocolOptions
			if err := c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].UnmarshalTo(&opts); err != nil {
				t.Fatalf("protocol options do not unpack: %v", err)
			}
			if got := opts.GetExplicitHttpConfig().GetHttp2ProtocolOptions().GetMaxConcurrentStreams().GetValue(); got != 100 {
				t.Errorf("max_concurrent_streams = %d, want 100", got)
			}
		},
	},
	{
		name: "A cluster load assignment with two weighted localities is accepted",
		kind: kinds.Endpoint, raw: endpointSnake, want: "backend", same: endpointCamel,
		chk: func(t *testing.T, m proto.Message) {
			eps := m.(*endpointv3.ClusterLoadAssignment).GetEndpoints()
			if len(eps) != 2 || eps[0].GetLoadBalancingWeight().GetValue() != 2 || eps[1].GetLoadBalancingWeight().GetValue() != 1 {
				t.Errorf("locality weights = %v, want 2 and 1", eps)
			}
		},
	},
	{
		name: "Integers may also be written as JSON strings, as proto3 JSON allows",
		kind: kinds.Endpoint, want: "backend",
		raw:  `{"cluster_name": "backend", "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "10.0.0.1", "port_value": "8080"}}}}]}]}`,
		same: `{"cluster_name": "backend", "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "10.0.0.1", "port_value": 8080}}}}]}]}`,
	},
	{
		name: "An extension configured through xds.type.v3.TypedStruct is accepted without validating its contents",
		kind: kinds.Route, want: "r",
		raw: `{"name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"], "typed_per_filter_config": {"envoy.filters.http.lua": {
			"@type": "type.googleapis.com/xds.type.v3.TypedStruct",
			"type_url": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.LuaPerRoute",
			"value": {"name": ""}}}}]}`,
	},
	{
		name: "A config nested exactly as deep as the limit is accepted",
		kind: kinds.Cluster, want: "c",
		raw: `{"name": "c", "connect_timeout": "1s", "metadata": {"filter_metadata": {"x": {"y": ` +
			strings.Repeat("[", 96) + strings.Repeat("]", 96) + `}}}}`,
	},
	{
		name: "Metadata holding arbitrary JSON under google.protobuf.Struct is accepted",
		kind: kinds.Cluster, want: "c",
		raw: `{"name": "c", "connect_timeout": "1s", "metadata": {"filter_metadata": {"envoy.lb": {"canary": true, "weights": [1, 2.5, null, {"x": "y"}]}}}}`,
	},
}

func TestTranslateAcceptsValidConfigs(t *testing.T) {
	for _, tc := range validCases {
		t.Run(tc.name, func(t *testing.T) {
			msg, errs := translate.Translate(tc.kind, []byte(tc.raw), "ignored-default", root)
			if len(errs) > 0 {
				t.Fatalf("unexpected errors: %v", errs)
			}
			if msg == nil {
				t.Fatal("nil message without errors")
			}
			if got := proto.MessageName(msg); "type.googleapis.com/"+string(got) != tc.kind.TypeURL {
				t.Errorf("message type %s does not match kind type URL %s", got, tc.kind.TypeURL)
			}
			if got := tc.kind.NameOf(msg); got != tc.want {
				t.Errorf("name = %q, want %q", got, tc.want)
			}
			if tc.chk != nil {
				tc.chk(t, msg)
			}
			if tc.same != "" {
				other, errs := translate.Translate(tc.kind, []byte(tc.same), "ignored-default", root)
				if len(errs) > 0 {
					t.Fatalf("other spelling: unexpected errors: %v", errs)
				}
				if !proto.Equal(msg, other) {
					t.Errorf("the two spellings differ:\n%v\n%v", msg, other)
				}
			}
		})
	}
}

type invalidCase struct {
	name string     // what the case shows, as a sentence
	kind kinds.Kind // kind to translate as
	raw  string     // spec.config as stored
	want []string   // exact Error() of each expected error, in order
}

// tooLarge is one byte over the limit, and otherwise a valid cluster.
var tooLarge = `{"name": "` + strings.Repeat("a", translate.MaxConfigBytes-11) + `"}`

var invalidCases = []invalidCase{
	{
		name: "An unknown top-level field is rejected with a spelling hint",
		kind: kinds.Cluster,
		raw:  `{"name": "c", "conect_timeout": "5s"}`,
		want: []string{`spec.config.conect_timeout: Invalid value: unknown field "conect_timeout" in envoy.config.cluster.v3.Cluster (did you mean "connect_timeout"?)`},
	},
	{
		name: "An unknown nested field is rejected at its full path including list indexes",
		kind: kinds.Endpoint,
		raw:  `{"cluster_name": "c", "endpoints": [{"lb_endpoints": [{"endpoint": {"adress": {}}}]}]}`,
		want: []string{`spec.config.endpoints[0].lb_endpoints[0].endpoint.adress: Invalid value: unknown field "adress" in envoy.config.endpoint.v3.Endpoint (did you mean "address"?)`},
	},
	{
		name: "An unknown field inside an Any payload is reported under the Any's field",
		kind: kinds.Listener,
		raw:  `{"name": "l", "filter_chains": [{"filters": [{"name": "hcm", "typed_config": {"@type": "` + hcmType + `", "stat_prefix": "x", "http_filter": []}}]}]}`,
		want: []string{`spec.config.filter_chains[0].filters[0].typed_config.http_filter: Invalid value: unknown field "http_filter" in envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager (did you mean "http_filters"?)`},
	},
	{
		name: "An unknown enum value is rejected with the valid values",
		kind: kinds.Cluster,
		raw:  `{"name": "c", "lb_policy": "ROUND_ROBINX"}`,
		want: []string{`spec.config.lb_policy: Invalid value: "ROUND_ROBINX": unknown envoy.config.cluster.v3.Cluster.LbPolicy value; valid values: "ROUND_ROBIN", "LEAST_REQUEST", "RING_HASH", "RANDOM", "MAGLEV", "CLUSTER_PROVIDED", "LOAD_BALANCING_POLICY_CONFIG"`},
	},
	{
		name: "A string where a number belongs is rejected with the expected type",
		kind: kinds.Cluster,
		raw:  `{"name": "c", "per_connection_buffer_limit_bytes": "lots"}`,
		want: []string{`spec.config.per_connection_buffer_limit_bytes: Invalid value: "lots": expected an integer in the uint32 range (0 to 4294967295), got a string`},
	},
	{
		name: "A number where a message belongs is rejected with the expected type",
		kind: kinds.Cluster,
		raw:  `{"name": "c", "connect_timeout": 5}`,
		want: []string{`spec.config.connect_timeout: Invalid value: 5: expected a duration string such as "5s" or "0.25s", got a number`},
	},
	{
		name: "An object where a list belongs is rejected with the expected type",
		kind: kinds.Route,
		raw:  `{"name": "r", "virtual_hosts": {"name": "v"}}`,
		want: []string{`spec.config.virtual_hosts: Invalid value: expected an array, got an object`},
	},
	{
		name: "A malformed duration is rejected with the duration syntax",
		kind: kinds.Cluster,
		raw:  `{"name": "c", "connect_timeout": "5x"}`,
		want: []string{`spec.config.connect_timeout: Invalid value: "5x": invalid duration: expected a number of seconds with an "s" suffix, such as "5s" or "0.25s"`},
	},
	{
		name: "An Any whose type URL names no known message is rejected at its @type",
		kind: kinds.Listener,
		raw:  `{"name": "l", "filter_chains": [{"filters": [{"name": "x", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.network.nope.v3.Nope"}}]}]}`,
		want: []string{`spec.config.filter_chains[0].filters[0].typed_config.@type: Invalid value: "type.googleapis.com/envoy.extensions.filters.network.nope.v3.Nope": unknown type URL: no message type "envoy.extensions.filters.network.nope.v3.Nope" is known`},
	},
	{
		name: "An Any whose type URL names a different message rejects the fields that message lacks",
		kind: kinds.Listener,
		raw:  `{"name": "l", "filter_chains": [{"filters": [{"name": "hcm", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router", "stat_prefix": "ingress"}}]}]}`,
		want: []string{`spec.config.filter_chains[0].filters[0].typed_config.stat_prefix: Invalid value: unknown field "stat_prefix" in envoy.extensions.filters.http.router.v3.Router`},
	},
	{
		name: "An Any without @type is rejected",
		kind: kinds.Listener,
		raw:  `{"name": "l", "filter_chains": [{"filters": [{"name": "hcm", "typed_config": {"stat_prefix": "ingress"}}]}]}`,
		want: []string{`spec.config.filter_chains[0].filters[0].typed_config.@type: Required value: an Any must name its message type, e.g. "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"`},
	},
	{
		name: "An HTTP connection manager without stat_prefix fails validation inside typed_config",
		kind: kinds.Listener,
		raw:  strings.Replace(listenerSnake, `"stat_prefix": "ingress_http",`, "", 1),
		want: []string{`spec.config.filter_chains[0].filters[0].typed_config.stat_prefix: Required value: must not be empty`},
	},
	{
		name: "A per-route filter config is validated and reported under its map key, a missing oneof at its message",
		kind: kinds.Route,
		raw:  `{"name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"], "typed_per_filter_config": {"envoy.filters.http.ext_authz": {"@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute"}}}]}`,
		want: []string{`spec.config.virtual_hosts[0].typed_per_filter_config[envoy.filters.http.ext_authz]: Required value: one of disabled, check_settings must be set`},
	},
	{
		name: "A zero connect timeout violates its greater-than-zero rule",
		kind: kinds.Cluster,
		raw:  `{"name": "c", "connect_timeout": "0s"}`,
		want: []string{`spec.config.connect_timeout: Invalid value: value must be greater than 0s`},
	},
	{
		name: "An endpoint port above 65535 violates its range rule at the full path",
		kind: kinds.Cluster,
		raw: `{"name": "c", "connect_timeout": "1s", "load_assignment": {"cluster_name": "c", "endpoints": [{"lb_endpoints": [
			{"endpoint": {"address": {"socket_address": {"address": "10.0.0.1", "port_value": 8080}}}},
			{"endpoint": {"address": {"socket_address": {"address": "10.0.0.2", "port_value": 70000}}}}]}]}}`,
		want: []string{`spec.config.load_assignment.endpoints[0].lb_endpoints[1].endpoint.address.socket_address.port_value: Invalid value: value must be less than or equal to 65535`},
	},
	{
		name: "A route without its required match is rejected",
		kind: kinds.Route,
		raw:  `{"name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"], "routes": [{"route": {"cluster": "c"}}]}]}`,
		want: []string{`spec.config.virtual_hosts[0].routes[0].match: Required value`},
	},
	{
		name: "Every validation failure is reported, not just the first",
		kind: kinds.Route,
		raw:  `{"name": "r", "virtual_hosts": [{"name": "", "domains": []}]}`,
		want: []string{
			`spec.config.virtual_hosts[0].name: Required value: must not be empty`,
			`spec.config.virtual_hosts[0].domains: Required value: must contain at least one item`,
		},
	},
	{
		name: "Setting two members of a oneof is rejected",
		kind: kinds.Cluster,
		raw:  `{"name": "c", "type": "STATIC", "cluster_type": {"name": "envoy.clusters.aggregate"}}`,
		want: []string{`spec.config.cluster_type: Invalid value: only one of type, cluster_type may be set (oneof cluster_discovery_type)`},
	},
	{
		name: "Setting a field under both its names is rejected as a duplicate",
		kind: kinds.Cluster,
		raw:  `{"name": "c", "connect_timeout": "1s", "connectTimeout": "2s"}`,
		want: []string{`spec.config.connect_timeout: Invalid value: field is set more than once (its snake_case and camelCase names are the same field)`},
	},
	{
		name: "A config that is not a JSON object is rejected",
		kind: kinds.Cluster,
		raw:  `["c"]`,
		want: []string{`spec.config: Invalid value: expected an object (envoy.config.cluster.v3.Cluster), got an array`},
	},
	{
		name: "An empty config is rejected as required",
		kind: kinds.Cluster,
		raw:  "",
		want: []string{`spec.config: Required value: an Envoy envoy.config.cluster.v3.Cluster in proto3 JSON`},
	},
	{
		name: "A null config is rejected as required",
		kind: kinds.Listener,
		raw:  " null\n",
		want: []string{`spec.config: Required value: an Envoy envoy.config.listener.v3.Listener in proto3 JSON`},
	},
	{
		name: "A config over one mebibyte is rejected before parsing",
		kind: kinds.Cluster,
		raw:  tooLarge,
		want: []string{`spec.config: Too long: may not be more than 1048576 bytes`},
	},
	{
		name: "A config nested deeper than the limit is rejected before parsing",
		kind: kinds.Cluster,
		raw:  `{"name": "c", "metadata": {"filter_metadata": {"x": ` + strings.Repeat("[", 98) + strings.Repeat("]", 98) + `}}}`,
		want: []string{`spec.config: Invalid value: JSON is nested more than 100 levels deep`},
	},
	{
		name: "Invalid JSON syntax is rejected with its line and column",
		kind: kinds.Cluster,
		raw:  "{\n  \"name\": \"c\",\n}",
		want: []string{`spec.config: Invalid value: invalid JSON at line 3, column 1: invalid character '}' looking for beginning of object key string`},
	},
	{
		name: "A cluster without a name and without a default name fails validation",
		kind: kinds.Cluster,
		raw:  `{"connect_timeout": "1s"}`,
		want: []string{`spec.config.name: Required value: must not be empty`},
	},
}

func TestTranslateRejectsInvalidConfigs(t *testing.T) {
	for _, tc := range invalidCases {
		t.Run(tc.name, func(t *testing.T) {
			msg, errs := translate.Translate(tc.kind, []byte(tc.raw), "", root)
			if msg != nil {
				t.Errorf("got a message despite errors: %v", msg)
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n  got  %q\n  want %q", got, tc.want)
			}
		})
	}
}

func TestTranslateDefaultsAnEmptyNameToTheDefaultName(t *testing.T) {
	tests := []struct {
		name string     // what the case shows, as a sentence
		kind kinds.Kind // kind to translate as
		raw  string     // spec.config as stored
		want string     // expected Envoy resource name
	}{
		{
			name: "A cluster without a name gets the default name",
			kind: kinds.Cluster, raw: `{"connect_timeout": "1s"}`, want: "default/backend",
		},
		{
			name: "A cluster load assignment without a cluster_name gets the default name",
			kind: kinds.Endpoint, raw: `{"endpoints": []}`, want: "default/backend",
		},
		{
			name: "A listener without a name gets the default name",
			kind: kinds.Listener, raw: `{"address": {"socket_address": {"address": "0.0.0.0", "port_value": 80}}}`, want: "default/backend",
		},
		{
			name: "A route configuration without a name gets the default name",
			kind: kinds.Route, raw: `{}`, want: "default/backend",
		},
		{
			name: "A cluster that names itself keeps its own name",
			kind: kinds.Cluster, raw: `{"name": "explicit", "connect_timeout": "1s"}`, want: "explicit",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg, errs := translate.Translate(tc.kind, []byte(tc.raw), "default/backend", root)
			if len(errs) > 0 {
				t.Fatalf("unexpected errors: %v", errs)
			}
			if got := tc.kind.NameOf(msg); got != tc.want {
				t.Errorf("name = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTranslateReportsAnIncompleteKindInsteadOfPanicking(t *testing.T) {
	msg, errs := translate.Translate(kinds.Kind{Name: "Bogus"}, []byte(`{}`), "x", root)
	if msg != nil || len(errs) != 1 || errs[0].Type != field.ErrorTypeInternal || errs[0].Field != "spec.config" {
		t.Errorf("got %v, %v; want one internal error at spec.config", msg, errs)
	}
}

func TestTranslateCapsTheNumberOfErrors(t *testing.T) {
	bad := `{"endpoint": {"address": {"socket_address": {"address": "10.0.0.1", "port_value": 70000}}}}`
	raw := `{"cluster_name": "c", "endpoints": [{"lb_endpoints": [` + strings.TrimSuffix(strings.Repeat(bad+",", 60), ",") + `]}]}`
	_, errs := translate.Translate(kinds.Endpoint, []byte(raw), "", root)
	if len(errs) != 51 {
		t.Fatalf("got %d errors, want 50 and a summary", len(errs))
	}
	if got, want := errs[50].Error(), "spec.config: Invalid value: 10 more errors not shown"; got != want {
		t.Errorf("last error = %q, want %q", got, want)
	}
	if got, want := errs[49].Field, "spec.config.endpoints[0].lb_endpoints[49].endpoint.address.socket_address.port_value"; got != want {
		t.Errorf("50th error at %q, want %q", got, want)
	}
}

func TestTranslateShortensHugeUserStringsInErrors(t *testing.T) {
	key := strings.Repeat("k", 10000)
	_, errs := translate.Translate(kinds.Cluster, []byte(`{"name": "c", "`+key+`": 1}`), "", root)
	if len(errs) != 1 {
		t.Fatalf("got %v, want one error", errs)
	}
	if got := errs[0].Error(); len(got) > 600 || !strings.Contains(got, "kkk...") {
		t.Errorf("error is %d bytes long or not shortened: %.200q", len(got), got)
	}
}
