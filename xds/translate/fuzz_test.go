/*
Copyright 2026 The Arcturus Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package translate_test

import (
	"cmp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/arcturus-dev/arcturus/xds/kinds"
	"github.com/arcturus-dev/arcturus/xds/translate"
)

// FuzzTranslate checks that no input panics (not even one Translate recovers
// from) and that Translate keeps its contract: a message and no errors, or no
// message and errors under the root.
func FuzzTranslate(f *testing.F) {
	addTableSeeds(f)
	addCorpusSeeds(f)

	f.Fuzz(func(t *testing.T, k uint8, raw []byte) {
		kind := kinds.All[int(k)%len(kinds.All)]
		msg, errs := translate.Translate(kind, raw, "fuzz", root)
		switch {
		case msg != nil && len(errs) == 0:
		case msg == nil && len(errs) > 0:
			for _, e := range errs {
				if e == nil {
					t.Fatal("nil error in list")
				}
				// Translate turns panics into internal errors; for the
				// fuzzer they are still bugs.
				if e.Type == field.ErrorTypeInternal {
					t.Fatalf("internal error: %v", e)
				}
				if e.Field != "spec.config" && !strings.HasPrefix(e.Field, "spec.config.") && !strings.HasPrefix(e.Field, "spec.config[") {
					t.Fatalf("error %q is not under spec.config", e.Error())
				}
			}
		default:
			t.Fatalf("broken contract: msg=%v errs=%v", msg, errs)
		}
	})
}

// FuzzReferences checks that References never panics on anything Translate
// accepts, and keeps its contract: complete references, sorted by type and
// name, each once, and none to the resource itself.
func FuzzReferences(f *testing.F) {
	addTableSeeds(f)
	addCorpusSeeds(f)

	f.Fuzz(func(t *testing.T, k uint8, raw []byte) {
		kind := kinds.All[int(k)%len(kinds.All)]
		msg, errs := translate.Translate(kind, raw, "fuzz", root)
		if len(errs) > 0 {
			return
		}
		// Unguarded, so that a panic fails the run instead of being
		// recovered into an empty result.
		refs := translate.ReferencesUnguarded(kind, msg)
		for i, r := range refs {
			if r.TypeURL == "" || r.Name == "" || r.Path == "" {
				t.Fatalf("incomplete reference %+v", r)
			}
			if r.TypeURL == kind.TypeURL && r.Name == kind.NameOf(msg) {
				t.Fatalf("reference to itself: %+v", r)
			}
			if i > 0 {
				p := refs[i-1]
				if c := cmp.Or(strings.Compare(p.TypeURL, r.TypeURL), strings.Compare(p.Name, r.Name)); c >= 0 {
					t.Fatalf("references not sorted and unique: %+v then %+v", p, r)
				}
			}
		}
		if again := translate.References(kind, msg); !slices.Equal(again, refs) {
			t.Fatalf("References is not deterministic: %v, then %v", refs, again)
		}
	})
}

// addTableSeeds adds the inputs of the table-driven tests.
func addTableSeeds(f *testing.F) {
	for _, tc := range validCases {
		f.Add(kindIndex(tc.kind), []byte(tc.raw))
	}
	for _, tc := range invalidCases {
		if len(tc.raw) > 64<<10 {
			continue // the size limit needs no fuzzing, and big seeds slow every run
		}
		f.Add(kindIndex(tc.kind), []byte(tc.raw))
	}
}
