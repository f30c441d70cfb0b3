package controllers

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/arcturus-dev/arcturus/xds/index"
	"github.com/arcturus-dev/arcturus/xds/translate"
)

// SecretReconciler serves Kubernetes Secrets over SDS: it translates the TLS
// Secrets of a namespace (see translate.Secrets) into Envoy secrets in the index,
// where a pod receives one only if a resource it receives references it. Every
// replica runs it. Its unit of work is a namespace, like the Envoy kinds'.
type SecretReconciler struct {
	client.Client
	index    *index.Index
	trigger  *trigger
	recorder events.EventRecorder
	// mu serialises syncs: the warm-up and the controller may sync at once.
	mu sync.Mutex
	// invalid remembers, per Secret, the last problem reported, so it is
	// reported once per change rather than on every reconcile.
	invalid map[types.NamespacedName]string
}

// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch

// Reconcile re-indexes the Envoy secrets of the request's namespace.
func (r *SecretReconciler) Reconcile(ctx context.Context, req reconcile.Request) (ctrl.Result, error) {
	affected, err := r.sync(ctx, req.Namespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	if len(affected) > 0 && r.trigger != nil {
		// ResolvedRefs of the resources that reference them.
		r.trigger.enqueueNamespace(req.Namespace, "")
	}
	return ctrl.Result{}, nil
}

// sync replaces the namespace's secrets in the index and returns the affected
// node IDs. A Secret Envoy could not use is left out (its references then read
// as missing) and reported once with an Event on it; its data is never logged.
func (r *SecretReconciler) sync(ctx context.Context, namespace string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var list corev1.SecretList
	if err := r.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("list Secrets in %s: %w", namespace, err)
	}
	affected, problems := indexSecrets(r.index, namespace, list.Items)
	for key, err := range problems {
		if r.invalid[key] != err.Error() {
			ctrl.LoggerFrom(ctx).Info("Secret cannot be served over SDS", "secret", key, "reason", err.Error())
			if r.recorder != nil {
				s := &corev1.Secret{}
				s.Namespace, s.Name = key.Namespace, key.Name
				r.recorder.Eventf(s, nil, corev1.EventTypeWarning, "InvalidTLSSecret", "Serve", "%s", err.Error())
			}
			r.invalid[key] = err.Error()
		}
	}
	for key := range maps.Keys(r.invalid) {
		if _, still := problems[key]; key.Namespace == namespace && !still {
			delete(r.invalid, key)
		}
	}
	return affected, nil
}

// indexSecrets replaces the namespace's Envoy secrets in idx with those the
// Kubernetes Secrets provide, and returns the affected node IDs and, per Secret,
// why Envoy could not use it (such Secrets are left out). The controller and the
// offline config dump share it.
func indexSecrets(idx *index.Index, namespace string, secrets []corev1.Secret) (affected []string, problems map[types.NamespacedName]error) {
	var served []index.Resource
	for i := range secrets {
		s := &secrets[i]
		key := types.NamespacedName{Namespace: s.Namespace, Name: s.Name}
		envoySecrets, err := translate.Secrets(s.Name, s.Data)
		if err != nil {
			if problems == nil {
				problems = map[types.NamespacedName]error{}
			}
			problems[key] = err
			continue
		}
		for _, secret := range envoySecrets {
			served = append(served, index.Resource{Name: secret.GetName(), Message: secret, Source: key, SourceUID: s.UID})
		}
	}
	slices.SortFunc(served, func(a, b index.Resource) int { return strings.Compare(a.Name, b.Name) })
	return idx.ReplaceResources(namespace, resourcev3.SecretType, served), problems
}

func (r *SecretReconciler) setupWithManager(mgr ctrl.Manager) error {
	if r.invalid == nil {
		r.invalid = map[types.NamespacedName]string{}
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("secret").
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(namespaceRequest)).
		WithOptions(controllerOptions()).
		Complete(r)
}

// TrimSecret is a cache transform that keeps only what SDS serves of a Secret:
// its name, namespace, UID and the four keys translate.Secrets reads. Secrets
// are the largest objects of many clusters (Helm releases, tokens); the cache
// then holds a few hundred bytes of metadata for each of those.
func TrimSecret(obj any) (any, error) {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return obj, nil
	}
	trimmed := &corev1.Secret{Type: s.Type}
	trimmed.Namespace, trimmed.Name, trimmed.UID, trimmed.ResourceVersion = s.Namespace, s.Name, s.UID, s.ResourceVersion
	for _, k := range []string{translate.SecretCertKey, translate.SecretKeyKey, translate.SecretCAKey, translate.SecretCRLKey} {
		if v, ok := s.Data[k]; ok {
			if trimmed.Data == nil {
				trimmed.Data = map[string][]byte{}
			}
			trimmed.Data[k] = v
		}
	}
	return trimmed, nil
}
