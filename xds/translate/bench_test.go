package translate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
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
		kind, ok := KindByName(map[string]string{"listener": "Listener", "route": "Route", "cluster": "Cluster", "endpoint": "Endpoint"}[strings.SplitN(filepath.Base(f), "-", 2)[0]])
		if !ok {
			continue
		}
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
