package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/arcturus-dev/arcturus/test/testenv"
	"github.com/arcturus-dev/arcturus/xds/snapshot"
	// Registers every Envoy extension type, to read the dumps' nested Anys.
	_ "github.com/arcturus-dev/arcturus/xds/translate"
)

// applySamples creates the custom resources of config/samples (what `make dev`
// applies) in a namespace.
func applySamples(t *testing.T, ns string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "envoy_v1alpha1_*.yaml"))
	if err != nil || len(files) < 4 {
		t.Fatalf("samples: %v %v", files, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var u unstructured.Unstructured
		if err := yaml.Unmarshal(b, &u.Object); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		u.SetNamespace(ns)
		if err := k8s.Create(testContext(t), &u); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
}

// offlineDump runs `arcturus config-dump --pod ns/pod -o json` and returns, per
// type URL, the version and the resources by name.
func offlineDump(t *testing.T, ns, pod string) (versions map[string]string, resources map[string]map[string]*anypb.Any) {
	t.Helper()
	out := cli(t, binary, "config-dump", "--pod", ns+"/"+pod, "-o", "json", "--kubeconfig", kubeconfig)
	var dump adminv3.ConfigDump
	if err := protojson.Unmarshal([]byte(out), &dump); err != nil {
		t.Fatalf("config-dump -o json is not an envoy.admin.v3.ConfigDump: %v\n%s", err, out)
	}
	versions, resources = map[string]string{}, map[string]map[string]*anypb.Any{}
	add := func(typeURL, version string, a *anypb.Any) {
		if resources[typeURL] == nil {
			resources[typeURL] = map[string]*anypb.Any{}
		}
		versions[typeURL] = version
		resources[typeURL][envoyName(unpack(t, a))] = a
	}
	for _, c := range dump.GetConfigs() {
		switch m := unpack(t, c).(type) {
		case *adminv3.ClustersConfigDump:
			versions[resourcev3.ClusterType] = m.GetVersionInfo()
			for _, r := range m.GetDynamicActiveClusters() {
				add(resourcev3.ClusterType, r.GetVersionInfo(), r.GetCluster())
			}
		case *adminv3.ListenersConfigDump:
			versions[resourcev3.ListenerType] = m.GetVersionInfo()
			for _, r := range m.GetDynamicListeners() {
				add(resourcev3.ListenerType, r.GetActiveState().GetVersionInfo(), r.GetActiveState().GetListener())
			}
		case *adminv3.RoutesConfigDump:
			for _, r := range m.GetDynamicRouteConfigs() {
				add(resourcev3.RouteType, r.GetVersionInfo(), r.GetRouteConfig())
			}
		case *adminv3.SecretsConfigDump:
			if n := len(m.GetDynamicActiveSecrets()); n > 0 {
				t.Errorf("%d secrets in the dump; the fixtures reference none", n)
			}
		case *adminv3.EndpointsConfigDump:
			for _, r := range m.GetDynamicEndpointConfigs() {
				add(resourcev3.EndpointType, r.GetVersionInfo(), r.GetEndpointConfig())
			}
		case *adminv3.EcdsConfigDump:
			for _, r := range m.GetEcdsFilters() {
				add(resourcev3.ExtensionConfigType, r.GetVersionInfo(), r.GetEcdsFilter())
			}
		case *adminv3.ScopedRoutesConfigDump:
			for _, r := range m.GetDynamicScopedRouteConfigs() {
				for _, a := range r.GetScopedRouteConfigs() {
					add(resourcev3.ScopedRouteType, r.GetVersionInfo(), a)
				}
			}
		default:
			t.Fatalf("unexpected config %T in the dump", m)
		}
	}
	return versions, resources
}

func unpack(t *testing.T, a *anypb.Any) proto.Message {
	t.Helper()
	m, err := a.UnmarshalNew()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// sameResource compares two resources by content, nested Anys unpacked.
func sameResource(t *testing.T, a, b *anypb.Any) bool {
	t.Helper()
	ja, err := protojson.Marshal(unpack(t, a))
	if err != nil {
		t.Fatal(err)
	}
	jb, err := protojson.Marshal(unpack(t, b))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}

// TestOfflineConfigDump checks that `arcturus config-dump --pod`, which reads only
// the API, prints exactly what the running controller serves each pod over ADS:
// the same resources and the same version per type, for the make dev samples and
// the e2e fixtures (selection by label, an invalid object, a dangling reference).
func TestOfflineConfigDump(t *testing.T) {
	a := startArcturus(t)
	ns := newNamespace(t)
	newPod(t, ns, "demo-gateway-0", "127.0.0.1", map[string]string{"app": "demo-gateway"})
	newPod(t, ns, "web-0", "127.0.0.1", map[string]string{"app": "web"})
	newPod(t, ns, "bare-0", "127.0.0.1", nil)
	applySamples(t, ns)
	apply(t, ns, object{kind: "Cluster", name: "everyone", config: staticCluster("everyone", 8001)})
	apply(t, ns, object{kind: "Cluster", name: "backend-v1", selector: map[string]string{"app": "web"}, config: edsCluster("backend-v1")})
	apply(t, ns, object{kind: "Endpoint", name: "backend-v1", selector: map[string]string{"app": "web"}, config: endpoints("backend-v1", 8002, 8003)})
	apply(t, ns, object{kind: "Route", name: "dangling", selector: map[string]string{"app": "web"}, config: map[string]any{"virtual_hosts": []any{map[string]any{
		"name": "all", "domains": []any{"*"},
		"routes": []any{map[string]any{"match": map[string]any{"prefix": "/"}, "route": map[string]any{"cluster": "nowhere"}}},
	}}}})
	apply(t, ns, object{kind: "Cluster", name: "broken", selector: map[string]string{"app": "web"}, config: map[string]any{"connect_timeout": "soon"}})
	for _, o := range [][2]string{{"Listener", "demo-http"}, {"Route", "demo-routes"}, {"Cluster", "demo-backend"}, {"Endpoint", "demo-backend"},
		{"Cluster", "everyone"}, {"Cluster", "backend-v1"}, {"Endpoint", "backend-v1"}, {"Route", "dangling"}} {
		waitAccepted(t, ns, o[0], o[1], "Valid")
	}
	waitAccepted(t, ns, "Cluster", "broken", "InvalidConfig")

	for _, pod := range []string{"demo-gateway-0", "web-0", "bare-0"} {
		t.Run(pod, func(t *testing.T) {
			versions, resources := offlineDump(t, ns, pod)
			// Every type the samples serve but Runtime, which the dump leaves out.
			if pod == "demo-gateway-0" && len(resources) != 6 {
				t.Errorf("the samples' pod gets %d types, want 6: %v", len(resources), versions)
			}
			// Runtime layers are not in Envoy's config dump (Envoy shows them at /runtime).
			for _, typeURL := range []string{resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ExtensionConfigType, resourcev3.ScopedRouteType} {
				want, version := resources[typeURL], versions[typeURL]
				if version == "" {
					// Envoy's route and endpoint dumps carry versions per
					// resource only: an empty set shows none.
					version = snapshot.Version(nil)
				}
				c := newSotW(t, a.XDSAddr, pod+"."+ns, typeURL, "")
				r := c.next()
				// Responses may come in steps (make-before-break); the dump
				// shows where they end.
				for deadline := time.Now().Add(20 * time.Second); r.GetVersionInfo() != version && time.Now().Before(deadline); {
					r = c.next()
				}
				if r.GetVersionInfo() != version {
					t.Fatalf("%s: ADS serves version %s, the dump shows %s", typeURL, r.GetVersionInfo(), version)
				}
				if names, wantNames := resourceNames(t, r.GetResources()), sortedKeys(want); !slices.Equal(names, wantNames) {
					t.Fatalf("%s version %s: ADS serves %v, the dump shows %v", typeURL, version, names, wantNames)
				}
				for _, res := range r.GetResources() {
					if name := envoyName(unpack(t, res)); !sameResource(t, res, want[name]) {
						t.Errorf("%s %q differs:\nADS:  %v\ndump: %v", typeURL, name, res, want[name])
					}
				}
				c.cancel()
			}
		})
	}

	// Offline means offline: the controller is not needed.
	a.Stop()
	t.Run("the default output names sources, conditions and missing references", func(t *testing.T) {
		out := cli(t, binary, "config-dump", "--pod", "web-0", "-n", ns, "--kubeconfig", kubeconfig)
		var entries []struct {
			Type, Name, Source, Version string
			Served                      *bool
			Conditions                  []string
			MissingReferences           []string `json:"missingReferences"`
		}
		if err := yaml.Unmarshal([]byte(out), &entries); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		var dangling, broken bool
		for _, e := range entries {
			switch e.Source {
			case "Route " + ns + "/dangling":
				dangling = e.Type == "route" && e.Name == "dangling" && slices.Equal(e.MissingReferences, []string{`cluster "nowhere"`}) &&
					slices.ContainsFunc(e.Conditions, func(c string) bool { return strings.HasPrefix(c, "ResolvedRefs=False MissingReference: ") })
			case "Cluster " + ns + "/broken":
				broken = e.Served != nil && !*e.Served &&
					slices.ContainsFunc(e.Conditions, func(c string) bool {
						return strings.Contains(c, "Accepted=False InvalidConfig: spec.config.connect_timeout")
					})
			}
		}
		if !dangling || !broken {
			t.Errorf("dangling route reported: %v, invalid cluster reported: %v; output:\n%s", dangling, broken, out)
		}
	})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
