package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
	"github.com/arcturus-dev/arcturus/xds/index"
	"github.com/arcturus-dev/arcturus/xds/kinds"
	"github.com/arcturus-dev/arcturus/xds/translate"
)

// Validating admission webhooks, one per kind, all served by envoyValidator. They
// run the very translation the reconciler runs, so `kubectl apply` (and
// --dry-run=server) refuses exactly what the reconciler would mark InvalidConfig,
// with the same message.
//
// Reasoning: failurePolicy is Ignore. The reconciler refuses invalid config anyway
// (nothing invalid is ever served), so the webhook only moves the error earlier;
// with Fail, an unavailable controller would block every apply, including the
// GitOps sync that is meant to repair it.
//
// +kubebuilder:webhook:path=/validate-envoy-arcturus-dev-v1alpha1-listener,mutating=false,failurePolicy=ignore,sideEffects=None,groups=envoy.arcturus.dev,resources=listeners,verbs=create;update,versions=v1alpha1,name=vlistener.envoy.arcturus.dev,admissionReviewVersions=v1,timeoutSeconds=5
// +kubebuilder:webhook:path=/validate-envoy-arcturus-dev-v1alpha1-route,mutating=false,failurePolicy=ignore,sideEffects=None,groups=envoy.arcturus.dev,resources=routes,verbs=create;update,versions=v1alpha1,name=vroute.envoy.arcturus.dev,admissionReviewVersions=v1,timeoutSeconds=5
// +kubebuilder:webhook:path=/validate-envoy-arcturus-dev-v1alpha1-cluster,mutating=false,failurePolicy=ignore,sideEffects=None,groups=envoy.arcturus.dev,resources=clusters,verbs=create;update,versions=v1alpha1,name=vcluster.envoy.arcturus.dev,admissionReviewVersions=v1,timeoutSeconds=5
// +kubebuilder:webhook:path=/validate-envoy-arcturus-dev-v1alpha1-endpoint,mutating=false,failurePolicy=ignore,sideEffects=None,groups=envoy.arcturus.dev,resources=endpoints,verbs=create;update,versions=v1alpha1,name=vendpoint.envoy.arcturus.dev,admissionReviewVersions=v1,timeoutSeconds=5
// +kubebuilder:webhook:path=/validate-envoy-arcturus-dev-v1alpha1-runtime,mutating=false,failurePolicy=ignore,sideEffects=None,groups=envoy.arcturus.dev,resources=runtimes,verbs=create;update,versions=v1alpha1,name=vruntime.envoy.arcturus.dev,admissionReviewVersions=v1,timeoutSeconds=5
// +kubebuilder:webhook:path=/validate-envoy-arcturus-dev-v1alpha1-extensionconfig,mutating=false,failurePolicy=ignore,sideEffects=None,groups=envoy.arcturus.dev,resources=extensionconfigs,verbs=create;update,versions=v1alpha1,name=vextensionconfig.envoy.arcturus.dev,admissionReviewVersions=v1,timeoutSeconds=5
// +kubebuilder:webhook:path=/validate-envoy-arcturus-dev-v1alpha1-scopedroute,mutating=false,failurePolicy=ignore,sideEffects=None,groups=envoy.arcturus.dev,resources=scopedroutes,verbs=create;update,versions=v1alpha1,name=vscopedroute.envoy.arcturus.dev,admissionReviewVersions=v1,timeoutSeconds=5

// envoyValidator validates one Arcturus kind at admission. References that the
// selected pods do not receive yet are warnings, not rejections: GitOps tools
// apply in arbitrary order, and the ResolvedRefs condition tracks them afterwards.
type envoyValidator struct {
	kind  envoyKind
	index *index.Index
}

var _ admission.CustomValidator = envoyValidator{}

// ValidateCreate implements admission.CustomValidator.
func (v envoyValidator) ValidateCreate(_ context.Context, obj runtime.Object) (admission.Warnings, error) {
	return v.validate(obj)
}

// ValidateUpdate implements admission.CustomValidator. An update that leaves the
// spec alone (labels, annotations, finalizers) is always allowed, so an object
// stored before the webhook existed can still be relabelled or deleted. Status
// updates never pass through here: the webhook is registered for the main
// resource only.
func (v envoyValidator) ValidateUpdate(_ context.Context, oldObj, obj runtime.Object) (admission.Warnings, error) {
	if o, ok := oldObj.(ourv1alpha1.Object); ok {
		if n, ok := obj.(ourv1alpha1.Object); ok && equality.Semantic.DeepEqual(o.EnvoySpec(), n.EnvoySpec()) {
			return nil, nil
		}
	}
	return v.validate(obj)
}

// ValidateDelete implements admission.CustomValidator; deleting is always allowed.
func (v envoyValidator) ValidateDelete(context.Context, runtime.Object) (admission.Warnings, error) {
	return nil, nil
}

func (v envoyValidator) validate(obj runtime.Object) (admission.Warnings, error) {
	o, ok := obj.(ourv1alpha1.Object)
	if !ok {
		return nil, fmt.Errorf("expected an Arcturus %s, got %T", v.kind.Name, obj)
	}
	if err := sizeError(o); err != nil {
		return nil, apierrors.NewInvalid(ourv1alpha1.GroupVersion.WithKind(v.kind.Name).GroupKind(), o.GetName(), field.ErrorList{err})
	}
	msg, errs := translateSpec(v.kind.Kind, o.EnvoySpec().WorkloadSelector, o.EnvoySpec().Config.Raw, o.GetName(), field.NewPath("spec"))
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(ourv1alpha1.GroupVersion.WithKind(v.kind.Name).GroupKind(), o.GetName(), errs)
	}
	if v.index == nil {
		return nil, nil
	}
	var warnings admission.Warnings
	sel := &index.Resource{Selector: o.EnvoySpec().WorkloadSelector.GetLabels(), MatchExpressions: o.EnvoySpec().WorkloadSelector.GetMatchExpressions()}
	for _, ref := range translate.References(v.kind.Kind, msg) {
		check := v.index.CheckRefs(o.GetNamespace(), sel, []kinds.Ref{ref.Ref})
		for _, n := range check.Missing {
			warnings = append(warnings, fmt.Sprintf("spec.config.%s: %s %q is not served to %d of %d selected pods",
				ref.Path, kinds.DisplayName(ref.TypeURL), ref.Name, n, check.Selected))
		}
	}
	return warnings, nil
}

// SetupWebhooks registers the validating webhook of every Arcturus kind; idx
// answers which references the selected pods lack.
func SetupWebhooks(mgr ctrl.Manager, idx *index.Index) error {
	for _, k := range envoyKinds {
		if err := ctrl.NewWebhookManagedBy(mgr, k.newObject()).WithCustomValidator(envoyValidator{kind: k, index: idx}).Complete(); err != nil {
			return fmt.Errorf("set up %s webhook: %w", k.Name, err)
		}
	}
	return nil
}
