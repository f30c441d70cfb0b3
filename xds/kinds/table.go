package kinds

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	runtimev3 "github.com/envoyproxy/go-control-plane/envoy/service/runtime/v3"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The kinds. Push order (Stage), make-before-break: what others refer to first
// (clusters, then the endpoints of EDS clusters), then what refers to it
// (listeners and their routes, and with them what they fetch by name: filter
// configs over ECDS, runtime layers over RTDS, route scopes over SRDS).
//
// Reasoning: ECDS and RTDS share the listeners' stage rather than going before
// it. Envoy subscribes to an ECDS name only once a listener that uses it
// arrives (it warms the listener until the config comes), and to RTDS layers
// only if its bootstrap names them; a stage of their own would hold every
// listener change back for the answer timeout at nodes that never subscribe.
var (
	Cluster = Of[clusterv3.Cluster](Kind{
		Name: "Cluster", Plural: "clusters", ShortName: "ec", API: "CDS",
		NameField: "name", Stage: 0,
		ReferencedBy: []RefRule{
			// Routes: in a RouteConfiguration, and in the route_config an HTTP
			// connection manager carries inline. Mirrored traffic needs its
			// cluster as much as the primary does.
			{In: "envoy.config.route.v3.RouteAction", Field: "cluster"},
			{In: "envoy.config.route.v3.WeightedCluster.ClusterWeight", Field: "name"},
			{In: "envoy.config.route.v3.RouteAction.RequestMirrorPolicy", Field: "cluster"},
			// TCP proxying, plain or weighted.
			{In: "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", Field: "cluster"},
			{In: "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster.ClusterWeight", Field: "name"},
			// Side calls that filters and loggers make through Envoy's own
			// cluster manager: ext_authz, ext_proc, rate limiting, gRPC access
			// logs, JWKS fetching, OAuth2 token endpoints, ... They all go
			// through one of these two messages (not when they sit in an
			// ApiConfigSource, which Envoy resolves against its bootstrap).
			{In: "envoy.config.core.v3.GrpcService.EnvoyGrpc", Field: "cluster_name"},
			{In: "envoy.config.core.v3.HttpUri", Field: "cluster"},
			// Tracers that send spans to a cluster by name; Envoy accepts a
			// cluster added over CDS for them.
			{In: "envoy.config.trace.v3.ZipkinConfig", Field: "collector_cluster"},
			{In: "envoy.config.trace.v3.DatadogConfig", Field: "collector_cluster"},
			// An aggregate cluster (cluster_type envoy.clusters.aggregate)
			// fails over across other clusters.
			{In: "envoy.extensions.clusters.aggregate.v3.ClusterConfig", Field: "clusters"},
		},
	})
	Listener = Of[listenerv3.Listener](Kind{
		Name: "Listener", Plural: "listeners", ShortName: "el", API: "LDS",
		NameField: "name", Stage: 1,
	})
	Endpoint = Of[endpointv3.ClusterLoadAssignment](Kind{
		Name: "Endpoint", Plural: "endpoints", ShortName: "eep", API: "EDS",
		NameField: "cluster_name", Stage: 0,
		ReferencedBy: []RefRule{
			// An EDS cluster needs its ClusterLoadAssignment, named by
			// service_name or, when that is empty, by the cluster's own name.
			// Envoy fetches it over ADS when eds_config says ads (or self, the
			// server that sent the cluster); an absent eds_config is taken the
			// same way.
			{
				In: "envoy.config.cluster.v3.Cluster", Field: "eds_cluster_config.service_name", Fallback: "name",
				Source: "eds_cluster_config.eds_config", UnsetSource: true, When: EnumIs("type", "EDS"),
			},
		},
	})
	Route = Of[routev3.RouteConfiguration](Kind{
		Name: "Route", Plural: "routes", ShortName: "er", API: "RDS",
		NameField: "name", Stage: 1,
		ReferencedBy: []RefRule{
			// An HTTP connection manager (in a filter chain or an
			// api_listener) taking its routes from RDS.
			{In: "envoy.extensions.filters.network.http_connection_manager.v3.Rds", Field: "route_config_name", Source: "config_source"},
			// A route scope names the RouteConfiguration it selects; the HTTP
			// connection manager fetching scopes says where routes come from.
			{In: "envoy.config.route.v3.ScopedRouteConfiguration", Field: "route_configuration_name"},
		},
	})
	Runtime = Of[runtimev3.Runtime](Kind{
		Name: "Runtime", Plural: "runtimes", ShortName: "ert", API: "RTDS",
		NameField: "name", Stage: 1,
		// Named only by the bootstrap's layered_runtime, never by a served
		// resource: nothing refers to it.
	})
	ExtensionConfig = Of[corev3.TypedExtensionConfig](Kind{
		Name: "ExtensionConfig", Plural: "extensionconfigs", ShortName: "eec", API: "ECDS",
		NameField: "name", Stage: 1,
		// A filter whose config_discovery fetches its configuration over ECDS,
		// by the filter's name: HTTP filters (downstream and upstream),
		// network filters (listener and cluster), listener filters, UDP
		// session filters and the composite filter's dynamic configs.
		ReferencedBy: extensionConfigSources(
			"envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter",
			"envoy.config.listener.v3.Filter",
			"envoy.config.listener.v3.ListenerFilter",
			"envoy.config.cluster.v3.Filter",
			"envoy.extensions.filters.udp.udp_proxy.v3.UdpProxyConfig.SessionFilter",
			"envoy.extensions.filters.http.composite.v3.DynamicConfig",
		),
	})
	ScopedRoute = Of[routev3.ScopedRouteConfiguration](Kind{
		Name: "ScopedRoute", Plural: "scopedroutes", ShortName: "esr", API: "SRDS",
		NameField: "name", Stage: 1,
		// Envoy subscribes to SRDS as a wildcard: nothing names a scope.
	})
)

// extensionConfigSources are the rules for messages that name an ECDS resource
// by their name field when their config_discovery fetches it.
func extensionConfigSources(in ...protoreflect.FullName) []RefRule {
	rules := make([]RefRule, len(in))
	for i, m := range in {
		rules[i] = RefRule{In: m, Field: "name", Source: "config_discovery.config_source"}
	}
	return rules
}

// All lists every kind, in the order users see them listed (proxy-status
// columns: CDS, LDS, EDS, RDS as istioctl prints them, then the others). Stage,
// not this order, decides the push order.
var All = []Kind{Cluster, Listener, Endpoint, Route, Runtime, ExtensionConfig, ScopedRoute}
