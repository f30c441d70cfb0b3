package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
	"github.com/arcturus-dev/arcturus/xds/index"
	"github.com/arcturus-dev/arcturus/xds/kinds"
)

// kindCase is one kind's configs for the tests that every kind must pass.
type kindCase struct {
	kind kinds.Kind
	// config returns a valid config named name whose served form contains mark.
	config func(name, mark string) map[string]any
	// invalid is a config the translator refuses, and what its message names.
	invalid      map[string]any
	invalidField string
}

var newKindCases = []kindCase{
	{
		kind: kinds.Runtime,
		config: func(name, mark string) map[string]any {
			return map[string]any{"name": name, "layer": map[string]any{"feature." + mark: true}}
		},
		invalid:      map[string]any{"name": "flags", "layer": "feature=true"},
		invalidField: "spec.config.layer",
	},
	{
		kind: kinds.ExtensionConfig,
		config: func(name, mark string) map[string]any {
			return map[string]any{"name": name, "typed_config": map[string]any{
				"@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
				"rules": map[string]any{"action": "DENY", "policies": map[string]any{mark: map[string]any{
					"permissions": []any{map[string]any{"any": true}}, "principals": []any{map[string]any{"any": true}},
				}}},
			}}
		},
		invalid:      map[string]any{"name": "authz"},
		invalidField: "spec.config.typed_config",
	},
	{
		kind: kinds.ScopedRoute,
		config: func(name, mark string) map[string]any {
			return map[string]any{"name": name, "route_configuration_name": "routes",
				"key": map[string]any{"fragments": []any{map[string]any{"string_key": mark}}}}
		},
		invalid:      map[string]any{"name": "scope", "route_configuration_name": "routes"},
		invalidField: "spec.config.key",
	},
}

// createObject creates an object of the kind with the config and selector.
func createObject(t *testing.T, c client.Client, k kinds.Kind, ns, name string, cfg map[string]any, selector map[string]string) ourv1alpha1.Object {
	t.Helper()
	obj, err := ourv1alpha1.New(k.Name)
	if err != nil {
		t.Fatal(err)
	}
	obj.SetNamespace(ns)
	obj.SetName(name)
	obj.EnvoySpec().Config = rawJSON(t, cfg)
	if selector != nil {
		obj.EnvoySpec().WorkloadSelector = &ourv1alpha1.WorkloadSelector{Labels: selector}
	}
	if err := c.Create(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

// waitReason waits until the object's Accepted condition has the reason for
// its current generation, and returns its message.
func waitReason(t *testing.T, c client.Client, obj ourv1alpha1.Object, reason string) string {
	t.Helper()
	var msg string
	eventually(t, fmt.Sprintf("%s Accepted reason %s", obj.GetName(), reason), func() error {
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		cond := meta.FindStatusCondition(obj.EnvoyStatus().Conditions, ourv1alpha1.ConditionAccepted)
		if cond == nil || cond.Reason != reason || cond.ObservedGeneration != obj.GetGeneration() {
			return fmt.Errorf("conditions %+v", obj.EnvoyStatus().Conditions)
		}
		msg = cond.Message
		return nil
	})
	return msg
}

// servedJSON returns, by Envoy name, the resources of a type a node is served,
// as proto JSON.
func servedJSON(t *testing.T, idx *index.Index, nodeID, typeURL string) map[string]string {
	t.Helper()
	rs, _ := idx.NodeResources(nodeID)
	out := map[string]string{}
	for _, r := range rs[typeURL] {
		b, err := protojson.Marshal(r.Message)
		if err != nil {
			t.Fatal(err)
		}
		out[r.Name] = string(b)
	}
	return out
}

// waitServedMarks waits until the node is served exactly the named resources
// of the type, each containing its mark.
func waitServedMarks(t *testing.T, idx *index.Index, nodeID, typeURL string, want map[string]string) {
	t.Helper()
	eventually(t, fmt.Sprintf("%s served to %s", kinds.DisplayName(typeURL), nodeID), func() error {
		got := servedJSON(t, idx, nodeID, typeURL)
		if len(got) != len(want) {
			return fmt.Errorf("served %v, want %v", got, want)
		}
		for name, mark := range want {
			if !strings.Contains(got[name], mark) {
				return fmt.Errorf("%s is %s, want it to contain %q", name, got[name], mark)
			}
		}
		return nil
	})
}

func TestNewKinds(t *testing.T) {
	ctl := startController(t)
	c := ctl.client
	for _, tc := range newKindCases {
		t.Run(tc.kind.Name, func(t *testing.T) {
			t.Run("a valid config is accepted and served to the selected pods only", func(t *testing.T) {
				ns := newNamespace(t, c)
				newPod(t, c, ns, "gw-0", map[string]string{"app": "gw"})
				newPod(t, c, ns, "other", map[string]string{"app": "other"})
				obj := createObject(t, c, tc.kind, ns, "first", tc.config("one", "v1"), map[string]string{"app": "gw"})
				waitReason(t, c, obj, ourv1alpha1.ReasonValid)
				if obj.EnvoyStatus().EnvoyName != "one" {
					t.Errorf("envoyName %q, want one", obj.EnvoyStatus().EnvoyName)
				}
				waitServedMarks(t, ctl.index, index.NodeID("gw-0", ns), tc.kind.TypeURL, map[string]string{"one": "v1"})
				waitServedMarks(t, ctl.index, index.NodeID("other", ns), tc.kind.TypeURL, map[string]string{})

				// Deleting it removes it.
				if err := c.Delete(context.Background(), obj); err != nil {
					t.Fatal(err)
				}
				waitServedMarks(t, ctl.index, index.NodeID("gw-0", ns), tc.kind.TypeURL, map[string]string{})
			})

			t.Run("an invalid update is refused and the last accepted config stays served", func(t *testing.T) {
				ns := newNamespace(t, c)
				newPod(t, c, ns, "gw-0", nil)
				node := index.NodeID("gw-0", ns)
				obj := createObject(t, c, tc.kind, ns, "cfg", tc.config("cfg", "v1"), nil)
				waitReason(t, c, obj, ourv1alpha1.ReasonValid)

				obj.EnvoySpec().Config = rawJSON(t, tc.invalid)
				if err := c.Update(context.Background(), obj); err != nil {
					t.Fatal(err)
				}
				msg := waitReason(t, c, obj, ourv1alpha1.ReasonInvalidConfig)
				for _, want := range []string{tc.invalidField, "generation 1) is still served"} {
					if !strings.Contains(msg, want) {
						t.Errorf("message %q does not contain %q", msg, want)
					}
				}
				waitServedMarks(t, ctl.index, node, tc.kind.TypeURL, map[string]string{"cfg": "v1"})

				// A valid update replaces it.
				obj.EnvoySpec().Config = rawJSON(t, tc.config("cfg", "v2"))
				if err := c.Update(context.Background(), obj); err != nil {
					t.Fatal(err)
				}
				waitReason(t, c, obj, ourv1alpha1.ReasonValid)
				waitServedMarks(t, ctl.index, node, tc.kind.TypeURL, map[string]string{"cfg": "v2"})
			})

			t.Run("the oldest claimant of an Envoy name wins it", func(t *testing.T) {
				ns := newNamespace(t, c)
				newPod(t, c, ns, "gw-0", nil)
				first := createObject(t, c, tc.kind, ns, "first", tc.config("shared", "v1"), nil)
				waitReason(t, c, first, ourv1alpha1.ReasonValid)
				time.Sleep(1100 * time.Millisecond) // creationTimestamp has second precision
				second := createObject(t, c, tc.kind, ns, "second", tc.config("shared", "v2"), nil)
				msg := waitReason(t, c, second, ourv1alpha1.ReasonConflict)
				if want := fmt.Sprintf("%s %q", tc.kind.Name, "first"); !strings.Contains(msg, want) {
					t.Errorf("conflict message %q does not name %s", msg, want)
				}
				waitServedMarks(t, ctl.index, index.NodeID("gw-0", ns), tc.kind.TypeURL, map[string]string{"shared": "v1"})
			})
		})
	}
}

// listenerWithECDSFilter is a Listener whose HTTP filter "authz" takes its
// config over ECDS, and whose routes come over RDS.
func listenerWithECDSFilter() map[string]any {
	return map[string]any{
		"address": map[string]any{"socket_address": map[string]any{"address": "0.0.0.0", "port_value": 8080}},
		"filter_chains": []any{map[string]any{"filters": []any{map[string]any{
			"name": "envoy.filters.network.http_connection_manager",
			"typed_config": map[string]any{
				"@type":        "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
				"stat_prefix":  "http",
				"route_config": map[string]any{"name": "inline"},
				"http_filters": []any{
					map[string]any{"name": "authz", "config_discovery": map[string]any{
						"config_source": map[string]any{"ads": map[string]any{}},
						"type_urls":     []any{"type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"},
					}},
					map[string]any{"name": "envoy.filters.http.router", "typed_config": map[string]any{
						"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}},
				},
			},
		}}}},
	}
}

func TestResolvedRefsOfNewKinds(t *testing.T) {
	ctl := startController(t)
	c := ctl.client

	t.Run("a listener's ECDS filter needs its ExtensionConfig", func(t *testing.T) {
		ns := newNamespace(t, c)
		newPod(t, c, ns, "gw-0", nil)
		l := createObject(t, c, kinds.Listener, ns, "http", listenerWithECDSFilter(), nil)
		waitResolvedRefs(t, c, l, ourv1alpha1.ReasonMissingReference, `ExtensionConfig "authz" is missing for 1 of 1 selected pods`)
		ec := createObject(t, c, kinds.ExtensionConfig, ns, "authz", newKindCases[1].config("authz", "v1"), nil)
		waitResolvedRefs(t, c, l, ourv1alpha1.ReasonResolved, "served to all 1 selected pods")
		if err := c.Delete(context.Background(), ec); err != nil {
			t.Fatal(err)
		}
		waitResolvedRefs(t, c, l, ourv1alpha1.ReasonMissingReference, `ExtensionConfig "authz" is missing`)
	})

	t.Run("a route scope needs its Route", func(t *testing.T) {
		ns := newNamespace(t, c)
		newPod(t, c, ns, "gw-0", nil)
		scope := createObject(t, c, kinds.ScopedRoute, ns, "tenant", newKindCases[2].config("tenant", "acme"), nil)
		waitResolvedRefs(t, c, scope, ourv1alpha1.ReasonMissingReference, `Route "routes" is missing for 1 of 1 selected pods`)
		createObject(t, c, kinds.Route, ns, "routes", map[string]any{"virtual_hosts": []any{}}, nil)
		waitResolvedRefs(t, c, scope, ourv1alpha1.ReasonResolved, "served to all 1 selected pods")
	})

	t.Run("a runtime layer refers to nothing", func(t *testing.T) {
		ns := newNamespace(t, c)
		rt := createObject(t, c, kinds.Runtime, ns, "flags", newKindCases[0].config("flags", "v1"), nil)
		waitResolvedRefs(t, c, rt, ourv1alpha1.ReasonResolved, "refers to no other resource")
	})
}

func TestWebhookRefusesInvalidNewKinds(t *testing.T) {
	ctl := startControllerWithWebhooks(t)
	ns := newNamespace(t, ctl.client)
	for _, tc := range newKindCases {
		t.Run(tc.kind.Name, func(t *testing.T) {
			obj, err := ourv1alpha1.New(tc.kind.Name)
			if err != nil {
				t.Fatal(err)
			}
			obj.SetNamespace(ns)
			obj.SetName("invalid")
			obj.EnvoySpec().Config = rawJSON(t, tc.invalid)
			err = ctl.client.Create(context.Background(), obj)
			if err == nil || !strings.Contains(err.Error(), tc.invalidField) {
				t.Errorf("create: %v, want an error naming %s", err, tc.invalidField)
			}
		})
	}
}
