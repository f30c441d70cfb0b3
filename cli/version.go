package cli

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
)

// Version is the release version, set at link time by a release build
// (-ldflags "-X github.com/arcturus-dev/arcturus/cli.Version=v0.2.0"). Without it
// the version comes from the build information: the module version, else the
// VCS revision Go stamps into builds from a git checkout.
var Version string

const versionSummary = "Print the version of this binary"

func version(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "", versionSummary, stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	_, err := fmt.Fprintln(stdout, "arcturus", VersionString())
	return err
}

// VersionString describes this build: "v0.2.0", or for an untagged build
// "(devel) revision 0123abcd+dirty", followed by the Go version.
func VersionString() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return Version + " (no build information)"
	}
	v := Version
	if v == "" {
		v = info.Main.Version
	}
	var revision, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if revision != "" && Version == "" {
		v += " revision " + revision[:min(len(revision), 12)] + modified
	}
	return v + " " + info.GoVersion
}
