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
	"bytes"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/arcturus-dev/arcturus/xds/kinds"
	"github.com/arcturus-dev/arcturus/xds/translate"
)

// The golden corpus.
//
// testdata/invalid/<kind>-<case>.json holds a spec.config that Translate must
// reject, and <kind>-<case>.err exactly the errors it returns, one per line.
// testdata/valid/<kind>-<case>.yaml or .json holds a realistic config that
// must translate cleanly. <kind> is listener, route, cluster or endpoint.
// Both sets also seed the fuzz targets.
//
// After changing a message on purpose, rewrite the golden files with
//
//	go test ./xds/translate/ -run TestInvalidCorpus -update
//
// and review the diff: every message must name the field and the problem.

var update = flag.Bool("update", false, "rewrite golden files")

const (
	invalidDir = "testdata/invalid"
	validDir   = "testdata/valid"
)

// corpusDefaultName is the default name Translate gets for the corpus. It is
// empty (a CR always has a metadata.name) so that the corpus can show what
// happens to a config that needs a name and has none.
const corpusDefaultName = ""

// generatedInvalid are invalid cases too big to commit: they are built here
// and have only their .err file in testdata/invalid.
var generatedInvalid = map[string]func() []byte{
	// One byte over the limit, and otherwise a valid cluster.
	"cluster-too-large": func() []byte {
		return []byte(`{"name": "` + strings.Repeat("a", translate.MaxConfigBytes-11) + `"}`)
	},
}

// corpusKind returns the kind named by the prefix of a corpus file name.
func corpusKind(name string) (kinds.Kind, bool) {
	prefix, _, ok := strings.Cut(filepath.Base(name), "-")
	if !ok {
		return kinds.Kind{}, false
	}
	for _, k := range kinds.All {
		if strings.EqualFold(k.Name, prefix) {
			return k, true
		}
	}
	return kinds.Kind{}, false
}

// corpusCase is one corpus input.
type corpusCase struct {
	name string // file name without its extension
	kind kinds.Kind
	raw  []byte // spec.config as JSON
}

// readCorpus reads the cases of dir whose extension is one of exts,
// converting YAML to JSON, plus the generated ones when gen is set.
func readCorpus(tb testing.TB, dir string, gen bool, exts ...string) []corpusCase {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var cases []corpusCase
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || !slices.Contains(exts, ext) {
			continue
		}
		name := strings.TrimSuffix(e.Name(), ext)
		kind, ok := corpusKind(name)
		if !ok {
			tb.Fatalf("%s/%s: name does not start with listener-, route-, cluster- or endpoint-", dir, e.Name())
		}
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		if ext == ".yaml" {
			if raw, err = yaml.YAMLToJSON(raw); err != nil {
				tb.Fatalf("%s/%s: %v", dir, e.Name(), err)
			}
		}
		cases = append(cases, corpusCase{name: name, kind: kind, raw: raw})
	}
	if gen {
		for name, build := range generatedInvalid {
			kind, ok := corpusKind(name)
			if !ok {
				tb.Fatalf("generated case %s: name does not start with a kind", name)
			}
			cases = append(cases, corpusCase{name: name, kind: kind, raw: build()})
		}
	}
	slices.SortFunc(cases, func(a, b corpusCase) int { return strings.Compare(a.name, b.name) })
	return cases
}

func readInvalidCorpus(tb testing.TB) []corpusCase {
	return readCorpus(tb, invalidDir, true, ".json")
}

func readValidCorpus(tb testing.TB) []corpusCase {
	return readCorpus(tb, validDir, false, ".json", ".yaml")
}

// formatErrors renders errors the way the .err files hold them.
func formatErrors(errs field.ErrorList) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString(e.Error())
		b.WriteByte('\n')
	}
	return b.String()
}

func TestInvalidCorpus(t *testing.T) {
	cases := readInvalidCorpus(t)
	if len(cases) < 40 {
		t.Errorf("the invalid corpus has %d cases, want at least 40", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg, errs := translate.Translate(tc.kind, tc.raw, corpusDefaultName, root)
			if msg != nil || len(errs) == 0 {
				t.Fatalf("accepted: msg=%v errs=%v; every case of %s must be rejected", msg, errs, invalidDir)
			}
			for _, e := range errs {
				if e.Type == field.ErrorTypeInternal {
					t.Errorf("internal error: %v", e)
				}
				if e.Field != "spec.config" && !strings.HasPrefix(e.Field, "spec.config.") && !strings.HasPrefix(e.Field, "spec.config[") {
					t.Errorf("error %q is not under spec.config", e.Error())
				}
				if strings.Contains(e.Error(), "\n") {
					t.Errorf("error %q spans lines, which the golden format cannot hold", e.Error())
				}
			}
			got := formatErrors(errs)
			golden := filepath.Join(invalidDir, tc.name+".err")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s (run with -update to accept):\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}

	// Every .err file belongs to a case; with -update, orphans are removed.
	known := map[string]bool{}
	for _, tc := range cases {
		known[tc.name] = true
	}
	errFiles, err := filepath.Glob(filepath.Join(invalidDir, "*.err"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range errFiles {
		if known[strings.TrimSuffix(filepath.Base(f), ".err")] {
			continue
		}
		if *update {
			if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Error(err)
			}
			continue
		}
		t.Errorf("%s has no input (run with -update to delete it)", f)
	}
}

func TestValidCorpus(t *testing.T) {
	cases := readValidCorpus(t)
	seen := map[string]bool{}
	for _, tc := range cases {
		seen[tc.kind.Name] = true
		t.Run(tc.name, func(t *testing.T) {
			msg, errs := translate.Translate(tc.kind, tc.raw, "default/"+tc.name, root)
			if len(errs) > 0 {
				t.Fatalf("unexpected errors:\n%s", formatErrors(errs))
			}
			if msg == nil {
				t.Fatal("nil message without errors")
			}
			for _, r := range translate.References(tc.kind, msg) {
				if r.TypeURL == "" || r.Name == "" || r.Path == "" {
					t.Errorf("incomplete reference %+v", r)
				}
				// Make-before-break sends what is referred to no later than
				// what refers to it.
				if to, ok := kinds.ByTypeURL(r.TypeURL); ok && to.Stage > tc.kind.Stage {
					t.Errorf("%s refers to a %s, which is pushed at a later stage", tc.kind.Name, to.Name)
				}
			}
		})
	}
	for _, k := range kinds.All {
		if !seen[k.Name] {
			t.Errorf("%s has no %s case", validDir, strings.ToLower(k.Name))
		}
	}
}

// TestCorpusFileNames keeps the corpus tidy: every file is an input or a
// golden file, and every name is lower-case kebab-case after its kind.
func TestCorpusFileNames(t *testing.T) {
	for _, dir := range []string{invalidDir, validDir} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			name := e.Name()
			ext := filepath.Ext(name)
			switch {
			case dir == invalidDir && (ext == ".json" || ext == ".err"):
			case dir == validDir && (ext == ".json" || ext == ".yaml"):
			default:
				t.Errorf("%s/%s: unexpected file", dir, name)
				continue
			}
			base := strings.TrimSuffix(name, ext)
			if _, ok := corpusKind(base); !ok {
				t.Errorf("%s/%s: name does not start with a kind", dir, name)
			}
			if base != strings.ToLower(base) || strings.ContainsAny(base, " _") {
				t.Errorf("%s/%s: use lower-case kebab-case", dir, name)
			}
		}
	}
}

// addCorpusSeeds adds every corpus input small enough to be a useful fuzz
// seed, with the kind index the fuzz targets take.
func addCorpusSeeds(f *testing.F) {
	for _, tc := range append(readValidCorpus(f), readInvalidCorpus(f)...) {
		if len(tc.raw) > 64<<10 {
			continue // the size limit needs no fuzzing, and big seeds slow every run
		}
		f.Add(kindIndex(tc.kind), bytes.Clone(tc.raw))
	}
}

// kindIndex is the fuzz targets' encoding of a kind.
func kindIndex(k kinds.Kind) uint8 {
	for i, kk := range kinds.All {
		if kk.Name == k.Name {
			return uint8(i)
		}
	}
	return 0
}
