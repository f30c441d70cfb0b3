// Package v1alpha1 contains the envoy.arcturus.dev/v1alpha1 API: custom resources
// that carry raw Envoy v3 configuration (Listener, Route, Cluster, Endpoint,
// Runtime, ExtensionConfig, ScopedRoute) and select the Envoy pods of their
// namespace that receive it.
//
// +kubebuilder:object:generate=true
// +groupName=envoy.arcturus.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every Arcturus kind.
	GroupVersion = schema.GroupVersion{Group: "envoy.arcturus.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the Arcturus kinds with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the Arcturus kinds to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
