package main

import (
	"fmt"
	"slices"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/arcturus-dev/arcturus/xds/kinds"
)

// The fixture is one namespace of P Envoy pods and a set of custom resources.
// Every pod carries appLabel; pods are also grouped ten at a time by groupLabel,
// so a CR selects either the whole fleet or exactly ten pods.
const (
	namespace   = "load"
	appLabel    = "app"
	appValue    = "gateway"
	groupLabel  = "group"
	groupSize   = 10
	churnGroup  = "churn" // groupLabel value of the pods the churn loop creates
	podIP       = "127.0.0.1"
	listenPort  = 10000
	backendPort = 8080
)

// crSetSpec sizes a CR set. Listener i and Route i belong together (the listener's
// HCM names the route over RDS), as do Cluster j and Endpoint j (an EDS cluster
// and its ClusterLoadAssignment), and each pair shares one selector, so every
// reference resolves for every pod.
type crSetSpec struct {
	Listeners int // and as many Routes
	Clusters  int // and as many Endpoints
	// GroupEvery: CR i selects a group of ten pods when i%GroupEvery ==
	// GroupEvery-1, else every pod.
	GroupEvery int
}

// crSets are the -crs choices.
var crSets = map[string]crSetSpec{
	// R500: 100 Listeners, 100 Routes, 150 Clusters, 150 Endpoints.
	"R500":  {Listeners: 100, Clusters: 150, GroupEvery: 10},
	"small": {Listeners: 4, Clusters: 6, GroupEvery: 3},
}

// simulatedKinds are the kinds the simulated Envoys use, in the order an Envoy
// subscribes over ADS: CDS, EDS, LDS, RDS.
var simulatedKinds = []kinds.Kind{kinds.Cluster, kinds.Endpoint, kinds.Listener, kinds.Route}

// kindByTypeURL returns the simulated kind serving an xDS type URL.
func kindByTypeURL(typeURL string) (kinds.Kind, bool) {
	i := slices.IndexFunc(simulatedKinds, func(k kinds.Kind) bool { return k.TypeURL == typeURL })
	if i < 0 {
		return kinds.Kind{}, false
	}
	return simulatedKinds[i], true
}

// desiredCR is one custom resource as the harness wants it to be. Rev is bumped
// by every update; the config is a pure function of (kind, index, rev), so the
// harness knows every content it ever wrote.
type desiredCR struct {
	Kind     kinds.Kind
	Index    int
	Name     string // metadata.name and the Envoy name
	Selector map[string]string
	Rev      int
	// routeClusters: for a Route, the clusters its routes point at.
	routeClusters []string
}

// Config returns the CR's spec.config at its current revision.
func (c *desiredCR) Config() proto.Message { return c.configAt(c.Rev) }

// configAt returns the CR's spec.config at revision rev.
func (c *desiredCR) configAt(rev int) proto.Message {
	switch c.Kind.Name {
	case "Listener":
		return listenerConfig(c.Index, rev)
	case "Route":
		return routeConfig(c.Index, rev, c.routeClusters)
	case "Cluster":
		return clusterConfig(c.Index, rev)
	default:
		return endpointConfig(c.Index, rev)
	}
}

// ConfigJSON is Config as the proto3 JSON stored in spec.config.
func (c *desiredCR) ConfigJSON() []byte { return mustJSON(c.Config()) }

// crSet is the whole desired CR set of the namespace.
type crSet struct {
	spec crSetSpec
	all  []*desiredCR // Clusters, Endpoints, Listeners, Routes
}

// newCRSet generates the CR set for a fleet of pods pods.
func newCRSet(spec crSetSpec, pods int) *crSet {
	groups := max(1, (pods+groupSize-1)/groupSize)
	selector := func(i int) map[string]string {
		if i%spec.GroupEvery == spec.GroupEvery-1 {
			return map[string]string{groupLabel: groupName((i / spec.GroupEvery) % groups)}
		}
		return map[string]string{appLabel: appValue}
	}
	// Routes only point at clusters that every pod receives, so a route never
	// references a cluster its pod lacks.
	var fleetClusters []string
	for j := range spec.Clusters {
		if j%spec.GroupEvery != spec.GroupEvery-1 {
			fleetClusters = append(fleetClusters, clusterName(j))
		}
	}
	s := &crSet{spec: spec}
	for j := range spec.Clusters {
		s.all = append(s.all, &desiredCR{Kind: kinds.Cluster, Index: j, Name: clusterName(j), Selector: selector(j)})
	}
	for j := range spec.Clusters {
		s.all = append(s.all, &desiredCR{Kind: kinds.Endpoint, Index: j, Name: clusterName(j), Selector: selector(j)})
	}
	for i := range spec.Listeners {
		s.all = append(s.all, &desiredCR{Kind: kinds.Listener, Index: i, Name: fmt.Sprintf("listener-%03d", i), Selector: selector(i)})
	}
	for i := range spec.Listeners {
		var targets []string
		for k := range 12 {
			targets = append(targets, fleetClusters[(i*7+k*5)%len(fleetClusters)])
		}
		s.all = append(s.all, &desiredCR{Kind: kinds.Route, Index: i, Name: routeName(i), Selector: selector(i), routeClusters: targets})
	}
	return s
}

// find returns the first CR of the kind whose selector satisfies match.
func (s *crSet) find(kind kinds.Kind, match func(map[string]string) bool) *desiredCR {
	for _, c := range s.all {
		if c.Kind.Name == kind.Name && match(c.Selector) {
			return c
		}
	}
	return nil
}

// selectsFleet reports whether a selector selects every pod of the fleet.
func selectsFleet(sel map[string]string) bool { return sel[appLabel] == appValue }

// selectsGroup returns a matcher for selectors that select exactly group g.
func selectsGroup(g int) func(map[string]string) bool {
	return func(sel map[string]string) bool { return sel[groupLabel] == groupName(g) }
}

func groupName(g int) string   { return fmt.Sprintf("g%03d", g) }
func clusterName(j int) string { return fmt.Sprintf("cluster-%03d", j) }
func routeName(i int) string   { return fmt.Sprintf("route-%03d", i) }
func podName(i int) string     { return fmt.Sprintf("envoy-%05d", i) }

// podLabels are the labels of fleet pod i.
func podLabels(i int) map[string]string {
	return map[string]string{appLabel: appValue, groupLabel: groupName(i / groupSize), "app.kubernetes.io/component": "gateway"}
}

// adsSource is the ConfigSource of a resource fetched over the same ADS stream.
func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
		ResourceApiVersion:    corev3.ApiVersion_V3,
	}
}

func socketAddress(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

// listenerConfig is an HTTP listener whose HCM takes route-<i> from RDS; rev
// changes its buffer limit.
func listenerConfig(i, rev int) *listenerv3.Listener {
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix:       fmt.Sprintf("ingress_%03d", i),
		CodecType:        hcmv3.HttpConnectionManager_AUTO,
		UseRemoteAddress: wrapperspb.Bool(true),
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource: adsSource(), RouteConfigName: routeName(i),
		}},
		HttpFilters: []*hcmv3.HttpFilter{{
			Name:       "envoy.filters.http.router",
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})},
		}},
		CommonHttpProtocolOptions: &corev3.HttpProtocolOptions{IdleTimeout: durationpb.New(5 * time.Minute)},
	}
	return &listenerv3.Listener{
		Name:                          fmt.Sprintf("listener-%03d", i),
		Address:                       socketAddress("0.0.0.0", uint32(listenPort+i)),
		PerConnectionBufferLimitBytes: wrapperspb.UInt32(uint32(32768 + rev)),
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
			Name:       "envoy.filters.network.http_connection_manager",
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)},
		}}}},
	}
}

// routeConfig is a RouteConfiguration of three virtual hosts with four routes
// each (about 1 KB); rev changes the first route's timeout.
func routeConfig(i, rev int, clusters []string) *routev3.RouteConfiguration {
	rc := &routev3.RouteConfiguration{Name: routeName(i)}
	for v := range 3 {
		host := fmt.Sprintf("svc-%03d-%d.example.com", i, v)
		vh := &routev3.VirtualHost{Name: fmt.Sprintf("vh-%03d-%d", i, v), Domains: []string{host, host + ":*"}}
		for r := range 4 {
			timeout := 15 * time.Second
			if v == 0 && r == 0 {
				timeout += time.Duration(rev) * time.Millisecond
			}
			vh.Routes = append(vh.Routes, &routev3.Route{
				Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: fmt.Sprintf("/api/v%d/", r+1)}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{
					ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: clusters[v*4+r]},
					Timeout:          durationpb.New(timeout),
					RetryPolicy:      &routev3.RetryPolicy{RetryOn: "5xx,reset", NumRetries: wrapperspb.UInt32(2)},
				}},
			})
		}
		rc.VirtualHosts = append(rc.VirtualHosts, vh)
	}
	return rc
}

// clusterConfig is an EDS cluster fed over ADS; rev changes connect_timeout.
func clusterConfig(j, rev int) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 clusterName(j),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource()},
		ConnectTimeout:       durationpb.New(time.Second + time.Duration(rev)*time.Millisecond),
		LbPolicy:             clusterv3.Cluster_LEAST_REQUEST,
		CircuitBreakers: &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{
			MaxConnections: wrapperspb.UInt32(4096), MaxPendingRequests: wrapperspb.UInt32(1024),
			MaxRequests: wrapperspb.UInt32(4096), MaxRetries: wrapperspb.UInt32(16),
		}}},
	}
}

// endpointConfig is a ClusterLoadAssignment of three weighted localities with
// three endpoints each; rev changes the first endpoint's port, so every revision
// has a distinct content.
func endpointConfig(j, rev int) *endpointv3.ClusterLoadAssignment {
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: clusterName(j)}
	for z := range 3 {
		loc := &endpointv3.LocalityLbEndpoints{
			Locality:            &corev3.Locality{Region: "eu-west-1", Zone: fmt.Sprintf("eu-west-1%c", 'a'+z)},
			LoadBalancingWeight: wrapperspb.UInt32(uint32(100 - 20*z)),
		}
		for e := range 3 {
			port := uint32(backendPort)
			if z == 0 && e == 0 {
				port += uint32(rev)
			}
			loc.LbEndpoints = append(loc.LbEndpoints, &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{
				Endpoint: &endpointv3.Endpoint{Address: socketAddress(fmt.Sprintf("10.%d.%d.%d", j/250, j%250, z*10+e+1), port)},
			}})
		}
		cla.Endpoints = append(cla.Endpoints, loc)
	}
	return cla
}

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(err)
	}
	return a
}

// mustJSON renders a message as the proto3 JSON a user would write, with proto
// field names as in the Envoy docs.
func mustJSON(m proto.Message) []byte {
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}
