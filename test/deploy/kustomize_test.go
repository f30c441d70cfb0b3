package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestKustomize builds config/default, config/default with the cert-manager
// component, and every overlay of config/overlays, checks the result and applies it
// with a server-side dry run.
func TestKustomize(t *testing.T) {
	expect := map[string]func(t *testing.T, objs []*unstructured.Unstructured){
		"config/default": func(t *testing.T, objs []*unstructured.Unstructured) {
			wantReplicas(t, one(t, objs, "Deployment", "arcturus"), 2)
			one(t, objs, "Service", "arcturus-xds")
		},
		"test/deploy/testdata/default-certmanager": func(t *testing.T, objs []*unstructured.Unstructured) {
			args := controllerArgs(t, one(t, objs, "Deployment", "arcturus"))
			if !hasArg(args, "--webhook-cert-mode=certmanager") {
				t.Errorf("args %v lack --webhook-cert-mode=certmanager", args)
			}
			one(t, objs, "Certificate", "arcturus-webhook")
		},
		"config/overlays/dev": func(t *testing.T, objs []*unstructured.Unstructured) {
			d := one(t, objs, "Deployment", "arcturus")
			wantReplicas(t, d, 1)
			args := controllerArgs(t, d)
			for _, a := range []string{"--leader-elect", "--verify-node-ip=false", "--zap-log-level=debug"} {
				if !hasArg(args, a) {
					t.Errorf("args %v lack %s", args, a)
				}
			}
		},
		"config/overlays/prod": func(t *testing.T, objs []*unstructured.Unstructured) {
			d := one(t, objs, "Deployment", "arcturus")
			wantReplicas(t, d, 3)
			args := controllerArgs(t, d)
			for _, a := range []string{"--leader-elect", "--webhook-cert-mode=certmanager",
				"--xds-tls-cert-file=/etc/arcturus/xds-tls/tls.crt", "--xds-tls-key-file=/etc/arcturus/xds-tls/tls.key",
				"--xds-tls-client-ca-file=/etc/arcturus/xds-client-ca/ca.crt"} {
				if !hasArg(args, a) {
					t.Errorf("args %v lack %s", args, a)
				}
			}
			if hasArg(args, "--verify-node-ip=false") {
				t.Errorf("prod turns off --verify-node-ip")
			}
			one(t, objs, "PodDisruptionBudget", "arcturus")
			cert := one(t, objs, "Certificate", "arcturus-xds")
			names, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
			if !slices.Contains(names, "arcturus-xds.arcturus-system.svc") {
				t.Errorf("xDS certificate names %v lack the Service's", names)
			}
			// The mounted Secrets are the ones the Certificates write.
			secrets := map[string]bool{}
			for _, c := range find(objs, "Certificate", "") {
				s, _, _ := unstructured.NestedString(c.Object, "spec", "secretName")
				secrets[s] = true
			}
			vols, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "volumes")
			for _, v := range vols {
				if s, ok, _ := unstructured.NestedString(v.(map[string]any), "secret", "secretName"); ok && !secrets[s] {
					t.Errorf("volume %v mounts Secret %s, which no Certificate writes", v.(map[string]any)["name"], s)
				}
			}
		},
	}

	dirs := []string{"config/default", "test/deploy/testdata/default-certmanager"}
	overlays, err := os.ReadDir(filepath.Join(repo, "config", "overlays"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range overlays {
		if o.IsDir() {
			dirs = append(dirs, "config/overlays/"+o.Name())
		}
	}
	for _, dir := range dirs {
		t.Run(strings.ReplaceAll(dir, "/", "_"), func(t *testing.T) {
			manifests := kustomizeBuild(t, dir)
			objs := decode(t, manifests)
			checkObjects(t, objs)
			if check, ok := expect[dir]; ok {
				check(t, objs)
			} else {
				t.Logf("no specific expectations for %s", dir)
			}
			dryRun(t, manifests, "")
		})
	}
}
