package controllers

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
	"github.com/arcturus-dev/arcturus/xds/index"
	"github.com/arcturus-dev/arcturus/xds/kinds"
)

// maxConditionMessage keeps condition messages readable and far below the API's 32 KiB limit.
const maxConditionMessage = 4096

// translation is the outcome of translating one spec.config or status.lastAccepted.config.
type translation struct {
	name string        // Envoy resource name; empty when errs is not
	msg  proto.Message // validated Envoy proto; nil when errs is not
	hash uint64        // content hash of msg
	refs []kinds.Ref   // resources msg refers to
	errs field.ErrorList
}

// configSource says which configuration of an object a translation comes from.
type configSource int

const (
	fromSpec configSource = iota
	fromLastAccepted
)

// translateFunc translates the given configuration of an object; the reconciler
// memoises it per object generation.
type translateFunc func(obj ourv1alpha1.Object, src configSource) translation

// decision is what one object of a namespace gets: the resource served on its behalf
// (nil when none) and its desired status.
type decision struct {
	obj    ourv1alpha1.Object
	served *index.Resource
	refs   []kinds.Ref // what served refers to
	status ourv1alpha1.EnvoyConfigStatus
}

// claim is an object's bid for an Envoy name.
type claim struct {
	obj    ourv1alpha1.Object
	src    configSource
	tr     translation
	winner bool
}

// decide works out, for every object of one kind in one namespace, what is served
// and what its status says. It is pure: the same objects give the same answer on
// every replica and after every restart.
//
// Reasoning: an object claims one Envoy name, that of its spec when the spec is
// valid and otherwise that of its last accepted configuration, which keeps being
// served. When several objects claim one name the oldest wins (ties by name); a
// loser whose valid spec lost falls back to its last accepted configuration if that
// name is still free, so a refused update loses nothing.
func decide(kind envoyKind, objs []ourv1alpha1.Object, translate translateFunc) []decision {
	objs = slices.Clone(objs)
	slices.SortFunc(objs, olderFirst)

	specs := make([]translation, len(objs))
	claims := make([]*claim, len(objs))
	owner := map[string]*claim{} // Envoy name → winning claim
	for i, o := range objs {
		if o.GetDeletionTimestamp() != nil {
			continue
		}
		specs[i] = translate(o, fromSpec)
		c := &claim{obj: o, src: fromSpec, tr: specs[i]}
		if len(c.tr.errs) > 0 {
			if o.EnvoyStatus().LastAccepted == nil {
				continue
			}
			c = &claim{obj: o, src: fromLastAccepted, tr: translate(o, fromLastAccepted)}
			if len(c.tr.errs) > 0 {
				continue
			}
		}
		claims[i] = c
		if _, taken := owner[c.tr.name]; !taken {
			c.winner = true
			owner[c.tr.name] = c
		}
	}
	// Losers of a conflict over a new spec fall back to their last accepted name if free.
	for i, c := range claims {
		if c == nil || c.winner || c.src != fromSpec || c.obj.EnvoyStatus().LastAccepted == nil {
			continue
		}
		fallback := &claim{obj: c.obj, src: fromLastAccepted, tr: translate(c.obj, fromLastAccepted)}
		if len(fallback.tr.errs) > 0 {
			continue
		}
		if _, taken := owner[fallback.tr.name]; !taken {
			fallback.winner = true
			owner[fallback.tr.name] = fallback
			claims[i] = fallback
		}
	}

	decisions := make([]decision, len(objs))
	for i, o := range objs {
		decisions[i] = decideOne(kind, o, specs[i], claims[i], owner)
	}
	return decisions
}

func decideOne(kind envoyKind, o ourv1alpha1.Object, spec translation, c *claim, owner map[string]*claim) decision {
	d := decision{obj: o, status: *o.EnvoyStatus().DeepCopy()}
	st := &d.status
	st.ObservedGeneration = o.GetGeneration()
	st.EnvoyName = spec.name

	var served *claim
	if c != nil && c.winner {
		served = c
		st.EnvoyName = c.tr.name
		spec := o.EnvoySpec()
		d.refs = c.tr.refs
		d.served = &index.Resource{
			TypeURL:          kind.TypeURL,
			Name:             c.tr.name,
			Message:          c.tr.msg,
			Hash:             c.tr.hash,
			Source:           types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()},
			SourceUID:        o.GetUID(),
			Selector:         spec.WorkloadSelector.GetLabels(),
			MatchExpressions: spec.WorkloadSelector.GetMatchExpressions(),
		}
		if c.src == fromLastAccepted {
			d.served.Selector = st.LastAccepted.WorkloadSelector.GetLabels()
			d.served.MatchExpressions = st.LastAccepted.WorkloadSelector.GetMatchExpressions()
		}
	}

	cond := metav1.Condition{Type: ourv1alpha1.ConditionAccepted, ObservedGeneration: o.GetGeneration()}
	switch {
	case o.GetDeletionTimestamp() != nil:
		return d // being deleted: nothing served, status left as it is
	case len(spec.errs) > 0:
		cond.Status, cond.Reason = metav1.ConditionFalse, ourv1alpha1.ReasonInvalidConfig
		cond.Message = spec.errs.ToAggregate().Error()
	case served != nil && served.src == fromSpec:
		cond.Status, cond.Reason = metav1.ConditionTrue, ourv1alpha1.ReasonValid
		cond.Message = fmt.Sprintf("Envoy %s %q is valid and served", strings.ToLower(kind.Name), spec.name)
		if la := st.LastAccepted; la == nil || la.Generation != o.GetGeneration() {
			st.LastAccepted = &ourv1alpha1.AcceptedConfig{
				Generation:       o.GetGeneration(),
				WorkloadSelector: o.EnvoySpec().WorkloadSelector.DeepCopy(),
				Config:           *o.EnvoySpec().Config.DeepCopy(),
			}
		}
	default: // a valid spec that lost a name conflict
		cond.Status, cond.Reason = metav1.ConditionFalse, ourv1alpha1.ReasonConflict
		cond.Message = fmt.Sprintf("Envoy %s name %q is already claimed by %s %q, which is older",
			strings.ToLower(kind.Name), spec.name, kind.Name, owner[spec.name].obj.GetName())
	}
	if served != nil && served.src == fromLastAccepted {
		cond.Message += fmt.Sprintf("; the last accepted configuration (generation %d) is still served", st.LastAccepted.Generation)
	}
	cond.Message = truncate(cond.Message, maxConditionMessage)
	meta.SetStatusCondition(&st.Conditions, cond)
	if d.served == nil {
		// Nothing served, nothing to resolve or count.
		meta.RemoveStatusCondition(&st.Conditions, ourv1alpha1.ConditionResolvedRefs)
		st.Proxies = nil
		meta.SetStatusCondition(&st.Conditions, readyCondition(o.GetGeneration(), false, proxyReport{}))
	}
	return d
}

// resolvedRefsCondition describes a reference check of a served resource.
func resolvedRefsCondition(generation int64, refs []kinds.Ref, check index.RefCheck) metav1.Condition {
	cond := metav1.Condition{Type: ourv1alpha1.ConditionResolvedRefs, ObservedGeneration: generation}
	if len(check.Missing) == 0 {
		cond.Status, cond.Reason = metav1.ConditionTrue, ourv1alpha1.ReasonResolved
		switch {
		case len(refs) == 0:
			cond.Message = "The configuration refers to no other resource"
		case check.Selected == 0:
			cond.Message = "No pod is selected; references are checked per selected pod"
		default:
			cond.Message = fmt.Sprintf("All %d references are served to all %d selected pods", len(refs), check.Selected)
		}
		return cond
	}
	missing := make([]kinds.Ref, 0, len(check.Missing))
	for ref := range check.Missing {
		missing = append(missing, ref)
	}
	slices.SortFunc(missing, func(a, b kinds.Ref) int {
		return strings.Compare(kinds.DisplayName(a.TypeURL)+"/"+a.Name, kinds.DisplayName(b.TypeURL)+"/"+b.Name)
	})
	parts := make([]string, len(missing))
	for i, ref := range missing {
		parts[i] = fmt.Sprintf("%s %q is missing for %d of %d selected pods", kinds.DisplayName(ref.TypeURL), ref.Name, check.Missing[ref], check.Selected)
	}
	cond.Status, cond.Reason = metav1.ConditionFalse, ourv1alpha1.ReasonMissingReference
	cond.Message = truncate(strings.Join(parts, "; "), maxConditionMessage)
	return cond
}

// olderFirst orders objects by creation time, then by name: the order in which
// they win name conflicts.
func olderFirst(a, b ourv1alpha1.Object) int {
	ta, tb := a.GetCreationTimestamp(), b.GetCreationTimestamp()
	if !ta.Equal(&tb) {
		if ta.Before(&tb) {
			return -1
		}
		return 1
	}
	return strings.Compare(a.GetName(), b.GetName())
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len(" …")
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + " …"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// rawConfig returns the bytes of a configuration source.
func rawConfig(o ourv1alpha1.Object, src configSource) runtime.RawExtension {
	if src == fromLastAccepted {
		return o.EnvoyStatus().LastAccepted.Config
	}
	return o.EnvoySpec().Config
}
