package deploy

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/arcturus-dev/arcturus/xds/kinds"
	"github.com/arcturus-dev/arcturus/xds/translate"
)

// TestEnvoySamples renders the Envoy examples (plain, and with the mtls component
// that config/overlays/prod needs), applies them with a server-side dry run into a
// namespace that warns on "restricted" Pod Security violations, and validates their
// Envoy bootstraps and Envoy resources with the controller's translator.
func TestEnvoySamples(t *testing.T) {
	xdsAddress := defaultXDSAddress(t)
	for _, dir := range []string{"config/samples/envoy-gateway", "test/deploy/testdata/envoy-gateway-mtls"} {
		t.Run(strings.ReplaceAll(dir, "/", "_"), func(t *testing.T) {
			manifests := kustomizeBuild(t, dir)
			objs := decode(t, manifests)
			for _, d := range find(objs, "Deployment", "") {
				checkRestricted(t, d)
				checkEnvoyNodeID(t, d)
			}
			translateCRs(t, objs)
			cm := one(t, objs, "ConfigMap", "envoy-bootstrap")
			data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
			boot := validateEnvoyConfig(t, "envoy.yaml", data["envoy.yaml"], bootstrapKind)
			if got := adsAddress(t, boot.(*bootstrapv3.Bootstrap)); got != xdsAddress {
				t.Errorf("the bootstrap's ADS address is %s, want config/default's xds Service %s", got, xdsAddress)
			}
			for key, content := range data {
				if key != "envoy.yaml" {
					validateEnvoyConfig(t, key, content, sdsFileKind) // SDS files
				}
			}
			dryRun(t, manifests, demoNamespace)
		})
	}
}

// TestCRSamples checks the CR samples of config/samples, one of each kind, the
// same way.
func TestCRSamples(t *testing.T) {
	manifests := kustomizeBuild(t, "config/samples")
	objs := decode(t, manifests)
	if n := translateCRs(t, objs); n != len(kinds.All) {
		t.Errorf("config/samples has %d Envoy resources, want %d", n, len(kinds.All))
	}
	for _, k := range kinds.All {
		if len(find(objs, k.Name, "")) != 1 {
			t.Errorf("config/samples has not one %s", k.Name)
		}
	}
	dryRun(t, manifests, demoNamespace)
}

// translateCRs validates the spec.config of every Arcturus object as the controller
// and its webhook do, and returns how many there were.
func translateCRs(t *testing.T, objs []*unstructured.Unstructured) int {
	t.Helper()
	n := 0
	for _, o := range objs {
		if o.GroupVersionKind().Group != "envoy.arcturus.dev" {
			continue
		}
		n++
		kind, ok := kinds.ByName(o.GetKind())
		if !ok {
			t.Errorf("%s %s: unknown kind", o.GetKind(), o.GetName())
			continue
		}
		config, _, _ := unstructured.NestedFieldNoCopy(o.Object, "spec", "config")
		raw, err := json.Marshal(config)
		if err != nil {
			t.Fatal(err)
		}
		if _, errs := translate.Translate(kind, raw, o.GetName(), field.NewPath("spec", "config")); len(errs) > 0 {
			t.Errorf("%s %s is invalid: %v", o.GetKind(), o.GetName(), errs.ToAggregate())
		}
	}
	return n
}

// bootstrapKind and sdsFileKind let the translator validate an Envoy bootstrap and
// an SDS file (path_config_source: a DiscoveryResponse's resources) with the same
// strict parsing and nested validation as the served resources.
var (
	bootstrapKind = kinds.Of[bootstrapv3.Bootstrap](kinds.Kind{Name: "Bootstrap"})
	sdsFileKind   = kinds.Of[discoveryv3.DiscoveryResponse](kinds.Kind{Name: "SDS file"})
)

func validateEnvoyConfig(t *testing.T, name, content string, kind kinds.Kind) proto.Message {
	t.Helper()
	raw, err := utilyaml.ToJSON([]byte(content))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	msg, errs := translate.Translate(kind, raw, "", field.NewPath(name))
	if len(errs) > 0 {
		t.Fatalf("%s is not a valid %s: %v", name, kind.Name, errs.ToAggregate())
	}
	if d, ok := msg.(*discoveryv3.DiscoveryResponse); ok && len(d.GetResources()) == 0 {
		t.Errorf("%s holds no resources", name)
	}
	return msg
}

// adsAddress returns host:port of the static cluster the bootstrap's ADS uses.
func adsAddress(t *testing.T, b *bootstrapv3.Bootstrap) string {
	t.Helper()
	services := b.GetDynamicResources().GetAdsConfig().GetGrpcServices()
	if len(services) != 1 {
		t.Fatalf("ads_config has %d gRPC services, want 1", len(services))
	}
	name := services[0].GetEnvoyGrpc().GetClusterName()
	for _, c := range b.GetStaticResources().GetClusters() {
		if c.GetName() != name {
			continue
		}
		for _, e := range c.GetLoadAssignment().GetEndpoints() {
			for _, lb := range e.GetLbEndpoints() {
				sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
				return net.JoinHostPort(sa.GetAddress(), fmt.Sprint(sa.GetPortValue()))
			}
		}
	}
	t.Fatalf("no static cluster %q with an endpoint", name)
	return ""
}

// defaultXDSAddress is <service>.<namespace>.svc:<port> of config/default's xDS
// Service (the one with appProtocol grpc).
func defaultXDSAddress(t *testing.T) string {
	t.Helper()
	for _, s := range find(decode(t, kustomizeBuild(t, "config/default")), "Service", "") {
		ports, _, _ := unstructured.NestedSlice(s.Object, "spec", "ports")
		for _, p := range ports {
			port := p.(map[string]any)
			if port["appProtocol"] == "grpc" {
				return net.JoinHostPort(s.GetName()+"."+s.GetNamespace()+".svc", fmt.Sprint(port["port"]))
			}
		}
	}
	t.Fatal("config/default has no Service with appProtocol grpc")
	return ""
}

// checkEnvoyNodeID checks that every Envoy container identifies itself as its own
// pod: --service-node $(POD_NAME).$(POD_NAMESPACE), both from the downward API.
func checkEnvoyNodeID(t *testing.T, d *unstructured.Unstructured) {
	t.Helper()
	envoys := 0
	for _, c := range containers(t, d) {
		if c["name"] != "envoy" {
			continue
		}
		envoys++
		args := stringSlice(c["args"])
		node := ""
		for i, a := range args {
			if a == "--service-node" && i+1 < len(args) {
				node = args[i+1]
			}
		}
		if node != "$(POD_NAME).$(POD_NAMESPACE)" {
			t.Errorf("Deployment %s: Envoy's --service-node is %q, want $(POD_NAME).$(POD_NAMESPACE)", d.GetName(), node)
		}
		env := map[string]string{}
		list, _ := c["env"].([]any)
		for _, e := range list {
			ev := e.(map[string]any)
			path, _, _ := unstructured.NestedString(ev, "valueFrom", "fieldRef", "fieldPath")
			env[ev["name"].(string)] = path
		}
		if env["POD_NAME"] != "metadata.name" || env["POD_NAMESPACE"] != "metadata.namespace" {
			t.Errorf("Deployment %s: POD_NAME/POD_NAMESPACE do not come from the downward API: %v", d.GetName(), env)
		}
	}
	if envoys == 0 {
		t.Errorf("Deployment %s has no container named envoy", d.GetName())
	}
}
