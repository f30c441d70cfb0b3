package controllers

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/arcturus-dev/arcturus/xds/feedback"
	"github.com/arcturus-dev/arcturus/xds/kinds"
)

// nodeProxies is a ProxyStatus that knows one node.
type nodeProxies struct{ node feedback.NodeStatus }

func (p nodeProxies) View(string, string) (feedback.TypeView, bool) {
	return feedback.TypeView{}, false
}
func (p nodeProxies) Node(id string) (feedback.NodeStatus, bool) {
	return p.node, id == p.node.NodeID
}

// publishedVersions is a Published that published the same versions to every node.
type publishedVersions map[string]string

func (p publishedVersions) Published(string) map[string]string { return p }

func TestDesiredGate(t *testing.T) {
	const node = "gw-0.ns"
	acked := func(v string) *feedback.TypeStatus { return &feedback.TypeStatus{AckedVersion: v} }
	tests := map[string]struct {
		published map[string]string               // versions published to the node, by type
		held      map[string]*feedback.TypeStatus // what the node answered, by type
		want      corev1.ConditionStatus
		reason    string
	}{
		"every served type ACKed": {
			published: map[string]string{kinds.Cluster.TypeURL: "c1", kinds.Listener.TypeURL: "l1"},
			held:      map[string]*feedback.TypeStatus{kinds.Cluster.TypeURL: acked("c1"), kinds.Listener.TypeURL: acked("l1")},
			want:      corev1.ConditionTrue, reason: "Acked",
		},
		"a type with nothing to serve that the Envoy never asks for does not hold it back": {
			published: map[string]string{kinds.Cluster.TypeURL: "c1", kinds.Runtime.TypeURL: emptyVersion, kinds.ScopedRoute.TypeURL: emptyVersion},
			held:      map[string]*feedback.TypeStatus{kinds.Cluster.TypeURL: acked("c1")},
			want:      corev1.ConditionTrue, reason: "Acked",
		},
		"a served type the Envoy has not ACKed holds it back": {
			published: map[string]string{kinds.Cluster.TypeURL: "c1", kinds.Runtime.TypeURL: "r1"},
			held:      map[string]*feedback.TypeStatus{kinds.Cluster.TypeURL: acked("c1")},
			want:      corev1.ConditionFalse, reason: "Pending",
		},
		"an empty type the Envoy asked for must be ACKed": {
			published: map[string]string{kinds.Cluster.TypeURL: "c1", kinds.Route.TypeURL: emptyVersion},
			held:      map[string]*feedback.TypeStatus{kinds.Cluster.TypeURL: acked("c1"), kinds.Route.TypeURL: {SentVersion: emptyVersion}},
			want:      corev1.ConditionFalse, reason: "Pending",
		},
		"a rejection makes it unready": {
			published: map[string]string{kinds.Cluster.TypeURL: "c2"},
			held:      map[string]*feedback.TypeStatus{kinds.Cluster.TypeURL: {AckedVersion: "c1", Rejection: &feedback.Rejection{Message: "bad"}}},
			want:      corev1.ConditionFalse, reason: "Rejected",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			proxies := nodeProxies{feedback.NodeStatus{NodeID: node, Types: tc.held}}
			got := desiredGate(proxies, publishedVersions(tc.published), node, nil)
			if got == nil || got.Status != tc.want || got.Reason != tc.reason {
				t.Errorf("gate %+v, want %s/%s", got, tc.want, tc.reason)
			}
		})
	}
}
