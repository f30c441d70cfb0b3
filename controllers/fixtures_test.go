package controllers

import (
	"encoding/json"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
)

// clusterOption changes a Cluster fixture.
type clusterOption func(*ourv1alpha1.Cluster)

// cluster builds a Cluster custom resource holding an Envoy STATIC cluster.
func cluster(name string, opts ...clusterOption) *ourv1alpha1.Cluster {
	c := &ourv1alpha1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Generation: 1},
	}
	withConfig(map[string]any{"connect_timeout": "1s", "type": "STATIC"})(c)
	for _, o := range opts {
		o(c)
	}
	return c
}

func withConfig(cfg map[string]any) clusterOption {
	return func(c *ourv1alpha1.Cluster) {
		raw, err := json.Marshal(cfg)
		if err != nil {
			panic(err)
		}
		c.Spec.Config = runtime.RawExtension{Raw: raw}
	}
}

func withEnvoyName(n string) clusterOption {
	return func(c *ourv1alpha1.Cluster) {
		var cfg map[string]any
		_ = json.Unmarshal(c.Spec.Config.Raw, &cfg)
		cfg["name"] = n
		withConfig(cfg)(c)
	}
}

func createdAt(sec int64) clusterOption {
	return func(c *ourv1alpha1.Cluster) {
		c.CreationTimestamp = metav1.NewTime(time.Unix(sec, 0))
	}
}

func generation(g int64) clusterOption {
	return func(c *ourv1alpha1.Cluster) { c.Generation = g }
}

// accepted records the Cluster's current spec as its last accepted configuration.
func accepted() clusterOption {
	return func(c *ourv1alpha1.Cluster) {
		c.Status.LastAccepted = &ourv1alpha1.AcceptedConfig{
			Generation:       c.Generation,
			WorkloadSelector: c.Spec.WorkloadSelector.DeepCopy(),
			Config:           *c.Spec.Config.DeepCopy(),
		}
	}
}

// raw wraps JSON text as a spec.config.
func raw(s string) runtime.RawExtension { return runtime.RawExtension{Raw: []byte(s)} }
