package deploy

import (
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// checkObjects runs the checks every rendering of the controller must pass.
func checkObjects(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	checkNoWildcardRBAC(t, objs)
	for _, d := range find(objs, "Deployment", "") {
		checkRestricted(t, d)
		for _, c := range containers(t, d) {
			if c["name"] == "arcturus" {
				checkControllerArgs(t, d.GetName(), stringSlice(c["args"]))
			}
		}
	}
}

// checkNoWildcardRBAC fails on a "*" in any rule of a Role or ClusterRole.
func checkNoWildcardRBAC(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() != "Role" && o.GetKind() != "ClusterRole" {
			continue
		}
		rules, _, _ := unstructured.NestedSlice(o.Object, "rules")
		for i, r := range rules {
			rule, _ := r.(map[string]any)
			for _, field := range []string{"apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"} {
				if slices.Contains(stringSlice(rule[field]), "*") {
					t.Errorf("%s %s: rules[%d].%s has a wildcard", o.GetKind(), o.GetName(), i, field)
				}
			}
		}
	}
}

// checkRestricted checks the settings of the "restricted" Pod Security Standard and
// a read-only root filesystem on every container of a Deployment. (The test
// namespaces also make the API server warn about violations during the dry run;
// this names the field and also covers readOnlyRootFilesystem, which the standard
// does not require.)
func checkRestricted(t *testing.T, d *unstructured.Unstructured) {
	t.Helper()
	pod, _, _ := unstructured.NestedMap(d.Object, "spec", "template", "spec")
	podSC, _ := pod["securityContext"].(map[string]any)
	for _, c := range containers(t, d) {
		sc, _ := c["securityContext"].(map[string]any)
		where := d.GetName() + "/" + c["name"].(string)
		get := func(path ...string) any {
			if v, ok, _ := unstructured.NestedFieldNoCopy(sc, path...); ok {
				return v
			}
			v, _, _ := unstructured.NestedFieldNoCopy(podSC, path...)
			return v
		}
		if get("runAsNonRoot") != true {
			t.Errorf("%s: runAsNonRoot is not true", where)
		}
		if get("seccompProfile", "type") != "RuntimeDefault" {
			t.Errorf("%s: seccompProfile.type is not RuntimeDefault", where)
		}
		if sc["allowPrivilegeEscalation"] != false {
			t.Errorf("%s: allowPrivilegeEscalation is not false", where)
		}
		if sc["readOnlyRootFilesystem"] != true {
			t.Errorf("%s: readOnlyRootFilesystem is not true", where)
		}
		if drop, _, _ := unstructured.NestedStringSlice(sc, "capabilities", "drop"); !slices.Equal(drop, []string{"ALL"}) {
			t.Errorf("%s: capabilities.drop is %v, want [ALL]", where, drop)
		}
		if add, _, _ := unstructured.NestedStringSlice(sc, "capabilities", "add"); len(add) > 0 {
			t.Errorf("%s: capabilities.add is %v", where, add)
		}
	}
}

// containers returns the containers and init containers of a Deployment's pods.
func containers(t *testing.T, d *unstructured.Unstructured) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, field := range []string{"initContainers", "containers"} {
		list, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", field)
		for _, c := range list {
			out = append(out, c.(map[string]any))
		}
	}
	if len(out) == 0 {
		t.Fatalf("Deployment %s has no containers", d.GetName())
	}
	return out
}

// checkControllerArgs checks that a controller container runs `arcturus
// controller`, and parses the arguments after it with the flags
// main.go defines (found in its source, with their types) and controller-runtime's
// zap flags, so that a renamed flag or a malformed value (a duration without unit)
// fails here instead of crash-looping the pods.
func checkControllerArgs(t *testing.T, deployment string, args []string) {
	t.Helper()
	// The subcommand first: flags alone are the deprecated invocation.
	if len(args) == 0 || args[0] != "controller" {
		t.Errorf("Deployment %s: arguments %q do not start with the controller subcommand", deployment, args)
		return
	}
	args = args[1:]
	fs := controllerFlags(t)
	fs.SetOutput(io.Discard)
	for _, arg := range args {
		// One at a time, so that every bad argument is reported.
		if err := fs.Parse([]string{arg}); err != nil {
			t.Errorf("Deployment %s: argument %q: %v", deployment, arg, err)
		} else if fs.NArg() > 0 {
			t.Errorf("Deployment %s: argument %q is not a flag", deployment, arg)
		}
	}
}

var (
	flagDefsOnce sync.Once
	flagDefs     map[string]string // flag name -> the flag package function defining it
	flagDefsErr  error
)

// controllerFlags returns a fresh FlagSet with the controller's flags.
func controllerFlags(t *testing.T) *flag.FlagSet {
	t.Helper()
	flagDefsOnce.Do(func() { flagDefs, flagDefsErr = mainFlags(filepath.Join(repo, "main.go")) })
	if flagDefsErr != nil {
		t.Fatal(flagDefsErr)
	}
	fs := flag.NewFlagSet("arcturus", flag.ContinueOnError)
	for name, fn := range flagDefs {
		switch strings.TrimSuffix(fn, "Var") {
		case "Bool":
			fs.Bool(name, false, "")
		case "Duration":
			fs.Duration(name, 0, "")
		case "Int", "Int64":
			fs.Int64(name, 0, "")
		case "Uint", "Uint64":
			fs.Uint64(name, 0, "")
		case "Float64":
			fs.Float64(name, 0, "")
		default: // String, and flag.Var (repeatable string lists)
			fs.Func(name, "", func(string) error { return nil })
		}
	}
	// controller-runtime: --kubeconfig (registered by its config package) and the
	// logging flags main.go binds with zap.Options.BindFlags.
	fs.String("kubeconfig", "", "")
	var zo zap.Options
	zo.BindFlags(fs)
	return fs
}

// mainFlags finds the flags main.go defines: calls flag.XxxVar(&v, "name", ...),
// flag.Var(v, "name", ...) and flag.Xxx("name", ...) on the flag package.
func mainFlags(path string) (map[string]string, error) {
	file, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		return nil, err
	}
	defs := map[string]string{}
	ast.Inspect(file, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "flag" {
			return true
		}
		nameArg := 0
		if strings.HasSuffix(sel.Sel.Name, "Var") {
			nameArg = 1
		}
		if len(call.Args) <= nameArg {
			return true
		}
		lit, ok := call.Args[nameArg].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		if name, err := strconv.Unquote(lit.Value); err == nil {
			defs[name] = sel.Sel.Name
		}
		return true
	})
	if len(defs) < 10 {
		return nil, &parseError{path: path, found: len(defs)}
	}
	return defs, nil
}

type parseError struct {
	path  string
	found int
}

func (e *parseError) Error() string {
	return "found only " + strconv.Itoa(e.found) + " flag definitions in " + e.path + ": has the way main.go defines flags changed?"
}

// stringSlice converts a decoded YAML list of strings.
func stringSlice(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// args returns the controller container's arguments of a Deployment.
func controllerArgs(t *testing.T, d *unstructured.Unstructured) []string {
	t.Helper()
	for _, c := range containers(t, d) {
		if c["name"] == "arcturus" {
			return stringSlice(c["args"])
		}
	}
	t.Fatalf("Deployment %s has no container arcturus", d.GetName())
	return nil
}

// hasArg reports whether args contain want exactly.
func hasArg(args []string, want string) bool { return slices.Contains(args, want) }
