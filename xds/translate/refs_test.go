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
	"slices"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/arcturus-dev/arcturus/xds/kinds"
	"github.com/arcturus-dev/arcturus/xds/translate"
)

const (
	routerFilter = `{"name": "envoy.filters.http.router", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}`
	tcpProxyType = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
	tlsType      = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3."
	adsSource    = `{"ads": {}, "resource_api_version": "V3"}`
)

// hcmListener wraps the body of an HTTP connection manager (its fields after
// stat_prefix) in a listener, with the router as its last HTTP filter.
func hcmListener(hcmBody string, httpFilters ...string) string {
	return `{
  "name": "ingress",
  "address": {"socket_address": {"address": "0.0.0.0", "port_value": 8080}},
  "filter_chains": [{"filters": [{
    "name": "envoy.filters.network.http_connection_manager",
    "typed_config": {
      "@type": "` + hcmType + `",
      "stat_prefix": "ingress",
      ` + hcmBody + `,
      "http_filters": [` + strings.Join(append(httpFilters, routerFilter), ", ") + `]
    }
  }]}]
}`
}

func ref(typeURL, name, path string) translate.Reference {
	return translate.Reference{Ref: kinds.Ref{TypeURL: typeURL, Name: name}, Path: path}
}

func TestReferences(t *testing.T) {
	tests := []struct {
		name string     // what the case shows, as a sentence
		kind kinds.Kind // kind to translate as
		raw  string     // spec.config as stored
		want []translate.Reference
	}{
		// Listener → RouteConfiguration.
		{
			name: "A listener whose HTTP connection manager uses RDS over ADS references the route configuration",
			kind: kinds.Listener, raw: listenerSnake,
			want: []translate.Reference{
				ref(resource.RouteType, "local_route", "filter_chains[0].filters[0].typed_config.rds.route_config_name"),
			},
		},
		{
			name: "An api_listener whose HTTP connection manager uses RDS over ADS references the route configuration",
			kind: kinds.Listener,
			raw: `{"name": "grpc.example.com:443", "api_listener": {"api_listener": {
				"@type": "` + hcmType + `", "stat_prefix": "api",
				"rds": {"route_config_name": "grpc-routes", "config_source": {"self": {}}},
				"http_filters": [` + routerFilter + `]}}}`,
			want: []translate.Reference{
				ref(resource.RouteType, "grpc-routes", "api_listener.api_listener.rds.route_config_name"),
			},
		},
		{
			name: "RDS from a file or another management server is no reference Arcturus can serve",
			kind: kinds.Listener,
			raw:  hcmListener(`"rds": {"route_config_name": "from-file", "config_source": {"path_config_source": {"path": "/etc/envoy/rds.yaml"}}}`),
			want: nil,
		},
		{
			name: "An HTTP connection manager with an inline route configuration references its clusters, not a route",
			kind: kinds.Listener,
			raw: hcmListener(`"route_config": {"name": "inline", "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
				{"match": {"prefix": "/api"}, "route": {"cluster": "api"}},
				{"match": {"prefix": "/"}, "route": {"weighted_clusters": {"clusters": [{"name": "web-v1", "weight": 90}, {"name": "web-v2", "weight": 10}]}}}]}]}`),
			want: []translate.Reference{
				ref(resource.ClusterType, "api", "filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.cluster"),
				ref(resource.ClusterType, "web-v1", "filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[1].route.weighted_clusters.clusters[0].name"),
				ref(resource.ClusterType, "web-v2", "filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[1].route.weighted_clusters.clusters[1].name"),
			},
		},

		// RouteConfiguration → Cluster.
		{
			name: "A route configuration references its route, weighted and mirror clusters, sorted and each once",
			kind: kinds.Route,
			raw: `{"name": "local_route", "virtual_hosts": [
				{"name": "shop", "domains": ["shop.example.com"], "routes": [
					{"match": {"prefix": "/cart"}, "route": {"cluster": "cart",
						"request_mirror_policies": [{"cluster": "cart-shadow", "runtime_fraction": {"default_value": {"numerator": 10}}}]}},
					{"match": {"prefix": "/"}, "route": {"weighted_clusters": {"clusters": [{"name": "web", "weight": 1}, {"name": "cart", "weight": 1}]}}}]},
				{"name": "admin", "domains": ["admin.example.com"], "routes": [
					{"match": {"prefix": "/"}, "route": {"cluster": "admin"}},
					{"match": {"prefix": "/old"}, "redirect": {"path_redirect": "/"}}]}]}`,
			want: []translate.Reference{
				ref(resource.ClusterType, "admin", "virtual_hosts[1].routes[0].route.cluster"),
				ref(resource.ClusterType, "cart", "virtual_hosts[0].routes[0].route.cluster"),
				ref(resource.ClusterType, "cart-shadow", "virtual_hosts[0].routes[0].route.request_mirror_policies[0].cluster"),
				ref(resource.ClusterType, "web", "virtual_hosts[0].routes[1].route.weighted_clusters.clusters[0].name"),
			},
		},
		{
			name: "A per-route filter config is searched too, and its path names the map key",
			kind: kinds.Route,
			raw: `{"name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"], "typed_per_filter_config": {
				"envoy.filters.http.ext_proc": {"@type": "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute",
					"overrides": {"grpc_service": {"envoy_grpc": {"cluster_name": "ext-proc-special"}}}}},
				"routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 204}}]}]}`,
			want: []translate.Reference{
				ref(resource.ClusterType, "ext-proc-special", "virtual_hosts[0].typed_per_filter_config[envoy.filters.http.ext_proc].overrides.grpc_service.envoy_grpc.cluster_name"),
			},
		},

		// TCP proxy → Cluster.
		{
			name: "A TCP proxy references its cluster",
			kind: kinds.Listener,
			raw: `{"name": "postgres", "address": {"socket_address": {"address": "0.0.0.0", "port_value": 5432}},
				"filter_chains": [{"filters": [{"name": "envoy.filters.network.tcp_proxy",
					"typed_config": {"@type": "` + tcpProxyType + `", "stat_prefix": "pg", "cluster": "postgres-primary"}}]}]}`,
			want: []translate.Reference{
				ref(resource.ClusterType, "postgres-primary", "filter_chains[0].filters[0].typed_config.cluster"),
			},
		},
		{
			name: "A weighted TCP proxy references each of its clusters",
			kind: kinds.Listener,
			raw: `{"name": "tcp", "address": {"socket_address": {"address": "0.0.0.0", "port_value": 9000}},
				"filter_chains": [{"filters": [{"name": "envoy.filters.network.tcp_proxy",
					"typed_config": {"@type": "` + tcpProxyType + `", "stat_prefix": "tcp",
						"weighted_clusters": {"clusters": [{"name": "tcp-blue", "weight": 80}, {"name": "tcp-green", "weight": 20}]}}}]}]}`,
			want: []translate.Reference{
				ref(resource.ClusterType, "tcp-blue", "filter_chains[0].filters[0].typed_config.weighted_clusters.clusters[0].name"),
				ref(resource.ClusterType, "tcp-green", "filter_chains[0].filters[0].typed_config.weighted_clusters.clusters[1].name"),
			},
		},

		// Side services → Cluster, wherever they are.
		{
			name: "Clusters of ext_authz, JWKS fetching, gRPC access logs and a Zipkin tracer are referenced",
			kind: kinds.Listener,
			raw: hcmListener(`"rds": {"route_config_name": "local_route", "config_source": `+adsSource+`},
				"tracing": {"provider": {"name": "envoy.tracers.zipkin", "typed_config": {
					"@type": "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig",
					"collector_cluster": "zipkin", "collector_endpoint": "/api/v2/spans", "collector_endpoint_version": "HTTP_JSON"}}},
				"access_log": [{"name": "envoy.access_loggers.http_grpc", "typed_config": {
					"@type": "type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig",
					"common_config": {"log_name": "ingress", "transport_api_version": "V3", "grpc_service": {"envoy_grpc": {"cluster_name": "als"}}}}}]`,
				`{"name": "envoy.filters.http.jwt_authn", "typed_config": {
					"@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
					"providers": {"auth0": {"issuer": "https://example.auth0.com/", "remote_jwks": {
						"http_uri": {"uri": "https://example.auth0.com/.well-known/jwks.json", "cluster": "auth0-jwks", "timeout": "5s"}}}}}}`,
				`{"name": "envoy.filters.http.ext_authz", "typed_config": {
					"@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
					"transport_api_version": "V3", "grpc_service": {"envoy_grpc": {"cluster_name": "ext-authz"}, "timeout": "0.5s"}}}`),
			want: []translate.Reference{
				ref(resource.ClusterType, "als", "filter_chains[0].filters[0].typed_config.access_log[0].typed_config.common_config.grpc_service.envoy_grpc.cluster_name"),
				ref(resource.ClusterType, "auth0-jwks", "filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.providers[auth0].remote_jwks.http_uri.cluster"),
				ref(resource.ClusterType, "ext-authz", "filter_chains[0].filters[0].typed_config.http_filters[1].typed_config.grpc_service.envoy_grpc.cluster_name"),
				ref(resource.ClusterType, "zipkin", "filter_chains[0].filters[0].typed_config.tracing.provider.typed_config.collector_cluster"),
				ref(resource.RouteType, "local_route", "filter_chains[0].filters[0].typed_config.rds.route_config_name"),
			},
		},
		{
			name: "An ext_authz HTTP service references the cluster of its server URI",
			kind: kinds.Listener,
			raw: hcmListener(`"rds": {"route_config_name": "local_route", "config_source": `+adsSource+`}`,
				`{"name": "envoy.filters.http.ext_authz", "typed_config": {
					"@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
					"http_service": {"server_uri": {"uri": "http://authz.internal:8000", "cluster": "authz-http", "timeout": "1s"}}}}`),
			want: []translate.Reference{
				ref(resource.ClusterType, "authz-http", "filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.http_service.server_uri.cluster"),
				ref(resource.RouteType, "local_route", "filter_chains[0].filters[0].typed_config.rds.route_config_name"),
			},
		},
		{
			name: "The cluster of an xDS API config source is not referenced: Envoy wants it static in the bootstrap",
			kind: kinds.Listener,
			raw: hcmListener(`"rds": {"route_config_name": "elsewhere", "config_source": {"resource_api_version": "V3",
				"api_config_source": {"api_type": "GRPC", "transport_api_version": "V3", "grpc_services": [{"envoy_grpc": {"cluster_name": "other-xds"}}]}}}`),
			want: nil,
		},

		// Cluster → ClusterLoadAssignment.
		{
			name: "An EDS cluster over ADS references its service_name",
			kind: kinds.Cluster,
			raw: `{"name": "backend", "type": "EDS", "connect_timeout": "1s",
				"eds_cluster_config": {"service_name": "backend-eds", "eds_config": ` + adsSource + `}}`,
			want: []translate.Reference{ref(resource.EndpointType, "backend-eds", "eds_cluster_config.service_name")},
		},
		{
			name: "An EDS cluster without a service_name references its own name",
			kind: kinds.Cluster, raw: clusterSnake,
			want: []translate.Reference{ref(resource.EndpointType, "backend", "name")},
		},
		{
			name: "An EDS cluster without an eds_config is taken to use ADS",
			kind: kinds.Cluster,
			raw:  `{"name": "backend", "type": "EDS", "connect_timeout": "1s"}`,
			want: []translate.Reference{ref(resource.EndpointType, "backend", "name")},
		},
		{
			name: "An EDS cluster whose eds_config is a file or another server has no reference Arcturus can serve",
			kind: kinds.Cluster,
			raw: `{"name": "backend", "type": "EDS", "connect_timeout": "1s",
				"eds_cluster_config": {"eds_config": {"path_config_source": {"path": "/etc/envoy/eds.yaml"}}}}`,
			want: nil,
		},
		{
			name: "An EDS cluster's default name is the one Translate gave it",
			kind: kinds.Cluster,
			raw:  `{"type": "EDS", "connect_timeout": "1s", "eds_cluster_config": {"eds_config": {"self": {}}}}`,
			want: []translate.Reference{ref(resource.EndpointType, "ns/default-name", "name")},
		},

		// Cluster → Cluster.
		{
			name: "An aggregate cluster references the clusters it fails over across, but not itself",
			kind: kinds.Cluster,
			raw: `{"name": "failover", "connect_timeout": "1s", "lb_policy": "CLUSTER_PROVIDED",
				"cluster_type": {"name": "envoy.clusters.aggregate", "typed_config": {
					"@type": "type.googleapis.com/envoy.extensions.clusters.aggregate.v3.ClusterConfig",
					"clusters": ["primary", "failover", "secondary", "primary"]}}}`,
			want: []translate.Reference{
				ref(resource.ClusterType, "primary", "cluster_type.typed_config.clusters[0]"),
				ref(resource.ClusterType, "secondary", "cluster_type.typed_config.clusters[2]"),
			},
		},
		{
			name: "A DNS cluster with gRPC health checks and a health event logger references nothing",
			kind: kinds.Cluster,
			raw: `{"name": "api", "type": "STRICT_DNS", "connect_timeout": "1s",
				"load_assignment": {"cluster_name": "api", "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "api.internal", "port_value": 443}}}}]}]},
				"health_checks": [{"timeout": "1s", "interval": "10s", "unhealthy_threshold": 3, "healthy_threshold": 1,
					"grpc_health_check": {"service_name": "api"},
					"event_logger": [{"name": "envoy.health_check.event_sinks.file", "typed_config": {
						"@type": "type.googleapis.com/envoy.extensions.health_check.event_sinks.file.v3.HealthCheckEventFileSink", "event_log_path": "/dev/stdout"}}]}]}`,
			want: nil,
		},

		// Secrets.
		{
			name: "An upstream TLS context references its SDS secrets over ADS, not a static one without sds_config",
			kind: kinds.Cluster,
			raw: `{"name": "payments", "type": "EDS", "connect_timeout": "1s",
				"eds_cluster_config": {"eds_config": ` + adsSource + `},
				"transport_socket": {"name": "envoy.transport_sockets.tls", "typed_config": {
					"@type": "` + tlsType + `UpstreamTlsContext", "sni": "payments.internal",
					"common_tls_context": {
						"tls_certificate_sds_secret_configs": [{"name": "client-cert", "sds_config": ` + adsSource + `}],
						"validation_context_sds_secret_config": {"name": "static-ca"}}}}}`,
			want: []translate.Reference{
				ref(resource.EndpointType, "payments", "name"),
				ref(resource.SecretType, "client-cert", "transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs[0].name"),
			},
		},
		{
			name: "A downstream TLS context references its certificate and its combined validation context's secret",
			kind: kinds.Listener,
			raw: `{"name": "https", "address": {"socket_address": {"address": "0.0.0.0", "port_value": 8443}},
				"filter_chains": [{
					"transport_socket": {"name": "envoy.transport_sockets.tls", "typed_config": {
						"@type": "` + tlsType + `DownstreamTlsContext", "require_client_certificate": true,
						"common_tls_context": {
							"tls_certificate_sds_secret_configs": [{"name": "server-cert", "sds_config": ` + adsSource + `}],
							"combined_validation_context": {"default_validation_context": {},
								"validation_context_sds_secret_config": {"name": "client-ca", "sds_config": ` + adsSource + `}}}}},
					"filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": {"@type": "` + tcpProxyType + `", "stat_prefix": "https", "cluster": "web"}}]}]}`,
			want: []translate.Reference{
				ref(resource.ClusterType, "web", "filter_chains[0].filters[0].typed_config.cluster"),
				ref(resource.SecretType, "client-ca", "filter_chains[0].transport_socket.typed_config.common_tls_context.combined_validation_context.validation_context_sds_secret_config.name"),
				ref(resource.SecretType, "server-cert", "filter_chains[0].transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs[0].name"),
			},
		},

		// Filters → TypedExtensionConfig (ECDS).
		{
			name: "An HTTP filter whose config_discovery uses ADS references the extension config by the filter's name",
			kind: kinds.Listener,
			raw: hcmListener(`"rds": {"route_config_name": "r", "config_source": {"ads": {}}}`,
				`{"name": "authz", "config_discovery": {"config_source": {"ads": {}}, "type_urls": ["type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz"]}}`),
			want: []translate.Reference{
				ref(resource.ExtensionConfigType, "authz", "filter_chains[0].filters[0].typed_config.http_filters[0].name"),
				ref(resource.RouteType, "r", "filter_chains[0].filters[0].typed_config.rds.route_config_name"),
			},
		},
		{
			name: "Network and listener filters fetched over ECDS reference their extension configs",
			kind: kinds.Listener,
			raw: `{"name": "tcp", "address": {"socket_address": {"address": "0.0.0.0", "port_value": 9000}},
				"listener_filters": [{"name": "inspector", "config_discovery": {"config_source": {"self": {}}, "type_urls": ["type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"]}}],
				"filter_chains": [{"filters": [{"name": "proxy", "config_discovery": {"config_source": {"ads": {}}, "type_urls": ["type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"]}}]}]}`,
			want: []translate.Reference{
				ref(resource.ExtensionConfigType, "inspector", "listener_filters[0].name"),
				ref(resource.ExtensionConfigType, "proxy", "filter_chains[0].filters[0].name"),
			},
		},
		{
			name: "A filter config fetched from a file over ECDS is no reference Arcturus can serve",
			kind: kinds.Listener,
			raw: hcmListener(`"rds": {"route_config_name": "r", "config_source": {"ads": {}}}`,
				`{"name": "authz", "config_discovery": {"config_source": {"path_config_source": {"path": "/etc/envoy/authz.yaml"}}, "type_urls": ["type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz"]}}`),
			want: []translate.Reference{
				ref(resource.RouteType, "r", "filter_chains[0].filters[0].typed_config.rds.route_config_name"),
			},
		},
		{
			name: "An extension config references the clusters its filter calls",
			kind: kinds.ExtensionConfig,
			raw: `{"name": "authz", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
				"grpc_service": {"envoy_grpc": {"cluster_name": "authz-backend"}}}}`,
			want: []translate.Reference{
				ref(resource.ClusterType, "authz-backend", "typed_config.grpc_service.envoy_grpc.cluster_name"),
			},
		},

		// ScopedRouteConfiguration → RouteConfiguration (SRDS).
		{
			name: "A route scope references the route configuration it selects",
			kind: kinds.ScopedRoute,
			raw:  `{"name": "acme", "route_configuration_name": "tenant-acme", "key": {"fragments": [{"string_key": "acme"}]}}`,
			want: []translate.Reference{
				ref(resource.RouteType, "tenant-acme", "route_configuration_name"),
			},
		},
		{
			name: "An HTTP connection manager taking scopes over SRDS names no scope: Envoy subscribes to them all",
			kind: kinds.Listener,
			raw: hcmListener(`"scoped_routes": {"name": "scopes", "scope_key_builder": {"fragments": [{"header_value_extractor": {"name": "x-tenant"}}]},
				"rds_config_source": {"ads": {}}, "scoped_rds": {"scoped_rds_config_source": {"ads": {}}}}`),
			want: nil,
		},
		{
			name: "A runtime layer references nothing",
			kind: kinds.Runtime,
			raw:  `{"name": "rtds", "layer": {"routing.canary": 10, "cluster": "not-a-reference"}}`,
			want: nil,
		},

		// Nothing to reference.
		{
			name: "A static cluster with inline endpoints references nothing",
			kind: kinds.Cluster,
			raw: `{"name": "static", "type": "STATIC", "connect_timeout": "1s", "load_assignment": {"cluster_name": "static",
				"endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "10.0.0.1", "port_value": 80}}}}]}]}}`,
			want: nil,
		},
		{
			name: "A cluster load assignment references nothing",
			kind: kinds.Endpoint, raw: endpointSnake,
			want: nil,
		},
		{
			name: "A route configuration of redirects and direct responses references nothing",
			kind: kinds.Route,
			raw: `{"name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"], "routes": [
				{"match": {"prefix": "/old"}, "redirect": {"https_redirect": true}},
				{"match": {"prefix": "/"}, "direct_response": {"status": 404, "body": {"inline_string": "not here"}}}]}]}`,
			want: nil,
		},
		{
			name: "A TypedStruct's contents are not searched: it has no schema to know a reference by",
			kind: kinds.Route,
			raw: `{"name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"], "typed_per_filter_config": {"envoy.filters.http.lua": {
				"@type": "type.googleapis.com/xds.type.v3.TypedStruct",
				"type_url": "type.googleapis.com/envoy.config.route.v3.RouteAction",
				"value": {"cluster": "looks-like-one"}}}}]}`,
			want: nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg, errs := translate.Translate(tc.kind, []byte(tc.raw), "ns/default-name", root)
			if len(errs) > 0 {
				t.Fatalf("the test config does not translate: %v", errs)
			}
			got := translate.References(tc.kind, msg)
			if !slices.Equal(got, tc.want) {
				t.Errorf("references:\n  got  %s\n  want %s", formatRefs(got), formatRefs(tc.want))
			}
			if unguarded := translate.ReferencesUnguarded(tc.kind, msg); !slices.Equal(unguarded, got) {
				t.Errorf("References and its unguarded form differ: %v, %v", got, unguarded)
			}
		})
	}
}

func formatRefs(refs []translate.Reference) string {
	if len(refs) == 0 {
		return "none"
	}
	var b strings.Builder
	for _, r := range refs {
		b.WriteString("\n    " + r.TypeURL + " " + r.Name + " at " + r.Path)
	}
	return b.String()
}

func TestReferencesDeduplicateKeepingTheFirstPathAndSort(t *testing.T) {
	raw := `{"name": "r", "virtual_hosts": [
		{"name": "b", "domains": ["b"], "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "zeta"}}]},
		{"name": "a", "domains": ["a"], "routes": [
			{"match": {"prefix": "/z"}, "route": {"cluster": "zeta"}},
			{"match": {"prefix": "/"}, "route": {"cluster": "alpha"}}]}]}`
	msg, errs := translate.Translate(kinds.Route, []byte(raw), "", root)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := []translate.Reference{
		ref(resource.ClusterType, "alpha", "virtual_hosts[1].routes[1].route.cluster"),
		ref(resource.ClusterType, "zeta", "virtual_hosts[0].routes[0].route.cluster"),
	}
	for range 3 { // the same answer every time
		if got := translate.References(kinds.Route, msg); !slices.Equal(got, want) {
			t.Fatalf("got %s, want %s", formatRefs(got), formatRefs(want))
		}
	}
}

func TestReferencesSortByTypeThenName(t *testing.T) {
	for _, tc := range []struct {
		kind kinds.Kind
		raw  string
	}{
		{kinds.Listener, listenerSnake},
		{kinds.Route, routeSnake},
		{kinds.Cluster, clusterSnake},
	} {
		msg, errs := translate.Translate(tc.kind, []byte(tc.raw), "", root)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		refs := translate.References(tc.kind, msg)
		if len(refs) == 0 {
			t.Errorf("%s: no references", tc.kind.Name)
		}
		if !slices.IsSortedFunc(refs, func(a, b translate.Reference) int {
			return strings.Compare(a.TypeURL+"\x00"+a.Name, b.TypeURL+"\x00"+b.Name)
		}) {
			t.Errorf("%s: not sorted: %v", tc.kind.Name, refs)
		}
	}
}

func TestReferencesNeverPanics(t *testing.T) {
	var nilCluster *clusterv3.Cluster
	unresolvable := &listenerv3.Listener{Name: "l", FilterChains: []*listenerv3.FilterChain{{
		Filters: []*listenerv3.Filter{
			{Name: "bad", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: &anypb.Any{TypeUrl: "type.googleapis.com/nope.Nope", Value: []byte{0xff}}}},
			{Name: "garbage", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: &anypb.Any{TypeUrl: "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", Value: []byte{0xff, 0xff, 0xff}}}},
			{Name: "empty", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: &anypb.Any{}}},
			nil,
		},
	}, nil}}
	tests := []struct {
		name string
		kind kinds.Kind
		msg  proto.Message
	}{
		{"nil message", kinds.Cluster, nil},
		{"typed nil message", kinds.Cluster, nilCluster},
		{"zero Kind", kinds.Kind{}, &clusterv3.Cluster{Name: "c"}},
		{"message of another kind", kinds.Listener, &clusterv3.Cluster{Name: "c", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}}},
		{"unresolvable, corrupt, empty and nil entries", kinds.Listener, unresolvable},
		{"a bare Any", kinds.Listener, &anypb.Any{TypeUrl: "type.googleapis.com/envoy.config.cluster.v3.Cluster"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_ = translate.ReferencesUnguarded(tc.kind, tc.msg)
			_ = translate.References(tc.kind, tc.msg)
		})
	}
	// A message of another kind is still searched; only self-references
	// depend on the kind.
	got := translate.References(kinds.Listener, &clusterv3.Cluster{Name: "c", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}})
	if want := []translate.Reference{ref(resource.EndpointType, "c", "name")}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
