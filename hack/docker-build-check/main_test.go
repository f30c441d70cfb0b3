package main

import "testing"

// TestExcluded checks the .dockerignore matching against docker's documented rules.
func TestExcluded(t *testing.T) {
	var patterns []pattern
	for _, line := range []string{"bin", "/docs", "**/*_test.go", "**/testdata", "*.md", "!README.md", "x/*/y", "[ab].txt"} {
		p, err := compilePattern(line)
		if err != nil {
			t.Fatal(err)
		}
		patterns = append(patterns, p)
	}
	tests := map[string]bool{
		"bin":                          true,
		"bin/tools/helm":               true, // inside an excluded directory
		"cmd/bin":                      false,
		"docs/a.md":                    true,
		"main.go":                      false,
		"main_test.go":                 true,
		"xds/index/index_test.go":      true,
		"xds/index/index.go":           false,
		"xds/translate/testdata/a.yml": true,
		"CHANGES.md":                   true,
		"README.md":                    false, // re-included by the later exception
		"api/notes.md":                 false, // "*" stays within one path element
		"x/a/y":                        true,
		"x/a/b/y":                      false,
		"a.txt":                        true,
		"c.txt":                        false,
	}
	for path, want := range tests {
		if got := excluded(path, patterns); got != want {
			t.Errorf("excluded(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestOutputOf(t *testing.T) {
	for cmd, want := range map[string]string{
		`CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o arcturus .`: "arcturus",
		`go build -o=bin/manager main.go`:                                 "bin/manager",
	} {
		if got := outputOf(cmd); got != want {
			t.Errorf("outputOf(%q) = %q, want %q", cmd, got, want)
		}
	}
}
