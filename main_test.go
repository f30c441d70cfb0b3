package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain runs main instead of the tests when ARCTURUS_RUN_MAIN is set, so the
// tests below run the real binary's entry point as a child process.
func TestMain(m *testing.M) {
	if os.Getenv("ARCTURUS_RUN_MAIN") == "1" {
		os.Args = append([]string{"arcturus"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestCommandLine runs the binary's entry point with each kind of command line
// and checks the exit code and output, and that only `controller` (or, for
// existing installs, flags alone) reaches the controller.
func TestCommandLine(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-kubeconfig")
	tests := map[string]struct {
		args []string // after the binary name
		code int      // exit code
		want []string // in the combined output
		// controller: the controller started (it then fails on the missing kubeconfig).
		controller bool
	}{
		"a typo is an error with a suggestion": {
			args: []string{"proxy-stat", "--kubeconfig", missing},
			code: 2, want: []string{`unknown command "proxy-stat"; did you mean "proxy-status"?`, "Commands:"},
		},
		"a bare unknown word is an error": {args: []string{"run"}, code: 2, want: []string{`unknown command "run"`}},
		"no arguments print the usage":    {args: nil, code: 2, want: []string{"Usage: arcturus COMMAND"}},
		"help lists the subcommands": {
			args: []string{"help"},
			want: []string{"controller ", "proxy-status ", "config-dump ", "version ", "help "},
		},
		"--help lists the subcommands":      {args: []string{"--help"}, want: []string{"controller ", "proxy-status "}},
		"controller --help lists its flags": {args: []string{"controller", "--help"}, want: []string{"Usage: arcturus controller", "-xds-bind-address", "-kubeconfig", "-zap-log-level"}},
		"help controller lists its flags":   {args: []string{"help", "controller"}, want: []string{"-leader-elect"}},
		"the controller refuses a bad flag": {args: []string{"controller", "--xds-bind-adress=:1"}, code: 2, want: []string{"flag provided but not defined: -xds-bind-adress"}},
		"the controller refuses arguments":  {args: []string{"controller", "proxy-status"}, code: 2, want: []string{`unexpected arguments ["proxy-status"]`}},
		"version":                           {args: []string{"version"}, want: []string{"arcturus ", "go1."}},
		"controller starts the controller": {
			args: []string{"controller", "--kubeconfig", missing, "--enable-webhooks=false"},
			code: 1, want: []string{"load kubeconfig"}, controller: true,
		},
		"flags alone start the controller, deprecated": {
			args: []string{"--kubeconfig", missing, "--enable-webhooks=false"},
			code: 1, want: []string{"Deprecated: flags without a subcommand", "load kubeconfig"}, controller: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], tc.args...)
			cmd.Env = append(os.Environ(), "ARCTURUS_RUN_MAIN=1", "KUBECONFIG="+missing)
			out, err := cmd.CombinedOutput()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Errorf("exit code %d, want %d; output:\n%s", code, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if started := strings.Contains(string(out), "load kubeconfig"); started != tc.controller {
				t.Errorf("controller started: %v, want %v; output:\n%s", started, tc.controller, out)
			}
		})
	}
}
