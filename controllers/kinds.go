package controllers

import (
	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
	"github.com/arcturus-dev/arcturus/xds/translate"
)

// envoyKind ties an Arcturus kind to the Envoy kind its spec.config holds. It is the
// only per-kind code: one reconciler implementation serves every entry of envoyKinds.
type envoyKind struct {
	translate.Kind
	newObject func() ourv1alpha1.Object
	newList   func() ourv1alpha1.ObjectList
}

var envoyKinds = []envoyKind{
	{translate.Listener, func() ourv1alpha1.Object { return &ourv1alpha1.Listener{} }, func() ourv1alpha1.ObjectList { return &ourv1alpha1.ListenerList{} }},
	{translate.Route, func() ourv1alpha1.Object { return &ourv1alpha1.Route{} }, func() ourv1alpha1.ObjectList { return &ourv1alpha1.RouteList{} }},
	{translate.Cluster, func() ourv1alpha1.Object { return &ourv1alpha1.Cluster{} }, func() ourv1alpha1.ObjectList { return &ourv1alpha1.ClusterList{} }},
	{translate.Endpoint, func() ourv1alpha1.Object { return &ourv1alpha1.Endpoint{} }, func() ourv1alpha1.ObjectList { return &ourv1alpha1.EndpointList{} }},
}
