package v1alpha1

import (
	"fmt"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// EnvoyConfigSpec is the spec shared by every Arcturus kind: one Envoy v3 resource
// and the pods that receive it.
type EnvoyConfigSpec struct {
	// WorkloadSelector selects the Envoy pods of this namespace that receive the
	// resource. When it is absent or its labels are empty, every pod of the
	// namespace receives it.
	// +optional
	WorkloadSelector *WorkloadSelector `json:"workloadSelector,omitempty"`

	// Config is the Envoy v3 resource in its proto3 JSON form (YAML in manifests),
	// exactly as Envoy documents it; no abstraction layer sits in between. It is
	// parsed strictly: an unknown field, a bad enum value, an unresolvable "@type"
	// or a violated Envoy validation rule makes the resource InvalidConfig, with a
	// message naming the field. The Envoy resource name is config.name
	// (config.cluster_name for an Endpoint) and defaults to metadata.name.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	// +required
	Config runtime.RawExtension `json:"config"`
}

// WorkloadSelector selects pods by label.
type WorkloadSelector struct {
	// Labels a pod must all carry to be selected. Empty selects every pod of the
	// namespace. Keys and values must be valid Kubernetes label keys and values;
	// otherwise the resource is InvalidConfig.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// MatchExpressions a pod must all satisfy too (ANDed with Labels), as in a
	// Kubernetes label selector: operator In, NotIn, Exists or DoesNotExist.
	// +optional
	// +listType=atomic
	MatchExpressions []metav1.LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

// EnvoyConfigStatus is the status shared by every Arcturus kind.
type EnvoyConfigStatus struct {
	// ObservedGeneration is the metadata.generation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions describe the resource's state. Accepted is True (reason Valid)
	// when the current spec is served, and False with reason InvalidConfig or
	// Conflict when it is refused. Ready is True (reason Programmed) when every
	// connected selected pod ACKed the current version, and False with reason
	// Rejected (with Envoy's message) or Pending. ResolvedRefs is True (reason Resolved) when
	// every resource the served config refers to reaches every selected pod, and
	// False (reason MissingReference) naming what is missing where.
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// Proxies counts the Envoy pods this object reaches, as this controller replica
	// sees them.
	// +optional
	Proxies *ProxyCounts `json:"proxies,omitempty"`

	// EnvoyName is the name of the Envoy resource this object is served as.
	// +optional
	EnvoyName string `json:"envoyName,omitempty"`

	// LastAccepted records the most recent spec that was accepted. When the spec is
	// later updated to something invalid, this configuration keeps being served
	// (and keeps claiming its Envoy name) until a valid spec replaces it. It lives
	// in status so that it survives restarts and is the same on every replica.
	// +optional
	LastAccepted *AcceptedConfig `json:"lastAccepted,omitempty"`
}

// ProxyCounts counts the pods an object selects by what their Envoys hold.
type ProxyCounts struct {
	// Selected is the number of pods the object selects.
	Selected int32 `json:"selected"`
	// Connected is the number of selected pods whose Envoy has an open xDS stream.
	Connected int32 `json:"connected"`
	// Acked is the number of connected pods whose last ACK includes the current
	// version of this object's resource.
	Acked int32 `json:"acked"`
	// Rejected is the number of connected pods that refused (NACKed) the current
	// version of this object's resource.
	Rejected int32 `json:"rejected"`
	// Summary is "acked/selected", for printing.
	Summary string `json:"summary"`
}

// AcceptedConfig is a spec.config that passed validation.
type AcceptedConfig struct {
	// Generation is the metadata.generation whose spec this is.
	Generation int64 `json:"generation"`

	// WorkloadSelector is the accepted spec.workloadSelector.
	// +optional
	WorkloadSelector *WorkloadSelector `json:"workloadSelector,omitempty"`

	// Config is the accepted spec.config.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Config runtime.RawExtension `json:"config"`
}

// Condition types and reasons of the Arcturus kinds.
const (
	// ConditionAccepted tells whether the current spec is valid and served.
	ConditionAccepted = "Accepted"

	// ReasonValid: the spec parsed, validated and owns its Envoy name.
	ReasonValid = "Valid"
	// ReasonInvalidConfig: spec.config failed to parse or validate.
	ReasonInvalidConfig = "InvalidConfig"
	// ReasonConflict: an older object of the same kind and namespace claims the same Envoy name.
	ReasonConflict = "Conflict"

	// ConditionResolvedRefs tells whether every Envoy resource the served config
	// refers to (RDS route names, clusters, EDS endpoints, SDS secrets) is served to
	// every pod this object selects.
	ConditionResolvedRefs = "ResolvedRefs"

	// ReasonResolved: every reference is served to every selected pod.
	ReasonResolved = "Resolved"
	// ReasonMissingReference: some selected pods lack a referenced resource.
	ReasonMissingReference = "MissingReference"

	// ConditionReady tells whether the selected Envoys run the current version.
	ConditionReady = "Ready"

	// ReasonProgrammed: every connected selected pod ACKed the current version.
	ReasonProgrammed = "Programmed"
	// ReasonRejected: some connected selected pods refused the current version.
	ReasonRejected = "Rejected"
	// ReasonPending: waiting for connected selected pods to ACK, or nothing is served.
	ReasonPending = "Pending"
)

// Object is implemented by every Arcturus kind, so one reconciler serves them all.
// +kubebuilder:object:generate=false
type Object interface {
	metav1.Object
	runtime.Object
	// EnvoySpec returns the object's spec for reading and writing.
	EnvoySpec() *EnvoyConfigSpec
	// EnvoyStatus returns the object's status for reading and writing.
	EnvoyStatus() *EnvoyConfigStatus
}

// ObjectList is implemented by the list type of every Arcturus kind.
// +kubebuilder:object:generate=false
type ObjectList interface {
	metav1.ListInterface
	runtime.Object
	// EnvoyItems returns pointers to the list's items.
	EnvoyItems() []Object
}

// GetLabels returns the selector's labels; a nil selector has none (selects all).
func (s *WorkloadSelector) GetLabels() map[string]string {
	if s == nil {
		return nil
	}
	return s.Labels
}

// GetMatchExpressions returns the selector's expressions; a nil selector has none.
func (s *WorkloadSelector) GetMatchExpressions() []metav1.LabelSelectorRequirement {
	if s == nil {
		return nil
	}
	return s.MatchExpressions
}

// kindScheme knows the Go types of the Arcturus kinds; built on first use, after every
// kind registered itself in init.
var kindScheme = sync.OnceValues(func() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	return s, AddToScheme(s)
})

// New returns a new empty object of the Arcturus kind named kind (e.g. "Listener").
func New(kind string) (Object, error) {
	o, err := newOf(kind)
	if err != nil {
		return nil, err
	}
	obj, ok := o.(Object)
	if !ok {
		return nil, fmt.Errorf("%s is not an Arcturus kind", kind)
	}
	return obj, nil
}

// NewList returns a new empty list of the Arcturus kind named kind.
func NewList(kind string) (ObjectList, error) {
	o, err := newOf(kind + "List")
	if err != nil {
		return nil, err
	}
	list, ok := o.(ObjectList)
	if !ok {
		return nil, fmt.Errorf("%sList is not a list of an Arcturus kind", kind)
	}
	return list, nil
}

func newOf(kind string) (runtime.Object, error) {
	s, err := kindScheme()
	if err != nil {
		return nil, err
	}
	return s.New(GroupVersion.WithKind(kind))
}
