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

// Command gen-extensions writes xds/translate/zz_generated.extensions.go,
// which blank-imports every Go package of generated Envoy (and xDS type)
// protos that go-control-plane ships.
//
// Why: a google.protobuf.Any in a config (typed_config and friends) can only
// be parsed and validated if its message type is registered with the
// protobuf runtime, and a Go proto type registers itself only when its
// package is linked in. Listing the packages by hand goes stale with every
// go-control-plane upgrade; this program asks `go list` instead.
//
// Run it from the repository root:
//
//	go run ./hack/gen-extensions
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"io"
	"log"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// patterns are the package trees searched for proto packages. A pattern that
// matches nothing (a tree a future release drops) is not an error.
var patterns = []string{
	"github.com/envoyproxy/go-control-plane/envoy/...",
	"github.com/cncf/xds/go/xds/type/...",
	"github.com/cncf/xds/go/udpa/type/...",
}

// listedPackage is the part of `go list -json` output used here.
type listedPackage struct {
	ImportPath string
	Name       string
	GoFiles    []string
	Module     *struct {
		Path    string
		Version string
	}
	Error *struct {
		Err string
	}
	DepsErrors []*struct {
		Err string
	}
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("gen-extensions: ")
	out := flag.String("o", "xds/translate/zz_generated.extensions.go", "file to write")
	boilerplate := flag.String("boilerplate", "hack/boilerplate.go.txt", "license header file")
	pkgName := flag.String("package", "translate", "package clause of the generated file")
	flag.Parse()

	header, err := os.ReadFile(*boilerplate)
	if err != nil {
		log.Fatal(err)
	}
	pkgs, err := listProtoPackages()
	if err != nil {
		log.Fatal(err)
	}
	pkgs, err = dropUncompilable(pkgs)
	if err != nil {
		log.Fatal(err)
	}
	src, err := render(header, *pkgName, pkgs)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("wrote %s with %d imports", *out, len(pkgs))
}

// listProtoPackages returns the packages under patterns that hold generated
// protobuf types and whose dependencies all resolve, sorted by import path.
func listProtoPackages() ([]listedPackage, error) {
	args := append([]string{"list", "-e", "-json=ImportPath,Name,GoFiles,Module,Error,DepsErrors"}, patterns...)
	cmd := exec.Command("go", args...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w", err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(stdout))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("decoding go list output: %w", err)
		}
		switch {
		case !hasProtoTypes(p):
			// e.g. the module's root package, which only exists to hold files.
		case p.Error != nil:
			log.Printf("skipping %s: %s", p.ImportPath, firstLine(p.Error.Err))
		case len(p.DepsErrors) > 0:
			// Usually a dependency missing from go.sum; adding it to
			// go.mod makes the package appear here on the next run.
			log.Printf("skipping %s: %s", p.ImportPath, firstLine(p.DepsErrors[0].Err))
		default:
			pkgs = append(pkgs, p)
		}
	}
	if len(pkgs) == 0 {
		return nil, errors.New("go list found no proto packages; is go-control-plane in go.mod?")
	}
	slices.SortFunc(pkgs, func(a, b listedPackage) int { return strings.Compare(a.ImportPath, b.ImportPath) })
	return slices.CompactFunc(pkgs, func(a, b listedPackage) bool { return a.ImportPath == b.ImportPath }), nil
}

// hasProtoTypes reports whether p registers protobuf types: protoc-gen-go
// output is named *.pb.go, while gRPC stubs and vtprotobuf helpers alone
// register nothing.
func hasProtoTypes(p listedPackage) bool {
	if p.Name == "main" {
		return false
	}
	for _, f := range p.GoFiles {
		if strings.HasSuffix(f, ".pb.go") && !strings.HasSuffix(f, "_grpc.pb.go") && !strings.HasSuffix(f, "_vtproto.pb.go") {
			return true
		}
	}
	return false
}

// dropUncompilable builds the packages and leaves out any that fail, so one
// broken upstream package cannot break the controller's build.
func dropUncompilable(pkgs []listedPackage) ([]listedPackage, error) {
	for range 5 {
		args := []string{"build"}
		for _, p := range pkgs {
			args = append(args, p.ImportPath)
		}
		var stderr bytes.Buffer
		cmd := exec.Command("go", args...)
		cmd.Stderr = &stderr
		if err := cmd.Run(); err == nil {
			return pkgs, nil
		}
		// go build names each failing package in a "# import/path" line.
		failed := map[string]bool{}
		for _, line := range strings.Split(stderr.String(), "\n") {
			if path, ok := strings.CutPrefix(line, "# "); ok {
				failed[strings.TrimSpace(path)] = true
			}
		}
		kept := pkgs[:0:0]
		for _, p := range pkgs {
			if failed[p.ImportPath] {
				log.Printf("skipping %s: does not compile", p.ImportPath)
				continue
			}
			kept = append(kept, p)
		}
		if len(kept) == len(pkgs) {
			return nil, fmt.Errorf("go build failed:\n%s", stderr.String())
		}
		pkgs = kept
	}
	return nil, errors.New("go build kept failing after dropping broken packages")
}

// render produces the gofmt'ed Go source of the generated file.
func render(boilerplate []byte, pkgName string, pkgs []listedPackage) ([]byte, error) {
	var b bytes.Buffer
	for _, line := range commentLines(boilerplate) {
		b.WriteString(strings.TrimRight("// "+line, " ") + "\n")
	}
	b.WriteString("\n// Code generated by hack/gen-extensions. DO NOT EDIT.\n\n")

	// Record the module versions so an upgrade shows up in the diff.
	modules := map[string]string{}
	for _, p := range pkgs {
		if p.Module != nil {
			modules[p.Module.Path] = p.Module.Version
		}
	}
	paths := make([]string, 0, len(modules))
	for path := range modules {
		paths = append(paths, path)
	}
	slices.Sort(paths)
	b.WriteString("// Generated from:\n")
	for _, path := range paths {
		fmt.Fprintf(&b, "//   - %s %s\n", path, modules[path])
	}
	b.WriteString("\n")

	fmt.Fprintf(&b, "package %s\n\n", pkgName)
	b.WriteString("// Every Envoy extension's proto package, imported for its side effect of\n")
	b.WriteString("// registering its message types, so that any Any @type resolves.\n")
	b.WriteString("import (\n")
	for _, p := range pkgs {
		fmt.Fprintf(&b, "\t_ %q\n", p.ImportPath)
	}
	b.WriteString(")\n")
	return format.Source(b.Bytes())
}

// commentLines returns the text of a /* ... */ license header, one element
// per line, without the comment markers.
func commentLines(header []byte) []string {
	text := strings.TrimSpace(string(header))
	text = strings.TrimPrefix(text, "/*")
	text = strings.TrimSuffix(text, "*/")
	return strings.Split(strings.Trim(text, "\n"), "\n")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
