package main

import (
	"context"
	"os"
	"testing"
)

// TestQuick runs every scenario at CI size (-quick: 20 pods, the small CR set)
// and fails on any correctness failure: an Envoy holding other resources than
// its pod should, an Envoy sent an empty configuration, or a change reaching
// other Envoys than those it selects. Timings are not asserted: CI machines are
// too noisy for that; `make bench` measures them.
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an API server and the controller")
	}
	cfg, err := parseFlags([]string{"-quick"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := run(context.Background(), cfg, newProgress(os.Stderr))
	if res != nil && testing.Verbose() {
		printTable(os.Stdout, res)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Failures {
		t.Error(f)
	}
	if got := len(res.Scenarios); got != len(scenarios)+1 {
		t.Errorf("%d scenario results, want %d (S0 and every scenario)", got, len(scenarios)+1)
	}
}
