// Command load is the fleet-scale load harness of Arcturus (`make bench`).
//
// It starts a real kube-apiserver and etcd (envtest, from bin/k8s), builds and
// runs the arcturus binary of this tree, creates P pods and a set of custom
// resources, and connects P simulated Envoys: real gRPC ADS streams
// (state-of-the-world, or delta with -delta) that subscribe like Envoy and ACK
// every response. It then runs the scenarios of the issue "Performance at fleet
// scale" (S1 cold start, S2 one change, S3 a change for ten pods, S4 a burst of
// updates, S5 memory and pod churn, S6 an Endpoint updated 50 times a second),
// prints a table and writes JSON.
//
// After setup and after every scenario each Envoy's resources (names and content
// hashes) are compared with what its pod should hold, computed from the custom
// resources and pods read back from the API by this harness's own rules. Any
// difference, or an empty configuration sent to an Envoy that had one, is a
// failure and makes the command exit 1. Timings are reported, never asserted.
//
//	go run ./test/load -pods 1000 -json bin/bench/results.json
//	go run ./test/load -pods 20 -crs small -quick
//	go run ./test/load -scenarios S2 -delta
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// config are the command's flags.
type config struct {
	pods      int
	crs       string
	scenarios []string
	delta     bool
	jsonOut   string
	quick     bool
	keep      bool
	timeout   time.Duration
	s2Runs    int
	burst     int
	churn     int
	churnPods int
	s6Rate    int
	// s6Duration is how long S6 updates its Endpoint.
	s6Duration time.Duration
}

// quickConfig is -quick: small enough for CI, every scenario still exercised.
func quickConfig() config {
	return config{
		pods: 20, crs: "small", scenarios: scenarioIDs(), timeout: 2 * time.Minute,
		s2Runs: 2, burst: 20, churn: 3, churnPods: 5, s6Rate: 20, s6Duration: 2 * time.Second, quick: true,
	}
}

func scenarioIDs() []string {
	var ids []string
	for _, s := range scenarios {
		ids = append(ids, s.id)
	}
	return ids
}

// parseFlags reads the flags; -quick changes the defaults of the flags not given.
func parseFlags(args []string) (config, error) {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	var c config
	var list string
	fs.IntVar(&c.pods, "pods", 1000, "number of pods, each with one simulated Envoy (P)")
	fs.StringVar(&c.crs, "crs", "R500", "custom resource set: R500 (100 Listeners, 100 Routes, 150 Clusters, 150 Endpoints) or small")
	fs.StringVar(&list, "scenarios", strings.Join(scenarioIDs(), ","), "comma-separated scenarios to run")
	fs.BoolVar(&c.delta, "delta", false, "Envoys use delta xDS instead of state-of-the-world")
	fs.StringVar(&c.jsonOut, "json", "", "write the results as JSON to this file")
	fs.BoolVar(&c.quick, "quick", false, "CI size: 20 pods, the small CR set, short scenarios")
	fs.BoolVar(&c.keep, "keep", false, "keep the work dir (controller log, kubeconfig)")
	fs.DurationVar(&c.timeout, "timeout", 5*time.Minute, "how long to wait for any convergence")
	fs.IntVar(&c.s2Runs, "s2-runs", 3, "S2: number of changes measured")
	fs.IntVar(&c.burst, "burst", 500, "S4: number of CR updates in the 1 s burst")
	fs.IntVar(&c.churn, "churn", 20, "S5: pod churn cycles")
	fs.IntVar(&c.churnPods, "churn-pods", 50, "S5: pods (with Envoys) created and deleted per cycle")
	fs.IntVar(&c.s6Rate, "s6-rate", 50, "S6: Endpoint updates per second")
	fs.DurationVar(&c.s6Duration, "s6-duration", 10*time.Second, "S6: how long the updates go on")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if c.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		q := quickConfig()
		keepIfSet(set, "pods", &c.pods, q.pods)
		keepIfSet(set, "crs", &c.crs, q.crs)
		keepIfSet(set, "s2-runs", &c.s2Runs, q.s2Runs)
		keepIfSet(set, "burst", &c.burst, q.burst)
		keepIfSet(set, "churn", &c.churn, q.churn)
		keepIfSet(set, "churn-pods", &c.churnPods, q.churnPods)
		keepIfSet(set, "s6-rate", &c.s6Rate, q.s6Rate)
		keepIfSet(set, "s6-duration", &c.s6Duration, q.s6Duration)
		keepIfSet(set, "timeout", &c.timeout, q.timeout)
	}
	for _, id := range strings.Split(list, ",") {
		id = strings.ToUpper(strings.TrimSpace(id))
		if !slices.Contains(scenarioIDs(), id) {
			return config{}, fmt.Errorf("-scenarios: unknown scenario %q (have %s)", id, strings.Join(scenarioIDs(), ","))
		}
		c.scenarios = append(c.scenarios, id)
	}
	if _, ok := crSets[c.crs]; !ok {
		return config{}, fmt.Errorf("-crs: want R500 or small, got %q", c.crs)
	}
	if c.pods < groupSize {
		return config{}, fmt.Errorf("-pods: need at least %d (one group)", groupSize)
	}
	if c.s6Rate <= 0 || c.burst <= 0 || c.s2Runs <= 0 {
		return config{}, fmt.Errorf("-s6-rate, -burst and -s2-runs must be positive")
	}
	return c, nil
}

// keepIfSet applies the quick default q to v unless the flag was given.
func keepIfSet[T any](set map[string]bool, name string, v *T, q T) {
	if !set[name] {
		*v = q
	}
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, cfg, newProgress(os.Stderr))
	if res != nil {
		printTable(os.Stdout, res)
		if cfg.jsonOut != "" {
			if werr := writeJSON(cfg.jsonOut, res); werr != nil {
				fmt.Fprintln(os.Stderr, werr)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
	if len(res.Failures) > 0 {
		os.Exit(1)
	}
}

// run sets everything up, runs the chosen scenarios with a verification after
// each, and tears down. An error means the run could not be carried out; the
// results' Failures are what it found wrong.
func run(ctx context.Context, cfg config, log *progress) (*results, error) {
	res := &results{Meta: runMeta{Started: time.Now(), Pods: cfg.pods, CRs: cfg.crs, Quick: cfg.quick, Protocol: "sotw"}, Failures: []string{}}
	if cfg.delta {
		res.Meta.Protocol = "delta"
	}
	describeMachine(&res.Meta)
	h := &harness{cfg: cfg, log: log, crs: newCRSet(crSets[cfg.crs], cfg.pods)}
	defer h.tearDown()
	if err := h.setUp(ctx, res); err != nil {
		return res, err
	}
	s0, err := h.connectFleet(ctx)
	if s0 != nil {
		res.Scenarios = append(res.Scenarios, s0)
	}
	if err != nil {
		return res, err
	}
	failures, _ := h.checkpoint(ctx, "setup")
	res.Failures = append(res.Failures, failures...)
	for _, s := range scenarios {
		if !slices.Contains(cfg.scenarios, s.id) || ctx.Err() != nil {
			continue
		}
		log.printf("%s ...", s.id)
		r := s.run(h, ctx)
		failures, statusWait := h.checkpoint(ctx, s.id)
		r.Failures = append(r.Failures, failures...)
		// How long after the scenario every CR's status showed its generation.
		r.detail("statusCaughtUpSeconds", statusWait.Seconds())
		for _, f := range r.Failures {
			res.Failures = append(res.Failures, s.id+": "+f)
		}
		res.Scenarios = append(res.Scenarios, r)
		log.printf("%s done", s.id)
	}
	res.ControllerLog = summarizeLog(filepath.Join(h.workDir, "arcturus.log"))
	return res, ctx.Err()
}

// checkpoint verifies every Envoy after a step and logs the outcome. It also
// returns how long the CRs' status took to catch up.
func (h *harness) checkpoint(ctx context.Context, step string) ([]string, time.Duration) {
	start := time.Now()
	failures, statusWait := h.verify(ctx)
	h.log.printf("verified %d Envoys after %s in %s (status caught up after %s): %d failures",
		len(h.fleet.envoys()), step, time.Since(start).Round(time.Millisecond), statusWait.Round(time.Millisecond), len(failures))
	return failures, statusWait
}

// progress logs what the harness is doing, with the time since it started.
type progress struct {
	mu    sync.Mutex
	out   io.Writer
	start time.Time
}

func newProgress(out io.Writer) *progress { return &progress{out: out, start: time.Now()} }

func (p *progress) printf(format string, args ...any) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, "[load %6.1fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}
