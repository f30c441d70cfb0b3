package controllers

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
	"github.com/arcturus-dev/arcturus/xds/feedback"
	"github.com/arcturus-dev/arcturus/xds/index"
	"github.com/arcturus-dev/arcturus/xds/kinds"
)

// ProxyStatus answers what the connected Envoys hold; *feedback.Tracker
// implements it.
type ProxyStatus interface {
	View(nodeID, typeURL string) (feedback.TypeView, bool)
	Node(nodeID string) (feedback.NodeStatus, bool)
}

// proxyView is what every pod of a namespace holds of one type, read once per
// sync: reports for every object then need no further lookups. Pods are grouped by
// label set (selection is decided once per group), and within a group the
// connected pods that hold the same set (the tracker shares identical sets) are
// counted together, so a report costs a few lookups, not one per pod.
type proxyView struct {
	groups  []index.PodGroup
	holders [][]holders // per group
}

// holders is a number of connected pods holding the same set and, when they
// refused something, what (then n is 1).
type holders struct {
	n        int32
	held     *feedback.HeldSet
	rejected map[string]feedback.RejectedResource
}

// newProxyView reads what the pods of the groups hold of a type.
func newProxyView(groups []index.PodGroup, proxies ProxyStatus, typeURL string) proxyView {
	v := proxyView{groups: groups, holders: make([][]holders, len(groups))}
	if proxies == nil {
		return v
	}
	for i, g := range groups {
		bySet := map[*feedback.HeldSet]int{} // set → index in v.holders[i]
		for _, p := range g.Pods {
			view, connected := proxies.View(p.NodeID(), typeURL)
			if !connected {
				continue
			}
			if len(view.Rejected) > 0 {
				v.holders[i] = append(v.holders[i], holders{n: 1, held: view.Held, rejected: view.Rejected})
				continue
			}
			if j, ok := bySet[view.Held]; ok {
				v.holders[i][j].n++
				continue
			}
			bySet[view.Held] = len(v.holders[i])
			v.holders[i] = append(v.holders[i], holders{n: 1, held: view.Held})
		}
	}
	return v
}

// proxyReport is what the selected pods' Envoys hold of one served resource.
type proxyReport struct {
	counts ourv1alpha1.ProxyCounts
	// rejection is the most recent refusal among the selected pods.
	rejection *feedback.RejectedResource
}

// report counts the selected pods by what their Envoys hold of r.
func (v proxyView) report(r *index.Resource) proxyReport {
	var rep proxyReport
	for i, g := range v.groups {
		if !r.Selects(g.Labels) {
			continue
		}
		rep.counts.Selected += int32(len(g.Pods))
		for j := range v.holders[i] {
			rep.count(&v.holders[i][j], r)
		}
	}
	rep.counts.Summary = fmt.Sprintf("%d/%d", rep.counts.Acked, rep.counts.Selected)
	return rep
}

// count adds connected pods holding the same to the report.
func (rep *proxyReport) count(h *holders, r *index.Resource) {
	rep.counts.Connected += h.n
	if h.held != nil {
		if held, ok := h.held.Items[r.Name]; ok && held.Hash == r.Hash {
			rep.counts.Acked += h.n
		}
	}
	if rej, ok := h.rejected[r.Name]; ok && rej.Hash == r.Hash {
		rep.counts.Rejected += h.n
		if rep.rejection == nil || rej.At.After(rep.rejection.At) {
			rep.rejection = &rej
		}
	}
}

// readyCondition turns a proxy report into the Ready condition. Argo CD, Flux and
// kstatus read it: True only when every connected selected Envoy runs the
// current version.
func readyCondition(generation int64, served bool, rep proxyReport) metav1.Condition {
	cond := metav1.Condition{Type: ourv1alpha1.ConditionReady, ObservedGeneration: generation}
	c := rep.counts
	switch {
	case !served:
		cond.Status, cond.Reason = metav1.ConditionFalse, ourv1alpha1.ReasonPending
		cond.Message = "Nothing is served: see the Accepted condition"
	case c.Rejected > 0:
		cond.Status, cond.Reason = metav1.ConditionFalse, ourv1alpha1.ReasonRejected
		cond.Message = truncate(fmt.Sprintf("Rejected by %d of %d pods: %s", c.Rejected, c.Connected, rep.rejection.Message), maxConditionMessage)
	case c.Acked < c.Connected:
		cond.Status, cond.Reason = metav1.ConditionFalse, ourv1alpha1.ReasonPending
		cond.Message = fmt.Sprintf("%d of %d connected pods have applied the current version", c.Acked, c.Connected)
	default:
		cond.Status, cond.Reason = metav1.ConditionTrue, ourv1alpha1.ReasonProgrammed
		cond.Message = fmt.Sprintf("All %d connected of %d selected pods run the current version", c.Connected, c.Selected)
	}
	return cond
}

// rejectionEvents records a Warning event on every object, and on the pod, whose
// resource a node just refused.
type rejectionEvents struct {
	index    *index.Index
	proxies  ProxyStatus
	recorder events.EventRecorder
}

// nacked emits the events of one NACK.
func (e *rejectionEvents) nacked(nodeID, typeURL string) {
	podName, namespace, ok := index.ParseNodeID(nodeID)
	if !ok || e.recorder == nil {
		return
	}
	node, ok := e.proxies.Node(nodeID)
	if !ok || node.Types[typeURL] == nil || node.Types[typeURL].Rejection == nil {
		return
	}
	rej := node.Types[typeURL].Rejection
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: podName}}
	if p, found := e.index.Pod(nodeID); found {
		pod.UID = p.UID
	}
	for name := range rej.Resources {
		r, found := e.index.Lookup(namespace, typeURL, name)
		if !found {
			continue
		}
		kind, ok := kindByTypeURL(typeURL)
		if !ok {
			continue
		}
		obj := kind.newObject()
		obj.SetNamespace(r.Source.Namespace)
		obj.SetName(r.Source.Name)
		obj.SetUID(r.SourceUID)
		e.recorder.Eventf(obj, pod, corev1.EventTypeWarning, "Rejected", "Apply",
			"Envoy of pod %s rejected %s %q: %s", podName, kind.Name, name, truncate(rej.Message, 1024))
		e.recorder.Eventf(pod, obj, corev1.EventTypeWarning, "ConfigRejected", "Apply",
			"Envoy rejected %s %s/%s (Envoy name %q): %s", kind.Name, r.Source.Namespace, r.Source.Name, name, truncate(rej.Message, 1024))
	}
}

func kindByTypeURL(typeURL string) (envoyKind, bool) {
	k, ok := kinds.ByTypeURL(typeURL)
	return envoyKind{k}, ok
}
