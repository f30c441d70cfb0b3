package controllers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
	"github.com/arcturus-dev/arcturus/xds/index"
	"github.com/arcturus-dev/arcturus/xds/kinds"
	"github.com/arcturus-dev/arcturus/xds/translate"
)

// EnvoyReconciler reconciles one Arcturus kind. Its unit of work is a namespace, not
// an object: name conflicts are decided over every object of the kind in the
// namespace, so a restart never flips which object wins, and a deleted winner hands
// its name to the next claimant in the same pass.
//
// Every replica runs it, to keep its own index complete; only a replica for which
// WriteStatus returns true (the leader) writes status.
type EnvoyReconciler struct {
	client.Client
	kind    envoyKind
	index   *index.Index
	proxies ProxyStatus
	trigger *trigger
	// writeStatus reports whether this replica writes status.
	writeStatus func() bool

	// mu serialises syncs of this kind, so the index always ends with the newest
	// listing, and guards translations.
	mu           sync.Mutex
	translations map[translationKey]translation
}

// translationKey identifies one configuration of one object generation.
type translationKey struct {
	namespace  string
	uid        types.UID
	src        configSource
	generation int64
}

// +kubebuilder:rbac:groups=envoy.arcturus.dev,resources=listeners;routes;clusters;endpoints;runtimes;extensionconfigs;scopedroutes,verbs=get;list;watch
// +kubebuilder:rbac:groups=envoy.arcturus.dev,resources=listeners/status;routes/status;clusters/status;endpoints/status;runtimes/status;extensionconfigs/status;scopedroutes/status,verbs=get;update;patch

// Reconcile syncs the namespace named by the request and writes the statuses that changed.
func (r *EnvoyReconciler) Reconcile(ctx context.Context, req reconcile.Request) (ctrl.Result, error) {
	decisions, changed, err := r.sync(ctx, req.Namespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	if changed && r.trigger != nil {
		// Other kinds of the namespace may refer to what changed.
		r.trigger.enqueueNamespace(req.Namespace, r.kind.Name)
	}
	if !r.writeStatus() {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, r.updateStatuses(ctx, decisions)
}

// sync translates every object of the kind in the namespace, decides what is
// served, replaces the namespace's resources of this type in the index, and checks
// the references of what is served. changed reports whether any pod's
// configuration changed.
func (r *EnvoyReconciler) sync(ctx context.Context, namespace string) (decisions []decision, changed bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()

	list := r.kind.newList()
	if err := r.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return nil, false, fmt.Errorf("list %ss in %s: %w", r.kind.Name, namespace, err)
	}
	objs := list.EnvoyItems()
	decisions = decide(r.kind, objs, r.translate)
	r.forgetTranslationsExcept(namespace, objs)

	served := make([]index.Resource, 0, len(decisions))
	for _, d := range decisions {
		if d.served != nil {
			served = append(served, *d.served)
		}
	}
	affected := r.index.ReplaceResources(namespace, r.kind.TypeURL, served)
	groups := r.index.PodGroups(namespace)
	proxies := newProxyView(groups, r.proxies, r.kind.TypeURL)
	for i := range decisions {
		d := &decisions[i]
		if d.served != nil {
			check := r.index.CheckRefsOf(namespace, groups, d.served.Selector, d.refs)
			meta.SetStatusCondition(&d.status.Conditions, resolvedRefsCondition(d.obj.GetGeneration(), d.refs, check))
			rep := proxies.report(d.served)
			d.status.Proxies = &rep.counts
			meta.SetStatusCondition(&d.status.Conditions, readyCondition(d.obj.GetGeneration(), true, rep))
		}
	}
	ctrl.LoggerFrom(ctx).V(1).Info("Indexed namespace", "kind", r.kind.Name, "objects", len(objs), "served", len(served), "affectedNodes", len(affected))
	return decisions, len(affected) > 0, nil
}

// translate is the memoised translateFunc; callers hold r.mu.
func (r *EnvoyReconciler) translate(o ourv1alpha1.Object, src configSource) translation {
	key := translationKey{namespace: o.GetNamespace(), uid: o.GetUID(), src: src, generation: o.GetGeneration()}
	path := field.NewPath("spec", "config")
	if src == fromLastAccepted {
		key.generation = o.EnvoyStatus().LastAccepted.Generation
		path = field.NewPath("status", "lastAccepted", "config")
	}
	if t, ok := r.translations[key]; ok {
		return t
	}
	msg, errs := translate.Translate(r.kind.Kind, rawConfig(o, src).Raw, o.GetName(), path)
	t := translation{msg: msg, errs: errs}
	if len(errs) == 0 {
		t.name = r.kind.NameOf(msg)
		t.hash = index.Hash(msg)
		t.refs = refsOf(translate.References(r.kind.Kind, msg))
	}
	if r.translations == nil {
		r.translations = map[translationKey]translation{}
	}
	r.translations[key] = t
	return t
}

// forgetTranslationsExcept drops memoised translations of the namespace that no
// longer belong to a current object generation.
func (r *EnvoyReconciler) forgetTranslationsExcept(namespace string, objs []ourv1alpha1.Object) {
	keep := make(map[translationKey]bool, 2*len(objs))
	for _, o := range objs {
		keep[translationKey{namespace, o.GetUID(), fromSpec, o.GetGeneration()}] = true
		if la := o.EnvoyStatus().LastAccepted; la != nil {
			keep[translationKey{namespace, o.GetUID(), fromLastAccepted, la.Generation}] = true
		}
	}
	for k := range r.translations {
		if k.namespace == namespace && !keep[k] {
			delete(r.translations, k)
		}
	}
}

// updateStatuses writes each decided status that differs from the object's.
func (r *EnvoyReconciler) updateStatuses(ctx context.Context, decisions []decision) error {
	var errs []error
	for _, d := range decisions {
		if statusEqual(d.obj.EnvoyStatus(), &d.status) {
			continue
		}
		obj := d.obj.DeepCopyObject().(ourv1alpha1.Object)
		*obj.EnvoyStatus() = d.status
		if err := r.Status().Update(ctx, obj); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			errs = append(errs, fmt.Errorf("update status of %s %s/%s: %w", r.kind.Name, obj.GetNamespace(), obj.GetName(), err))
			continue
		}
		ctrl.LoggerFrom(ctx).V(1).Info("Updated status", "kind", r.kind.Name, "name", obj.GetName())
	}
	return errors.Join(errs...)
}

// refsOf drops the paths of references: the index checks what, not where.
func refsOf(refs []translate.Reference) []kinds.Ref {
	out := make([]kinds.Ref, len(refs))
	for i, ref := range refs {
		out[i] = ref.Ref
	}
	return out
}

// statusEqual compares two statuses field by field. It runs for every object on
// every reconcile, and reflection-based deep equality is the costly part there.
func statusEqual(a, b *ourv1alpha1.EnvoyConfigStatus) bool {
	if a.ObservedGeneration != b.ObservedGeneration || a.EnvoyName != b.EnvoyName ||
		!ptrEqual(a.Proxies, b.Proxies) || len(a.Conditions) != len(b.Conditions) {
		return false
	}
	for i := range a.Conditions {
		ca, cb := &a.Conditions[i], &b.Conditions[i]
		if ca.Type != cb.Type || ca.Status != cb.Status || ca.Reason != cb.Reason || ca.Message != cb.Message ||
			ca.ObservedGeneration != cb.ObservedGeneration || !ca.LastTransitionTime.Equal(&cb.LastTransitionTime) {
			return false
		}
	}
	la, lb := a.LastAccepted, b.LastAccepted
	if la == nil || lb == nil {
		return la == lb
	}
	return la.Generation == lb.Generation && maps.Equal(la.WorkloadSelector.GetLabels(), lb.WorkloadSelector.GetLabels()) &&
		(la.WorkloadSelector == nil) == (lb.WorkloadSelector == nil) && bytes.Equal(la.Config.Raw, lb.Config.Raw)
}

func ptrEqual[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// setupWithManager registers the controller: every event of the kind, and every
// trigger from other kinds and pods, enqueues its namespace.
func (r *EnvoyReconciler) setupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named(strings.ToLower(r.kind.Name)).
		Watches(r.kind.newObject(), handler.EnqueueRequestsFromMapFunc(namespaceRequest)).
		WatchesRawSource(source.Channel(r.trigger.events[r.kind.Name], handler.EnqueueRequestsFromMapFunc(namespaceRequest))).
		WithOptions(controller.Options{NeedLeaderElection: ptr.To(false)}).
		Complete(r)
}

// namespaceRequest maps an object to the request for its namespace.
func namespaceRequest(_ context.Context, o client.Object) []reconcile.Request {
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace()}}}
}
