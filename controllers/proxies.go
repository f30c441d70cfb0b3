package controllers

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
	"github.com/arcturus-dev/arcturus/xds/feedback"
	"github.com/arcturus-dev/arcturus/xds/index"
)

// ProxyStatus answers what the connected Envoys hold; *feedback.Tracker
// implements it.
type ProxyStatus interface {
	View(nodeID, typeURL string) (feedback.TypeView, bool)
	Node(nodeID string) (feedback.NodeStatus, bool)
}

// proxyView is what every pod of a namespace holds of one type, read once per
// sync: reports for every object then need no further lookups.
type proxyView []podView

type podView struct {
	pod       index.Pod
	connected bool
	feedback.TypeView
}

// newProxyView reads what the namespace's pods hold of a type.
func newProxyView(idx *index.Index, proxies ProxyStatus, namespace, typeURL string) proxyView {
	pods := idx.NamespacePods(namespace)
	view := make(proxyView, len(pods))
	for i, p := range pods {
		view[i].pod = p
		if proxies != nil {
			view[i].TypeView, view[i].connected = proxies.View(p.NodeID(), typeURL)
		}
	}
	return view
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
	for i := range v {
		p := &v[i]
		if !r.Selects(p.pod.Labels) {
			continue
		}
		rep.counts.Selected++
		if !p.connected {
			continue
		}
		rep.counts.Connected++
		if held, ok := p.Held[r.Name]; ok && held.Hash == r.Hash {
			rep.counts.Acked++
		}
		if rej, ok := p.Rejected[r.Name]; ok && rej.Hash == r.Hash {
			rep.counts.Rejected++
			if rep.rejection == nil || rej.At.After(rep.rejection.At) {
				rep.rejection = &rej
			}
		}
	}
	rep.counts.Summary = fmt.Sprintf("%d/%d", rep.counts.Acked, rep.counts.Selected)
	return rep
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
	for _, k := range envoyKinds {
		if k.TypeURL == typeURL {
			return k, true
		}
	}
	return envoyKind{}, false
}
