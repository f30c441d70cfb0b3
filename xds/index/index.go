// Package index holds what the controllers have accepted: the Envoy resources of
// every namespace and kind, and every Envoy pod by node ID. It is the third stage of
// the pipeline (translate → index → snapshot → serve → feedback): controllers write
// to it, and it tells the snapshot builder which nodes each write affects, so a
// change to one custom resource touches only the nodes it selects.
//
// The index is safe for concurrent use. It never calls back into its writers; the
// change notification runs after its lock is released.
package index

import (
	"maps"
	"slices"
	"strings"
	"sync"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/arcturus-dev/arcturus/xds/kinds"
)

// Resource is one accepted Envoy resource and the pods it applies to.
type Resource struct {
	// TypeURL is the xDS type URL of Message.
	TypeURL string
	// Name is the Envoy resource name.
	Name string
	// Selector selects the pods of the resource's namespace that receive it; empty
	// selects them all.
	Selector map[string]string
	// Message is the validated Envoy proto. Callers must not mutate it once indexed.
	Message proto.Message
	// Source is the custom resource the proto comes from, and SourceUID its UID.
	Source    types.NamespacedName
	SourceUID types.UID
	// Hash is a content hash of Message; the index computes it when zero.
	Hash uint64
	// Wire is Message with its encoding computed once (see Encoded); the index
	// sets it, and every node's snapshot shares it.
	Wire proto.Message
	// Secrets are the SDS secrets the resource references (fetched over ADS): a
	// pod receives a secret only when a resource it receives references it.
	Secrets []string
	// MatchExpressions narrow Selector further (ANDed), as in a Kubernetes label
	// selector. They must have passed validation.
	MatchExpressions []metav1.LabelSelectorRequirement

	// expressions is MatchExpressions compiled; the index sets it once.
	expressions labels.Selector
}

// Selects reports whether the resource applies to a pod with these labels.
func (r *Resource) Selects(podLabels map[string]string) bool {
	for k, v := range r.Selector {
		if got, ok := podLabels[k]; !ok || got != v {
			return false
		}
	}
	if len(r.MatchExpressions) == 0 {
		return true
	}
	expr := r.expressions
	if expr == nil {
		expr = compileExpressions(r.MatchExpressions)
	}
	return expr.Matches(labels.Set(podLabels))
}

// compileExpressions turns validated expressions into a selector; one that does
// not compile selects nothing, never everything.
func compileExpressions(exprs []metav1.LabelSelectorRequirement) labels.Selector {
	sel, err := metav1.LabelSelectorAsSelector(&metav1.LabelSelector{MatchExpressions: exprs})
	if err != nil {
		return labels.Nothing()
	}
	return sel
}

// Pod is what the index needs to know about one Envoy pod.
type Pod struct {
	Namespace string
	Name      string
	UID       types.UID
	Labels    map[string]string
	IP        string
	// ReadinessGate is set when the pod declares Arcturus's readiness gate.
	ReadinessGate bool
	// Withheld is set while the pod cannot be told apart from an impostor (it
	// has no IP yet, see controllers.PodReconciler): lookups by node ID (Pod,
	// PodIP, NodeResources) then answer as if no pod had its node ID, so the node
	// gets only the empty configuration. It still counts among its namespace's
	// pods (NamespacePods, PodGroups, CheckRefs) and its changes notify its node.
	Withheld bool
}

// NodeID is the Envoy node ID of the pod.
func (p Pod) NodeID() string { return NodeID(p.Name, p.Namespace) }

// NodeID returns the Envoy node ID of a pod: "<pod-name>.<pod-namespace>".
func NodeID(name, namespace string) string { return name + "." + namespace }

// ParseNodeID splits a node ID at its last dot into pod name and namespace. Pod
// names may contain dots; namespaces may not.
func ParseNodeID(id string) (name, namespace string, ok bool) {
	i := strings.LastIndexByte(id, '.')
	if i <= 0 || i == len(id)-1 {
		return "", "", false
	}
	return id[:i], id[i+1:], true
}

// Index is the accepted state of the cluster, as the controllers see it.
type Index struct {
	notify func(nodeIDs []string)

	mu sync.RWMutex
	// resources: namespace → type URL → Envoy name → resource.
	resources map[string]map[string]map[string]*Resource
	// pods: node ID → pod; podsByNamespace: namespace → node ID → pod.
	pods            map[string]*Pod
	podsByNamespace map[string]map[string]*Pod
	// root is the root namespace: its resources apply to the pods of every
	// namespace (see SetRootNamespace). Empty: none.
	root string
}

// SetRootNamespace makes the resources of a namespace apply to the matching pods
// of every namespace, where a resource of the same type and Envoy name that the
// pod's own namespace serves to the pod takes precedence. Call it before the index
// is written to.
func (x *Index) SetRootNamespace(namespace string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.root = namespace
}

// RootNamespace returns the root namespace, or "".
func (x *Index) RootNamespace() string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.root
}

// Namespaces returns the namespaces that have pods, sorted.
func (x *Index) Namespaces() []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return slices.Sorted(maps.Keys(x.podsByNamespace))
}

// lookupLocked returns the resource of a type and name that a pod of namespace
// with these labels receives: its own namespace's first, else the root's.
func (x *Index) lookupLocked(namespace string, podLabels map[string]string, typeURL, name string) (*Resource, bool) {
	if r, ok := x.resources[namespace][typeURL][name]; ok && r.Selects(podLabels) {
		return r, true
	}
	// Secrets come from the pod's own namespace only.
	if x.root != "" && x.root != namespace && typeURL != resourcev3.SecretType {
		if r, ok := x.resources[x.root][typeURL][name]; ok && r.Selects(podLabels) {
			return r, true
		}
	}
	return nil, false
}

// New returns an empty index. notify, when not nil, receives the node IDs whose
// configuration may have changed after each write; it is called without the
// index's lock held and must not block for long.
func New(notify func(nodeIDs []string)) *Index {
	return &Index{
		notify:          notify,
		resources:       map[string]map[string]map[string]*Resource{},
		pods:            map[string]*Pod{},
		podsByNamespace: map[string]map[string]*Pod{},
	}
}

// ReplaceResources sets the complete list of accepted resources of one type in one
// namespace. Resources whose content and selector are unchanged affect no node and
// keep their encoding. Names must be unique within the list, and calls for the same
// namespace and type must not run concurrently. It returns the affected node IDs.
func (x *Index) ReplaceResources(namespace, typeURL string, resources []Resource) []string {
	next := make(map[string]*Resource, len(resources))
	for i := range resources {
		r := resources[i]
		r.TypeURL = typeURL
		if r.Hash == 0 {
			r.Hash = Hash(r.Message)
		}
		if len(r.MatchExpressions) > 0 {
			r.expressions = compileExpressions(r.MatchExpressions)
		}
		next[r.Name] = &r
	}

	// Unchanged entries keep their indexed value; new content is encoded outside
	// the lock, once.
	x.mu.RLock()
	prev := x.resources[namespace][typeURL]
	for name, r := range next {
		if old, ok := prev[name]; ok && sameResource(old, r) {
			next[name] = old
		}
	}
	x.mu.RUnlock()
	for _, r := range next {
		if r.Wire == nil {
			r.Wire = r.Message
			if e, err := NewEncoded(r.Name, r.Message); err == nil {
				r.Wire = e
			}
		}
	}

	x.mu.Lock()
	byType := x.resources[namespace]
	prev = byType[typeURL]
	var changed []*Resource // old and new versions of every changed entry
	for name, r := range next {
		if old, ok := prev[name]; !ok || old != r {
			changed = append(changed, r)
			if ok {
				changed = append(changed, old)
			}
		}
	}
	for name, old := range prev {
		if _, ok := next[name]; !ok {
			changed = append(changed, old)
		}
	}
	if len(next) == 0 {
		delete(byType, typeURL)
		if len(byType) == 0 {
			delete(x.resources, namespace)
		}
	} else {
		if byType == nil {
			byType = map[string]map[string]*Resource{}
			x.resources[namespace] = byType
		}
		byType[typeURL] = next
	}
	affected := x.selectedLocked(namespace, changed)
	x.mu.Unlock()

	x.notifyNodes(affected)
	return affected
}

// sameResource reports whether two versions of an entry serve the same thing to
// the same pods.
func sameResource(a, b *Resource) bool {
	return a.Hash == b.Hash && maps.Equal(a.Selector, b.Selector) && equality.Semantic.DeepEqual(a.MatchExpressions, b.MatchExpressions) &&
		a.Source == b.Source && a.SourceUID == b.SourceUID
}

// selectedLocked returns the node IDs of the namespace's pods selected by any of rs.
func (x *Index) selectedLocked(namespace string, rs []*Resource) []string {
	if len(rs) == 0 {
		return nil
	}
	var ids []string
	add := func(pods map[string]*Pod) {
		for id, p := range pods {
			for _, r := range rs {
				if r.Selects(p.Labels) {
					ids = append(ids, id)
					break
				}
			}
		}
	}
	if namespace != "" && namespace == x.root {
		for _, pods := range x.podsByNamespace {
			add(pods)
		}
	} else {
		add(x.podsByNamespace[namespace])
	}
	slices.Sort(ids)
	return ids
}

// SetPod records or updates a pod. It returns the pod's node ID when what the pod
// is served may have changed.
func (x *Index) SetPod(p Pod) []string {
	id := p.NodeID()
	p.Labels = maps.Clone(p.Labels)
	x.mu.Lock()
	old, ok := x.pods[id]
	if ok && old.IP == p.IP && old.UID == p.UID && old.ReadinessGate == p.ReadinessGate && old.Withheld == p.Withheld && maps.Equal(old.Labels, p.Labels) {
		x.mu.Unlock()
		return nil
	}
	x.pods[id] = &p
	ns := x.podsByNamespace[p.Namespace]
	if ns == nil {
		ns = map[string]*Pod{}
		x.podsByNamespace[p.Namespace] = ns
	}
	ns[id] = &p
	x.mu.Unlock()

	affected := []string{id}
	x.notifyNodes(affected)
	return affected
}

// DeletePod forgets a pod. It returns its node ID if the pod was known.
func (x *Index) DeletePod(nodeID string) []string {
	x.mu.Lock()
	p, ok := x.pods[nodeID]
	if ok {
		delete(x.pods, nodeID)
		ns := x.podsByNamespace[p.Namespace]
		delete(ns, nodeID)
		if len(ns) == 0 {
			delete(x.podsByNamespace, p.Namespace)
		}
	}
	x.mu.Unlock()
	if !ok {
		return nil
	}
	affected := []string{nodeID}
	x.notifyNodes(affected)
	return affected
}

// Pod returns the pod a node ID names; found is false without a pod, or while
// the pod is Withheld.
func (x *Index) Pod(nodeID string) (Pod, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	p, ok := x.servableLocked(nodeID)
	if !ok {
		return Pod{}, false
	}
	return *p, true
}

// servableLocked returns the pod of a node ID unless there is none or it is Withheld.
func (x *Index) servableLocked(nodeID string) (*Pod, bool) {
	p, ok := x.pods[nodeID]
	if !ok || p.Withheld {
		return nil, false
	}
	return p, true
}

// NodeResources returns, per type URL, the resources the node's pod receives,
// sorted by name. found is false when no pod has this node ID or it is
// Withheld; the node then receives nothing. The returned resources are shared
// and must not be mutated.
func (x *Index) NodeResources(nodeID string) (resources map[string][]*Resource, found bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	p, ok := x.servableLocked(nodeID)
	if !ok {
		return nil, false
	}
	resources = map[string][]*Resource{}
	referenced := map[string]bool{}
	types := maps.Keys(x.resources[p.Namespace])
	if x.root != "" && x.root != p.Namespace {
		types = func(yield func(string) bool) {
			for t := range x.resources[p.Namespace] {
				if !yield(t) {
					return
				}
			}
			for t := range x.resources[x.root] {
				if _, local := x.resources[p.Namespace][t]; !local && !yield(t) {
					return
				}
			}
		}
	}
	for typeURL := range types {
		if typeURL == resourcev3.SecretType {
			continue
		}
		var selected []*Resource
		take := func(r *Resource) {
			selected = append(selected, r)
			for _, name := range r.Secrets {
				referenced[name] = true
			}
		}
		for _, r := range x.resources[p.Namespace][typeURL] {
			if r.Selects(p.Labels) {
				take(r)
			}
		}
		if x.root != "" && x.root != p.Namespace {
			for name, r := range x.resources[x.root][typeURL] {
				if own, ok := x.resources[p.Namespace][typeURL][name]; ok && own.Selects(p.Labels) {
					continue // the pod's own namespace takes precedence
				}
				if r.Selects(p.Labels) {
					take(r)
				}
			}
		}
		slices.SortFunc(selected, func(a, b *Resource) int { return strings.Compare(a.Name, b.Name) })
		if len(selected) > 0 {
			resources[typeURL] = selected
		}
	}
	// Secrets hold private keys: only those the pod's resources reference.
	var secrets []*Resource
	for name := range referenced {
		if r, ok := x.resources[p.Namespace][resourcev3.SecretType][name]; ok {
			secrets = append(secrets, r)
		}
	}
	if len(secrets) > 0 {
		slices.SortFunc(secrets, func(a, b *Resource) int { return strings.Compare(a.Name, b.Name) })
		resources[resourcev3.SecretType] = secrets
	}
	return resources, true
}

func (x *Index) notifyNodes(ids []string) {
	if x.notify != nil && len(ids) > 0 {
		x.notify(ids)
	}
}

// Hash returns a content hash of a proto message. Deterministic marshalling makes
// it the same across restarts and replicas running the same build.
func Hash(m proto.Message) uint64 {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		// A validated message always marshals; hash the error so the result is
		// still deterministic rather than silently colliding with another message.
		b = []byte(err.Error())
	}
	return hashBytes(b)
}

// RefCheck is the outcome of checking references for the pods a resource selects.
type RefCheck struct {
	// Selected is the number of pods of the namespace the selector selects.
	Selected int
	// Missing counts, per reference, the selected pods that do not receive it.
	Missing map[kinds.Ref]int
}

// CheckRefs reports, for the pods of a namespace that selector (a resource) selects, which of refs
// each of them lacks among the resources it receives.
func (x *Index) CheckRefs(namespace string, selector *Resource, refs []kinds.Ref) RefCheck {
	return x.CheckRefsOf(namespace, x.PodGroups(namespace), selector, refs)
}

// CheckRefsOf is CheckRefs over pod groups read earlier with PodGroups, so that a
// caller checking many resources groups the pods once.
func (x *Index) CheckRefsOf(namespace string, groups []PodGroup, sel *Resource, refs []kinds.Ref) RefCheck {
	x.mu.RLock()
	defer x.mu.RUnlock()
	check := RefCheck{Missing: map[kinds.Ref]int{}}
	for _, g := range groups {
		if !sel.Selects(g.Labels) {
			continue
		}
		check.Selected += len(g.Pods)
		podNamespace := namespace
		if len(g.Pods) > 0 {
			podNamespace = g.Pods[0].Namespace // root namespace groups span namespaces
		}
		for _, ref := range refs {
			if _, ok := x.lookupLocked(podNamespace, g.Labels, ref.TypeURL, ref.Name); !ok {
				check.Missing[ref] += len(g.Pods)
			}
		}
	}
	return check
}

// PodGroup is the pods of a namespace that share one label set: every selector
// selects all of them or none, so selection is decided once per group.
type PodGroup struct {
	Labels map[string]string
	Pods   []Pod
}

// PodGroups returns the pods of a namespace (of every namespace, for the root
// namespace) grouped by namespace and label set.
func (x *Index) PodGroups(namespace string) []PodGroup {
	x.mu.RLock()
	defer x.mu.RUnlock()
	byKey := map[string]int{}
	var groups []PodGroup
	pods := maps.Values(x.podsByNamespace[namespace])
	if namespace != "" && namespace == x.root {
		// The root namespace's resources select pods of every namespace; a
		// group stays within one namespace.
		pods = func(yield func(*Pod) bool) {
			for _, ns := range x.podsByNamespace {
				for _, p := range ns {
					if !yield(p) {
						return
					}
				}
			}
		}
	}
	for p := range pods {
		key := p.Namespace + "\x00" + LabelsKey(p.Labels)
		i, ok := byKey[key]
		if !ok {
			i = len(groups)
			byKey[key] = i
			groups = append(groups, PodGroup{Labels: p.Labels})
		}
		groups[i].Pods = append(groups[i].Pods, *p)
	}
	return groups
}

// LabelsKey is a canonical form of a label set.
func LabelsKey(labels map[string]string) string {
	keys := slices.Sorted(maps.Keys(labels))
	var sb strings.Builder
	for _, k := range keys {
		sb.WriteString(k)
		sb.WriteByte('=')
		sb.WriteString(labels[k])
		sb.WriteByte(0)
	}
	return sb.String()
}

// Lookup returns the indexed resource of a namespace by type URL and name.
func (x *Index) Lookup(namespace, typeURL, name string) (Resource, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	r, ok := x.resources[namespace][typeURL][name]
	if !ok {
		return Resource{}, false
	}
	return *r, true
}

// PodIP returns the IP of the pod a node ID names; found is false without a
// pod, or while the pod is Withheld.
func (x *Index) PodIP(nodeID string) (ip string, found bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	p, ok := x.servableLocked(nodeID)
	if !ok {
		return "", false
	}
	return p.IP, true
}

// NamespacePods returns the pods of a namespace, sorted by node ID.
func (x *Index) NamespacePods(namespace string) []Pod {
	x.mu.RLock()
	defer x.mu.RUnlock()
	pods := make([]Pod, 0, len(x.podsByNamespace[namespace]))
	for _, p := range x.podsByNamespace[namespace] {
		pods = append(pods, *p)
	}
	slices.SortFunc(pods, func(a, b Pod) int { return strings.Compare(a.Name, b.Name) })
	return pods
}
