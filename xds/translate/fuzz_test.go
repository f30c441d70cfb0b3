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
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/arcturus-dev/arcturus/xds/translate"
)

// FuzzTranslate checks that no input panics (not even one Translate recovers
// from) and that Translate keeps its contract: a message and no errors, or no
// message and errors under the root.
func FuzzTranslate(f *testing.F) {
	kindIndex := func(k translate.Kind) uint8 {
		for i, kk := range translate.Kinds {
			if kk.Name == k.Name {
				return uint8(i)
			}
		}
		return 0
	}
	for _, tc := range validCases {
		f.Add(kindIndex(tc.kind), []byte(tc.raw))
	}
	for _, tc := range invalidCases {
		if len(tc.raw) > 64<<10 {
			continue // the size limit needs no fuzzing, and big seeds slow every run
		}
		f.Add(kindIndex(tc.kind), []byte(tc.raw))
	}

	f.Fuzz(func(t *testing.T, k uint8, raw []byte) {
		kind := translate.Kinds[int(k)%len(translate.Kinds)]
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
