package controllers

import (
	"google.golang.org/protobuf/proto"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
	"github.com/arcturus-dev/arcturus/xds/index"
	"github.com/arcturus-dev/arcturus/xds/kinds"
	"github.com/arcturus-dev/arcturus/xds/translate"
)

// translateObject translates one configuration of an object: its spec, or its
// last accepted configuration (src). It is a translateFunc without memoisation.
func translateObject(kind envoyKind, o ourv1alpha1.Object, src configSource) translation {
	base, selector := field.NewPath("spec"), o.EnvoySpec().WorkloadSelector
	if src == fromLastAccepted {
		base, selector = field.NewPath("status", "lastAccepted"), o.EnvoyStatus().LastAccepted.WorkloadSelector
	}
	msg, errs := translateSpec(kind.Kind, selector, rawConfig(o, src).Raw, o.GetName(), base)
	t := translation{msg: msg, errs: errs}
	if len(errs) == 0 {
		t.name = kind.NameOf(msg)
		t.hash = index.Hash(msg)
		t.refs = refsOf(translate.References(kind.Kind, msg))
	}
	return t
}

// translateSpec is the one check the reconciler and the admission webhook run on
// a workload selector and an Envoy configuration (spec, or status.lastAccepted,
// at base), so both refuse the same input with the same message. Label keys and
// values are checked as Kubernetes checks a pod's labels, with its error text: a
// selector no pod can carry would otherwise select nothing, silently.
func translateSpec(kind kinds.Kind, selector *ourv1alpha1.WorkloadSelector, config []byte, objName string, base *field.Path) (proto.Message, field.ErrorList) {
	errs := metav1validation.ValidateLabels(selector.GetLabels(), base.Child("workloadSelector", "labels"))
	for i, e := range selector.GetMatchExpressions() {
		errs = append(errs, metav1validation.ValidateLabelSelectorRequirement(e, metav1validation.LabelSelectorValidationOptions{},
			base.Child("workloadSelector", "matchExpressions").Index(i))...)
	}
	msg, configErrs := translate.Translate(kind, config, objName, base.Child("config"))
	errs = append(errs, configErrs...)
	if len(errs) > 0 {
		return nil, errs
	}
	return msg, nil
}
