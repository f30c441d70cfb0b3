// Command docker-build-check runs the Dockerfile's build step without docker, so CI
// (which has no container engine) notices when the image would not build: a package
// main.go needs that the Dockerfile does not copy or .dockerignore leaves out, a
// go.mod that is not in step with the imports, a build that needs cgo.
//
// It does what docker does for the builder stage (the first FROM):
//
//  1. the build context: every file under the repository root that .dockerignore
//     does not exclude (docker's rules: patterns in order, the last match wins, "!"
//     re-includes, "**" spans directories, a match on a directory covers what is
//     inside), copied into a temporary directory;
//  2. WORKDIR, ENV, ARG and every COPY without --from, into a temporary workspace;
//  3. the RUN instruction that runs `go build`, with sh in the workspace, the
//     stage's ENV and ARGs (TARGETARCH is this machine's architecture, as docker
//     build sets it for a native build), GOFLAGS cleared as in the golang image,
//     and the host's module and build caches;
//  4. checks that the binary was written and that it starts (`controller --help`).
//
// Other RUN instructions (go mod download) only warm caches and are skipped.
//
// Usage: go run ./hack/docker-build-check [-dockerfile Dockerfile] [-keep]
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"
)

func main() {
	dockerfile := flag.String("dockerfile", "Dockerfile", "the Dockerfile, relative to the build context (the current directory)")
	keep := flag.Bool("keep", false, "keep the temporary context and workspace")
	flag.Parse()
	if err := run(*dockerfile, *keep); err != nil {
		fmt.Fprintf(os.Stderr, "[docker-build-check] FAIL: %v\n", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[docker-build-check] "+format+"\n", args...)
}

func run(dockerfile string, keep bool) error {
	start := time.Now()
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	stage, err := parseBuilderStage(filepath.Join(root, dockerfile))
	if err != nil {
		return err
	}
	if stage.build == "" {
		return fmt.Errorf("%s: no RUN instruction with `go build` in the first stage", dockerfile)
	}
	if !strings.Contains(stage.build, "CGO_ENABLED=0") {
		return fmt.Errorf("%s: the go build does not set CGO_ENABLED=0 (the runtime image is distroless/static)", dockerfile)
	}

	tmp, err := os.MkdirTemp("", "docker-build-check-")
	if err != nil {
		return err
	}
	if keep {
		logf("keeping %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	ctxDir, rootfs := filepath.Join(tmp, "context"), filepath.Join(tmp, "rootfs")

	patterns, err := readDockerignore(filepath.Join(root, ".dockerignore"))
	if err != nil {
		return err
	}
	n, err := copyContext(root, ctxDir, patterns)
	if err != nil {
		return err
	}
	logf("build context: %d files after .dockerignore", n)

	workdir := "/"
	env := map[string]string{}
	for _, in := range stage.instructions {
		switch in.cmd {
		case "WORKDIR":
			workdir = path.Join(workdir, expand(in.args, env))
		case "ENV":
			for k, v := range parseKeyValues(in.args) {
				env[k] = expand(v, env)
			}
		case "ARG":
			for k, v := range parseKeyValues(in.args) {
				if _, set := env[k]; !set {
					env[k] = v
				}
			}
		case "COPY", "ADD":
			if err := copyInstruction(in.args, ctxDir, rootfs, workdir, env); err != nil {
				return fmt.Errorf("%s %s: %w", in.cmd, in.args, err)
			}
		}
	}
	// What docker build sets for a native build; the stage's ARGs declare them.
	if env["TARGETARCH"] == "" {
		env["TARGETARCH"] = runtime.GOARCH
	}
	if env["TARGETOS"] == "" {
		env["TARGETOS"] = runtime.GOOS
	}
	work := filepath.Join(rootfs, filepath.FromSlash(workdir))
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}

	logf("RUN %s", stage.build)
	cmd := exec.Command("sh", "-c", stage.build)
	cmd.Dir = work
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.Env = buildEnv(env)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("the Dockerfile's go build failed: %w", err)
	}

	out := outputOf(stage.build)
	bin := filepath.Join(work, out)
	info, err := os.Stat(bin)
	if err != nil {
		return fmt.Errorf("the build wrote no %s: %w", out, err)
	}
	if env["TARGETOS"] == runtime.GOOS && env["TARGETARCH"] == runtime.GOARCH {
		help := exec.Command(bin, "controller", "--help")
		if b, err := help.CombinedOutput(); err != nil || !strings.Contains(string(b), "-xds-bind-address") {
			return fmt.Errorf("%s --help: %v\n%s", out, err, b)
		}
	}
	logf("OK: %s (%.1f MB) in %s", out, float64(info.Size())/1e6, time.Since(start).Round(time.Second))
	return nil
}

// buildEnv is the host environment (PATH, Go caches, proxy settings) with GOFLAGS
// cleared as in the golang image and the stage's ENV and ARGs on top.
func buildEnv(stage map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, overridden := stage[k]; overridden || k == "GOFLAGS" || k == "CGO_ENABLED" || k == "GOOS" || k == "GOARCH" {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range stage {
		env = append(env, k+"="+v)
	}
	return env
}

// outputOf returns the -o argument of a go build command line.
func outputOf(build string) string {
	fields := strings.Fields(build)
	for i, f := range fields {
		if f == "-o" && i+1 < len(fields) {
			return strings.Trim(fields[i+1], `"'`)
		}
		if v, ok := strings.CutPrefix(f, "-o="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return "arcturus"
}

type instruction struct{ cmd, args string }

type stage struct {
	instructions []instruction
	build        string // the RUN command line with go build
}

// parseBuilderStage reads the instructions of the first stage, joining
// continuation lines and dropping comments.
func parseBuilderStage(file string) (*stage, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var st stage
	froms := 0
	var cont strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cont.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cont.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cont.WriteString(line)
		full := cont.String()
		cont.Reset()
		cmd, args, _ := strings.Cut(full, " ")
		cmd = strings.ToUpper(cmd)
		if cmd == "FROM" {
			if froms++; froms > 1 {
				break
			}
			continue
		}
		args = strings.TrimSpace(args)
		st.instructions = append(st.instructions, instruction{cmd, args})
		if cmd == "RUN" && strings.Contains(args, "go build") {
			if st.build != "" {
				return nil, fmt.Errorf("%s: more than one RUN with go build in the first stage", file)
			}
			st.build = args
		}
	}
	return &st, sc.Err()
}

// parseKeyValues parses the arguments of ENV and ARG: key=value pairs (values may be
// double-quoted), or the legacy "ENV key value" form.
func parseKeyValues(s string) map[string]string {
	out := map[string]string{}
	if !strings.Contains(s, "=") {
		k, v, _ := strings.Cut(s, " ")
		out[k] = strings.TrimSpace(v)
		return out
	}
	for _, f := range splitQuoted(s) {
		k, v, _ := strings.Cut(f, "=")
		out[k] = strings.Trim(v, `"`)
	}
	return out
}

// splitQuoted splits at spaces outside double quotes.
func splitQuoted(s string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			cur.WriteRune(r)
		case r == ' ' && !quoted:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// expand substitutes $VAR and ${VAR} from the stage's variables.
func expand(s string, env map[string]string) string {
	return os.Expand(s, func(k string) string { return env[k] })
}

// copyInstruction performs COPY/ADD <src>... <dest> from the context (not --from).
func copyInstruction(args, ctxDir, rootfs, workdir string, env map[string]string) error {
	fields := splitQuoted(args)
	var srcs []string
	for _, f := range fields {
		if strings.HasPrefix(f, "--from") {
			return nil // from another stage or image: not part of this build
		}
		if !strings.HasPrefix(f, "--") {
			srcs = append(srcs, expand(strings.Trim(f, `"`), env))
		}
	}
	if len(srcs) < 2 {
		return errors.New("want at least a source and a destination")
	}
	dest := srcs[len(srcs)-1]
	srcs = srcs[:len(srcs)-1]
	// A destination ending in "/" (or ".") is a directory; so is any destination
	// of several sources.
	destDir := strings.HasSuffix(dest, "/") || dest == "." || len(srcs) > 1
	if !path.IsAbs(dest) {
		dest = path.Join(workdir, dest)
	}
	target := filepath.Join(rootfs, filepath.FromSlash(dest))
	for _, src := range srcs {
		matches, err := filepath.Glob(filepath.Join(ctxDir, filepath.FromSlash(path.Clean("/"+src))))
		if err != nil {
			return err
		}
		if len(matches) == 0 {
			return fmt.Errorf("%s: not in the build context (missing, or excluded by .dockerignore)", src)
		}
		for _, m := range matches {
			info, err := os.Stat(m)
			if err != nil {
				return err
			}
			switch {
			case info.IsDir(): // a directory's contents go into dest
				if err := copyTree(m, target, nil); err != nil {
					return err
				}
			case destDir || len(matches) > 1:
				if err := copyFile(m, filepath.Join(target, filepath.Base(m)), info.Mode()); err != nil {
					return err
				}
			default:
				if err := copyFile(m, target, info.Mode()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// copyContext copies the files of root that the patterns leave into dst and
// returns how many.
func copyContext(root, dst string, patterns []pattern) (int, error) {
	n := 0
	hasExceptions := false
	for _, p := range patterns {
		hasExceptions = hasExceptions || p.exception
	}
	err := copyTree(root, dst, func(rel string, dir bool) bool {
		if excluded(rel, patterns) {
			// An excluded directory is skipped unless an exception ("!...") may
			// re-include something inside it.
			return dir && hasExceptions
		}
		if !dir {
			n++
		}
		return true
	})
	return n, err
}

// copyTree copies src into dst. keep, when not nil, decides for every path
// (slash-separated, relative to src) whether it is copied.
func copyTree(src, dst string, keep func(rel string, dir bool) bool) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if rel != "." && keep != nil && !keep(filepath.ToSlash(rel), d.IsDir()) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			return copyFile(p, target, info.Mode())
		}
		return nil // sockets, devices: not part of a build context
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode.Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// pattern is one line of .dockerignore.
type pattern struct {
	text      string
	exception bool // "!pattern": re-include
	re        *regexp.Regexp
}

func readDockerignore(file string) ([]pattern, error) {
	f, err := os.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []pattern
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p, err := compilePattern(line)
		if err != nil {
			return nil, fmt.Errorf(".dockerignore: %q: %w", line, err)
		}
		out = append(out, p)
	}
	return out, sc.Err()
}

// compilePattern turns a .dockerignore pattern into a regular expression the way
// docker does (github.com/moby/patternmatcher): the pattern is cleaned and made
// relative; "*" matches within one path element, "?" one character of it, "**" any
// number of elements, "[...]" a class, "\" escapes.
func compilePattern(text string) (pattern, error) {
	p := pattern{text: text}
	if strings.HasPrefix(text, "!") {
		p.exception = true
		text = strings.TrimSpace(text[1:])
	}
	text = strings.TrimPrefix(path.Clean(filepath.ToSlash(text)), "/")
	if text == "." {
		text = ""
	}
	var re strings.Builder
	re.WriteString("^")
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch c {
		case '*':
			if i+1 < len(text) && text[i+1] == '*' {
				i++
				if i+1 < len(text) && text[i+1] == '/' {
					i++
					re.WriteString("(.*/)?") // "**/": zero or more directories
				} else {
					re.WriteString(".*")
				}
			} else {
				re.WriteString("[^/]*")
			}
		case '?':
			re.WriteString("[^/]")
		case '\\':
			if i+1 < len(text) {
				i++
				re.WriteString(regexp.QuoteMeta(string(text[i])))
			}
		case '[':
			end := strings.IndexByte(text[i:], ']')
			if end < 0 {
				return p, errors.New("unterminated [")
			}
			class := text[i+1 : i+end]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			re.WriteString("[" + class + "]")
			i += end
		default:
			re.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	re.WriteString("$")
	var err error
	p.re, err = regexp.Compile(re.String())
	return p, err
}

// excluded applies the patterns to a slash-separated path relative to the context
// root: the last pattern that matches the path or one of its parent directories
// decides.
func excluded(rel string, patterns []pattern) bool {
	out := false
	for _, p := range patterns {
		if matchesOrParent(p.re, rel) {
			out = !p.exception
		}
	}
	return out
}

func matchesOrParent(re *regexp.Regexp, rel string) bool {
	if re.MatchString(rel) {
		return true
	}
	for dir := path.Dir(rel); dir != "." && dir != "/"; dir = path.Dir(dir) {
		if re.MatchString(dir) {
			return true
		}
	}
	return false
}
