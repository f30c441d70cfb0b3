package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/arcturus-dev/arcturus/xds/index"
	"github.com/arcturus-dev/arcturus/xds/kinds"
	"github.com/arcturus-dev/arcturus/xds/snapshot"
)

// ReadinessGate is the pod condition type Arcturus sets on pods that declare it in
// spec.readinessGates: True once the pod's Envoy has ACKed its full configuration,
// False while it rejects some of it. A rollout then waits for a working proxy.
const ReadinessGate = "envoy.arcturus.dev/config-acked"

// emptyVersion is the version of a type a node is served nothing of.
var emptyVersion = snapshot.Version(nil)

// Published tells which versions were last published to a node.
type Published interface {
	Published(nodeID string) map[string]string
}

// hasReadinessGate reports whether the pod declares the Arcturus readiness gate.
func hasReadinessGate(pod *corev1.Pod) bool {
	for _, g := range pod.Spec.ReadinessGates {
		if g.ConditionType == ReadinessGate {
			return true
		}
	}
	return false
}

// desiredGate computes the gate condition, or nil to leave it as it is. Only the
// replica holding the node's stream knows what it ACKed; others keep out.
func desiredGate(proxies ProxyStatus, published Published, nodeID string, current *corev1.PodCondition) *corev1.PodCondition {
	if proxies == nil || published == nil {
		return nil
	}
	node, ok := proxies.Node(nodeID)
	versions := published.Published(nodeID)
	if !ok || versions == nil {
		return nil
	}
	acked := true
	for typeURL, v := range versions {
		ts := node.Types[typeURL]
		if ts == nil && v == emptyVersion {
			// Nothing of the type to run, and the Envoy does not ask for it (most
			// never ask for RTDS, ECDS or SRDS): nothing to wait for.
			continue
		}
		if ts != nil && ts.Rejection != nil {
			return &corev1.PodCondition{Type: ReadinessGate, Status: corev1.ConditionFalse, Reason: "Rejected",
				Message: truncate(fmt.Sprintf("Envoy rejected %s: %s", kinds.DisplayName(typeURL), ts.Rejection.Message), 1024)}
		}
		if ts == nil || ts.AckedVersion != v {
			acked = false
		}
	}
	switch {
	case acked:
		return &corev1.PodCondition{Type: ReadinessGate, Status: corev1.ConditionTrue, Reason: "Acked", Message: "Envoy runs its full configuration"}
	case current != nil && current.Status == corev1.ConditionTrue:
		// An update in flight does not make a working proxy unready.
		return nil
	default:
		return &corev1.PodCondition{Type: ReadinessGate, Status: corev1.ConditionFalse, Reason: "Pending", Message: "Waiting for Envoy to ACK its configuration"}
	}
}

// updateReadinessGate patches the pod's gate condition when it changed.
func (r *PodReconciler) updateReadinessGate(ctx context.Context, pod *corev1.Pod) error {
	if !hasReadinessGate(pod) {
		return nil
	}
	var current *corev1.PodCondition
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == ReadinessGate {
			current = &pod.Status.Conditions[i]
		}
	}
	want := desiredGate(r.proxies, r.published, index.NodeID(pod.Name, pod.Namespace), current)
	if want == nil || (current != nil && current.Status == want.Status && current.Reason == want.Reason && current.Message == want.Message) {
		return nil
	}
	want.LastTransitionTime = metav1.Now()
	if current != nil && current.Status == want.Status {
		want.LastTransitionTime = current.LastTransitionTime
	}
	patched := pod.DeepCopy()
	if current != nil {
		for i := range patched.Status.Conditions {
			if patched.Status.Conditions[i].Type == ReadinessGate {
				patched.Status.Conditions[i] = *want
			}
		}
	} else {
		patched.Status.Conditions = append(patched.Status.Conditions, *want)
	}
	// A strategic merge patch touches only this condition (merge key: type), never
	// the kubelet's.
	if err := r.Status().Patch(ctx, patched, client.StrategicMergeFrom(pod)); err != nil {
		return fmt.Errorf("patch readiness gate of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}
