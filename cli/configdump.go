package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	statusv3 "github.com/envoyproxy/go-control-plane/envoy/service/status/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"go.yaml.in/yaml/v2"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	sigsyaml "sigs.k8s.io/yaml"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
	"github.com/arcturus-dev/arcturus/xds/index"
	"github.com/arcturus-dev/arcturus/xds/kinds"
	// The translator registers every Envoy type and extension it accepts, so
	// protojson can print every Any the Envoys are served.
	_ "github.com/arcturus-dev/arcturus/xds/translate"
)

const configDumpSummary = "Print the Envoy resources a pod is served, with their source custom resources: " +
	"what its connected Envoy holds (POD, over CSDS), or, with --pod, what it would be served, from the API alone"

func configDump(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var common commonFlags
	var namespace, kubeconfig, kubeContext, offlinePod, output, rootNamespace string
	fs := newFlagSet("config-dump", "POD [-n NAMESPACE] [flags]  |  --pod [NAMESPACE/]POD [flags]", configDumpSummary, stderr)
	common.bind(fs)
	fs.StringVarP(&namespace, "namespace", "n", "", "the pod's namespace (default: the kubeconfig context's, else \"default\")")
	fs.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file, to read the source custom resources (default: $KUBECONFIG, ~/.kube/config or in-cluster)")
	fs.StringVar(&kubeContext, "context", "", "kubeconfig context to use")
	fs.StringVar(&offlinePod, "pod", "", "render what this pod would be served from the custom resources and pods in the API, "+
		"as the controller computes it; needs no Envoy and no running controller")
	fs.StringVar(&rootNamespace, "root-namespace", EnvOr("POD_NAMESPACE", "arcturus-system"), "with --pod: the controller's --root-namespace, whose resources apply to every namespace's pods")
	fs.StringVarP(&output, "output", "o", "", "json or yaml: Envoy's config dump (envoy.admin.v3.ConfigDump); default: a YAML list of resources with their sources")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch output {
	case "", "json", "yaml":
	default:
		return usageError{fmt.Errorf("--output: want json or yaml, got %q", output)}
	}
	kube := kubeClientConfig(kubeconfig, kubeContext)
	defaultNamespace := func() string {
		if namespace != "" {
			return namespace
		}
		if ns, _, err := kube.Namespace(); err == nil && ns != "" {
			return ns
		}
		return metav1.NamespaceDefault
	}
	if offlinePod != "" {
		if fs.NArg() != 0 {
			return usageError{fmt.Errorf("--pod and a POD argument: give one")}
		}
		ns, pod, ok := strings.Cut(offlinePod, "/")
		if !ok {
			ns, pod = defaultNamespace(), offlinePod
		}
		return offlineConfigDump(ctx, kube, ns, rootNamespace, pod, output, stdout)
	}
	if fs.NArg() != 1 {
		return usageError{fmt.Errorf("want one POD argument (or --pod), got %d", fs.NArg())}
	}
	pod := fs.Arg(0)
	namespace = defaultNamespace()
	nodeID := index.NodeID(pod, namespace)
	resp, err := fetchStatus(ctx, common, &statusv3.ClientStatusRequest{NodeMatchers: []*matcherv3.NodeMatcher{{
		NodeId: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: nodeID}},
	}}})
	if err != nil {
		return err
	}
	if len(resp.GetConfig()) == 0 {
		return fmt.Errorf("the Envoy of pod %s/%s (node ID %q) is not connected to %s; "+
			"--pod %s/%s shows what it would be served", namespace, pod, nodeID, common.xdsAddress, namespace, pod)
	}
	if output != "" {
		versions, rs := clientConfigResources(resp.GetConfig()[0])
		return writeEnvoyDump(stdout, output, versions, rs)
	}

	// Sources are a courtesy: without API access the dump is still useful.
	sources, err := readSources(ctx, kube, namespace)
	if err != nil {
		fmt.Fprintf(stderr, "warning: source custom resources unknown: %v\n", err)
	}
	out, err := renderConfigDump(resp.GetConfig()[0], sources)
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}

// kubeClientConfig loads the kubeconfig like kubectl: --kubeconfig, else
// $KUBECONFIG, else ~/.kube/config, else the in-cluster config.
func kubeClientConfig(path, context string) clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context})
}

// sourceKey identifies an Envoy resource within a namespace.
type sourceKey struct{ typeURL, name string }

// readSources maps every Envoy resource the namespace's custom resources serve
// to "<Kind> <namespace>/<name>".
func readSources(ctx context.Context, kube clientcmd.ClientConfig, namespace string) (map[sourceKey]string, error) {
	cfg, err := kube.ClientConfig()
	if err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	if err := ourv1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	var objs []kindObject
	for _, k := range kinds.All {
		list, err := ourv1alpha1.NewList(k.Name)
		if err != nil {
			return nil, err
		}
		if err := c.List(ctx, list, client.InNamespace(namespace)); err != nil {
			return nil, fmt.Errorf("list %ss in %s: %w", k.Name, namespace, err)
		}
		for _, o := range list.EnvoyItems() {
			objs = append(objs, kindObject{kind: k, obj: o})
		}
	}
	return sources(objs), nil
}

// kindObject is a custom resource and its kind.
type kindObject struct {
	kind kinds.Kind
	obj  ourv1alpha1.Object
}

// sources picks, for every Envoy name of every kind, the object that serves it:
// the accepted one, else one that still serves its last accepted spec; objects
// that lost a name conflict serve nothing.
func sources(objs []kindObject) map[sourceKey]string {
	rank := func(o ourv1alpha1.Object) int {
		st := o.EnvoyStatus()
		c := meta.FindStatusCondition(st.Conditions, ourv1alpha1.ConditionAccepted)
		switch {
		case c != nil && c.Status == metav1.ConditionTrue:
			return 2
		case c != nil && c.Reason == ourv1alpha1.ReasonConflict:
			return 0
		case st.LastAccepted != nil:
			return 1
		}
		return 0
	}
	best := map[sourceKey]int{}
	out := map[sourceKey]string{}
	for _, ko := range objs {
		name := ko.obj.EnvoyStatus().EnvoyName
		r := rank(ko.obj)
		if name == "" || r == 0 {
			continue
		}
		key := sourceKey{ko.kind.TypeURL, name}
		if r > best[key] {
			best[key] = r
			out[key] = fmt.Sprintf("%s %s/%s", ko.kind.Name, ko.obj.GetNamespace(), ko.obj.GetName())
		}
	}
	return out
}

// statusNames are the config-dump status words.
var statusNames = map[statusv3.ConfigStatus]string{
	statusv3.ConfigStatus_SYNCED:   "SYNCED",
	statusv3.ConfigStatus_STALE:    "STALE",
	statusv3.ConfigStatus_ERROR:    "NACKED",
	statusv3.ConfigStatus_NOT_SENT: "NOT_SENT",
	statusv3.ConfigStatus_UNKNOWN:  "UNKNOWN",
}

// renderConfigDump prints one node's resources as a YAML list of
// {type, name, source, status, version, error, config, rejectedConfig}.
func renderConfigDump(cc *statusv3.ClientConfig, sources map[sourceKey]string) ([]byte, error) {
	list := []yaml.MapSlice{}
	for _, c := range cc.GetGenericXdsConfigs() {
		typ := c.GetTypeUrl()
		if k, ok := kinds.ByTypeURL(typ); ok {
			typ = k.Label()
		}
		e := yaml.MapSlice{{Key: "type", Value: typ}, {Key: "name", Value: c.GetName()}}
		if src, ok := sources[sourceKey{c.GetTypeUrl(), c.GetName()}]; ok {
			e = append(e, yaml.MapItem{Key: "source", Value: src})
		}
		e = append(e, yaml.MapItem{Key: "status", Value: statusNames[c.GetConfigStatus()]})
		if v := c.GetVersionInfo(); v != "" {
			e = append(e, yaml.MapItem{Key: "version", Value: v})
		}
		if es := c.GetErrorState(); es != nil {
			e = append(e, yaml.MapItem{Key: "error", Value: es.GetDetails()})
		}
		if a := c.GetXdsConfig(); a != nil {
			v, err := anyToYAML(c.GetTypeUrl(), a)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", typ, c.GetName(), err)
			}
			e = append(e, yaml.MapItem{Key: "config", Value: v})
		}
		if a := c.GetErrorState().GetFailedConfiguration(); a != nil {
			v, err := anyToYAML(c.GetTypeUrl(), a)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", typ, c.GetName(), err)
			}
			e = append(e, yaml.MapItem{Key: "rejectedConfig", Value: v})
		}
		list = append(list, e)
	}
	return yaml.Marshal(list)
}

// anyToYAML turns an Envoy resource of a type into a YAML value, with the field
// names of the proto (as in spec.config) and keys sorted as kubectl prints them;
// secrets are redacted.
func anyToYAML(typeURL string, a *anypb.Any) (yaml.MapSlice, error) {
	a, err := redact(typeURL, a)
	if err != nil {
		return nil, err
	}
	j, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(a)
	if err != nil {
		return nil, err
	}
	y, err := sigsyaml.JSONToYAML(j)
	if err != nil {
		return nil, err
	}
	var v yaml.MapSlice
	if err := yaml.Unmarshal(y, &v); err != nil {
		return nil, err
	}
	return v, nil
}

// EnvOr returns the environment variable name, or def when it is unset or empty.
func EnvOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
