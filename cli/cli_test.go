package cli

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	statusv3 "github.com/envoyproxy/go-control-plane/envoy/service/status/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
	"github.com/arcturus-dev/arcturus/xds/kinds"
)

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func gx(typeURL, name, version string, st statusv3.ConfigStatus) *statusv3.ClientConfig_GenericXdsConfig {
	return &statusv3.ClientConfig_GenericXdsConfig{TypeUrl: typeURL, Name: name, VersionInfo: version, ConfigStatus: st}
}

func statusResponse() *statusv3.ClientStatusResponse {
	nack := gx(resourcev3.ClusterType, "bad", "", statusv3.ConfigStatus_ERROR)
	nack.ErrorState = &adminv3.UpdateFailureState{Details: "cluster bad:\n  no endpoints"}
	return &statusv3.ClientStatusResponse{Config: []*statusv3.ClientConfig{
		{Node: &corev3.Node{Id: "web-1.shop"}, GenericXdsConfigs: []*statusv3.ClientConfig_GenericXdsConfig{
			gx(resourcev3.ClusterType, "a", "0123456789abcdef", statusv3.ConfigStatus_SYNCED),
			nack,
			gx(resourcev3.RouteType, "r", "", statusv3.ConfigStatus_STALE),
			gx(resourcev3.ListenerType, "l", "77", statusv3.ConfigStatus_SYNCED),
			gx(resourcev3.ListenerType, "m", "", statusv3.ConfigStatus_NOT_SENT),
		}},
		{Node: &corev3.Node{Id: "gateway-0.default"}, GenericXdsConfigs: []*statusv3.ClientConfig_GenericXdsConfig{
			gx(resourcev3.ClusterType, "a", "fedcba98", statusv3.ConfigStatus_SYNCED),
			gx(resourcev3.EndpointType, "a", "e1", statusv3.ConfigStatus_SYNCED),
			gx(resourcev3.EndpointType, "b", "e1", statusv3.ConfigStatus_STALE),
			gx(resourcev3.ExtensionConfigType, "authz", "x1", statusv3.ConfigStatus_SYNCED),
		}},
	}}
}

func TestWriteProxyStatus(t *testing.T) {
	var out bytes.Buffer
	if err := writeProxyStatus(&out, statusResponse()); err != nil {
		t.Fatal(err)
	}
	want := `NAME                CDS                 LDS           EDS          RDS     RTDS   ECDS          SRDS
gateway-0.default   SYNCED (fedcba98)   -             STALE (e1)   -       -      SYNCED (x1)   -
web-1.shop          NACKED (01234567)   SYNCED (77)   -            STALE   -      -             -

NACKED:
  web-1.shop CDS "bad": cluster bad: no endpoints
`
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestRenderConfigDump(t *testing.T) {
	running := &clusterv3.Cluster{Name: "backend", ConnectTimeout: durationpb.New(time.Second), LbPolicy: clusterv3.Cluster_RING_HASH}
	refused := &clusterv3.Cluster{Name: "backend", ConnectTimeout: durationpb.New(2 * time.Second)}
	nacked := gx(resourcev3.ClusterType, "backend", "v1", statusv3.ConfigStatus_ERROR)
	nacked.XdsConfig = mustAny(t, running)
	nacked.ErrorState = &adminv3.UpdateFailureState{Details: "no", FailedConfiguration: mustAny(t, refused)}
	pending := gx(resourcev3.ListenerType, "http", "", statusv3.ConfigStatus_STALE)
	cc := &statusv3.ClientConfig{Node: &corev3.Node{Id: "web-1.shop"}, GenericXdsConfigs: []*statusv3.ClientConfig_GenericXdsConfig{nacked, pending}}
	out, err := renderConfigDump(cc, map[sourceKey]string{{resourcev3.ClusterType, "backend"}: "Cluster shop/backend-v2"})
	if err != nil {
		t.Fatal(err)
	}
	want := `- type: cluster
  name: backend
  source: Cluster shop/backend-v2
  status: NACKED
  version: v1
  error: "no"
  config:
    '@type': type.googleapis.com/envoy.config.cluster.v3.Cluster
    connect_timeout: 1s
    lb_policy: RING_HASH
    name: backend
  rejectedConfig:
    '@type': type.googleapis.com/envoy.config.cluster.v3.Cluster
    connect_timeout: 2s
    name: backend
- type: listener
  name: http
  status: STALE
`
	if string(out) != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
	if out, err := renderConfigDump(&statusv3.ClientConfig{}, nil); err != nil || string(out) != "[]\n" {
		t.Errorf("empty dump: %q, %v", out, err)
	}
}

func TestSources(t *testing.T) {
	accepted := func(o ourv1alpha1.Object, envoyName, status, reason string, last bool) ourv1alpha1.Object {
		o.SetNamespace("shop")
		st := o.EnvoyStatus()
		st.EnvoyName = envoyName
		st.Conditions = []metav1.Condition{{Type: ourv1alpha1.ConditionAccepted, Status: metav1.ConditionStatus(status), Reason: reason}}
		if last {
			st.LastAccepted = &ourv1alpha1.AcceptedConfig{}
		}
		return o
	}
	named := func(o ourv1alpha1.Object, name string) ourv1alpha1.Object { o.SetName(name); return o }
	objs := []kindObject{
		{kinds.Cluster, accepted(named(&ourv1alpha1.Cluster{}, "loser"), "backend", "False", ourv1alpha1.ReasonConflict, true)},
		{kinds.Cluster, accepted(named(&ourv1alpha1.Cluster{}, "winner"), "backend", "True", ourv1alpha1.ReasonValid, true)},
		{kinds.Cluster, accepted(named(&ourv1alpha1.Cluster{}, "broken"), "old", "False", ourv1alpha1.ReasonInvalidConfig, true)},
		{kinds.Cluster, accepted(named(&ourv1alpha1.Cluster{}, "never"), "never", "False", ourv1alpha1.ReasonInvalidConfig, false)},
		{kinds.Endpoint, accepted(named(&ourv1alpha1.Endpoint{}, "backend"), "backend", "True", ourv1alpha1.ReasonValid, true)},
	}
	got := sources(objs)
	want := map[sourceKey]string{
		{resourcev3.ClusterType, "backend"}:  "Cluster shop/winner",
		{resourcev3.ClusterType, "old"}:      "Cluster shop/broken",
		{resourcev3.EndpointType, "backend"}: "Endpoint shop/backend",
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%v: got %q, want %q", k, got[k], v)
		}
	}
}

func TestRunUsage(t *testing.T) {
	ctx := context.Background()
	tests := map[string]struct {
		args []string // after the binary name
		code int      // exit code
		out  string   // in stdout or stderr
	}{
		"no command prints the usage":               {nil, 2, "Usage: arcturus COMMAND"},
		"help lists every subcommand":               {[]string{"help"}, 0, "controller    Run the controller"},
		"--help lists every subcommand":             {[]string{"--help"}, 0, "proxy-status"},
		"help COMMAND is the command's help":        {[]string{"help", "config-dump"}, 0, "-n, --namespace"},
		"a typo suggests the command":               {[]string{"proxy-stat"}, 2, `unknown command "proxy-stat"; did you mean "proxy-status"?`},
		"a typo of config-dump too":                 {[]string{"config-dupm"}, 2, `did you mean "config-dump"?`},
		"a word far from any command suggests none": {[]string{"frobnicate"}, 2, "unknown command \"frobnicate\"\n"},
		"controller is not run in-process":          {[]string{"controller"}, 2, "only the arcturus binary runs the controller"},
		"flags of proxy-status":                     {[]string{"proxy-status", "--help"}, 0, "--xds-address"},
		"extra arguments are refused":               {[]string{"proxy-status", "extra"}, 2, "unexpected arguments"},
		"unknown flags are refused":                 {[]string{"proxy-status", "--bogus"}, 2, "unknown flag"},
		"config-dump needs a pod":                   {[]string{"config-dump"}, 2, "want one POD argument (or --pod)"},
		"config-dump takes --pod or POD, not both":  {[]string{"config-dump", "--pod", "a/b", "c"}, 2, "--pod and a POD argument"},
		"config-dump outputs json or yaml":          {[]string{"config-dump", "--pod", "a/b", "-o", "xml"}, 2, `want json or yaml, got "xml"`},
		"config-dump --help mentions --pod":         {[]string{"config-dump", "--help"}, 0, "--pod string"},
		"version prints the Go version":             {[]string{"version"}, 0, "arcturus "},
		"version takes no arguments":                {[]string{"version", "x"}, 2, "unexpected arguments"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Run(ctx, tc.args, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stdout.String()+stderr.String(), tc.out) {
				t.Errorf("%q: code %d, output %q; want code %d and %q", tc.args, code, stdout.String()+stderr.String(), tc.code, tc.out)
			}
		})
	}
}

func TestMainDispatch(t *testing.T) {
	tests := map[string]struct {
		args []string // os.Args
		// controllerArgs are the arguments the controller gets; nil when it must not run.
		controllerArgs []string
		legacy         bool // the controller runs as a deprecated flag-only invocation
		code           int
	}{
		"the controller subcommand":              {[]string{"arcturus", "controller", "--leader-elect"}, []string{"--leader-elect"}, false, 7},
		"flags alone, as before subcommands":     {[]string{"/arcturus", "--xds-bind-address", ":1"}, []string{"--xds-bind-address", ":1"}, true, 7},
		"help controller is the controller help": {[]string{"arcturus", "help", "controller"}, []string{"--help"}, false, 7},
		"no arguments":                           {[]string{"arcturus"}, nil, false, 2},
		"a typo":                                 {[]string{"arcturus", "proxy-stat", "--leader-elect"}, nil, false, 2},
		"a bare unknown word":                    {[]string{"arcturus", "run"}, nil, false, 2},
		"help":                                   {[]string{"arcturus", "help"}, nil, false, 0},
		"--help":                                 {[]string{"arcturus", "--help"}, nil, false, 0},
		"flags alone under the plugin name":      {[]string{"kubectl-arcturus", "--leader-elect"}, nil, false, 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var ran bool
			var gotArgs []string
			var gotLegacy bool
			code := Main(tc.args, func(args []string, legacy bool) int {
				ran, gotArgs, gotLegacy = true, args, legacy
				return 7
			})
			if code != tc.code {
				t.Errorf("exit code %d, want %d", code, tc.code)
			}
			if ran != (tc.controllerArgs != nil) || !slices.Equal(gotArgs, tc.controllerArgs) || gotLegacy != tc.legacy {
				t.Errorf("controller ran %v with %q (legacy %v); want %q (legacy %v)", ran, gotArgs, gotLegacy, tc.controllerArgs, tc.legacy)
			}
		})
	}
}

// fakeCSDS answers every request with a canned response.
type fakeCSDS struct {
	statusv3.UnimplementedClientStatusDiscoveryServiceServer
	resp *statusv3.ClientStatusResponse
	last *statusv3.ClientStatusRequest
}

func (f *fakeCSDS) FetchClientStatus(_ context.Context, req *statusv3.ClientStatusRequest) (*statusv3.ClientStatusResponse, error) {
	f.last = req
	if m := req.GetNodeMatchers(); len(m) > 0 {
		for _, cc := range f.resp.GetConfig() {
			if cc.GetNode().GetId() == m[0].GetNodeId().GetExact() {
				return &statusv3.ClientStatusResponse{Config: []*statusv3.ClientConfig{cc}}, nil
			}
		}
		return &statusv3.ClientStatusResponse{}, nil
	}
	return f.resp, nil
}

func serveFake(t *testing.T, f *fakeCSDS) string {
	t.Helper()
	g := grpc.NewServer()
	statusv3.RegisterClientStatusDiscoveryServiceServer(g, f)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

// TestCommandsOverGRPC runs both commands against a CSDS server.
func TestCommandsOverGRPC(t *testing.T) {
	f := &fakeCSDS{resp: statusResponse()}
	f.resp.Config[1].GenericXdsConfigs[0].XdsConfig = mustAny(t, &clusterv3.Cluster{Name: "a"})
	addr := serveFake(t, f)
	ctx := context.Background()

	var stdout, stderr bytes.Buffer
	if code := Run(ctx, []string{"proxy-status", "--xds-address", addr}, &stdout, &stderr); code != 0 {
		t.Fatalf("proxy-status: %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "gateway-0.default   SYNCED (fedcba98)") || !f.last.GetExcludeResourceContents() {
		t.Errorf("proxy-status:\n%s", stdout.String())
	}

	// No API server: the dump comes without sources, and says so.
	stdout.Reset()
	stderr.Reset()
	missing := filepath.Join(t.TempDir(), "no-kubeconfig")
	t.Setenv("ARCTURUS_XDS_ADDRESS", addr)
	if code := Run(ctx, []string{"config-dump", "gateway-0", "--kubeconfig", missing}, &stdout, &stderr); code != 0 {
		t.Fatalf("config-dump: %d: %s", code, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "- type: cluster\n  name: a\n  status: SYNCED\n  version: fedcba98\n  config:\n") ||
		!strings.Contains(stderr.String(), "warning: source custom resources unknown") {
		t.Errorf("config-dump:\n%s\nstderr: %s", stdout.String(), stderr.String())
	}

	// -o json: Envoy's config dump of what the node holds.
	stdout.Reset()
	if code := Run(ctx, []string{"config-dump", "gateway-0", "-o", "json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("config-dump -o json: %d: %s", code, stderr.String())
	}
	var dump adminv3.ConfigDump
	var clusters adminv3.ClustersConfigDump
	if err := protojson.Unmarshal(stdout.Bytes(), &dump); err != nil || len(dump.GetConfigs()) != 7 || dump.GetConfigs()[0].UnmarshalTo(&clusters) != nil ||
		clusters.GetVersionInfo() != "fedcba98" || len(clusters.GetDynamicActiveClusters()) != 1 ||
		clusters.GetDynamicActiveClusters()[0].GetCluster().GetTypeUrl() != resourcev3.ClusterType {
		t.Errorf("config-dump -o json (%v):\n%s", err, stdout.String())
	}

	stderr.Reset()
	if code := Run(ctx, []string{"config-dump", "-n", "elsewhere", "gateway-0", "--kubeconfig", missing}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), `node ID "gateway-0.elsewhere") is not connected`) {
		t.Errorf("config-dump of an unconnected pod: %d, %s", code, stderr.String())
	}

	f.resp = &statusv3.ClientStatusResponse{}
	stdout.Reset()
	stderr.Reset()
	if code := Run(ctx, []string{"proxy-status", "--xds-address", addr}, &stdout, &stderr); code != 0 || stdout.Len() != 0 ||
		!strings.Contains(stderr.String(), "No Envoy is connected") {
		t.Errorf("proxy-status with no nodes: %d, %q, %q", code, stdout.String(), stderr.String())
	}
}

func TestUnreachable(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	var stdout, stderr bytes.Buffer
	if code := Run(context.Background(), []string{"proxy-status", "--xds-address", addr, "--timeout", "2s"}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), addr) {
		t.Errorf("code %d, stderr %q", code, stderr.String())
	}
}

func TestMain(m *testing.M) {
	// Keep a developer's kubeconfig out of the tests.
	_ = os.Setenv("KUBECONFIG", filepath.Join(os.TempDir(), "arcturus-cli-test-no-kubeconfig"))
	os.Exit(m.Run())
}
