package controllers

import (
	"google.golang.org/protobuf/proto"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
	"github.com/arcturus-dev/arcturus/xds/translate"
)

// translateSpec is the one check the reconciler and the admission webhook run on
// a workload selector and an Envoy configuration (spec, or status.lastAccepted,
// at base), so both refuse the same input with the same message. Label keys and
// values are checked as Kubernetes checks a pod's labels, with its error text: a
// selector no pod can carry would otherwise select nothing, silently.
func translateSpec(kind translate.Kind, selector *ourv1alpha1.WorkloadSelector, config []byte, objName string, base *field.Path) (proto.Message, field.ErrorList) {
	errs := metav1validation.ValidateLabels(selector.GetLabels(), base.Child("workloadSelector", "labels"))
	msg, configErrs := translate.Translate(kind, config, objName, base.Child("config"))
	errs = append(errs, configErrs...)
	if len(errs) > 0 {
		return nil, errs
	}
	return msg, nil
}
