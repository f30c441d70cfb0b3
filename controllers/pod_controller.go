package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/arcturus-dev/arcturus/xds/index"
)

// PodReconciler keeps the index's pods (node ID, labels, IP) in step with the API.
// Every replica runs it.
type PodReconciler struct {
	client.Client
	index     *index.Index
	trigger   *trigger
	proxies   ProxyStatus
	published Published
}

// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods/status,verbs=patch

// Reconcile records the pod, or forgets it once it is gone or has terminated.
func (r *PodReconciler) Reconcile(ctx context.Context, req reconcile.Request) (ctrl.Result, error) {
	var pod corev1.Pod
	if err := r.Get(ctx, req.NamespacedName, &pod); err != nil {
		if apierrors.IsNotFound(err) {
			r.changed(req.Namespace, r.index.DeletePod(index.NodeID(req.Name, req.Namespace)))
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	r.changed(pod.Namespace, r.apply(&pod))
	return ctrl.Result{}, r.updateReadinessGate(ctx, &pod)
}

// changed re-checks the references of the namespace's resources when the pods
// they select changed.
func (r *PodReconciler) changed(namespace string, affected []string) {
	if len(affected) > 0 && r.trigger != nil {
		r.trigger.enqueueNamespace(namespace, "")
	}
}

// apply records a pod in the index and returns the affected node IDs. A
// terminated pod runs no Envoy.
//
// Reasoning — identity before configuration. A pod without an IP (Pending, or
// deleted before it got one) runs no Envoy yet, and nothing can tell a stream
// naming it from an impostor's: it is Withheld, so its node gets only the empty
// configuration, whether or not --verify-node-ip checks peers. Once the IP
// appears, its resources follow on the same stream (with the check on, only on
// streams from that IP: the others are closed first). A terminating pod
// (deletionTimestamp set) still holds its IP, and its Envoy is draining: it
// keeps its configuration, since taking its listeners away would cut the
// connections it drains.
func (r *PodReconciler) apply(pod *corev1.Pod) []string {
	p, runs := indexPod(pod)
	if !runs {
		return r.index.DeletePod(p.NodeID())
	}
	return r.index.SetPod(p)
}

// indexPod is what the index records of a pod; runs is false when the pod has
// terminated and runs no Envoy.
func indexPod(pod *corev1.Pod) (p index.Pod, runs bool) {
	p = index.Pod{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, Labels: pod.Labels, IP: pod.Status.PodIP, ReadinessGate: hasReadinessGate(pod),
		Withheld: pod.Status.PodIP == ""}
	return p, pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed
}

func (r *PodReconciler) setupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&corev1.Pod{}).
		WatchesRawSource(source.Channel(r.trigger.events[podQueue], &handler.EnqueueRequestForObject{})).
		WithOptions(controllerOptions()).
		Complete(r)
}

// TrimPod is a cache transform that keeps only what the index reads of a pod, so
// the controller's memory grows with the number of pods, not with their specs.
func TrimPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	return &corev1.Pod{
		TypeMeta: pod.TypeMeta,
		Spec:     corev1.PodSpec{ReadinessGates: pod.Spec.ReadinessGates},
		ObjectMeta: metav1.ObjectMeta{
			Name:              pod.Name,
			Namespace:         pod.Namespace,
			UID:               pod.UID,
			ResourceVersion:   pod.ResourceVersion,
			Labels:            pod.Labels,
			CreationTimestamp: pod.CreationTimestamp,
			DeletionTimestamp: pod.DeletionTimestamp,
		},
		Status: corev1.PodStatus{Phase: pod.Status.Phase, PodIP: pod.Status.PodIP, PodIPs: pod.Status.PodIPs, Conditions: gateConditions(pod)},
	}, nil
}

// gateConditions keeps the readiness gate condition of a pod, if any.
func gateConditions(pod *corev1.Pod) []corev1.PodCondition {
	for _, c := range pod.Status.Conditions {
		if c.Type == ReadinessGate {
			return []corev1.PodCondition{c}
		}
	}
	return nil
}
