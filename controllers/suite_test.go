package controllers

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
	"github.com/arcturus-dev/arcturus/test/testenv"
	"github.com/arcturus-dev/arcturus/xds/index"
)

var (
	testEnv    *envtest.Environment
	restConfig *rest.Config
	scheme     = runtime.NewScheme()
)

func TestMain(m *testing.M) {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(ourv1alpha1.AddToScheme(scheme))
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.Level(zapLevel())))

	env, cfg, err := testenv.Start(testenv.Options{Webhooks: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testEnv, restConfig = env, cfg
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

// readyFlag records MarkReady; nothing is ever published.
type readyFlag chan struct{}

func (r readyFlag) MarkReady()                         { close(r) }
func (r readyFlag) Published(string) map[string]string { return nil }

// runningController is one running manager with the Arcturus controllers and its own index.
type runningController struct {
	index  *index.Index
	client client.Client
	stop   context.CancelFunc
	done   chan struct{}
}

// startController runs the controllers against the test API server until the test ends
// or stop is called, and waits until the warm-up has indexed what exists. Without
// webhooks, the API server's call to the webhook fails and is ignored
// (failurePolicy Ignore), so tests can store invalid objects as if they had been
// created before the webhook existed.
func startController(t *testing.T) *runningController {
	return startManager(t, false)
}

// startControllerWithWebhooks also serves the validating webhooks and waits until
// they answer.
func startControllerWithWebhooks(t *testing.T) *runningController {
	return startManager(t, true)
}

func startManager(t *testing.T, webhooks bool) *runningController {
	t.Helper()
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  cache.Options{ByObject: map[client.Object]cache.ByObject{&corev1.Pod{}: {Transform: TrimPod}}},
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             ctrlConfigSkipNameValidation(),
		WebhookServer: webhook.NewServer(webhook.Options{
			Host:    testEnv.WebhookInstallOptions.LocalServingHost,
			Port:    testEnv.WebhookInstallOptions.LocalServingPort,
			CertDir: testEnv.WebhookInstallOptions.LocalServingCertDir,
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	// Tests read and write through an uncached client: the manager's cache holds
	// trimmed pods (TrimPod) that cannot be written back.
	direct, err := client.New(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	c := &runningController{index: index.New(nil), client: direct, done: make(chan struct{})}
	ready := make(readyFlag)
	if _, err := Setup(mgr, c.index, ready, nil, nil); err != nil {
		t.Fatal(err)
	}
	if webhooks {
		if err := SetupWebhooks(mgr, c.index); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.stop = func() { cancel(); <-c.done }
	go func() {
		defer close(c.done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	t.Cleanup(c.stop)
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("controller did not become ready")
	}
	if webhooks {
		started := mgr.GetWebhookServer().StartedChecker()
		eventually(t, "webhook server started", func() error { return started(nil) })
	}
	return c
}
