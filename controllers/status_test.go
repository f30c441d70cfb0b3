package controllers

import (
	"context"
	"strings"
	"testing"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
)

// TestUpdateStatusesSkipsConflicts checks that a status write over a stale object
// (a routine optimistic-concurrency conflict) is no error, while any other refusal
// is returned once, naming the object.
func TestUpdateStatusesSkipsConflicts(t *testing.T) {
	c, err := client.New(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ns := newNamespace(t, c)
	stale := newCluster(t, c, ns, "c", map[string]any{"connect_timeout": "1s"}, nil)
	var current ourv1alpha1.Cluster
	if err := c.Get(ctx, client.ObjectKeyFromObject(stale), &current); err != nil {
		t.Fatal(err)
	}
	current.Labels = map[string]string{"changed": "yes"}
	if err := c.Update(ctx, &current); err != nil {
		t.Fatal(err)
	}
	k, ok := kindByTypeURL(resourcev3.ClusterType)
	if !ok {
		t.Fatal("no Cluster kind")
	}
	r := &EnvoyReconciler{Client: c, kind: k}
	valid := ourv1alpha1.EnvoyConfigStatus{ObservedGeneration: 1, Conditions: []metav1.Condition{{
		Type: ourv1alpha1.ConditionAccepted, Status: metav1.ConditionTrue, Reason: ourv1alpha1.ReasonValid, LastTransitionTime: metav1.Now(),
	}}}
	if err := r.updateStatuses(ctx, []decision{{obj: stale, status: valid}}); err != nil {
		t.Errorf("a conflict was returned: %v", err)
	}

	invalid := *valid.DeepCopy()
	invalid.Conditions[0].Reason = "not a reason!"
	err = r.updateStatuses(ctx, []decision{{obj: &current, status: invalid}})
	if err == nil || !strings.Contains(err.Error(), "update status of Cluster "+ns+"/c: ") || !strings.Contains(err.Error(), "reason") {
		t.Errorf("error %v, want the refusal naming the object", err)
	}
}
