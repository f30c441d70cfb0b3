package deploy

import (
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/arcturus-dev/arcturus/xds/kinds"
)

const chartDir = "charts/arcturus"

// chartValues are the values sets the chart is checked with: the defaults and every
// values file of the chart's ci/ directory (the chart-testing convention).
func chartValues(t *testing.T) map[string][]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repo, chartDir, "ci", "*-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no values files in %s/ci", chartDir)
	}
	sets := map[string][]string{"default": nil}
	for _, f := range files {
		sets[strings.TrimSuffix(filepath.Base(f), "-values.yaml")] = []string{f}
	}
	return sets
}

func TestHelmLint(t *testing.T) {
	for name, files := range chartValues(t) {
		t.Run(name, func(t *testing.T) {
			args := []string{"lint", "--strict", filepath.Join(repo, chartDir), "--namespace", systemNamespace}
			for _, f := range files {
				args = append(args, "--values", f)
			}
			out, err := exec.Command(helm, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("helm lint: %v\n%s", err, out)
			}
		})
	}
}

// TestHelmTemplate renders the chart with every values set, checks the result and
// applies it with a server-side dry run.
func TestHelmTemplate(t *testing.T) {
	expect := map[string]func(t *testing.T, objs []*unstructured.Unstructured){
		"default": func(t *testing.T, objs []*unstructured.Unstructured) {
			d := one(t, objs, "Deployment", "arcturus")
			wantReplicas(t, d, 2)
			args := controllerArgs(t, d)
			for _, a := range []string{"--leader-elect", "--webhook-cert-mode=builtin", "--verify-node-ip=true", "--xds-max-connection-age=30m"} {
				if !hasArg(args, a) {
					t.Errorf("args %v lack %s", args, a)
				}
			}
			one(t, objs, "PodDisruptionBudget", "arcturus")
			xds := one(t, objs, "Service", "arcturus-xds")
			port, _, _ := unstructured.NestedSlice(xds.Object, "spec", "ports")
			if p := port[0].(map[string]any); p["port"] != int64(18000) || p["appProtocol"] != "grpc" {
				t.Errorf("xds Service port: %v", p)
			}
			one(t, objs, "Service", "arcturus-metrics")
			one(t, objs, "Service", "arcturus-webhook")
			for _, kind := range []string{"ServiceMonitor", "Certificate", "Issuer"} {
				if n := len(find(objs, kind, "")); n != 0 {
					t.Errorf("%d %s objects with the default values", n, kind)
				}
			}
			if v := find(objs, "ValidatingWebhookConfiguration", "")[0]; len(v.GetAnnotations()) != 0 {
				t.Errorf("builtin mode: webhook configuration has annotations %v", v.GetAnnotations())
			}
			if n := len(find(objs, "CustomResourceDefinition", "")); n != len(kinds.All) {
				t.Errorf("%d CRDs rendered, want one per kind, %d", n, len(kinds.All))
			}
		},
		"production": func(t *testing.T, objs []*unstructured.Unstructured) {
			d := one(t, objs, "Deployment", "arcturus")
			wantReplicas(t, d, 3)
			args := controllerArgs(t, d)
			for _, a := range []string{"--webhook-cert-mode=certmanager", "--xds-tls-cert-file=/etc/arcturus/xds-tls/tls.crt",
				"--xds-tls-client-ca-file=/etc/arcturus/xds-client-ca/ca.crt", "--xds-max-connection-age=10m"} {
				if !hasArg(args, a) {
					t.Errorf("args %v lack %s", args, a)
				}
			}
			if hasArg(args, "--webhook-cert-secret=arcturus-webhook-cert") {
				t.Errorf("certmanager mode still passes builtin flags: %v", args)
			}
			one(t, objs, "ServiceMonitor", "arcturus")
			one(t, objs, "Certificate", "arcturus-webhook")
			xdsCert := one(t, objs, "Certificate", "arcturus-xds")
			names, _, _ := unstructured.NestedStringSlice(xdsCert.Object, "spec", "dnsNames")
			if !slices.Contains(names, "arcturus-xds.arcturus-system.svc") {
				t.Errorf("xDS certificate names %v lack the Service's", names)
			}
			one(t, objs, "Issuer", "arcturus-ca")
			vwc := one(t, objs, "ValidatingWebhookConfiguration", "arcturus-validating-webhook")
			if got := vwc.GetAnnotations()["cert-manager.io/inject-ca-from"]; got != "arcturus-system/arcturus-webhook" {
				t.Errorf("inject-ca-from = %q", got)
			}
			// certmanager mode: no access to Secrets or to the webhook configuration.
			if n := len(find(objs, "Role", "arcturus-manager")); n != 0 {
				t.Errorf("certmanager mode still has the builtin mode's Secret Role")
			}
			for _, r := range ruleSet(t, one(t, objs, "ClusterRole", "arcturus-manager")) {
				if strings.Contains(r, "validatingwebhookconfigurations") {
					t.Errorf("certmanager mode still has rule %s", r)
				}
			}
		},
		"existing-secrets": func(t *testing.T, objs []*unstructured.Unstructured) {
			d := one(t, objs, "Deployment", "envoy-cp")
			wantReplicas(t, d, 1)
			args := controllerArgs(t, d)
			for _, a := range []string{"--enable-webhooks=false", "--metrics-bind-address=0", "--namespace=gateways", "--namespace=apps"} {
				if !hasArg(args, a) {
					t.Errorf("args %v lack %s", args, a)
				}
			}
			if hasArg(args, "--leader-elect") {
				t.Errorf("leader election is on: %v", args)
			}
			for _, kind := range []string{"PodDisruptionBudget", "ValidatingWebhookConfiguration", "ServiceMonitor", "Certificate"} {
				if n := len(find(objs, kind, "")); n != 0 {
					t.Errorf("%d %s objects", n, kind)
				}
			}
			one(t, objs, "Service", "envoy-cp-xds")
			one(t, objs, "ServiceAccount", "envoy-control-plane")
		},
		"minimal": func(t *testing.T, objs []*unstructured.Unstructured) {
			d := one(t, objs, "Deployment", "arcturus")
			wantReplicas(t, d, 1)
			if sa, _, _ := unstructured.NestedString(d.Object, "spec", "template", "spec", "serviceAccountName"); sa != "platform-arcturus" {
				t.Errorf("serviceAccountName %q", sa)
			}
			for _, kind := range []string{"ServiceAccount", "ClusterRole", "Role", "RoleBinding", "ClusterRoleBinding", "PodDisruptionBudget", "ValidatingWebhookConfiguration"} {
				if n := len(find(objs, kind, "")); n != 0 {
					t.Errorf("%d %s objects", n, kind)
				}
			}
			if n := len(find(objs, "Service", "")); n != 1 {
				t.Errorf("%d Services, want only the xDS one", n)
			}
		},
		"clusterissuer": func(t *testing.T, objs []*unstructured.Unstructured) {
			if n := len(find(objs, "Issuer", "")); n != 0 {
				t.Errorf("%d Issuers with an external ClusterIssuer", n)
			}
			for _, c := range find(objs, "Certificate", "") {
				ref, _, _ := unstructured.NestedStringMap(c.Object, "spec", "issuerRef")
				if ref["name"] != "platform-ca" || ref["kind"] != "ClusterIssuer" {
					t.Errorf("Certificate %s: issuerRef %v", c.GetName(), ref)
				}
			}
		},
	}
	for name, files := range chartValues(t) {
		t.Run(name, func(t *testing.T) {
			manifests := helmTemplate(t, files)
			objs := decode(t, manifests)
			checkObjects(t, objs)
			if check, ok := expect[name]; ok {
				check(t, objs)
			} else {
				t.Logf("no specific expectations for values %s", name)
			}
			dryRun(t, manifests, systemNamespace)
		})
	}
}

func wantReplicas(t *testing.T, d *unstructured.Unstructured, want int64) {
	t.Helper()
	if got, _, _ := unstructured.NestedInt64(d.Object, "spec", "replicas"); got != want {
		t.Errorf("Deployment %s: replicas %d, want %d", d.GetName(), got, want)
	}
}

// TestHelmTemplateRejects checks that values that cannot work fail at render time
// with a message that says why.
func TestHelmTemplateRejects(t *testing.T) {
	tests := map[string]struct {
		set  []string
		want string
	}{
		"TLS without a certificate":         {[]string{"xds.tls.enabled=true"}, "xds.tls.secretName"},
		"client CA without a source":        {[]string{"xds.tls.enabled=true", "xds.tls.secretName=x", "xds.tls.clientCA.enabled=true"}, "xds.tls.clientCA.secretName"},
		"client CA without TLS":             {[]string{"xds.tls.clientCA.enabled=true", "xds.tls.clientCA.secretName=x"}, "needs xds.tls.enabled"},
		"replicas without leader election":  {[]string{"leaderElection.enabled=false"}, "leaderElection.enabled"},
		"unknown webhook certificate mode":  {[]string{"webhook.certMode=files"}, "certMode"},
		"unknown value (typo)":              {[]string{"xds.verifyNodeIp=false"}, "verifyNodeIp"},
		"duration without unit":             {[]string{"xds.maxConnectionAge=30"}, "maxConnectionAge"},
		"ServiceMonitor without metrics":    {[]string{"metrics.enabled=false", "metrics.serviceMonitor.enabled=true"}, "needs metrics.enabled"},
		"webhook failure policy is checked": {[]string{"webhook.failurePolicy=Sometimes"}, "failurePolicy"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out, err := helmTemplateErr(nil, tc.set...)
			if err == nil {
				t.Fatalf("helm template with %v succeeded, want an error mentioning %q", tc.set, tc.want)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("error does not mention %q:\n%s", tc.want, out)
			}
		})
	}
}

// TestChartRBACMatchesGenerated checks that the chart grants exactly what
// controller-gen generates from the code's markers (config/rbac/role.yaml) and the
// leader-election Role of config/rbac — no more, no less — when rendered with the
// names of config/ (release "arcturus" in arcturus-system, builtin webhook mode).
func TestChartRBACMatchesGenerated(t *testing.T) {
	chart := decode(t, helmTemplate(t, nil))
	generated := decode(t, append(readFile(t, "config/rbac/role.yaml"), append([]byte("\n---\n"), readFile(t, "config/rbac/leader_election_role.yaml")...)...))
	for _, want := range generated {
		if want.GetKind() != "Role" && want.GetKind() != "ClusterRole" {
			continue
		}
		t.Run(want.GetKind()+"/"+want.GetName(), func(t *testing.T) {
			got := one(t, chart, want.GetKind(), want.GetName())
			if got.GetNamespace() != want.GetNamespace() {
				t.Errorf("namespace %q, want %q", got.GetNamespace(), want.GetNamespace())
			}
			g, w := ruleSet(t, got), ruleSet(t, want)
			if !slices.Equal(g, w) {
				t.Errorf("chart rules differ from %s's:\nchart only:     %v\ngenerated only: %v",
					want.GetName(), minus(g, w), minus(w, g))
			}
		})
	}
	// Every binding binds what exists, to the chart's ServiceAccount.
	for _, b := range append(find(chart, "RoleBinding", ""), find(chart, "ClusterRoleBinding", "")...) {
		ref, _, _ := unstructured.NestedStringMap(b.Object, "roleRef")
		if len(find(chart, ref["kind"], ref["name"])) != 1 {
			t.Errorf("%s %s binds %s %s, which the chart does not create", b.GetKind(), b.GetName(), ref["kind"], ref["name"])
		}
		subjects, _, _ := unstructured.NestedSlice(b.Object, "subjects")
		s := subjects[0].(map[string]any)
		if s["kind"] != "ServiceAccount" || s["name"] != "arcturus" || s["namespace"] != systemNamespace {
			t.Errorf("%s %s binds %v", b.GetKind(), b.GetName(), s)
		}
	}
}

// ruleSet flattens RBAC rules into sorted "group/resource[/name]:verb" tuples, so
// that two spellings of the same permissions compare equal.
func ruleSet(t *testing.T, role *unstructured.Unstructured) []string {
	t.Helper()
	rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
	set := map[string]bool{}
	for _, r := range rules {
		rule := r.(map[string]any)
		names := stringSlice(rule["resourceNames"])
		if len(names) == 0 {
			names = []string{""}
		}
		for _, g := range stringSlice(rule["apiGroups"]) {
			for _, res := range stringSlice(rule["resources"]) {
				for _, n := range names {
					for _, v := range stringSlice(rule["verbs"]) {
						set[g+"/"+res+"/"+n+":"+v] = true
					}
				}
			}
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// TestChartWebhooksMatchGenerated checks that the chart registers the same webhooks
// as config/webhook/manifests.yaml (generated from the code's markers): same names,
// paths, rules and settings, pointing at the chart's webhook Service.
func TestChartWebhooksMatchGenerated(t *testing.T) {
	chart := one(t, decode(t, helmTemplate(t, nil)), "ValidatingWebhookConfiguration", "arcturus-validating-webhook")
	generated := decode(t, readFile(t, "config/webhook/manifests.yaml"))
	if len(generated) != 1 {
		t.Fatalf("config/webhook/manifests.yaml has %d objects, want 1", len(generated))
	}
	normalize := func(vwc *unstructured.Unstructured) map[string]map[string]any {
		hooks, _, _ := unstructured.NestedSlice(vwc.Object, "webhooks")
		out := map[string]map[string]any{}
		for _, h := range hooks {
			hook := h.(map[string]any)
			svc := map[string]string{}
			for _, f := range []string{"name", "namespace", "path"} {
				svc[f], _, _ = unstructured.NestedString(hook, "clientConfig", "service", f)
			}
			out[hook["name"].(string)] = map[string]any{
				"path":                    svc["path"],
				"rules":                   hook["rules"],
				"failurePolicy":           hook["failurePolicy"],
				"sideEffects":             hook["sideEffects"],
				"admissionReviewVersions": hook["admissionReviewVersions"],
				"timeoutSeconds":          hook["timeoutSeconds"],
			}
			if svc["name"] == "webhook-service" { // controller-gen's placeholder, renamed by config/webhook
				continue
			}
			if svc["name"] != "arcturus-webhook" || svc["namespace"] != systemNamespace {
				t.Errorf("webhook %s calls Service %s/%s", hook["name"], svc["namespace"], svc["name"])
			}
		}
		return out
	}
	got, want := normalize(chart), normalize(generated[0])
	if !reflect.DeepEqual(got, want) {
		t.Errorf("chart webhooks differ from config/webhook/manifests.yaml:\nchart:     %v\ngenerated: %v", got, want)
	}
}

// TestChartCRDsAreGenerated checks that the chart's crds/ is what `make manifests`
// copies there from config/crd/bases.
func TestChartCRDsAreGenerated(t *testing.T) {
	bases, err := filepath.Glob(filepath.Join(repo, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(bases) == 0 {
		t.Fatalf("no CRDs in config/crd/bases: %v", err)
	}
	charted, _ := filepath.Glob(filepath.Join(repo, chartDir, "crds", "*.yaml"))
	if len(charted) != len(bases) {
		t.Errorf("%s/crds has %d files, config/crd/bases %d: run make manifests", chartDir, len(charted), len(bases))
	}
	for _, b := range bases {
		rel, _ := filepath.Rel(repo, b)
		want := readFile(t, rel)
		got := readFile(t, filepath.Join(chartDir, "crds", filepath.Base(b)))
		if string(got) != string(want) {
			t.Errorf("%s/crds/%s differs from %s: run make manifests", chartDir, filepath.Base(b), rel)
		}
	}
}

// TestHelmNotes renders NOTES.txt (helm install --dry-run=client, no cluster) with
// every values set and checks that it tells users how to point Envoy at the release.
func TestHelmNotes(t *testing.T) {
	for name, files := range chartValues(t) {
		t.Run(name, func(t *testing.T) {
			args := []string{"install", "arcturus", filepath.Join(repo, chartDir), "--namespace", systemNamespace, "--dry-run=client"}
			for _, f := range files {
				args = append(args, "--values", f)
			}
			cmd := exec.Command(helm, args...)
			cmd.Env = append(cmd.Environ(), "KUBECONFIG="+filepath.Join(t.TempDir(), "none"))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("helm install --dry-run=client: %v\n%s", err, out)
			}
			_, notes, ok := strings.Cut(string(out), "\nNOTES:\n")
			if !ok {
				t.Fatalf("no NOTES in:\n%s", out)
			}
			svc := "arcturus-xds"
			if name == "existing-secrets" {
				svc = "envoy-cp-xds"
			}
			for _, want := range []string{svc + "." + systemNamespace + ".svc:", "$(POD_NAME).$(POD_NAMESPACE)", "docs/envoy-kubernetes.md"} {
				if !strings.Contains(notes, want) {
					t.Errorf("NOTES lack %q:\n%s", want, notes)
				}
			}
		})
	}
}
