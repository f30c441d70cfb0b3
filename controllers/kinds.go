package controllers

import (
	"fmt"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
	"github.com/arcturus-dev/arcturus/xds/kinds"
)

// envoyKind is a kind of the table with the Go types of its custom resource. One
// reconciler implementation serves every entry of envoyKinds.
type envoyKind struct {
	kinds.Kind
}

// newObject returns an empty custom resource of the kind.
func (k envoyKind) newObject() ourv1alpha1.Object {
	o, err := ourv1alpha1.New(k.Name)
	if err != nil {
		panic(err) // checked for every kind when envoyKinds is built
	}
	return o
}

// newList returns an empty list of the kind.
func (k envoyKind) newList() ourv1alpha1.ObjectList {
	l, err := ourv1alpha1.NewList(k.Name)
	if err != nil {
		panic(err) // checked for every kind when envoyKinds is built
	}
	return l
}

// envoyKinds are the kinds of the table; building it fails at start-up, not on
// the first event, when a kind has no CRD Go type in api/v1alpha1.
var envoyKinds = func() []envoyKind {
	out := make([]envoyKind, len(kinds.All))
	for i, k := range kinds.All {
		if _, err := ourv1alpha1.New(k.Name); err != nil {
			panic(fmt.Sprintf("kind %s: %v", k.Name, err))
		}
		if _, err := ourv1alpha1.NewList(k.Name); err != nil {
			panic(fmt.Sprintf("kind %s: %v", k.Name, err))
		}
		out[i] = envoyKind{k}
	}
	return out
}()
