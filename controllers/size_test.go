package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
	"github.com/arcturus-dev/arcturus/xds/index"
	"github.com/arcturus-dev/arcturus/xds/kinds"
)

// bigConfig is a valid Envoy Cluster of exactly n bytes of compact JSON, as the
// API server stores it; nearly all of it one metadata string. name must have 3
// bytes, so the size does not depend on it.
func bigConfig(name string, n int) string {
	const head = `{"connect_timeout":"1s","metadata":{"filter_metadata":{"blob":{"data":"`
	tail := `"}}},"name":"` + name + `"}`
	return head + strings.Repeat("a", n-len(head)-len(tail)) + tail
}

// largest returns the largest n in [lo, hi) for which ok holds, given that it
// holds for lo and that it holds for every n below one that does.
func largest(lo, hi int, ok func(int) bool) int {
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if ok(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// storesWithLastAccepted creates a Cluster of n bytes of config directly (no
// controller, and no webhook to refuse it), writes the status a controller
// would write for it, and reports whether etcd took both.
func storesWithLastAccepted(t *testing.T, c client.Client, ns string, n int) bool {
	t.Helper()
	ctx := context.Background()
	obj := clusterObject(ns, fmt.Sprintf("probe-%d", n), bigConfig("big", n))
	if err := c.Create(ctx, obj); err != nil {
		if !isTooLargeToStore(err) {
			t.Fatalf("create a %d-byte config: %v", n, err)
		}
		return false
	}
	defer func() { _ = c.Delete(ctx, obj) }()
	obj.Status = ourv1alpha1.EnvoyConfigStatus{
		ObservedGeneration: obj.Generation,
		EnvoyName:          "big",
		LastAccepted:       &ourv1alpha1.AcceptedConfig{Generation: obj.Generation, Config: obj.Spec.Config},
	}
	for _, typ := range []string{ourv1alpha1.ConditionAccepted, ourv1alpha1.ConditionResolvedRefs, ourv1alpha1.ConditionReady} {
		meta.SetStatusCondition(&obj.Status.Conditions, metav1.Condition{Type: typ, Status: metav1.ConditionTrue,
			Reason: "Probe", Message: strings.Repeat("m", 200), ObservedGeneration: obj.Generation})
	}
	err := c.Status().Update(ctx, obj)
	if err != nil && !isTooLargeToStore(err) {
		t.Fatalf("status of a %d-byte config: %v", n, err)
	}
	return err == nil
}

// TestStoredSizeLimit measures what etcd takes against what the webhook admits,
// and checks objects at, just below and just above the admitted limit, with the
// webhook and without it.
func TestStoredSizeLimit(t *testing.T) {
	const lo, hi = 64 << 10, 3 << 19 // 64 KiB always fits; 1.5 MiB never does with its copy
	// Probed with no controller running, so nothing else writes the status.
	direct, err := client.New(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	probeNS := newNamespace(t, direct)
	stored := largest(lo, hi, func(n int) bool { return storesWithLastAccepted(t, direct, probeNS, n) })
	t.Logf("largest spec.config that etcd stores with its status.lastAccepted copy: %d bytes (%d KiB)", stored, stored/1024)

	ctl := startControllerWithWebhooks(t)
	c := ctl.client
	ns := newNamespace(t, c)
	admitted := largest(lo, hi, func(n int) bool {
		return c.Create(context.Background(), clusterObject(ns, "dry", bigConfig("big", n)), client.DryRunAll) == nil
	})
	t.Logf("largest spec.config the webhook admits: %d bytes (%d KiB)", admitted, admitted/1024)
	if admitted > stored {
		t.Fatalf("the webhook admits %d bytes, but etcd stores only %d with the status", admitted, stored)
	}
	if stored-admitted > 32<<10 {
		t.Errorf("the webhook refuses %d bytes below what etcd stores: the estimate is too coarse", stored-admitted)
	}

	for name, n := range map[string]int{"atl": admitted, "blw": admitted - 1024} {
		t.Run(fmt.Sprintf("a config of %d bytes is accepted and its status recorded", n), func(t *testing.T) {
			obj := clusterObject(ns, name, bigConfig(name, n))
			if err := c.Create(context.Background(), obj); err != nil {
				t.Fatal(err)
			}
			got := waitAccepted(t, c, ns, obj.Name, ourv1alpha1.ReasonValid)
			if la := got.Status.LastAccepted; la == nil || la.Generation != got.Generation || len(la.Config.Raw) != n {
				t.Errorf("lastAccepted not recorded in full: %+v", la)
			}
		})
	}
	t.Run("a config just above the limit is refused by the webhook with the limit", func(t *testing.T) {
		err := c.Create(context.Background(), clusterObject(ns, "above", bigConfig("abv", admitted+1)))
		if err == nil {
			t.Fatal("admitted")
		}
		t.Logf("refused: %v", err)
		for _, want := range []string{"spec.config: Too long", "etcd's 1.5 MiB request limit", fmt.Sprintf("spec.config has %d bytes, at most %d fit", admitted+1, admitted)} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
	})

	t.Run("without the webhook, the reconciler refuses it once, naming the limit", func(t *testing.T) {
		ctl.stop() // its webhook goes too: the API server ignores the unreachable webhook
		ctl := startController(t)
		c := ctl.client
		ns := newNamespace(t, c)
		big := clusterObject(ns, "above", bigConfig("abv", admitted+1))
		if err := c.Create(context.Background(), big); err != nil {
			t.Fatal(err)
		}
		got := waitAccepted(t, c, ns, "above", ourv1alpha1.ReasonInvalidConfig)
		cond := meta.FindStatusCondition(got.Status.Conditions, ourv1alpha1.ConditionAccepted)
		if !strings.Contains(cond.Message, "etcd's 1.5 MiB request limit") || got.Status.LastAccepted != nil {
			t.Errorf("Accepted %q, lastAccepted %v", cond.Message, got.Status.LastAccepted)
		}
		// A later pass over the namespace (it counts a new pod for another
		// Cluster) leaves the refused object's status alone: no write loop.
		newCluster(t, c, ns, "small", map[string]any{"connect_timeout": "1s"}, nil)
		newPod(t, c, ns, "gw-0", nil)
		eventually(t, "Cluster small counts the pod", func() error {
			var small ourv1alpha1.Cluster
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "small"}, &small); err != nil {
				return err
			}
			if small.Status.Proxies == nil || small.Status.Proxies.Selected != 1 {
				return fmt.Errorf("proxies %+v", small.Status.Proxies)
			}
			return nil
		})
		if served := servedClusters(ctl.index, "gw-0."+ns); len(served) != 1 {
			t.Errorf("served %v, want only the small cluster", served)
		}
		var again ourv1alpha1.Cluster
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "above"}, &again); err != nil {
			t.Fatal(err)
		}
		if again.ResourceVersion != got.ResourceVersion {
			t.Errorf("the refused object was written again (resourceVersion %s → %s)", got.ResourceVersion, again.ResourceVersion)
		}
	})
}

// TestStatusTooLargeKeepsStoredLastAccepted checks the safety net behind the
// size estimate: when etcd refuses a status for its size, the reconciler writes
// it with the stored lastAccepted and a message that says so, once.
func TestStatusTooLargeKeepsStoredLastAccepted(t *testing.T) {
	// No controller runs: the test drives one reconciler by hand.
	direct, err := client.NewWithWatch(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ns := newNamespace(t, direct)
	obj := clusterObject(ns, "edge", `{"connect_timeout":"1s"}`)
	if err := direct.Create(context.Background(), obj); err != nil {
		t.Fatal(err)
	}

	// etcd as if generation 2's lastAccepted made the object too large.
	var writes, refused int
	c := interceptor.NewClient(direct, interceptor.Funcs{
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, o client.Object, opts ...client.SubResourceUpdateOption) error {
			writes++
			if la := o.(ourv1alpha1.Object).EnvoyStatus().LastAccepted; la != nil && la.Generation == 2 {
				refused++
				return errors.New("etcdserver: " + errTooLargeToStore)
			}
			return c.SubResource(sub).Update(ctx, o, opts...)
		},
	})
	kind, _ := kindByTypeURL(kinds.Cluster.TypeURL)
	r := &EnvoyReconciler{Client: c, kind: kind, index: index.New(nil), writeStatus: func() bool { return true }}
	req := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns}}
	if _, err := r.Reconcile(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	waitAccepted(t, direct, ns, "edge", ourv1alpha1.ReasonValid)
	if err := direct.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
		t.Fatal(err)
	}
	obj.Spec.Config = raw(`{"connect_timeout":"2s"}`)
	if err := direct.Update(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
	writes = 0
	for range 3 {
		if _, err := r.Reconcile(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	if writes != 2 || refused != 1 {
		t.Errorf("%d status writes, %d refused; want one refused and one fallback, then none", writes, refused)
	}
	var got ourv1alpha1.Cluster
	if err := direct.Get(context.Background(), client.ObjectKeyFromObject(obj), &got); err != nil {
		t.Fatal(err)
	}
	cond := meta.FindStatusCondition(got.Status.Conditions, ourv1alpha1.ConditionAccepted)
	if la := got.Status.LastAccepted; la == nil || la.Generation != 1 || cond == nil || cond.ObservedGeneration != 2 ||
		!strings.Contains(cond.Message, "could not record this generation") || !strings.Contains(cond.Message, "generation 1 would be served") {
		t.Errorf("lastAccepted %+v, Accepted %+v", got.Status.LastAccepted, cond)
	}
}
