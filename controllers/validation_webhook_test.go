package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
)

func TestValidationWebhook(t *testing.T) {
	ctl := startControllerWithWebhooks(t)
	c := ctl.client
	ns := newNamespace(t, c)

	tests := map[string]struct {
		obj     ourv1alpha1.Object // object to create
		dryRun  bool               // create with --dry-run=server
		wantErr []string           // substrings of the rejection; none: accepted
	}{
		"a misspelt field is refused with its path": {
			obj:     clusterObject(ns, "typo", `{"conect_timeout": "1s"}`),
			wantErr: []string{`Cluster.envoy.arcturus.dev "typo" is invalid`, "spec.config.conect_timeout"},
		},
		"a bad enum is refused with its value": {
			obj:     clusterObject(ns, "enum", `{"lb_policy": "ROUND_ROBINX"}`),
			wantErr: []string{"spec.config.lb_policy", "ROUND_ROBINX"},
		},
		"server-side dry run is refused too": {
			obj:     clusterObject(ns, "dry", `{"connect_timeout": "soon"}`),
			dryRun:  true,
			wantErr: []string{"spec.config.connect_timeout"},
		},
		"a nested Envoy validation rule is enforced": {
			obj: &ourv1alpha1.Listener{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "no-stat-prefix"},
				Spec: ourv1alpha1.EnvoyConfigSpec{Config: raw(`{"address": {"socket_address": {"address": "0.0.0.0", "port_value": 8080}},
					"filter_chains": [{"filters": [{"name": "hcm", "typed_config": {
						"@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
						"rds": {"route_config_name": "r", "config_source": {"ads": {}}}}}]}]}`)},
			},
			wantErr: []string{"spec.config.filter_chains[0].filters[0].typed_config.stat_prefix"},
		},
		"a valid object is admitted": {
			obj: clusterObject(ns, "ok", `{"connect_timeout": "1s"}`),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var opts []client.CreateOption
			if tc.dryRun {
				opts = append(opts, client.DryRunAll)
			}
			err := c.Create(context.Background(), tc.obj, opts...)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("admitted")
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}

	t.Run("an update that leaves the spec alone is admitted", func(t *testing.T) {
		// The controller writes the object's status meanwhile: retry on conflicts.
		update := func(change func(*ourv1alpha1.Cluster)) error {
			return retry.RetryOnConflict(retry.DefaultRetry, func() error {
				var obj ourv1alpha1.Cluster
				if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "ok"}, &obj); err != nil {
					return err
				}
				change(&obj)
				return c.Update(context.Background(), &obj)
			})
		}
		err := update(func(obj *ourv1alpha1.Cluster) { obj.Spec.Config = raw(`{"connect_timeout": "-1s"}`) })
		if err == nil || !strings.Contains(err.Error(), "spec.config.connect_timeout") {
			t.Fatalf("invalid update: %v", err)
		}
		if err := update(func(obj *ourv1alpha1.Cluster) { obj.Labels = map[string]string{"team": "edge"} }); err != nil {
			t.Fatalf("label update refused: %v", err)
		}
	})
}

func clusterObject(ns, name, config string) *ourv1alpha1.Cluster {
	return &ourv1alpha1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       ourv1alpha1.EnvoyConfigSpec{Config: raw(config)},
	}
}

// warningRecorder collects the API server's warnings.
type warningRecorder struct {
	mu       sync.Mutex
	warnings []string
}

func (w *warningRecorder) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.warnings = append(w.warnings, text)
}

func TestValidationWebhookWarnsAboutMissingReferences(t *testing.T) {
	ctl := startControllerWithWebhooks(t)
	ns := newNamespace(t, ctl.client)
	newPod(t, ctl.client, ns, "gw-0", nil)
	eventually(t, "pod indexed", func() error {
		if _, found := ctl.index.NodeResources("gw-0." + ns); !found {
			return fmt.Errorf("not yet")
		}
		return nil
	})

	rec := &warningRecorder{}
	cfg := rest.CopyConfig(restConfig)
	cfg.WarningHandler = rec
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	route := &ourv1alpha1.Route{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "routes"}}
	route.Spec.Config = rawJSON(t, routeTo("backend"))
	if err := c.Create(context.Background(), route); err != nil {
		t.Fatalf("a dangling reference must not be refused: %v", err)
	}
	want := `spec.config.virtual_hosts[0].routes[0].route.cluster: Cluster "backend" is not served to 1 of 1 selected pods`
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if !slices.Contains(rec.warnings, want) {
		t.Errorf("warnings %q, want %q", rec.warnings, want)
	}
}
