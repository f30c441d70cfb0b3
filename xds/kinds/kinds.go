// Package kinds is the table of the Envoy resource kinds Arcturus serves, the single
// source of every per-kind fact: the custom resource's kind, plural and short name,
// the xDS API and type URL, the Envoy message and its name field, the push order,
// and the fields of other resources that refer to the kind. Every other package
// derives its per-kind lists from All, so adding a kind is one entry in table.go plus
// its CRD Go type in api/v1alpha1. What cannot derive from Go (controller-gen
// markers, the Helm chart, kustomize lists, samples, the translate corpus) is
// checked against the table by tests that name the file to change.
//
// It is plain data about Envoy types and imports no Kubernetes package, so every
// stage of the pipeline can import it.
package kinds

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Kind describes one Envoy resource kind that Arcturus serves. Build one with Of;
// the zero Kind is incomplete, and its New returns nil.
type Kind struct {
	// Name is the CRD kind, e.g. "Listener"; messages name the type by it.
	Name string
	// Plural is the CRD's resource name, e.g. "listeners".
	Plural string
	// ShortName is the CRD's kubectl short name, e.g. "el".
	ShortName string
	// API is the xDS service that serves the kind, e.g. "LDS".
	API string
	// NameField is the field of the Envoy message that holds the resource name;
	// empty for a message without one.
	NameField protoreflect.Name
	// Stage orders pushes, make-before-break: a node is sent a changed stage only
	// once it holds (has answered) every earlier stage, and resources are removed
	// only once it holds the last. Stage 0 holds what others refer to (clusters,
	// endpoints); see Stages.
	Stage int
	// ReferencedBy lists the fields, in any Envoy message, that name a resource
	// of this kind.
	ReferencedBy []RefRule

	// TypeURL is the xDS type URL, set by Of from the message type.
	TypeURL string

	message protoreflect.MessageType
	name    protoreflect.FieldDescriptor
}

// Of completes k for the Envoy message M: its constructor, its TypeURL, and the
// descriptor of its NameField. It panics when NameField is not a singular string
// field of M, a mistake in the table that the package's tests catch.
func Of[M any, P interface {
	*M
	proto.Message
}](k Kind) Kind {
	k.message = P(new(M)).ProtoReflect().Type()
	md := k.message.Descriptor()
	k.TypeURL = resource.APITypePrefix + string(md.FullName())
	if k.NameField != "" {
		fd := md.Fields().ByName(k.NameField)
		if fd == nil || fd.Kind() != protoreflect.StringKind || fd.Cardinality() == protoreflect.Repeated {
			panic(fmt.Sprintf("kinds: %s has no string field %q", md.FullName(), k.NameField))
		}
		k.name = fd
	}
	return k
}

// New returns a new empty Envoy message of the kind; nil for an incomplete Kind.
func (k Kind) New() proto.Message {
	if k.message == nil {
		return nil
	}
	return k.message.New().Interface()
}

// NameOf returns the Envoy resource name of m. It returns "" for a message of
// another type, so that a caller's mix-up cannot panic.
func (k Kind) NameOf(m proto.Message) string {
	if r, ok := k.own(m); ok {
		return r.Get(k.name).String()
	}
	return ""
}

// SetName sets the Envoy resource name of m; it does nothing to a message of
// another type.
func (k Kind) SetName(m proto.Message, name string) {
	if r, ok := k.own(m); ok {
		r.Set(k.name, protoreflect.ValueOfString(name))
	}
}

// own returns m's reflection when m is a non-nil message of the kind with a
// name field.
func (k Kind) own(m proto.Message) (protoreflect.Message, bool) {
	if k.name == nil || m == nil {
		return nil, false
	}
	r := m.ProtoReflect()
	if !r.IsValid() || r.Descriptor() != k.message.Descriptor() {
		return nil, false
	}
	return r, true
}

// Label is the kind's lowercase name, e.g. "listener": metric labels and the type
// column of config dumps.
func (k Kind) Label() string { return strings.ToLower(k.Name) }

// ByName returns the kind whose CRD kind is name.
func ByName(name string) (Kind, bool) {
	i := slices.IndexFunc(All, func(k Kind) bool { return k.Name == name })
	if i < 0 {
		return Kind{}, false
	}
	return All[i], true
}

// ByTypeURL returns the kind served as typeURL.
func ByTypeURL(typeURL string) (Kind, bool) {
	i := slices.IndexFunc(All, func(k Kind) bool { return k.TypeURL == typeURL })
	if i < 0 {
		return Kind{}, false
	}
	return All[i], true
}

// TypeURLs returns the type URLs of every kind, by Stage (in table order within
// a stage): the order in which xDS wants them pushed.
func TypeURLs() []string {
	var out []string
	for _, stage := range Stages() {
		out = append(out, stage...)
	}
	return out
}

// Stages returns the type URLs of every kind grouped by Stage, in push order.
func Stages() [][]string {
	byStage := slices.SortedStableFunc(slices.Values(All), func(a, b Kind) int { return cmp.Compare(a.Stage, b.Stage) })
	var out [][]string
	for i, k := range byStage {
		if i == 0 || k.Stage != byStage[i-1].Stage {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], k.TypeURL)
	}
	return out
}

// Ref names an Envoy resource that another resource depends on.
type Ref struct {
	// TypeURL is the xDS type URL of the referenced resource.
	TypeURL string
	// Name is the referenced resource's Envoy name.
	Name string
}

// CompareRefs orders references by type URL, then name.
func CompareRefs(a, b Ref) int {
	return cmp.Or(cmp.Compare(a.TypeURL, b.TypeURL), cmp.Compare(a.Name, b.Name))
}

// DisplayName names an xDS type the way users know it: by the kind that carries
// it, else by its message name ("Secret").
func DisplayName(typeURL string) string {
	if k, ok := ByTypeURL(typeURL); ok {
		return k.Name
	}
	return typeURL[strings.LastIndexByte(typeURL, '.')+1:]
}

// RefRule is one field that names another resource. Field paths are proto field
// names joined by dots; every step but the last is a singular message field.
type RefRule struct {
	// In is the full name of the message holding the field. The rule applies
	// wherever such a message occurs, however deep and inside however many
	// google.protobuf.Any, so it is written once per message type rather than
	// once per place the message is used.
	In protoreflect.FullName
	// Field is the path to a string or repeated string field holding the
	// referenced name(s).
	Field string
	// Fallback, when set, is the path to a string used (and reported) as the
	// name when Field is empty.
	Fallback string
	// Source, when set, is the path to the envoy.config.core.v3.ConfigSource the
	// referenced resource is fetched from. The reference only counts when that
	// source is Arcturus itself (ads or self), since a resource fetched from a file
	// or another management server is nothing Arcturus can serve or check.
	Source string
	// UnsetSource says whether an absent source still means Arcturus.
	UnsetSource bool
	// When, if set, must hold for the rule to apply.
	When func(protoreflect.Message) bool
}

// EnumIs returns a condition that holds when the enum field name of a message is
// set to the value called value.
func EnumIs(name, value protoreflect.Name) func(protoreflect.Message) bool {
	return func(m protoreflect.Message) bool {
		fd := m.Descriptor().Fields().ByName(name)
		if fd == nil || fd.Enum() == nil || fd.IsList() || !m.Has(fd) {
			return false
		}
		ev := fd.Enum().Values().ByName(value)
		return ev != nil && m.Get(fd).Enum() == ev.Number()
	}
}
