// Command arcturus is the Arcturus controller (`arcturus controller`): it watches
// Envoy custom resources and pods, and serves every connected Envoy its own
// configuration over ADS. Its other subcommands are the CLI (package cli).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
	"github.com/arcturus-dev/arcturus/cli"
	"github.com/arcturus-dev/arcturus/controllers"
	"github.com/arcturus-dev/arcturus/internal/leader"
	"github.com/arcturus-dev/arcturus/internal/patient"
	"github.com/arcturus-dev/arcturus/internal/webhookcert"
	"github.com/arcturus-dev/arcturus/xds/csds"
	"github.com/arcturus-dev/arcturus/xds/feedback"
	"github.com/arcturus-dev/arcturus/xds/index"
	"github.com/arcturus-dev/arcturus/xds/metrics"
	"github.com/arcturus-dev/arcturus/xds/server"
	"github.com/arcturus-dev/arcturus/xds/snapshot"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

type options struct {
	xdsAddr, metricsAddr, probeAddr string
	leaderElect, enableWebhooks     bool
	rollbackRejected                bool
	xdsTLSCert, xdsTLSKey           string
	xdsTLSClientCA                  string
	xdsMaxConnectionAge             time.Duration
	verifyNodeIP                    bool
	podLabelSelector                string
	secretLabelSelector             string
	pprofAddr                       string
	leaderElectionNamespace         string
	webhookPort                     int
	webhookCertDir                  string
	webhookCertMode                 string
	webhookCertSecret               string
	webhookService                  string
	webhookConfigName               string
	webhookCertExtraSANs            stringList
	podNamespace                    string
	rootNamespace                   string
	namespaces                      stringList
	xdsLimits                       server.Limits
	xdsMaxStreamsPerConnection      uint
	qps                             float64
	burst                           int
	zap                             zap.Options
}

func main() {
	// The command line picks the subcommand; only `arcturus controller` (or, for
	// existing installs, flags alone) reaches controller below.
	os.Exit(cli.Main(os.Args, controller))
}

// bindFlags registers the controller's flags on flag.CommandLine, where
// controller-runtime registers --kubeconfig.
func bindFlags(o *options) {
	flag.StringVar(&o.xdsAddr, "xds-bind-address", ":18000", "The address the gRPC ADS server binds to.")
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "The address the Prometheus metrics endpoint binds to; 0 disables it.")
	flag.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "The address the /healthz and /readyz probes bind to.")
	flag.BoolVar(&o.leaderElect, "leader-elect", false, "Elect a leader; only the leader writes status, every replica serves xDS.")
	flag.StringVar(&o.leaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader-election lease (default: the pod's namespace).")
	flag.BoolVar(&o.enableWebhooks, "enable-webhooks", true, "Serve the validating admission webhook.")
	flag.IntVar(&o.webhookPort, "webhook-port", 9443, "The port the admission webhook server listens on.")
	flag.StringVar(&o.webhookCertDir, "webhook-cert-dir", "", "Directory with tls.crt and tls.key for the webhook server (default: controller-runtime's).")
	flag.StringVar(&o.webhookCertMode, "webhook-cert-mode", "builtin", "Where the webhook serving certificate comes from: builtin (a self-signed CA kept in --webhook-cert-secret, injected into --webhook-config-name), certmanager (cert-manager mounts it and injects the CA), files (mounted into --webhook-cert-dir by the user). Default: files when --webhook-cert-dir is given, else builtin.")
	flag.StringVar(&o.webhookCertSecret, "webhook-cert-secret", "arcturus-webhook-cert", "builtin mode: the Secret in --pod-namespace that holds the CA and the serving certificate.")
	flag.StringVar(&o.webhookService, "webhook-service", "arcturus-webhook", "builtin mode: the webhook Service in --pod-namespace the serving certificate is for.")
	flag.StringVar(&o.webhookConfigName, "webhook-config-name", "arcturus-validating-webhook", "builtin mode: the ValidatingWebhookConfiguration that gets the CA bundle.")
	flag.Var(&o.webhookCertExtraSANs, "webhook-cert-extra-sans", "builtin mode: extra DNS names and IPs for the serving certificate, comma-separated (repeatable).")
	flag.StringVar(&o.podNamespace, "pod-namespace", cli.EnvOr("POD_NAMESPACE", "arcturus-system"), "The controller's namespace, where the webhook Service and Secret are ($POD_NAMESPACE when set).")
	flag.StringVar(&o.rootNamespace, "root-namespace", "", "Custom resources in this namespace apply to the matching pods of every namespace; a resource of the same kind and Envoy name in a pod's own namespace takes precedence for that pod (default: --pod-namespace).")
	flag.Var(&o.namespaces, "namespace", "Only watch this namespace (repeatable); default all namespaces.")
	flag.StringVar(&o.xdsTLSCert, "xds-tls-cert-file", "", "Serve xDS over TLS with this certificate (PEM); reloaded when it changes.")
	flag.StringVar(&o.xdsTLSKey, "xds-tls-key-file", "", "The private key of --xds-tls-cert-file (PEM).")
	flag.StringVar(&o.xdsTLSClientCA, "xds-tls-client-ca-file", "", "Require xDS client certificates signed by these CAs (mTLS); reloaded when it changes.")
	flag.DurationVar(&o.xdsMaxConnectionAge, "xds-max-connection-age", 30*time.Minute, "Close xDS connections after about this long (±10% jitter) so Envoys rebalance across replicas; 0 disables.")
	flag.BoolVar(&o.verifyNodeIP, "verify-node-ip", true, "Refuse xDS streams whose peer address is not the IP of the pod their node ID names. Turn off behind NAT or a proxy, or for hostNetwork pods sharing a node IP.")
	flag.BoolVar(&o.rollbackRejected, "rollback-rejected", true, "After an Envoy rejects a resource, keep serving it the version it last accepted until the resource changes, instead of re-sending the rejected one.")
	o.xdsLimits = server.DefaultLimits
	flag.IntVar(&o.xdsLimits.MaxRequestBytes, "xds-max-request-bytes", o.xdsLimits.MaxRequestBytes, "Refuse xDS requests larger than this many bytes.")
	flag.IntVar(&o.xdsLimits.MaxResourceNames, "xds-max-resource-names", o.xdsLimits.MaxResourceNames, "Refuse xDS requests naming more resources than this; 0: no limit.")
	flag.IntVar(&o.xdsLimits.MaxTypesPerStream, "xds-max-types-per-stream", o.xdsLimits.MaxTypesPerStream, "Refuse an xDS stream that subscribes to more type URLs than this; 0: no limit.")
	flag.UintVar(&o.xdsMaxStreamsPerConnection, "xds-max-streams-per-connection", uint(o.xdsLimits.MaxStreamsPerConnection), "Concurrent xDS streams allowed on one connection; 0: no limit.")
	flag.IntVar(&o.xdsLimits.MaxStreamsPerIP, "xds-max-streams-per-ip", o.xdsLimits.MaxStreamsPerIP, "Concurrent xDS streams allowed from one peer IP; 0: no limit.")
	flag.Float64Var(&o.xdsLimits.StreamsPerIPPerSecond, "xds-streams-per-ip-per-second", o.xdsLimits.StreamsPerIPPerSecond, "New xDS streams allowed per second from one peer IP, after a burst of --xds-stream-burst-per-ip; 0: no limit.")
	flag.IntVar(&o.xdsLimits.StreamBurstPerIP, "xds-stream-burst-per-ip", o.xdsLimits.StreamBurstPerIP, "New xDS streams one peer IP may open at once before --xds-streams-per-ip-per-second applies.")
	flag.StringVar(&o.pprofAddr, "pprof-bind-address", "", "Serve Go's /debug/pprof on this address (for profiling); empty disables.")
	flag.StringVar(&o.podLabelSelector, "pod-label-selector", "", "Only watch pods matching this label selector (e.g. app.kubernetes.io/component=envoy), to keep the pod cache small in large clusters; other pods get no configuration.")
	flag.StringVar(&o.secretLabelSelector, "secret-label-selector", "", "Only watch Secrets matching this label selector (e.g. envoy.arcturus.dev/sds=true) for SDS; others are never cached nor served.")
	flag.Float64Var(&o.qps, "kube-api-qps", 50, "Queries per second to the Kubernetes API.")
	flag.IntVar(&o.burst, "kube-api-burst", 100, "Burst of queries to the Kubernetes API.")
	o.zap = zap.Options{Development: false}
	o.zap.BindFlags(flag.CommandLine)
}

// controller is `arcturus controller`: args are its flags. legacy is set when
// they came without the subcommand.
func controller(args []string, legacy bool) int {
	var o options
	bindFlags(&o)
	flag.CommandLine.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: arcturus controller [flags]\n\nRun the controller: watch the Envoy custom resources and pods, serve xDS.\n\nFlags:\n")
		flag.PrintDefaults()
	}
	_ = flag.CommandLine.Parse(args) // ExitOnError: exits 2 on a bad flag, 0 on --help
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "controller: unexpected arguments %q\n", flag.Args())
		return 2
	}
	o.xdsLimits.MaxStreamsPerConnection = uint32(min(o.xdsMaxStreamsPerConnection, math.MaxUint32))
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&o.zap)))
	if o.enableWebhooks {
		mode, err := resolveWebhookCertMode(o, setFlags(flag.CommandLine))
		if err != nil {
			ctrl.Log.Error(err, "Refused the webhook flags")
			return 2
		}
		o.webhookCertMode = mode
	}
	if legacy {
		ctrl.Log.WithName("setup").Info("Deprecated: flags without a subcommand; run `arcturus controller [flags]` (the chart and manifests do)")
	}

	if err := run(ctrl.SetupSignalHandler(), o); err != nil {
		ctrl.Log.Error(err, "Arcturus stopped")
		return 1
	}
	return 0
}

func run(ctx context.Context, o options) error {
	log := ctrl.Log.WithName("setup")
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(ourv1alpha1.AddToScheme(scheme))

	restConfig, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	restConfig.QPS, restConfig.Burst = float32(o.qps), o.burst

	// Pods and Secrets are cached trimmed to what Arcturus reads, and only those
	// matching the label selectors when given.
	podCache, err := trimmedCache(controllers.TrimPod, "--pod-label-selector", o.podLabelSelector)
	if err != nil {
		return err
	}
	secretCache, err := trimmedCache(controllers.TrimSecret, "--secret-label-selector", o.secretLabelSelector)
	if err != nil {
		return err
	}
	cacheOpts := cache.Options{
		ByObject: map[client.Object]cache.ByObject{&corev1.Pod{}: podCache, &corev1.Secret{}: secretCache},
		// Informers wait out an API server outage rather than back off from it,
		// so changes made meanwhile arrive within seconds of its return.
		NewInformer: patient.NewSharedIndexInformer,
	}
	if len(o.namespaces) > 0 {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range o.namespaces {
			cacheOpts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	var webhookServer webhook.Server
	if o.enableWebhooks {
		webhookServer = webhook.NewServer(webhook.Options{Port: o.webhookPort, CertDir: o.webhookCertDir})
	}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		WebhookServer:          webhookServer,
		Scheme:                 scheme,
		Cache:                  cacheOpts,
		Metrics:                metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress: o.probeAddr,
		// No manager leader election: it exits when the lease is lost. The
		// election below stops only status writing then (package leader).
		GracefulShutdownTimeout: ptrDuration(15 * time.Second),
		PprofBindAddress:        o.pprofAddr,
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	// leadership: who writes status. Every replica serves regardless.
	lead := leader.Always(mgr)
	if o.leaderElect {
		ns := o.leaderElectionNamespace
		if ns == "" {
			ns = o.podNamespace
		}
		election, err := leader.New(restConfig, leader.Options{Namespace: ns, Name: "arcturus.envoy.arcturus.dev"}, ctrl.Log.WithName("leader"))
		if err != nil {
			return fmt.Errorf("leader election: %w", err)
		}
		if err := mgr.Add(election); err != nil {
			return err
		}
		lead = election
	}

	// snapshot: reads the index, publishes one snapshot per connected node into the cache.
	// ads=false: the ADS-mode cache drops SotW requests that do not name every
	// resource of the node's snapshot, which stalls clients that subscribe by name.
	snapshots := cachev3.NewSnapshotCache(false, cachev3.IDHash{}, nil)
	var builder *snapshot.Builder
	// index: written by the controllers, notifies the builder of affected nodes.
	idx := index.New(func(nodeIDs []string) { builder.NodesChanged(nodeIDs) })
	rootNamespace := o.rootNamespace
	if rootNamespace == "" {
		rootNamespace = o.podNamespace
	}
	idx.SetRootNamespace(rootNamespace)
	builder = snapshot.NewBuilder(idx, snapshots, snapshot.DefaultOptions, ctrl.Log.WithName("snapshot"))
	// feedback: what each node was sent, ACKed and rejected; tells the builder to
	// stop re-sending a rejected resource and the controllers to update status.
	var statusFollows func(feedback.Change)
	tracker := feedback.NewTracker(func(c feedback.Change) {
		if c.Nacked && o.rollbackRejected {
			builder.BuildNow(ctx, c.NodeID)
		}
		if c.Acked || c.Nacked {
			builder.Answered(c.NodeID)
		}
		statusFollows(c)
	})
	if o.rollbackRejected {
		builder.Rejections = tracker
	}
	builder.Answers = tracker
	// metrics: counts what is sent, ACKed and rejected on its way to the tracker, and
	// times builds and how long index changes take to be ACKed by the nodes.
	xdsMetrics, err := metrics.New(ctrlmetrics.Registry)
	if err != nil {
		return err
	}
	observer := xdsMetrics.Wrap(tracker)
	builder.Observer = observer
	if err := mgr.Add(builder); err != nil {
		return err
	}
	// serve: ADS from the snapshot cache; stream callbacks tell the builder who is
	// connected and the tracker (through the metrics) what was sent and answered.
	// CSDS on the same port reports what each node runs (proxy-status, config-dump).
	xds, err := server.New(server.Options{
		BindAddress:      o.xdsAddr,
		Register:         csds.New(tracker, snapshots, idx).Register,
		TLSCertFile:      o.xdsTLSCert,
		TLSKeyFile:       o.xdsTLSKey,
		ClientCAFile:     o.xdsTLSClientCA,
		MaxConnectionAge: o.xdsMaxConnectionAge,
		VerifyNodeIP:     o.verifyNodeIP,
		Pods:             idx,
		Limits:           o.xdsLimits,
	}, snapshots, builder, observer, ctrl.Log.WithName("xds"))
	if err != nil {
		return err
	}
	builder.Guard = xds
	if err := mgr.Add(xds); err != nil {
		return err
	}
	// translate + decide: the reconcilers read CRs, pods and proxy feedback, and
	// write the index and status.
	if statusFollows, err = controllers.Setup(mgr, idx, builder, tracker, lead); err != nil {
		return err
	}

	// admission: the same translation, at apply time.
	if o.enableWebhooks {
		// builtin: write the serving certificate before the webhook server starts
		// (Setup blocks until the files exist), then keep it renewed and the CA
		// injected. certmanager and files: tls.crt/tls.key are mounted into the
		// cert dir and someone else (cert-manager's cainjector) sets the CA bundle.
		if o.webhookCertMode == certModeBuiltin {
			certOpts := webhookcert.Options{
				Namespace:         o.podNamespace,
				SecretName:        o.webhookCertSecret,
				ServiceName:       o.webhookService,
				WebhookConfigName: o.webhookConfigName,
				CertDir:           o.webhookCertDir,
				Leader:            lead,
			}
			for _, san := range strings.Split(o.webhookCertExtraSANs.String(), ",") {
				if san = strings.TrimSpace(san); san == "" {
					continue
				} else if ip := net.ParseIP(san); ip != nil {
					certOpts.ExtraIPs = append(certOpts.ExtraIPs, ip)
				} else {
					certOpts.ExtraDNSNames = append(certOpts.ExtraDNSNames, san)
				}
			}
			if err := webhookcert.Setup(ctx, mgr, certOpts); err != nil {
				return err
			}
		}
		if err := controllers.SetupWebhooks(mgr, idx); err != nil {
			return err
		}
	}

	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("indexed", func(*http.Request) error {
		if !builder.Ready() {
			return errors.New("existing resources are not indexed yet")
		}
		return nil
	}); err != nil {
		return err
	}

	log.Info("Starting Arcturus", "version", cli.VersionString(), "xds", o.xdsAddr, "namespaces", o.namespaces.String(), "leaderElection", o.leaderElect)
	return mgr.Start(ctx)
}

// trimmedCache is the cache configuration of one type: transformed by trim, and
// limited to the label selector given in flag when it is not empty.
func trimmedCache(trim toolscache.TransformFunc, flag, selector string) (cache.ByObject, error) {
	c := cache.ByObject{Transform: trim}
	if selector != "" {
		sel, err := labels.Parse(selector)
		if err != nil {
			return c, fmt.Errorf("%s: %w", flag, err)
		}
		c.Label = sel
	}
	return c, nil
}

func ptrDuration(d time.Duration) *time.Duration { return &d }
