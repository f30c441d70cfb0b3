package kinds_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"sigs.k8s.io/yaml"

	"github.com/arcturus-dev/arcturus/xds/kinds"
)

func TestTableDescribesEveryServedType(t *testing.T) {
	tests := map[string]struct {
		typeURL   string // the go-control-plane type URL
		api       string // the xDS service
		nameField string // the Envoy name field
	}{
		"Cluster":  {resource.ClusterType, "CDS", "name"},
		"Endpoint": {resource.EndpointType, "EDS", "cluster_name"},
		"Listener": {resource.ListenerType, "LDS", "name"},
		"Route":    {resource.RouteType, "RDS", "name"},
		"Runtime":  {resource.RuntimeType, "RTDS", "name"},
		// ECDS, named by a filter's config_discovery.
		"ExtensionConfig": {resource.ExtensionConfigType, "ECDS", "name"},
		// SRDS, which Envoy subscribes to as a wildcard.
		"ScopedRoute": {resource.ScopedRouteType, "SRDS", "name"},
	}
	if len(kinds.All) != len(tests) {
		t.Errorf("the table has %d kinds, want %d", len(kinds.All), len(tests))
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			k, ok := kinds.ByName(name)
			if !ok {
				t.Fatalf("ByName(%q) found nothing", name)
			}
			if k.TypeURL != tc.typeURL || k.API != tc.api || string(k.NameField) != tc.nameField {
				t.Errorf("got type URL %s, API %s, name field %s; want %s, %s, %s", k.TypeURL, k.API, k.NameField, tc.typeURL, tc.api, tc.nameField)
			}
			if byURL, ok := kinds.ByTypeURL(tc.typeURL); !ok || byURL.Name != name {
				t.Errorf("ByTypeURL(%s) = %s, %v", tc.typeURL, byURL.Name, ok)
			}
			m := k.New()
			if got := resource.APITypePrefix + string(proto.MessageName(m)); got != k.TypeURL {
				t.Errorf("New() gives a %s", got)
			}
			if got := kinds.DisplayName(k.TypeURL); got != name {
				t.Errorf("DisplayName = %q", got)
			}
			k.SetName(m, "n")
			if got := k.NameOf(m); got != "n" {
				t.Errorf("NameOf after SetName = %q", got)
			}
			// The name is the one field NameField names.
			fd := m.ProtoReflect().Descriptor().Fields().ByName(k.NameField)
			if got := m.ProtoReflect().Get(fd).String(); got != "n" {
				t.Errorf("SetName set %s to %q", k.NameField, got)
			}
		})
	}
}

// A caller's mix-up must not panic: messages of another type, and nil ones,
// have no name and take none.
func TestNameOfAndSetNameIgnoreForeignAndNilMessages(t *testing.T) {
	var nilListener *listenerv3.Listener
	for _, k := range kinds.All {
		for _, m := range []proto.Message{nil, nilListener, &clusterv3.Cluster_CustomClusterType{Name: "x"}} {
			if got := k.NameOf(m); got != "" {
				t.Errorf("%s: NameOf(%T) = %q, want empty", k.Name, m, got)
			}
			k.SetName(m, "y")
		}
	}
}

func TestIncompleteKinds(t *testing.T) {
	if m := (kinds.Kind{}).New(); m != nil {
		t.Errorf("the zero Kind makes a %T", m)
	}
	if got := (kinds.Kind{}).NameOf(&clusterv3.Cluster{Name: "c"}); got != "" {
		t.Errorf("the zero Kind names a cluster %q", got)
	}
	// A message without a name field: a kind used only to translate.
	bootstrap := kinds.Of[bootstrapv3.Bootstrap](kinds.Kind{Name: "Bootstrap"})
	m := bootstrap.New()
	bootstrap.SetName(m, "x")
	if got := bootstrap.NameOf(m); got != "" {
		t.Errorf("NameOf of a kind without a name field = %q", got)
	}
}

func TestOfRejectsAMissingNameField(t *testing.T) {
	for _, field := range []string{"no_such_field", "address", "filter_chains"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Of accepted name field %q", field)
				}
			}()
			kinds.Of[listenerv3.Listener](kinds.Kind{Name: "Bad", NameField: protoreflect.Name(field)})
		}()
	}
}

func TestStagesPushWhatIsReferencedFirst(t *testing.T) {
	want := [][]string{
		{resource.ClusterType, resource.EndpointType},
		{resource.ListenerType, resource.RouteType, resource.RuntimeType, resource.ExtensionConfigType, resource.ScopedRouteType},
	}
	got := kinds.Stages()
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("Stages() = %v, want %v", got, want)
	}
	if got, want := kinds.TypeURLs(), slices.Concat(want...); !slices.Equal(got, want) {
		t.Errorf("TypeURLs() = %v, want %v", got, want)
	}
}

func TestDisplayNameOfATypeThatIsNoKind(t *testing.T) {
	if got := kinds.DisplayName(resource.SecretType); got != "Secret" {
		t.Errorf("DisplayName(SecretType) = %q, want Secret", got)
	}
	if _, ok := kinds.ByName("Secret"); ok {
		t.Error(`ByName("Secret") found a kind`)
	}
}

// The table and the CRDs that make manifests generates from api/v1alpha1 must
// agree on names: the table is what the code uses, the CRD what the API serves.
func TestTableMatchesTheCRDs(t *testing.T) {
	files, err := filepath.Glob("../../config/crd/bases/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs found: %v", err)
	}
	type crd struct {
		Spec struct {
			Group string `json:"group"`
			Names struct {
				Kind       string   `json:"kind"`
				Plural     string   `json:"plural"`
				ShortNames []string `json:"shortNames"`
				Categories []string `json:"categories"`
			} `json:"names"`
		} `json:"spec"`
	}
	seen := map[string]bool{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c crd
		if err := yaml.Unmarshal(raw, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		n := c.Spec.Names
		k, ok := kinds.ByName(n.Kind)
		if !ok {
			t.Errorf("%s: CRD kind %s is not in the table", f, n.Kind)
			continue
		}
		seen[k.Name] = true
		if n.Plural != k.Plural || !slices.Equal(n.ShortNames, []string{k.ShortName}) || !slices.Contains(n.Categories, "envoy") {
			t.Errorf("%s: CRD names %+v; table: plural %s, short name %s, category envoy", f, n, k.Plural, k.ShortName)
		}
		if filepath.Base(f) != c.Spec.Group+"_"+k.Plural+".yaml" {
			t.Errorf("%s: want file %s_%s.yaml", f, c.Spec.Group, k.Plural)
		}
	}
	for _, k := range kinds.All {
		if !seen[k.Name] {
			t.Errorf("kind %s has no CRD in config/crd/bases", k.Name)
		}
	}
}

// The controller reads every kind and writes its status: the RBAC that make
// manifests generates from the controllers' markers must grant that.
func TestRBACCoversEveryKind(t *testing.T) {
	raw, err := os.ReadFile("../../config/rbac/role.yaml")
	if err != nil {
		t.Fatal(err)
	}
	granted := map[string][]string{} // resource → verbs
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var role struct {
			Rules []struct {
				APIGroups []string `json:"apiGroups"`
				Resources []string `json:"resources"`
				Verbs     []string `json:"verbs"`
			} `json:"rules"`
		}
		if err := yaml.Unmarshal([]byte(doc), &role); err != nil {
			t.Fatal(err)
		}
		for _, r := range role.Rules {
			if slices.Contains(r.APIGroups, "envoy.arcturus.dev") {
				for _, res := range r.Resources {
					granted[res] = append(granted[res], r.Verbs...)
				}
			}
		}
	}
	for _, k := range kinds.All {
		for res, verbs := range map[string][]string{k.Plural: {"get", "list", "watch"}, k.Plural + "/status": {"get", "update", "patch"}} {
			for _, v := range verbs {
				if !slices.Contains(granted[res], v) {
					t.Errorf("config/rbac/role.yaml does not grant %s on %s", v, res)
				}
			}
		}
	}
}

// Every kind is validated at admission and installed by config/crd: the
// generated webhooks (from the markers in controllers/) and the kustomization
// must list it.
func TestManifestsListEveryKind(t *testing.T) {
	webhooks, err := os.ReadFile("../../config/webhook/manifests.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var vwc struct {
		Webhooks []struct {
			Rules []struct {
				Resources []string `json:"resources"`
			} `json:"rules"`
		} `json:"webhooks"`
	}
	if err := yaml.Unmarshal(webhooks, &vwc); err != nil {
		t.Fatal(err)
	}
	validated := map[string]bool{}
	for _, w := range vwc.Webhooks {
		for _, r := range w.Rules {
			for _, res := range r.Resources {
				validated[res] = true
			}
		}
	}
	crds, err := os.ReadFile("../../config/crd/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var kustomization struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(crds, &kustomization); err != nil {
		t.Fatal(err)
	}
	for _, k := range kinds.All {
		if !validated[k.Plural] {
			t.Errorf("config/webhook/manifests.yaml has no webhook for %s", k.Plural)
		}
		if !slices.Contains(kustomization.Resources, "bases/envoy.arcturus.dev_"+k.Plural+".yaml") {
			t.Errorf("config/crd/kustomization.yaml does not list the CRD of %s", k.Name)
		}
	}
}
