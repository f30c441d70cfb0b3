package v1alpha1

// Code layout: the four kinds differ only in name and in the Envoy type their
// spec.config holds; everything else lives in common_types.go.

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Listener carries one Envoy envoy.config.listener.v3.Listener in spec.config and serves it
// to the selected Envoy pods of its namespace.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:path=listeners,shortName=el,categories=envoy
// +kubebuilder:printcolumn:name="Envoy Name",type=string,JSONPath=`.status.envoyName`
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Resolved",type=string,JSONPath=`.status.conditions[?(@.type=="ResolvedRefs")].status`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Proxies",type=string,JSONPath=`.status.proxies.summary`
// +kubebuilder:printcolumn:name="Reason",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Accepted")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Listener struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec holds the Envoy envoy.config.listener.v3.Listener and its pod selector.
	// +required
	Spec EnvoyConfigSpec `json:"spec"`

	// Status reports whether the spec is accepted and what is served.
	// +optional
	Status EnvoyConfigStatus `json:"status,omitempty"`
}

// ListenerList is a list of Listener objects.
//
// +kubebuilder:object:root=true
type ListenerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Listener `json:"items"`
}

// EnvoySpec implements Object.
func (o *Listener) EnvoySpec() *EnvoyConfigSpec { return &o.Spec }

// EnvoyStatus implements Object.
func (o *Listener) EnvoyStatus() *EnvoyConfigStatus { return &o.Status }

// EnvoyItems implements ObjectList.
func (l *ListenerList) EnvoyItems() []Object {
	items := make([]Object, len(l.Items))
	for i := range l.Items {
		items[i] = &l.Items[i]
	}
	return items
}

// Route carries one Envoy envoy.config.route.v3.RouteConfiguration in spec.config and serves it
// to the selected Envoy pods of its namespace.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:path=routes,shortName=er,categories=envoy
// +kubebuilder:printcolumn:name="Envoy Name",type=string,JSONPath=`.status.envoyName`
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Resolved",type=string,JSONPath=`.status.conditions[?(@.type=="ResolvedRefs")].status`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Proxies",type=string,JSONPath=`.status.proxies.summary`
// +kubebuilder:printcolumn:name="Reason",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Accepted")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Route struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec holds the Envoy envoy.config.route.v3.RouteConfiguration and its pod selector.
	// +required
	Spec EnvoyConfigSpec `json:"spec"`

	// Status reports whether the spec is accepted and what is served.
	// +optional
	Status EnvoyConfigStatus `json:"status,omitempty"`
}

// RouteList is a list of Route objects.
//
// +kubebuilder:object:root=true
type RouteList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Route `json:"items"`
}

// EnvoySpec implements Object.
func (o *Route) EnvoySpec() *EnvoyConfigSpec { return &o.Spec }

// EnvoyStatus implements Object.
func (o *Route) EnvoyStatus() *EnvoyConfigStatus { return &o.Status }

// EnvoyItems implements ObjectList.
func (l *RouteList) EnvoyItems() []Object {
	items := make([]Object, len(l.Items))
	for i := range l.Items {
		items[i] = &l.Items[i]
	}
	return items
}

// Cluster carries one Envoy envoy.config.cluster.v3.Cluster in spec.config and serves it
// to the selected Envoy pods of its namespace.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:path=clusters,shortName=ec,categories=envoy
// +kubebuilder:printcolumn:name="Envoy Name",type=string,JSONPath=`.status.envoyName`
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Resolved",type=string,JSONPath=`.status.conditions[?(@.type=="ResolvedRefs")].status`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Proxies",type=string,JSONPath=`.status.proxies.summary`
// +kubebuilder:printcolumn:name="Reason",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Accepted")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Cluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec holds the Envoy envoy.config.cluster.v3.Cluster and its pod selector.
	// +required
	Spec EnvoyConfigSpec `json:"spec"`

	// Status reports whether the spec is accepted and what is served.
	// +optional
	Status EnvoyConfigStatus `json:"status,omitempty"`
}

// ClusterList is a list of Cluster objects.
//
// +kubebuilder:object:root=true
type ClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Cluster `json:"items"`
}

// EnvoySpec implements Object.
func (o *Cluster) EnvoySpec() *EnvoyConfigSpec { return &o.Spec }

// EnvoyStatus implements Object.
func (o *Cluster) EnvoyStatus() *EnvoyConfigStatus { return &o.Status }

// EnvoyItems implements ObjectList.
func (l *ClusterList) EnvoyItems() []Object {
	items := make([]Object, len(l.Items))
	for i := range l.Items {
		items[i] = &l.Items[i]
	}
	return items
}

// Endpoint carries one Envoy envoy.config.endpoint.v3.ClusterLoadAssignment in spec.config and serves it
// to the selected Envoy pods of its namespace.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:path=endpoints,shortName=eep,categories=envoy
// +kubebuilder:printcolumn:name="Envoy Name",type=string,JSONPath=`.status.envoyName`
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Resolved",type=string,JSONPath=`.status.conditions[?(@.type=="ResolvedRefs")].status`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Proxies",type=string,JSONPath=`.status.proxies.summary`
// +kubebuilder:printcolumn:name="Reason",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Accepted")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Endpoint struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec holds the Envoy envoy.config.endpoint.v3.ClusterLoadAssignment and its pod selector.
	// +required
	Spec EnvoyConfigSpec `json:"spec"`

	// Status reports whether the spec is accepted and what is served.
	// +optional
	Status EnvoyConfigStatus `json:"status,omitempty"`
}

// EndpointList is a list of Endpoint objects.
//
// +kubebuilder:object:root=true
type EndpointList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Endpoint `json:"items"`
}

// EnvoySpec implements Object.
func (o *Endpoint) EnvoySpec() *EnvoyConfigSpec { return &o.Spec }

// EnvoyStatus implements Object.
func (o *Endpoint) EnvoyStatus() *EnvoyConfigStatus { return &o.Status }

// EnvoyItems implements ObjectList.
func (l *EndpointList) EnvoyItems() []Object {
	items := make([]Object, len(l.Items))
	for i := range l.Items {
		items[i] = &l.Items[i]
	}
	return items
}

func init() {
	SchemeBuilder.Register(
		&Listener{}, &ListenerList{},
		&Route{}, &RouteList{},
		&Cluster{}, &ClusterList{},
		&Endpoint{}, &EndpointList{},
	)
}
