package index

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"slices"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/arcturus-dev/arcturus/xds/kinds"
)

const clusterType = "type.googleapis.com/envoy.config.cluster.v3.Cluster"

func TestParseNodeID(t *testing.T) {
	tests := map[string]struct {
		id       string // node ID
		name, ns string // wanted pod name and namespace
		ok       bool   // wanted validity
	}{
		"plain pod":          {id: "gw-0.default", name: "gw-0", ns: "default", ok: true},
		"pod name with dots": {id: "gw.v1.2.prod", name: "gw.v1.2", ns: "prod", ok: true},
		"no dot":             {id: "gw-0"},
		"empty namespace":    {id: "gw-0."},
		"empty name":         {id: ".default"},
		"empty id":           {id: ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			n, ns, ok := ParseNodeID(tc.id)
			if n != tc.name || ns != tc.ns || ok != tc.ok {
				t.Errorf("ParseNodeID(%q) = %q, %q, %v; want %q, %q, %v", tc.id, n, ns, ok, tc.name, tc.ns, tc.ok)
			}
			if tc.ok && NodeID(n, ns) != tc.id {
				t.Errorf("NodeID does not invert ParseNodeID for %q", tc.id)
			}
		})
	}
}

// recorder collects the index's notifications.
type recorder struct{ got []string }

func (r *recorder) notify(ids []string) { r.got = append(r.got, ids...) }

func (r *recorder) take() []string {
	out := r.got
	r.got = nil
	slices.Sort(out)
	return slices.Compact(out)
}

func TestIndexNotifiesOnlyAffectedNodes(t *testing.T) {
	rec := &recorder{}
	x := New(rec.notify)
	x.SetPod(Pod{Namespace: "a", Name: "gw", Labels: map[string]string{"app": "gw"}})
	x.SetPod(Pod{Namespace: "a", Name: "web", Labels: map[string]string{"app": "web"}})
	x.SetPod(Pod{Namespace: "b", Name: "gw", Labels: map[string]string{"app": "gw"}})
	if got := rec.take(); !slices.Equal(got, []string{"gw.a", "gw.b", "web.a"}) {
		t.Fatalf("pod notifications %v", got)
	}

	gwOnly := Resource{Name: "c1", Selector: map[string]string{"app": "gw"}, Message: &clusterv3.Cluster{Name: "c1"}}
	steps := []struct {
		name      string     // what happens
		namespace string     // namespace written
		resources []Resource // its new resource list
		want      []string   // nodes notified
	}{
		{"a selective resource reaches only matching pods of its namespace", "a", []Resource{gwOnly}, []string{"gw.a"}},
		{"rewriting identical content notifies nobody", "a", []Resource{gwOnly}, nil},
		{"a resource without selector reaches the whole namespace", "a", []Resource{gwOnly, {Name: "c2", Message: &clusterv3.Cluster{Name: "c2"}}}, []string{"gw.a", "web.a"}},
		{"a content change notifies the selected pods", "a", []Resource{{Name: "c1", Selector: gwOnly.Selector, Message: &clusterv3.Cluster{Name: "c1", ConnectTimeout: durationpb.New(5e9)}}, {Name: "c2", Message: &clusterv3.Cluster{Name: "c2"}}}, []string{"gw.a"}},
		{"narrowing a selector notifies the pods it leaves", "a", []Resource{{Name: "c1", Selector: gwOnly.Selector, Message: &clusterv3.Cluster{Name: "c1", ConnectTimeout: durationpb.New(5e9)}}, {Name: "c2", Selector: map[string]string{"app": "none"}, Message: &clusterv3.Cluster{Name: "c2"}}}, []string{"gw.a", "web.a"}},
		{"removing everything notifies what was selected", "a", nil, []string{"gw.a"}},
		{"another namespace is isolated", "b", []Resource{{Name: "c1", Message: &clusterv3.Cluster{Name: "c1"}}}, []string{"gw.b"}},
	}
	for _, s := range steps {
		x.ReplaceResources(s.namespace, clusterType, s.resources)
		if got := rec.take(); !slices.Equal(got, s.want) {
			t.Errorf("%s: notified %v, want %v", s.name, got, s.want)
		}
	}
}

func TestNodeResources(t *testing.T) {
	x := New(nil)
	x.ReplaceResources("a", clusterType, []Resource{
		{Name: "z", Message: &clusterv3.Cluster{Name: "z"}},
		{Name: "b", Selector: map[string]string{"app": "gw"}, Message: &clusterv3.Cluster{Name: "b"}},
		{Name: "m", Selector: map[string]string{"app": "gw", "tier": "edge"}, Message: &clusterv3.Cluster{Name: "m"}},
	})
	if _, found := x.NodeResources("gw.a"); found {
		t.Fatal("a node without pod was found")
	}
	x.SetPod(Pod{Namespace: "a", Name: "gw", Labels: map[string]string{"app": "gw"}})
	rs, found := x.NodeResources("gw.a")
	if !found {
		t.Fatal("pod not found")
	}
	var names []string
	for _, r := range rs[clusterType] {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, []string{"b", "z"}) {
		t.Errorf("served %v, want [b z] sorted, without the one needing tier=edge", names)
	}

	// Relabelling notifies and changes the selection; an identical update does not.
	var notified []string
	x.notify = func(ids []string) { notified = append(notified, ids...) }
	x.SetPod(Pod{Namespace: "a", Name: "gw", Labels: map[string]string{"app": "gw"}})
	if len(notified) != 0 {
		t.Errorf("identical pod update notified %v", notified)
	}
	x.SetPod(Pod{Namespace: "a", Name: "gw", Labels: map[string]string{"app": "gw", "tier": "edge"}})
	rs, _ = x.NodeResources("gw.a")
	if len(rs[clusterType]) != 3 || len(notified) != 1 {
		t.Errorf("after relabel: %d resources, notified %v", len(rs[clusterType]), notified)
	}
	x.DeletePod("gw.a")
	if _, found := x.NodeResources("gw.a"); found {
		t.Error("deleted pod still found")
	}
}

func TestWithheldPodIsServedNothing(t *testing.T) {
	rec := &recorder{}
	x := New(rec.notify)
	x.ReplaceResources("a", clusterType, []Resource{{Name: "c", Message: &clusterv3.Cluster{Name: "c"}}})
	x.SetPod(Pod{Namespace: "a", Name: "gw", Labels: map[string]string{"app": "gw"}, Withheld: true})
	if got := rec.take(); !slices.Equal(got, []string{"gw.a"}) {
		t.Errorf("adding a withheld pod notified %v", got)
	}
	if _, found := x.NodeResources("gw.a"); found {
		t.Error("NodeResources found a withheld pod")
	}
	if _, found := x.Pod("gw.a"); found {
		t.Error("Pod found a withheld pod")
	}
	if _, found := x.PodIP("gw.a"); found {
		t.Error("PodIP found a withheld pod")
	}
	if pods := x.NamespacePods("a"); len(pods) != 1 {
		t.Errorf("the namespace lists %d pods, want the withheld one counted", len(pods))
	}

	x.SetPod(Pod{Namespace: "a", Name: "gw", Labels: map[string]string{"app": "gw"}, IP: "10.0.0.1"})
	if got := rec.take(); !slices.Equal(got, []string{"gw.a"}) {
		t.Errorf("the pod getting its IP notified %v", got)
	}
	if rs, found := x.NodeResources("gw.a"); !found || len(rs[clusterType]) != 1 {
		t.Errorf("once identified: found %v, %d clusters", found, len(rs[clusterType]))
	}
	if ip, found := x.PodIP("gw.a"); !found || ip != "10.0.0.1" {
		t.Errorf("PodIP = %q, %v", ip, found)
	}
}

func TestHashIsContentBased(t *testing.T) {
	a := &clusterv3.Cluster{Name: "a", ConnectTimeout: durationpb.New(1e9)}
	b := &clusterv3.Cluster{Name: "a", ConnectTimeout: durationpb.New(1e9)}
	c := &clusterv3.Cluster{Name: "a", ConnectTimeout: durationpb.New(2e9)}
	if Hash(a) != Hash(b) {
		t.Error("equal messages hash differently")
	}
	if Hash(a) == Hash(c) {
		t.Error("different messages hash the same")
	}
}

func TestSelectsWithMatchExpressions(t *testing.T) {
	expr := func(key string, op metav1.LabelSelectorOperator, values ...string) metav1.LabelSelectorRequirement {
		return metav1.LabelSelectorRequirement{Key: key, Operator: op, Values: values}
	}
	gw, canary, web := map[string]string{"app": "gw"}, map[string]string{"app": "gw", "track": "canary"}, map[string]string{"app": "web"}
	tests := []struct {
		name  string
		r     Resource
		wants [3]bool // gw, canary, web
	}{
		{"In", Resource{MatchExpressions: []metav1.LabelSelectorRequirement{expr("app", metav1.LabelSelectorOpIn, "gw", "api")}}, [3]bool{true, true, false}},
		{"NotIn", Resource{MatchExpressions: []metav1.LabelSelectorRequirement{expr("app", metav1.LabelSelectorOpNotIn, "gw")}}, [3]bool{false, false, true}},
		{"Exists", Resource{MatchExpressions: []metav1.LabelSelectorRequirement{expr("track", metav1.LabelSelectorOpExists)}}, [3]bool{false, true, false}},
		{"DoesNotExist, ANDed with labels", Resource{Selector: gw, MatchExpressions: []metav1.LabelSelectorRequirement{expr("track", metav1.LabelSelectorOpDoesNotExist)}}, [3]bool{true, false, false}},
		{"an invalid expression selects nothing", Resource{MatchExpressions: []metav1.LabelSelectorRequirement{expr("app", "Near", "gw")}}, [3]bool{false, false, false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := New(nil)
			tc.r.Name, tc.r.Message = "c", &clusterv3.Cluster{Name: "c"}
			x.ReplaceResources("ns", clusterType, []Resource{tc.r})
			indexed, _ := x.Lookup("ns", clusterType, "c")
			for i, pod := range []map[string]string{gw, canary, web} {
				if got := tc.r.Selects(pod); got != tc.wants[i] {
					t.Errorf("pod %v: Selects = %v, want %v", pod, got, tc.wants[i])
				}
				if got := indexed.Selects(pod); got != tc.wants[i] {
					t.Errorf("pod %v: indexed (compiled) Selects = %v, want %v", pod, got, tc.wants[i])
				}
			}
		})
	}
}

func TestCheckRefs(t *testing.T) {
	const routeType = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
	x := New(nil)
	x.SetPod(Pod{Namespace: "a", Name: "gw-0", Labels: map[string]string{"app": "gw", "zone": "1"}})
	x.SetPod(Pod{Namespace: "a", Name: "gw-1", Labels: map[string]string{"app": "gw", "zone": "2"}})
	x.SetPod(Pod{Namespace: "a", Name: "web", Labels: map[string]string{"app": "web"}})
	x.SetPod(Pod{Namespace: "b", Name: "gw-0", Labels: map[string]string{"app": "gw"}})
	x.ReplaceResources("a", clusterType, []Resource{
		{Name: "everywhere", Message: &clusterv3.Cluster{Name: "everywhere"}},
		{Name: "zone1", Selector: map[string]string{"zone": "1"}, Message: &clusterv3.Cluster{Name: "zone1"}},
	})
	refs := []kinds.Ref{{TypeURL: clusterType, Name: "everywhere"}, {TypeURL: clusterType, Name: "zone1"}, {TypeURL: clusterType, Name: "nowhere"}, {TypeURL: routeType, Name: "everywhere"}}
	got := x.CheckRefs("a", &Resource{Selector: map[string]string{"app": "gw"}}, refs)
	want := map[kinds.Ref]int{{TypeURL: clusterType, Name: "zone1"}: 1, {TypeURL: clusterType, Name: "nowhere"}: 2, {TypeURL: routeType, Name: "everywhere"}: 2}
	if got.Selected != 2 || len(got.Missing) != len(want) {
		t.Fatalf("got %+v, want 2 selected and missing %v", got, want)
	}
	for ref, n := range want {
		if got.Missing[ref] != n {
			t.Errorf("%v missing for %d pods, want %d", ref, got.Missing[ref], n)
		}
	}
	if got := x.CheckRefs("b", &Resource{}, refs[:1]); got.Selected != 1 || got.Missing[refs[0]] != 1 {
		t.Errorf("namespace b: %+v; resources of namespace a must not count", got)
	}
}

func TestRootNamespace(t *testing.T) {
	x := New(nil)
	x.SetRootNamespace("root")
	x.SetPod(Pod{Namespace: "a", Name: "gw", Labels: map[string]string{"app": "gw"}, IP: "10.0.0.1"})
	x.SetPod(Pod{Namespace: "a", Name: "web", Labels: map[string]string{"app": "web"}, IP: "10.0.0.2"})
	x.SetPod(Pod{Namespace: "b", Name: "gw", Labels: map[string]string{"app": "gw"}, IP: "10.0.0.3"})
	affected := x.ReplaceResources("root", clusterType, []Resource{
		{Name: "shared", Selector: map[string]string{"app": "gw"}, Message: &clusterv3.Cluster{Name: "shared", AltStatName: "root"}},
	})
	if want := []string{"gw.a", "gw.b"}; !slices.Equal(affected, want) {
		t.Errorf("a root change affects %v, want %v", affected, want)
	}
	x.ReplaceResources("b", clusterType, []Resource{{Name: "shared", Message: &clusterv3.Cluster{Name: "shared", AltStatName: "b"}}})
	for node, want := range map[string]string{"gw.a": "root", "web.a": "", "gw.b": "b"} {
		rs, _ := x.NodeResources(node)
		got := ""
		if cs := rs[clusterType]; len(cs) == 1 {
			got = cs[0].Message.(*clusterv3.Cluster).GetAltStatName()
		}
		if got != want {
			t.Errorf("%s gets shared from %q, want %q", node, got, want)
		}
	}
	ref := []kinds.Ref{{TypeURL: clusterType, Name: "shared"}}
	if got := x.CheckRefs("a", &Resource{Selector: map[string]string{"app": "gw"}}, ref); got.Selected != 1 || len(got.Missing) != 0 {
		t.Errorf("a reference to a root resource: %+v, want resolved for the one gw pod", got)
	}
	if got := x.PodGroups("root"); len(got) != 3 {
		t.Errorf("the root namespace's pod groups: %d, want one per namespace and label set (3)", len(got))
	}
}
