package cli

import (
	"fmt"
	"io"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	statusv3 "github.com/envoyproxy/go-control-plane/envoy/service/status/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	sigsyaml "sigs.k8s.io/yaml"
)

// xdsResource is one resource a node holds or would be served.
type xdsResource struct {
	typeURL, name string
	// version is the version_info of the response that carries it.
	version  string
	resource *anypb.Any
}

// envoyConfigDump arranges resources as Envoy's admin /config_dump shows them:
// one dump per type, in Envoy's order (clusters, extension configs, listeners,
// scoped routes, routes, secrets with private keys redacted, endpoints), each
// resource as a dynamic, active one. Runtime layers are left out, as Envoy
// shows them at /runtime, not in its config dump. typeVersions are the versions
// of the types whose dump carries one (CDS and LDS), also when they hold nothing.
func envoyConfigDump(typeVersions map[string]string, rs []xdsResource) (*adminv3.ConfigDump, error) {
	clusters := adminv3.ClustersConfigDump{VersionInfo: typeVersions[resourcev3.ClusterType]}
	listeners := adminv3.ListenersConfigDump{VersionInfo: typeVersions[resourcev3.ListenerType]}
	var (
		routes    adminv3.RoutesConfigDump
		endpoints adminv3.EndpointsConfigDump
		secrets   adminv3.SecretsConfigDump
		ecds      adminv3.EcdsConfigDump
		scoped    adminv3.ScopedRoutesConfigDump
	)
	for _, r := range rs {
		switch r.typeURL {
		case resourcev3.SecretType:
			a, err := redact(r.typeURL, r.resource)
			if err != nil {
				return nil, err
			}
			secrets.DynamicActiveSecrets = append(secrets.DynamicActiveSecrets,
				&adminv3.SecretsConfigDump_DynamicSecret{Name: r.name, VersionInfo: r.version, Secret: a})
		case resourcev3.ClusterType:
			clusters.DynamicActiveClusters = append(clusters.DynamicActiveClusters,
				&adminv3.ClustersConfigDump_DynamicCluster{VersionInfo: r.version, Cluster: r.resource})
		case resourcev3.ListenerType:
			listeners.DynamicListeners = append(listeners.DynamicListeners, &adminv3.ListenersConfigDump_DynamicListener{
				Name: r.name, ActiveState: &adminv3.ListenersConfigDump_DynamicListenerState{VersionInfo: r.version, Listener: r.resource},
			})
		case resourcev3.RouteType:
			routes.DynamicRouteConfigs = append(routes.DynamicRouteConfigs,
				&adminv3.RoutesConfigDump_DynamicRouteConfig{VersionInfo: r.version, RouteConfig: r.resource})
		case resourcev3.EndpointType:
			endpoints.DynamicEndpointConfigs = append(endpoints.DynamicEndpointConfigs,
				&adminv3.EndpointsConfigDump_DynamicEndpointConfig{VersionInfo: r.version, EndpointConfig: r.resource})
		case resourcev3.ExtensionConfigType:
			ecds.EcdsFilters = append(ecds.EcdsFilters, &adminv3.EcdsConfigDump_EcdsFilterConfig{VersionInfo: r.version, EcdsFilter: r.resource})
		case resourcev3.ScopedRouteType:
			scoped.DynamicScopedRouteConfigs = append(scoped.DynamicScopedRouteConfigs, &adminv3.ScopedRoutesConfigDump_DynamicScopedRouteConfigs{
				Name: r.name, VersionInfo: r.version, ScopedRouteConfigs: []*anypb.Any{r.resource}})
		case resourcev3.RuntimeType:
		default:
			return nil, fmt.Errorf("resource %q: type %s has no place in Envoy's config dump", r.name, r.typeURL)
		}
	}
	dump := &adminv3.ConfigDump{}
	for _, m := range []proto.Message{&clusters, &ecds, &listeners, &scoped, &routes, &secrets, &endpoints} {
		a, err := anypb.New(m)
		if err != nil {
			return nil, err
		}
		dump.Configs = append(dump.Configs, a)
	}
	return dump, nil
}

// writeEnvoyDump prints resources as Envoy's config dump, in JSON (as Envoy's
// admin interface prints it: proto field names) or YAML.
func writeEnvoyDump(w io.Writer, format string, typeVersions map[string]string, rs []xdsResource) error {
	dump, err := envoyConfigDump(typeVersions, rs)
	if err != nil {
		return err
	}
	out, err := protojson.MarshalOptions{UseProtoNames: true, Multiline: true, Indent: "  "}.Marshal(dump)
	if err != nil {
		return err
	}
	if format == "yaml" {
		if out, err = sigsyaml.JSONToYAML(out); err != nil {
			return err
		}
	} else {
		out = append(out, '\n')
	}
	_, err = w.Write(out)
	return err
}

// clientConfigResources lists the resources a node's CSDS status shows it holds
// or is being sent, and the version of each type.
func clientConfigResources(cc *statusv3.ClientConfig) (map[string]string, []xdsResource) {
	versions := map[string]string{}
	var rs []xdsResource
	for _, c := range cc.GetGenericXdsConfigs() {
		if c.GetXdsConfig() != nil {
			rs = append(rs, xdsResource{typeURL: c.GetTypeUrl(), name: c.GetName(), version: c.GetVersionInfo(), resource: c.GetXdsConfig()})
			versions[c.GetTypeUrl()] = c.GetVersionInfo()
		}
	}
	return versions, rs
}
