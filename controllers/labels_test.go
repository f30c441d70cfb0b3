package controllers

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
)

// invalidSelectors are workload selectors no pod can match, with the message
// Kubernetes gives for the same label on a pod.
var invalidSelectors = map[string]struct {
	labels map[string]string // spec.workloadSelector.labels
	want   string            // in the error: the path, value and Kubernetes' text
}{
	"a key with a bang": {
		labels: map[string]string{"app!": "web"},
		want:   `spec.workloadSelector.labels: Invalid value: "app!": ` + validation.IsQualifiedName("app!")[0],
	},
	"a value with spaces": {
		labels: map[string]string{"app": "my web"},
		want:   `spec.workloadSelector.labels: Invalid value: "my web": ` + validation.IsValidLabelValue("my web")[0],
	},
}

// TestWorkloadSelectorLabelsAreValidated checks that the webhook refuses a selector
// label no pod can carry, and that the reconciler, for an object stored without
// the webhook, reports the same message in Accepted.
func TestWorkloadSelectorLabelsAreValidated(t *testing.T) {
	t.Run("the webhook refuses them", func(t *testing.T) {
		ctl := startControllerWithWebhooks(t)
		ns := newNamespace(t, ctl.client)
		for name, tc := range invalidSelectors {
			t.Run(name, func(t *testing.T) {
				obj := clusterObject(ns, "c", `{"connect_timeout": "1s"}`)
				obj.Spec.WorkloadSelector = &ourv1alpha1.WorkloadSelector{Labels: tc.labels}
				err := ctl.client.Create(context.Background(), obj)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %v, want %q", err, tc.want)
				}
			})
		}
	})

	t.Run("the reconciler marks them InvalidConfig", func(t *testing.T) {
		ctl := startController(t)
		ns := newNamespace(t, ctl.client)
		newPod(t, ctl.client, ns, "gw-0", map[string]string{"app": "web"})
		i := 0
		for name, tc := range invalidSelectors {
			t.Run(name, func(t *testing.T) {
				i++
				objName := "c" + string(rune('0'+i))
				newCluster(t, ctl.client, ns, objName, map[string]any{"connect_timeout": "1s"}, tc.labels)
				obj := waitAccepted(t, ctl.client, ns, objName, ourv1alpha1.ReasonInvalidConfig)
				if cond := meta.FindStatusCondition(obj.Status.Conditions, ourv1alpha1.ConditionAccepted); !strings.Contains(cond.Message, tc.want) {
					t.Errorf("message %q, want %q", cond.Message, tc.want)
				}
			})
		}
		if served := servedClusters(ctl.index, "gw-0."+ns); len(served) != 0 {
			t.Errorf("served %v", served)
		}
	})
}

func TestMatchExpressionsAreValidated(t *testing.T) {
	ctl := startControllerWithWebhooks(t)
	ns := newNamespace(t, ctl.client)
	path := "spec.workloadSelector.matchExpressions[0]."
	for name, tc := range map[string]struct {
		expr metav1.LabelSelectorRequirement
		want string
	}{
		"an unknown operator": {metav1.LabelSelectorRequirement{Key: "app", Operator: "Near", Values: []string{"gw"}}, path + "operator"},
		"In without values":   {metav1.LabelSelectorRequirement{Key: "app", Operator: metav1.LabelSelectorOpIn}, path + "values"},
		"Exists with values":  {metav1.LabelSelectorRequirement{Key: "app", Operator: metav1.LabelSelectorOpExists, Values: []string{"gw"}}, path + "values"},
		"an invalid key":      {metav1.LabelSelectorRequirement{Key: "app!", Operator: metav1.LabelSelectorOpExists}, path + "key"},
	} {
		t.Run(name, func(t *testing.T) {
			obj := clusterObject(ns, "c", `{"connect_timeout": "1s"}`)
			obj.Spec.WorkloadSelector = &ourv1alpha1.WorkloadSelector{MatchExpressions: []metav1.LabelSelectorRequirement{tc.expr}}
			err := ctl.client.Create(context.Background(), obj)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
	t.Run("a valid expression is admitted", func(t *testing.T) {
		obj := clusterObject(ns, "ok", `{"connect_timeout": "1s"}`)
		obj.Spec.WorkloadSelector = &ourv1alpha1.WorkloadSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "track", Operator: metav1.LabelSelectorOpDoesNotExist}}}
		if err := ctl.client.Create(context.Background(), obj); err != nil {
			t.Fatal(err)
		}
	})
}
