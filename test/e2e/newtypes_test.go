package e2e

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
)

// newType is one of the kinds served over RTDS, ECDS and SRDS, as the tests use it.
type newType struct {
	kind    string
	typeURL string
	// wildcard: Envoy subscribes to the type as a whole (SRDS), not by name.
	wildcard bool
	// config is a valid config named name whose encoding contains mark.
	config func(name, mark string) map[string]any
	// invalid is a config the controller refuses.
	invalid map[string]any
}

func runtimeLayer(name, mark string) map[string]any {
	return map[string]any{"name": name, "layer": map[string]any{"feature." + mark: true}}
}

func rbacFilterConfig(name, mark string) map[string]any {
	return map[string]any{"name": name, "typed_config": map[string]any{
		"@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
		"rules": map[string]any{"action": "DENY", "policies": map[string]any{mark: map[string]any{
			"permissions": []any{map[string]any{"any": true}}, "principals": []any{map[string]any{"any": true}},
		}}},
	}}
}

func routeScope(name, mark string) map[string]any {
	return map[string]any{"name": name, "route_configuration_name": "routes",
		"key": map[string]any{"fragments": []any{map[string]any{"string_key": mark}}}}
}

var newTypes = []newType{
	{kind: "Runtime", typeURL: resourcev3.RuntimeType, config: runtimeLayer,
		invalid: map[string]any{"name": "layer", "layer": "feature=true"}},
	{kind: "ExtensionConfig", typeURL: resourcev3.ExtensionConfigType, config: rbacFilterConfig,
		invalid: map[string]any{"name": "layer"}},
	{kind: "ScopedRoute", typeURL: resourcev3.ScopedRouteType, wildcard: true, config: routeScope,
		invalid: map[string]any{"name": "layer", "route_configuration_name": "routes"}},
}

// subscription is what an Envoy asks for: the name, or everything for a wildcard type.
func (nt newType) subscription(name string) []string {
	if nt.wildcard {
		return nil
	}
	return []string{name}
}

// holds reports whether the resources are exactly one resource named name whose
// encoding contains mark.
func holds(resources [][]byte, names []string, name, mark string) error {
	if len(resources) != 1 || names[0] != name {
		return fmt.Errorf("resources %v, want only %s", names, name)
	}
	if !bytes.Contains(resources[0], []byte(mark)) {
		return fmt.Errorf("%s does not contain %q", name, mark)
	}
	return nil
}

// waitSotW reads responses until one holds only name with mark.
func waitSotW(t *testing.T, c *sotwClient, name, mark string) *discoveryv3.DiscoveryResponse {
	t.Helper()
	deadline := time.After(20 * time.Second)
	var last error
	for {
		select {
		case r, ok := <-c.responses:
			if !ok {
				t.Fatalf("%s: stream closed", c.node)
			}
			var values [][]byte
			for _, a := range r.GetResources() {
				values = append(values, a.GetValue())
			}
			if last = holds(values, resourceNames(t, r.GetResources()), name, mark); last == nil {
				return r
			}
		case <-deadline:
			t.Fatalf("%s: %v", c.node, last)
			return nil
		}
	}
}

// TestNewTypes checks RTDS, ECDS and SRDS end to end over SotW and delta: per-pod
// selection, update, the last accepted config on a bad update, and removal.
func TestNewTypes(t *testing.T) {
	a := startArcturus(t)
	for _, nt := range newTypes {
		t.Run(nt.kind, func(t *testing.T) {
			ns := newNamespace(t)
			newPod(t, ns, "gw-0", "127.0.0.1", map[string]string{"app": "gw"})
			newPod(t, ns, "web-0", "127.0.0.1", map[string]string{"app": "web"})
			gwOnly := map[string]string{"app": "gw"}
			apply(t, ns, object{kind: nt.kind, name: "cfg", selector: gwOnly, config: nt.config("cfg", "mark-v1")})
			waitAccepted(t, ns, nt.kind, "cfg", "Valid")

			gw := newSotW(t, a.XDSAddr, "gw-0."+ns, nt.typeURL, "", nt.subscription("cfg")...)
			web := newSotW(t, a.XDSAddr, "web-0."+ns, nt.typeURL, "", nt.subscription("cfg")...)
			gwDelta := newDelta(t, a.XDSAddr, "gw-0."+ns, nt.typeURL, nil)
			webDelta := newDelta(t, a.XDSAddr, "web-0."+ns, nt.typeURL, nil)

			t.Run("only the selected pod is served it", func(t *testing.T) {
				waitSotW(t, gw, "cfg", "mark-v1")
				if r := web.next(); len(r.GetResources()) != 0 {
					t.Errorf("web-0 was served %v", resourceNames(t, r.GetResources()))
				}
				waitDelta(t, gwDelta, "cfg", "mark-v1")
				if r := webDelta.next(); len(r.GetResources()) != 0 {
					t.Errorf("web-0 was served %d resources over delta", len(r.GetResources()))
				}
			})

			t.Run("an update reaches the selected pod", func(t *testing.T) {
				apply(t, ns, object{kind: nt.kind, name: "cfg", selector: gwOnly, config: nt.config("cfg", "mark-v2")})
				waitSotW(t, gw, "cfg", "mark-v2")
				waitDelta(t, gwDelta, "cfg", "mark-v2")
				web.quiet(500 * time.Millisecond)
				webDelta.quiet(0)
			})

			t.Run("a bad update is refused and the last accepted config stays", func(t *testing.T) {
				apply(t, ns, object{kind: nt.kind, name: "cfg", selector: gwOnly, config: nt.invalid})
				waitAccepted(t, ns, nt.kind, "cfg", "InvalidConfig")
				gw.quiet(time.Second)
				gwDelta.quiet(0)
				// A reconnecting Envoy gets the last accepted config.
				waitSotW(t, newSotW(t, a.XDSAddr, "gw-0."+ns, nt.typeURL, "", nt.subscription("cfg")...), "cfg", "mark-v2")
			})

			t.Run("deleting it removes it", func(t *testing.T) {
				remove(t, ns, nt.kind, "cfg")
				gw.waitFor()
				r := gwDelta.next()
				if len(r.GetResources()) != 0 || !slices.Equal(r.GetRemovedResources(), []string{"cfg"}) {
					t.Errorf("delta removal: resources %d, removed %v", len(r.GetResources()), r.GetRemovedResources())
				}
			})
		})
	}
}

// waitDelta reads delta responses until one carries name with mark.
func waitDelta(t *testing.T, c *deltaClient, name, mark string) {
	t.Helper()
	for {
		r := c.next()
		var values [][]byte
		var names []string
		for _, res := range r.GetResources() {
			values = append(values, res.GetResource().GetValue())
			names = append(names, res.GetName())
		}
		if holds(values, names, name, mark) == nil {
			return
		}
	}
}

// waitResolvedRefs waits until the object's ResolvedRefs condition has the
// reason and a message containing want.
func waitResolvedRefs(t *testing.T, ns, kind, name, reason, want string) {
	t.Helper()
	eventually(t, fmt.Sprintf("%s %s/%s ResolvedRefs=%s", kind, ns, name, reason), func() error {
		obj := newObject(kind)
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
			return err
		}
		c := meta.FindStatusCondition(obj.EnvoyStatus().Conditions, ourv1alpha1.ConditionResolvedRefs)
		if c == nil || c.Reason != reason || !strings.Contains(c.Message, want) {
			return fmt.Errorf("conditions %+v", obj.EnvoyStatus().Conditions)
		}
		return nil
	})
}

// TestNewTypeReferences checks ResolvedRefs for what refers to the new types
// and what they refer to, when the reference is missing and when it appears:
// a listener's ECDS filter needs its ExtensionConfig, a route scope its Route.
func TestNewTypeReferences(t *testing.T) {
	startArcturus(t)
	ns := newNamespace(t)
	newPod(t, ns, "gw-0", "127.0.0.1", nil)

	apply(t, ns, object{kind: "Listener", name: "http", config: map[string]any{
		"name":    "http",
		"address": map[string]any{"socket_address": map[string]any{"address": "0.0.0.0", "port_value": 10080}},
		"filter_chains": []any{map[string]any{"filters": []any{map[string]any{
			"name": "envoy.filters.network.http_connection_manager",
			"typed_config": map[string]any{
				"@type":        "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
				"stat_prefix":  "http",
				"route_config": map[string]any{"name": "inline"},
				"http_filters": []any{
					map[string]any{"name": "authz", "config_discovery": map[string]any{
						"config_source": map[string]any{"ads": map[string]any{}, "resource_api_version": "V3"},
						"type_urls":     []any{"type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"},
					}},
					map[string]any{"name": "envoy.filters.http.router", "typed_config": map[string]any{
						"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}},
				},
			},
		}}}},
	}})
	apply(t, ns, object{kind: "ScopedRoute", name: "tenant", config: routeScope("tenant", "acme")})
	waitResolvedRefs(t, ns, "Listener", "http", "MissingReference", `ExtensionConfig "authz" is missing for 1 of 1 selected pods`)
	waitResolvedRefs(t, ns, "ScopedRoute", "tenant", "MissingReference", `Route "routes" is missing for 1 of 1 selected pods`)

	apply(t, ns, object{kind: "ExtensionConfig", name: "authz", config: rbacFilterConfig("authz", "v1")})
	apply(t, ns, object{kind: "Route", name: "routes", config: map[string]any{"name": "routes"}})
	waitResolvedRefs(t, ns, "Listener", "http", "Resolved", "served to all 1 selected pods")
	waitResolvedRefs(t, ns, "ScopedRoute", "tenant", "Resolved", "served to all 1 selected pods")
}
