/*
Copyright 2026 The Arcturus Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package translate

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
)

// Kind describes one Envoy resource kind that Arcturus serves.
type Kind struct {
	// Name is the CRD kind: "Listener", "Route", "Cluster" or "Endpoint".
	Name string
	// TypeURL is the go-control-plane resource type URL, e.g. resource.ClusterType.
	TypeURL string
	// New returns a new empty Envoy message of this kind.
	New func() proto.Message
	// NameOf returns the Envoy resource name (Listener.name,
	// RouteConfiguration.name, Cluster.name, ClusterLoadAssignment.cluster_name).
	NameOf func(proto.Message) string
	// SetName sets that name; Translate uses it for defaulting.
	SetName func(proto.Message, string)
}

// The four kinds. NameOf and SetName tolerate a message of the wrong type
// (returning "" and doing nothing) so a caller's mix-up cannot panic.
var (
	Listener = Kind{
		Name:    "Listener",
		TypeURL: resource.ListenerType,
		New:     func() proto.Message { return &listenerv3.Listener{} },
		NameOf: func(m proto.Message) string {
			l, _ := m.(*listenerv3.Listener)
			return l.GetName()
		},
		SetName: func(m proto.Message, name string) {
			if l, ok := m.(*listenerv3.Listener); ok && l != nil {
				l.Name = name
			}
		},
	}
	Route = Kind{
		Name:    "Route",
		TypeURL: resource.RouteType,
		New:     func() proto.Message { return &routev3.RouteConfiguration{} },
		NameOf: func(m proto.Message) string {
			r, _ := m.(*routev3.RouteConfiguration)
			return r.GetName()
		},
		SetName: func(m proto.Message, name string) {
			if r, ok := m.(*routev3.RouteConfiguration); ok && r != nil {
				r.Name = name
			}
		},
	}
	Cluster = Kind{
		Name:    "Cluster",
		TypeURL: resource.ClusterType,
		New:     func() proto.Message { return &clusterv3.Cluster{} },
		NameOf: func(m proto.Message) string {
			c, _ := m.(*clusterv3.Cluster)
			return c.GetName()
		},
		SetName: func(m proto.Message, name string) {
			if c, ok := m.(*clusterv3.Cluster); ok && c != nil {
				c.Name = name
			}
		},
	}
	Endpoint = Kind{
		Name:    "Endpoint",
		TypeURL: resource.EndpointType,
		New:     func() proto.Message { return &endpointv3.ClusterLoadAssignment{} },
		NameOf: func(m proto.Message) string {
			e, _ := m.(*endpointv3.ClusterLoadAssignment)
			return e.GetClusterName()
		},
		SetName: func(m proto.Message, name string) {
			if e, ok := m.(*endpointv3.ClusterLoadAssignment); ok && e != nil {
				e.ClusterName = name
			}
		},
	}
)

// Kinds lists every kind, in the order xDS wants them pushed (clusters before
// their endpoints, listeners before their routes).
var Kinds = []Kind{Cluster, Endpoint, Listener, Route}

// KindByName returns the kind whose CRD kind name is name.
func KindByName(name string) (Kind, bool) {
	for _, k := range Kinds {
		if k.Name == name {
			return k, true
		}
	}
	return Kind{}, false
}
