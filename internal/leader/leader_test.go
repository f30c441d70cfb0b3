package leader

import (
	"context"
	"fmt"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/arcturus-dev/arcturus/test/testenv"
)

// TestLosingTheLeaseStopsOnlyLeaderWork cuts a leader off the API server: the
// leader-only work stops and IsLeader turns false, but the election keeps
// running, and once the API server is reachable again it leads again and
// restarts the work.
func TestLosingTheLeaseStopsOnlyLeaderWork(t *testing.T) {
	env, envCfg, err := testenv.Start(testenv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	u, err := url.Parse(envCfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewOutage(t, u.Host)
	cfg := rest.CopyConfig(envCfg)
	cfg.Host = "https://" + proxy.Addr

	e, err := New(cfg, Options{Namespace: "default", Name: "arcturus-test",
		LeaseDuration: 2 * time.Second, RenewDeadline: 1500 * time.Millisecond, RetryPeriod: 250 * time.Millisecond}, testr.New(t))
	if err != nil {
		t.Fatal(err)
	}
	var terms, running atomic.Int32
	if err := e.Add(manager.RunnableFunc(func(ctx context.Context) error {
		terms.Add(1)
		running.Add(1)
		defer running.Add(-1)
		<-ctx.Done()
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var startErr error
	done := make(chan struct{})
	go func() { startErr = e.Start(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	leads := func(want bool, wantTerms int32) func() error {
		return func() error {
			if e.IsLeader() != want || terms.Load() != wantTerms || (running.Load() == 1) != want {
				return fmt.Errorf("leader %v, %d terms, %d running", e.IsLeader(), terms.Load(), running.Load())
			}
			return nil
		}
	}
	testenv.Eventually(t, 20*time.Second, "elected", leads(true, 1))

	proxy.Cut()
	start := time.Now()
	testenv.Eventually(t, 20*time.Second, "lease lost with the API server", leads(false, 1))
	t.Logf("leader work stopped %s after the API server became unreachable", time.Since(start).Round(100*time.Millisecond))
	select {
	case <-done:
		t.Fatalf("the election ended with the lease: %v", startErr)
	default:
	}

	proxy.Restore()
	testenv.Eventually(t, 30*time.Second, "elected again", leads(true, 2))

	cancel()
	select {
	case <-done:
		if startErr != nil {
			t.Errorf("Start: %v", startErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the election did not end with its context")
	}
	if running.Load() != 0 {
		t.Error("leader work still running after shutdown")
	}
}
