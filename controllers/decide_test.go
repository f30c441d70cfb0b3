package controllers

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
	"github.com/arcturus-dev/arcturus/xds/kinds"
)

func TestDecide(t *testing.T) {
	clusterKind := envoyKind{kinds.Cluster}
	type want struct {
		reason    string // Accepted condition reason
		served    string // Envoy name served for the object; "" when nothing is
		message   string // substring of the Accepted message
		lastGen   int64  // status.lastAccepted.generation; 0 when absent
		envoyName string // status.envoyName
	}
	tests := map[string]struct {
		objs []*ourv1alpha1.Cluster // the namespace's Clusters
		want map[string]want        // by metadata.name
	}{
		"valid cluster is accepted and served under metadata.name": {
			objs: []*ourv1alpha1.Cluster{cluster("a")},
			want: map[string]want{"a": {reason: "Valid", served: "a", lastGen: 1, envoyName: "a"}},
		},
		"config.name overrides metadata.name": {
			objs: []*ourv1alpha1.Cluster{cluster("a", withEnvoyName("backend"))},
			want: map[string]want{"a": {reason: "Valid", served: "backend", lastGen: 1, envoyName: "backend"}},
		},
		"invalid cluster without history serves nothing": {
			objs: []*ourv1alpha1.Cluster{cluster("a", withConfig(map[string]any{"conect_timeout": "1s"}))},
			want: map[string]want{"a": {reason: "InvalidConfig", message: "spec.config.conect_timeout"}},
		},
		"invalid update keeps serving the last accepted generation": {
			objs: []*ourv1alpha1.Cluster{cluster("a", accepted(), generation(2), withConfig(map[string]any{"type": "STATICX"}))},
			want: map[string]want{"a": {reason: "InvalidConfig", served: "a", lastGen: 1, message: "generation 1) is still served", envoyName: "a"}},
		},
		"oldest object wins a name conflict": {
			objs: []*ourv1alpha1.Cluster{
				cluster("young", withEnvoyName("x"), createdAt(20)),
				cluster("old", withEnvoyName("x"), createdAt(10)),
			},
			want: map[string]want{
				"old":   {reason: "Valid", served: "x", lastGen: 1, envoyName: "x"},
				"young": {reason: "Conflict", message: `claimed by Cluster "old"`, envoyName: "x"},
			},
		},
		"a tie on creation time is broken by name": {
			objs: []*ourv1alpha1.Cluster{
				cluster("b", withEnvoyName("x"), createdAt(10)),
				cluster("a", withEnvoyName("x"), createdAt(10)),
			},
			want: map[string]want{
				"a": {reason: "Valid", served: "x", lastGen: 1, envoyName: "x"},
				"b": {reason: "Conflict", envoyName: "x"},
			},
		},
		"an invalid update keeps claiming its old name against a newer object": {
			objs: []*ourv1alpha1.Cluster{
				cluster("old", withEnvoyName("x"), createdAt(10), accepted(), generation(2), withConfig(map[string]any{"name": "x", "bogus": 1})),
				cluster("new", withEnvoyName("x"), createdAt(20)),
			},
			want: map[string]want{
				"old": {reason: "InvalidConfig", served: "x", lastGen: 1, envoyName: "x"},
				"new": {reason: "Conflict", envoyName: "x"},
			},
		},
		"a renamed spec that conflicts falls back to its free old name": {
			objs: []*ourv1alpha1.Cluster{
				cluster("old", withEnvoyName("x"), createdAt(10)),
				cluster("new", withEnvoyName("y"), createdAt(20), accepted(), generation(2), withEnvoyName("x")),
			},
			want: map[string]want{
				"old": {reason: "Valid", served: "x", lastGen: 1, envoyName: "x"},
				"new": {reason: "Conflict", served: "y", lastGen: 1, message: "still served", envoyName: "y"},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			objs := make([]ourv1alpha1.Object, len(tc.objs))
			for i, o := range tc.objs {
				objs[i] = o
			}
			r := &EnvoyReconciler{kind: clusterKind}
			decisions := decide(clusterKind, objs, r.translate)
			if len(decisions) != len(tc.want) {
				t.Fatalf("got %d decisions, want %d", len(decisions), len(tc.want))
			}
			for _, d := range decisions {
				w := tc.want[d.obj.GetName()]
				cond := meta.FindStatusCondition(d.status.Conditions, ourv1alpha1.ConditionAccepted)
				if cond == nil || cond.Reason != w.reason {
					t.Errorf("%s: Accepted condition %+v, want reason %s", d.obj.GetName(), cond, w.reason)
					continue
				}
				if wantStatus := metav1.ConditionStatus(map[bool]string{true: "True", false: "False"}[w.reason == "Valid"]); cond.Status != wantStatus {
					t.Errorf("%s: Accepted=%s, want %s", d.obj.GetName(), cond.Status, wantStatus)
				}
				if !strings.Contains(cond.Message, w.message) {
					t.Errorf("%s: message %q does not contain %q", d.obj.GetName(), cond.Message, w.message)
				}
				served := ""
				if d.served != nil {
					served = d.served.Name
				}
				if served != w.served {
					t.Errorf("%s: served %q, want %q", d.obj.GetName(), served, w.served)
				}
				var lastGen int64
				if d.status.LastAccepted != nil {
					lastGen = d.status.LastAccepted.Generation
				}
				if lastGen != w.lastGen {
					t.Errorf("%s: lastAccepted generation %d, want %d", d.obj.GetName(), lastGen, w.lastGen)
				}
				if d.status.EnvoyName != w.envoyName {
					t.Errorf("%s: envoyName %q, want %q", d.obj.GetName(), d.status.EnvoyName, w.envoyName)
				}
				if d.status.ObservedGeneration != d.obj.GetGeneration() {
					t.Errorf("%s: observedGeneration %d, want %d", d.obj.GetName(), d.status.ObservedGeneration, d.obj.GetGeneration())
				}
			}
		})
	}
}

func TestDecideIsOrderIndependent(t *testing.T) {
	a := cluster("a", withEnvoyName("x"), createdAt(10))
	b := cluster("b", withEnvoyName("x"), createdAt(5))
	r := &EnvoyReconciler{kind: envoyKind{kinds.Cluster}}
	for _, order := range [][]ourv1alpha1.Object{{a, b}, {b, a}} {
		for _, d := range decide(envoyKind{kinds.Cluster}, order, r.translate) {
			if got := d.served != nil; got != (d.obj.GetName() == "b") {
				t.Errorf("order %s,%s: %s served=%v", order[0].GetName(), order[1].GetName(), d.obj.GetName(), got)
			}
		}
	}
}

func TestStatusEqual(t *testing.T) {
	base := func() *ourv1alpha1.EnvoyConfigStatus {
		c := cluster("a", accepted())
		st := c.Status.DeepCopy()
		st.ObservedGeneration, st.EnvoyName = 1, "a"
		st.Proxies = &ourv1alpha1.ProxyCounts{Selected: 2, Acked: 1, Summary: "1/2"}
		st.Conditions = []metav1.Condition{{Type: "Accepted", Status: "True", Reason: "Valid", Message: "m"}}
		return st
	}
	tests := map[string]struct {
		change func(*ourv1alpha1.EnvoyConfigStatus) // applied to the second status
		equal  bool                                 // whether they must compare equal
	}{
		"identical statuses are equal":    {change: func(*ourv1alpha1.EnvoyConfigStatus) {}, equal: true},
		"a condition message differs":     {change: func(s *ourv1alpha1.EnvoyConfigStatus) { s.Conditions[0].Message = "n" }},
		"a proxy count differs":           {change: func(s *ourv1alpha1.EnvoyConfigStatus) { s.Proxies.Acked = 2 }},
		"proxies are missing":             {change: func(s *ourv1alpha1.EnvoyConfigStatus) { s.Proxies = nil }},
		"the accepted config differs":     {change: func(s *ourv1alpha1.EnvoyConfigStatus) { s.LastAccepted.Config.Raw = []byte(`{}`) }},
		"the accepted generation differs": {change: func(s *ourv1alpha1.EnvoyConfigStatus) { s.LastAccepted.Generation = 7 }},
		"an extra condition": {change: func(s *ourv1alpha1.EnvoyConfigStatus) {
			s.Conditions = append(s.Conditions, metav1.Condition{Type: "Ready"})
		}},
		"no last accepted config":         {change: func(s *ourv1alpha1.EnvoyConfigStatus) { s.LastAccepted = nil }},
		"the observed generation differs": {change: func(s *ourv1alpha1.EnvoyConfigStatus) { s.ObservedGeneration = 2 }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a, b := base(), base()
			tc.change(b)
			if got := statusEqual(a, b); got != tc.equal {
				t.Errorf("statusEqual = %v, want %v", got, tc.equal)
			}
		})
	}
}
