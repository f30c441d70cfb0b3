package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
)

// routeTo is a RouteConfiguration sending everything to cluster.
func routeTo(cluster string) map[string]any {
	return map[string]any{"virtual_hosts": []any{map[string]any{
		"name": "all", "domains": []any{"*"},
		"routes": []any{map[string]any{"match": map[string]any{"prefix": "/"}, "route": map[string]any{"cluster": cluster}}},
	}}}
}

// waitResolvedRefs waits until the object's ResolvedRefs condition has the reason
// and its message contains want.
func waitResolvedRefs(t *testing.T, c client.Client, obj ourv1alpha1.Object, reason, want string) {
	t.Helper()
	key := client.ObjectKeyFromObject(obj)
	eventually(t, fmt.Sprintf("%s ResolvedRefs %s %q", key, reason, want), func() error {
		if err := c.Get(context.Background(), key, obj); err != nil {
			return err
		}
		cond := meta.FindStatusCondition(obj.EnvoyStatus().Conditions, ourv1alpha1.ConditionResolvedRefs)
		if cond == nil || cond.Reason != reason || !strings.Contains(cond.Message, want) {
			return fmt.Errorf("conditions %+v", obj.EnvoyStatus().Conditions)
		}
		return nil
	})
}

func TestResolvedRefs(t *testing.T) {
	ctl := startController(t)
	c := ctl.client

	for _, order := range []string{"route first", "cluster first"} {
		t.Run("a route's cluster resolves whatever the order: "+order, func(t *testing.T) {
			ns := newNamespace(t, c)
			newPod(t, c, ns, "gw-0", map[string]string{"app": "gw"})
			newPod(t, c, ns, "gw-1", map[string]string{"app": "gw"})
			route := &ourv1alpha1.Route{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "routes"}}
			route.Spec.Config = rawJSON(t, routeTo("backend"))
			createRoute := func() {
				if err := c.Create(context.Background(), route); err != nil {
					t.Fatal(err)
				}
			}
			if order == "route first" {
				createRoute()
				waitResolvedRefs(t, c, route, ourv1alpha1.ReasonMissingReference, `Cluster "backend" is missing for 2 of 2 selected pods`)
			}
			// The cluster reaches both pods.
			cl := newCluster(t, c, ns, "backend", map[string]any{"connect_timeout": "1s"}, map[string]string{"app": "gw"})
			if order == "cluster first" {
				createRoute()
			}
			waitResolvedRefs(t, c, route, ourv1alpha1.ReasonResolved, "All 1 references are served to all 2 selected pods")

			// Narrowing the cluster's selector leaves gw-1 without it.
			relabelPod(t, c, ns, "gw-1", map[string]string{"app": "gw", "canary": "true"})
			cl = waitAccepted(t, c, ns, "backend", ourv1alpha1.ReasonValid)
			cl.Spec.WorkloadSelector.Labels = map[string]string{"canary": "true"}
			if err := c.Update(context.Background(), cl); err != nil {
				t.Fatal(err)
			}
			waitResolvedRefs(t, c, route, ourv1alpha1.ReasonMissingReference, `Cluster "backend" is missing for 1 of 2 selected pods`)

			// Deleting the cluster: missing everywhere.
			if err := c.Delete(context.Background(), cl); err != nil {
				t.Fatal(err)
			}
			waitResolvedRefs(t, c, route, ourv1alpha1.ReasonMissingReference, "missing for 2 of 2")
		})
	}

	t.Run("an EDS cluster needs its Endpoint", func(t *testing.T) {
		ns := newNamespace(t, c)
		newPod(t, c, ns, "gw-0", nil)
		cl := newCluster(t, c, ns, "svc", map[string]any{
			"connect_timeout": "1s", "type": "EDS",
			"eds_cluster_config": map[string]any{"eds_config": map[string]any{"ads": map[string]any{}}, "service_name": "svc-endpoints"},
		}, nil)
		waitResolvedRefs(t, c, cl, ourv1alpha1.ReasonMissingReference, `Endpoint "svc-endpoints" is missing for 1 of 1 selected pods`)
		ep := &ourv1alpha1.Endpoint{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "svc-endpoints"}}
		ep.Spec.Config = rawJSON(t, map[string]any{"endpoints": []any{}})
		if err := c.Create(context.Background(), ep); err != nil {
			t.Fatal(err)
		}
		waitResolvedRefs(t, c, cl, ourv1alpha1.ReasonResolved, "served to all 1 selected pods")
	})

	t.Run("a resource that refers to nothing is resolved", func(t *testing.T) {
		ns := newNamespace(t, c)
		cl := newCluster(t, c, ns, "static", map[string]any{"connect_timeout": "1s"}, nil)
		waitResolvedRefs(t, c, cl, ourv1alpha1.ReasonResolved, "refers to no other resource")
	})
}
