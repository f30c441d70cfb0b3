package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"go.yaml.in/yaml/v2"
	"google.golang.org/protobuf/types/known/anypb"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
	"github.com/arcturus-dev/arcturus/controllers"
	"github.com/arcturus-dev/arcturus/xds/index"
	"github.com/arcturus-dev/arcturus/xds/kinds"
	"github.com/arcturus-dev/arcturus/xds/snapshot"
)

// offlineConfigDump prints what a pod would be served, computed from the API
// alone by the controllers' own code (controllers.Offline) and versioned by the
// snapshot builder's own function, so it is what a connected Envoy receives.
func offlineConfigDump(ctx context.Context, kube clientcmd.ClientConfig, namespace, root, podName, output string, stdout io.Writer) error {
	cfg, err := kube.ClientConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := ourv1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	var pod corev1.Pod
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: podName}, &pod); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("pod %s/%s does not exist; an Envoy with its node ID would get an empty configuration", namespace, podName)
		}
		return fmt.Errorf("get pod %s/%s: %w", namespace, podName, err)
	}
	idx, outcomes, err := controllers.Offline(ctx, c, namespace, root)
	if err != nil {
		return err
	}
	dump, err := podDump(idx, outcomes, &pod)
	if err != nil {
		return err
	}
	if output != "" {
		return writeEnvoyDump(stdout, output, dump.versions, dump.resources)
	}
	out, err := yaml.Marshal(dump.entries)
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}

// offlineDump is what one pod would be served.
type offlineDump struct {
	// versions is the version of every type, as the snapshot builder computes it.
	versions map[string]string
	// resources are the served resources, in the order of snapshot.TypeURLs and name.
	resources []xdsResource
	// entries are the YAML list: each served resource with its source, then each
	// custom resource that selects the pod but serves it nothing.
	entries []yaml.MapSlice
}

// podDump works out what the index serves a pod, with the outcome of the custom
// resource behind each resource and the references the pod lacks.
func podDump(idx *index.Index, outcomes []controllers.Outcome, pod *corev1.Pod) (offlineDump, error) {
	d := offlineDump{versions: map[string]string{}, entries: []yaml.MapSlice{}}
	nodeID := index.NodeID(pod.Name, pod.Namespace)
	byType, found := idx.NodeResources(nodeID)
	if !found {
		return d, fmt.Errorf("pod %s/%s has terminated (phase %s): it runs no Envoy", pod.Namespace, pod.Name, pod.Status.Phase)
	}
	held := map[kinds.Ref]bool{}
	for typeURL, rs := range byType {
		for _, r := range rs {
			held[kinds.Ref{TypeURL: typeURL, Name: r.Name}] = true
		}
	}
	type source struct{ typeURL, namespace, name string }
	bySource := map[source]*controllers.Outcome{}
	for i := range outcomes {
		if o := &outcomes[i]; o.Served != nil {
			bySource[source{o.Served.TypeURL, o.Object.GetNamespace(), o.Object.GetName()}] = o
		}
	}
	for _, typeURL := range snapshot.TypeURLs {
		rs := byType[typeURL]
		version := snapshot.Version(rs)
		d.versions[typeURL] = version
		for _, r := range rs {
			a, err := anypb.New(r.Message)
			if err != nil {
				return d, err
			}
			d.resources = append(d.resources, xdsResource{typeURL: typeURL, name: r.Name, version: version, resource: a})
			o := bySource[source{typeURL, r.Source.Namespace, r.Source.Name}]
			e := yaml.MapSlice{{Key: "type", Value: typeName(typeURL)}, {Key: "name", Value: r.Name}}
			if o != nil {
				e = append(e, yaml.MapItem{Key: "source", Value: fmt.Sprintf("%s %s/%s", o.Kind, r.Source.Namespace, r.Source.Name)})
			}
			e = append(e, yaml.MapItem{Key: "version", Value: version})
			if o != nil {
				e = append(e, yaml.MapItem{Key: "conditions", Value: conditionList(o.Status.Conditions)})
				var missing []string
				for _, ref := range o.Refs {
					if !held[ref] {
						missing = append(missing, fmt.Sprintf("%s %q", typeName(ref.TypeURL), ref.Name))
					}
				}
				if len(missing) > 0 {
					e = append(e, yaml.MapItem{Key: "missingReferences", Value: missing})
				}
			}
			v, err := anyToYAML(typeURL, a)
			if err != nil {
				return d, fmt.Errorf("%s %s: %w", typeName(typeURL), r.Name, err)
			}
			d.entries = append(d.entries, append(e, yaml.MapItem{Key: "config", Value: v}))
		}
	}
	// Custom resources meant for this pod that serve it nothing: say why.
	for _, o := range outcomes {
		sel := index.Resource{Selector: o.Object.EnvoySpec().WorkloadSelector.GetLabels(), MatchExpressions: o.Object.EnvoySpec().WorkloadSelector.GetMatchExpressions()}
		if o.Served != nil || !sel.Selects(pod.Labels) {
			continue
		}
		d.entries = append(d.entries, yaml.MapSlice{
			{Key: "source", Value: fmt.Sprintf("%s %s/%s", o.Kind, o.Object.GetNamespace(), o.Object.GetName())},
			{Key: "served", Value: false},
			{Key: "conditions", Value: conditionList(o.Status.Conditions)},
		})
	}
	return d, nil
}

// conditionList prints conditions as "Type=Status Reason: message", sorted by type.
func conditionList(conds []metav1.Condition) []string {
	out := make([]string, 0, len(conds))
	for _, c := range conds {
		out = append(out, fmt.Sprintf("%s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message))
	}
	slices.Sort(out)
	return out
}

// typeName is the short name of a type URL: "cluster", or the URL for others.
func typeName(typeURL string) string {
	if k, ok := kinds.ByTypeURL(typeURL); ok {
		return k.Label()
	}
	if typeURL == resourcev3.SecretType {
		return "secret"
	}
	return typeURL[strings.LastIndexByte(typeURL, '/')+1:]
}
