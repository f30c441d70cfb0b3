// Package controllers holds the reconcilers: the first stage of the pipeline. They
// read Arcturus custom resources and pods from the API, translate and decide what
// each resource serves (writing its status), and record the outcome in the index,
// which notifies the snapshot builder of the nodes affected.
package controllers

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/time/rate"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/arcturus-dev/arcturus/internal/leader"
	"github.com/arcturus-dev/arcturus/xds/feedback"
	"github.com/arcturus-dev/arcturus/xds/index"
)

// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Snapshots is the snapshot builder as the controllers see it: told when the index
// holds the complete picture, and asked what each node was last published.
type Snapshots interface {
	MarkReady()
	Published
}

// Setup registers the Envoy-kind, Pod and Secret reconcilers with the manager, plus two
// runnables: a warm-up that fills the index from the informer caches before the
// replica serves anything (every replica), and a status pass that runs each time
// this replica is elected leader. Status is written only while lead says this
// replica leads; nil means it always does. proxies (may be nil) tells what the
// Envoys hold; the returned function must receive its changes, so that status
// follows them.
func Setup(mgr ctrl.Manager, idx *index.Index, snapshots Snapshots, proxies ProxyStatus, lead leader.Leadership) (func(feedback.Change), error) {
	if lead == nil {
		lead = leader.Always(mgr)
	}
	isLeader := lead.IsLeader
	trigger := newTrigger(envoyKinds)
	trigger.namespaces = idx
	if err := mgr.Add(trigger); err != nil {
		return nil, err
	}
	pods := &PodReconciler{Client: mgr.GetClient(), index: idx, trigger: trigger, proxies: proxies, published: snapshots}
	if err := pods.setupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("set up Pod controller: %w", err)
	}
	envoy := make([]*EnvoyReconciler, 0, len(envoyKinds))
	for _, k := range envoyKinds {
		r := &EnvoyReconciler{Client: mgr.GetClient(), kind: k, index: idx, proxies: proxies, trigger: trigger, writeStatus: isLeader}
		if err := r.setupWithManager(mgr); err != nil {
			return nil, fmt.Errorf("set up %s controller: %w", k.Name, err)
		}
		envoy = append(envoy, r)
	}
	secrets := &SecretReconciler{Client: mgr.GetClient(), index: idx, trigger: trigger, recorder: mgr.GetEventRecorder("arcturus")}
	if err := secrets.setupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("set up Secret controller: %w", err)
	}
	w := &warmup{reader: mgr.GetClient(), pods: pods, envoy: envoy, secrets: secrets, ready: snapshots, trigger: trigger}
	if err := mgr.Add(w); err != nil {
		return nil, err
	}
	err := lead.Add(manager.RunnableFunc(func(ctx context.Context) error {
		// Leader-only: statuses computed while this replica was a follower were
		// never written.
		return w.reconcileAll(ctx)
	}))
	if err != nil {
		return nil, err
	}

	events := &rejectionEvents{index: idx, proxies: proxies, recorder: mgr.GetEventRecorder("arcturus")}
	return func(c feedback.Change) {
		podName, namespace, ok := index.ParseNodeID(c.NodeID)
		if !ok {
			return
		}
		// Every kind's status counts this node's proxies; the pod's readiness
		// gate, if it has one, follows what its Envoy ACKed.
		trigger.enqueueNamespaceThrottled(namespace)
		if pod, found := idx.Pod(c.NodeID); found && pod.ReadinessGate {
			trigger.enqueue(podQueue, types.NamespacedName{Namespace: namespace, Name: podName})
		}
		if c.Nacked { // each replica reports the NACKs of its own streams
			events.nacked(c.NodeID, c.TypeURL)
		}
	}, nil
}

// warmup fills the index with every existing pod and custom resource, then marks
// the replica ready to answer Envoys.
type warmup struct {
	reader  client.Reader
	pods    *PodReconciler
	envoy   []*EnvoyReconciler
	secrets *SecretReconciler
	ready   interface{ MarkReady() }
	trigger *trigger
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: every replica warms up.
func (w *warmup) NeedLeaderElection() bool { return false }

// Start implements manager.Runnable.
func (w *warmup) Start(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithName("warmup")
	var pods corev1.PodList
	if err := w.reader.List(ctx, &pods); err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	for i := range pods.Items {
		w.pods.apply(&pods.Items[i])
	}
	// Secrets before the resources that reference them, so that the first
	// ResolvedRefs is right.
	var secrets corev1.SecretList
	if err := w.reader.List(ctx, &secrets); err != nil {
		return fmt.Errorf("list Secrets: %w", err)
	}
	secretNamespaces := map[string]bool{}
	for _, s := range secrets.Items {
		secretNamespaces[s.Namespace] = true
	}
	for ns := range secretNamespaces {
		if _, err := w.secrets.sync(ctx, ns); err != nil {
			return err
		}
	}
	objects := 0
	for _, r := range w.envoy {
		namespaces, n, err := r.namespaces(ctx, w.reader)
		if err != nil {
			return err
		}
		objects += n
		for ns := range namespaces {
			if _, _, err := r.sync(ctx, ns); err != nil {
				return err
			}
		}
	}
	log.Info("Indexed existing resources; serving xDS", "pods", len(pods.Items), "objects", objects)
	w.ready.MarkReady()
	<-ctx.Done()
	return nil
}

// reconcileAll queues every namespace that has objects into every Envoy-kind
// controller; through their work queues, so it never races their own reconciles.
func (w *warmup) reconcileAll(ctx context.Context) error {
	for _, r := range w.envoy {
		namespaces, _, err := r.namespaces(ctx, w.reader)
		if err != nil {
			return err
		}
		for ns := range namespaces {
			w.trigger.enqueue(r.kind.Name, types.NamespacedName{Namespace: ns})
		}
	}
	<-ctx.Done()
	return nil
}

// namespaces lists the namespaces that hold objects of the reconciler's kind.
func (r *EnvoyReconciler) namespaces(ctx context.Context, reader client.Reader) (map[string]bool, int, error) {
	list := r.kind.newList()
	if err := reader.List(ctx, list); err != nil {
		return nil, 0, fmt.Errorf("list %ss: %w", r.kind.Name, err)
	}
	items := list.EnvoyItems()
	namespaces := map[string]bool{}
	for _, o := range items {
		namespaces[o.GetNamespace()] = true
	}
	return namespaces, len(items), nil
}

// controllerOptions are the options of every controller: each runs on every
// replica (the index feeds serving; status writes check leadership), and a
// failed reconcile is retried at most maxRetryDelay later.
//
// Reasoning: controller-runtime's default backoff grows to 1,000 s; after an API
// server outage of a few minutes, status would catch up that much later.
func controllerOptions() controller.Options {
	return controller.Options{
		NeedLeaderElection: ptr.To(false),
		RateLimiter: workqueue.NewTypedMaxOfRateLimiter(
			workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](5*time.Millisecond, maxRetryDelay),
			&workqueue.TypedBucketRateLimiter[reconcile.Request]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
		),
	}
}

// maxRetryDelay bounds how long a failed reconcile waits for its retry.
const maxRetryDelay = 5 * time.Second
