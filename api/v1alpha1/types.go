package v1alpha1

// Code layout: the kinds differ only in name and in the Envoy type their
// spec.config holds; everything else lives in common_types.go. Each kind is also
// an entry of the kind table, xds/kinds.

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
func (l *ListenerList) EnvoyItems() []Object { return objects(l.Items) }

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
func (l *RouteList) EnvoyItems() []Object { return objects(l.Items) }

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
func (l *ClusterList) EnvoyItems() []Object { return objects(l.Items) }

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
func (l *EndpointList) EnvoyItems() []Object { return objects(l.Items) }

// Runtime carries one Envoy envoy.service.runtime.v3.Runtime in spec.config and serves it
// to the selected Envoy pods of its namespace (RTDS): a runtime layer, named by an rtds_layer of the bootstrap.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:path=runtimes,shortName=ert,categories=envoy
// +kubebuilder:printcolumn:name="Envoy Name",type=string,JSONPath=`.status.envoyName`
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Resolved",type=string,JSONPath=`.status.conditions[?(@.type=="ResolvedRefs")].status`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Proxies",type=string,JSONPath=`.status.proxies.summary`
// +kubebuilder:printcolumn:name="Reason",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Accepted")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Runtime struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec holds the Envoy envoy.service.runtime.v3.Runtime and its pod selector.
	// +required
	Spec EnvoyConfigSpec `json:"spec"`

	// Status reports whether the spec is accepted and what is served.
	// +optional
	Status EnvoyConfigStatus `json:"status,omitempty"`
}

// RuntimeList is a list of Runtime objects.
//
// +kubebuilder:object:root=true
type RuntimeList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Runtime `json:"items"`
}

// EnvoySpec implements Object.
func (o *Runtime) EnvoySpec() *EnvoyConfigSpec { return &o.Spec }

// EnvoyStatus implements Object.
func (o *Runtime) EnvoyStatus() *EnvoyConfigStatus { return &o.Status }

// EnvoyItems implements ObjectList.
func (l *RuntimeList) EnvoyItems() []Object { return objects(l.Items) }

// ExtensionConfig carries one Envoy envoy.config.core.v3.TypedExtensionConfig in spec.config and serves it
// to the selected Envoy pods of its namespace (ECDS): a filter configuration, named by a filter's config_discovery.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:path=extensionconfigs,shortName=eec,categories=envoy
// +kubebuilder:printcolumn:name="Envoy Name",type=string,JSONPath=`.status.envoyName`
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Resolved",type=string,JSONPath=`.status.conditions[?(@.type=="ResolvedRefs")].status`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Proxies",type=string,JSONPath=`.status.proxies.summary`
// +kubebuilder:printcolumn:name="Reason",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Accepted")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ExtensionConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec holds the Envoy envoy.config.core.v3.TypedExtensionConfig and its pod selector.
	// +required
	Spec EnvoyConfigSpec `json:"spec"`

	// Status reports whether the spec is accepted and what is served.
	// +optional
	Status EnvoyConfigStatus `json:"status,omitempty"`
}

// ExtensionConfigList is a list of ExtensionConfig objects.
//
// +kubebuilder:object:root=true
type ExtensionConfigList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ExtensionConfig `json:"items"`
}

// EnvoySpec implements Object.
func (o *ExtensionConfig) EnvoySpec() *EnvoyConfigSpec { return &o.Spec }

// EnvoyStatus implements Object.
func (o *ExtensionConfig) EnvoyStatus() *EnvoyConfigStatus { return &o.Status }

// EnvoyItems implements ObjectList.
func (l *ExtensionConfigList) EnvoyItems() []Object { return objects(l.Items) }

// ScopedRoute carries one Envoy envoy.config.route.v3.ScopedRouteConfiguration in spec.config and serves it
// to the selected Envoy pods of its namespace (SRDS): a route scope, selecting a Route by its key.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:path=scopedroutes,shortName=esr,categories=envoy
// +kubebuilder:printcolumn:name="Envoy Name",type=string,JSONPath=`.status.envoyName`
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Resolved",type=string,JSONPath=`.status.conditions[?(@.type=="ResolvedRefs")].status`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Proxies",type=string,JSONPath=`.status.proxies.summary`
// +kubebuilder:printcolumn:name="Reason",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Accepted")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ScopedRoute struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec holds the Envoy envoy.config.route.v3.ScopedRouteConfiguration and its pod selector.
	// +required
	Spec EnvoyConfigSpec `json:"spec"`

	// Status reports whether the spec is accepted and what is served.
	// +optional
	Status EnvoyConfigStatus `json:"status,omitempty"`
}

// ScopedRouteList is a list of ScopedRoute objects.
//
// +kubebuilder:object:root=true
type ScopedRouteList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ScopedRoute `json:"items"`
}

// EnvoySpec implements Object.
func (o *ScopedRoute) EnvoySpec() *EnvoyConfigSpec { return &o.Spec }

// EnvoyStatus implements Object.
func (o *ScopedRoute) EnvoyStatus() *EnvoyConfigStatus { return &o.Status }

// EnvoyItems implements ObjectList.
func (l *ScopedRouteList) EnvoyItems() []Object { return objects(l.Items) }

// objects returns pointers to a list's items.
func objects[T any, P interface {
	*T
	Object
}](items []T) []Object {
	out := make([]Object, len(items))
	for i := range items {
		out[i] = P(&items[i])
	}
	return out
}

func init() {
	SchemeBuilder.Register(
		&Listener{}, &ListenerList{},
		&Route{}, &RouteList{},
		&Cluster{}, &ClusterList{},
		&Endpoint{}, &EndpointList{},
		&Runtime{}, &RuntimeList{},
		&ExtensionConfig{}, &ExtensionConfigList{},
		&ScopedRoute{}, &ScopedRouteList{},
	)
}
