package controllers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
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
	// unrecordable: the generation, per object, whose status.lastAccepted etcd
	// refused for its size; its status keeps the stored lastAccepted. Guarded by mu.
	unrecordable map[types.UID]int64
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
		// Other kinds of the namespace may refer to what changed; the resources
		// of every namespace, when it is the root namespace.
		r.trigger.enqueueNamespace(req.Namespace, r.kind.Name)
		if req.Namespace == r.index.RootNamespace() {
			r.trigger.enqueueEveryNamespace()
		}
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

	affected, served := serve(r.index, namespace, r.kind, decisions)
	groups := r.index.PodGroups(namespace)
	checkRefs(r.index, namespace, groups, decisions)
	proxies := newProxyView(groups, r.proxies, r.kind.TypeURL)
	for i := range decisions {
		d := &decisions[i]
		if d.served != nil {
			rep := proxies.report(d.served)
			d.status.Proxies = &rep.counts
			meta.SetStatusCondition(&d.status.Conditions, readyCondition(d.obj.GetGeneration(), true, rep))
		}
	}
	ctrl.LoggerFrom(ctx).V(1).Info("Indexed namespace", "kind", r.kind.Name, "objects", len(objs), "served", served, "affectedNodes", len(affected))
	return decisions, len(affected) > 0, nil
}

// serve replaces the namespace's resources of the kind in the index with those
// the decisions serve. It returns the affected node IDs and the number served.
func serve(idx *index.Index, namespace string, kind envoyKind, decisions []decision) (affected []string, served int) {
	rs := make([]index.Resource, 0, len(decisions))
	for _, d := range decisions {
		if d.served != nil {
			r := *d.served
			r.Secrets = secretNames(d.refs)
			rs = append(rs, r)
		}
	}
	return idx.ReplaceResources(namespace, kind.TypeURL, rs), len(rs)
}

// checkRefs sets the ResolvedRefs condition of every decision that serves
// something, against what the index serves to the namespace's pods (groups).
func checkRefs(idx *index.Index, namespace string, groups []index.PodGroup, decisions []decision) {
	for i := range decisions {
		d := &decisions[i]
		if d.served != nil {
			check := idx.CheckRefsOf(namespace, groups, d.served, d.refs)
			meta.SetStatusCondition(&d.status.Conditions, resolvedRefsCondition(d.obj.GetGeneration(), d.refs, check))
		}
	}
}

// translate is the memoised translateFunc; callers hold r.mu. A spec too large
// to be stored with its status is refused before it is parsed; that check is
// not memoised, since metadata that counts towards the size can change without
// a new generation.
func (r *EnvoyReconciler) translate(o ourv1alpha1.Object, src configSource) translation {
	if src == fromSpec {
		if err := sizeError(o); err != nil {
			return translation{errs: field.ErrorList{err}}
		}
	}
	key := translationKey{namespace: o.GetNamespace(), uid: o.GetUID(), src: src, generation: o.GetGeneration()}
	if src == fromLastAccepted {
		key.generation = o.EnvoyStatus().LastAccepted.Generation
	}
	if t, ok := r.translations[key]; ok {
		return t
	}
	t := translateObject(r.kind, o, src)
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
		if r.isUnrecordable(d.obj) {
			keepStoredLastAccepted(d.obj, &d.status)
		}
		if statusEqual(d.obj.EnvoyStatus(), &d.status) {
			continue
		}
		err := r.putStatus(ctx, d.obj, &d.status)
		if isTooLargeToStore(err) && !r.isUnrecordable(d.obj) {
			// sizeError's estimate let through an object etcd cannot store with
			// its new lastAccepted. Keep the stored one, which fits as it is
			// stored now, and say so; remembering the generation keeps every
			// later reconcile from trying again.
			r.mu.Lock()
			if r.unrecordable == nil {
				r.unrecordable = map[types.UID]int64{}
			}
			r.unrecordable[d.obj.GetUID()] = d.obj.GetGeneration()
			r.mu.Unlock()
			ctrl.LoggerFrom(ctx).Info("Status with lastAccepted too large to store; keeping the stored lastAccepted",
				"kind", r.kind.Name, "name", d.obj.GetName(), "generation", d.obj.GetGeneration())
			keepStoredLastAccepted(d.obj, &d.status)
			err = r.putStatus(ctx, d.obj, &d.status)
		}
		if apierrors.IsConflict(err) {
			// The object changed since it was listed. Its newer version is
			// on its way through the watch and enqueues the namespace again,
			// so this routine race needs no error, stack trace or backoff.
			ctrl.LoggerFrom(ctx).V(1).Info("Skipped stale status update; the object changed", "kind", r.kind.Name, "name", d.obj.GetName())
			continue
		}
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("update status of %s %s/%s: %w", r.kind.Name, d.obj.GetNamespace(), d.obj.GetName(), err))
		}
	}
	return errors.Join(errs...)
}

// secretNames returns the SDS secrets among refs.
func secretNames(refs []kinds.Ref) []string {
	var names []string
	for _, ref := range refs {
		if ref.TypeURL == resourcev3.SecretType {
			names = append(names, ref.Name)
		}
	}
	return names
}

func (r *EnvoyReconciler) putStatus(ctx context.Context, o ourv1alpha1.Object, status *ourv1alpha1.EnvoyConfigStatus) error {
	obj := o.DeepCopyObject().(ourv1alpha1.Object)
	*obj.EnvoyStatus() = *status
	if err := r.Status().Update(ctx, obj); err != nil {
		return err
	}
	ctrl.LoggerFrom(ctx).V(1).Info("Updated status", "kind", r.kind.Name, "name", obj.GetName())
	return nil
}

// isUnrecordable reports whether etcd refused this generation's lastAccepted.
func (r *EnvoyReconciler) isUnrecordable(o ourv1alpha1.Object) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	gen, ok := r.unrecordable[o.GetUID()]
	return ok && gen == o.GetGeneration()
}

// keepStoredLastAccepted replaces a status's new lastAccepted by the one stored,
// and says in the Accepted condition what an invalid update would then serve.
func keepStoredLastAccepted(o ourv1alpha1.Object, status *ourv1alpha1.EnvoyConfigStatus) {
	stored := o.EnvoyStatus().LastAccepted
	if la := status.LastAccepted; la == nil || (stored != nil && la.Generation == stored.Generation) {
		return // nothing new to record
	}
	status.LastAccepted = stored.DeepCopy()
	cond := meta.FindStatusCondition(status.Conditions, ourv1alpha1.ConditionAccepted)
	if cond == nil {
		return
	}
	fallback := "nothing would be served for this object"
	if stored != nil {
		fallback = fmt.Sprintf("generation %d would be served", stored.Generation)
	}
	cond.Message = truncate(fmt.Sprintf("%s; status.lastAccepted could not record this generation: the object would exceed etcd's request limit "+
		"(%q), so if an invalid update replaced it, %s", cond.Message, errTooLargeToStore, fallback), maxConditionMessage)
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
		WithOptions(controllerOptions()).
		Complete(r)
}

// namespaceRequest maps an object to the request for its namespace.
func namespaceRequest(_ context.Context, o client.Object) []reconcile.Request {
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace()}}}
}
