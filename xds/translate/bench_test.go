package translate

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/arcturus-dev/arcturus/xds/kinds"
)

// BenchmarkTranslate measures strict parsing and full validation (nested Any
// included) of the valid corpus, and reference extraction from the result.
func BenchmarkTranslate(b *testing.B) {
	files, _ := filepath.Glob("testdata/valid/*")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		if strings.HasSuffix(f, ".yaml") {
			if raw, err = yaml.YAMLToJSON(raw); err != nil {
				b.Fatal(err)
			}
		}
		prefix, _, _ := strings.Cut(filepath.Base(f), "-")
		i := slices.IndexFunc(kinds.All, func(k kinds.Kind) bool { return k.Label() == prefix })
		if i < 0 {
			continue
		}
		kind := kinds.All[i]
		path := field.NewPath("spec", "config")
		b.Run(filepath.Base(f), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				msg, errs := Translate(kind, raw, "default", path)
				if len(errs) > 0 {
					b.Fatal(errs)
				}
				_ = References(kind, msg)
			}
		})
	}
}
