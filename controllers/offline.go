package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
	"github.com/arcturus-dev/arcturus/xds/index"
	"github.com/arcturus-dev/arcturus/xds/kinds"
)

// Outcome is what the controllers make of one custom resource.
type Outcome struct {
	// Kind is the Arcturus kind, e.g. "Route".
	Kind string
	// Object is the custom resource as listed.
	Object ourv1alpha1.Object
	// Status is the status the controller would write, without Ready and proxy
	// counts, which only connected Envoys can tell.
	Status ourv1alpha1.EnvoyConfigStatus
	// Served is the resource served on the object's behalf; nil when none.
	Served *index.Resource
	// Refs are the resources Served refers to.
	Refs []kinds.Ref
}

// Offline builds, from the API alone, the index the controllers build for one
// namespace (its pods and every kind's custom resources) and the outcome for each
// custom resource. It runs the reconcilers' own steps (indexPod, translateObject,
// decide, serve, checkRefs) over listed objects, with no manager, cache or
// Envoy, so what `arcturus config-dump --pod` shows cannot drift from what the
// controller serves. root is the controller's root namespace (--root-namespace),
// whose custom resources apply to the pods of every namespace; empty: none.
func Offline(ctx context.Context, c client.Reader, namespace, root string) (*index.Index, []Outcome, error) {
	idx := index.New(nil)
	idx.SetRootNamespace(root)
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(namespace)); err != nil {
		return nil, nil, fmt.Errorf("list pods in %s: %w", namespace, err)
	}
	for i := range pods.Items {
		if p, runs := indexPod(&pods.Items[i]); runs {
			idx.SetPod(p)
		}
	}
	// Secrets, then every kind's resources, then the references between them,
	// as the reconcilers reach once everything has synced.
	var secrets corev1.SecretList
	if err := c.List(ctx, &secrets, client.InNamespace(namespace)); err != nil {
		return nil, nil, fmt.Errorf("list Secrets in %s: %w", namespace, err)
	}
	indexSecrets(idx, namespace, secrets.Items)
	var decisions []decision
	var kinds []string
	namespaces := []string{namespace}
	if root != "" && root != namespace {
		namespaces = append(namespaces, root)
	}
	for _, ns := range namespaces {
		var nsDecisions []decision
		for _, k := range envoyKinds {
			list := k.newList()
			if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
				return nil, nil, fmt.Errorf("list %ss in %s: %w", k.Name, ns, err)
			}
			ds := decide(k, list.EnvoyItems(), func(o ourv1alpha1.Object, src configSource) translation {
				return translateObject(k, o, src)
			})
			serve(idx, ns, k, ds)
			nsDecisions = append(nsDecisions, ds...)
			for range ds {
				kinds = append(kinds, k.Name)
			}
		}
		decisions = append(decisions, nsDecisions...)
	}
	// References once everything is indexed; a root namespace's resources are
	// checked against the pods of the dumped namespace only.
	start := 0
	for _, ns := range namespaces {
		end := start
		for end < len(decisions) && decisions[end].obj.GetNamespace() == ns {
			end++
		}
		checkRefs(idx, ns, idx.PodGroups(ns), decisions[start:end])
		start = end
	}
	outcomes := make([]Outcome, len(decisions))
	for i, d := range decisions {
		meta.RemoveStatusCondition(&d.status.Conditions, ourv1alpha1.ConditionReady)
		d.status.Proxies = nil
		outcomes[i] = Outcome{Kind: kinds[i], Object: d.obj, Status: d.status, Served: d.served, Refs: d.refs}
	}
	return idx, outcomes, nil
}
