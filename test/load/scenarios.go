package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/arcturus-dev/arcturus/xds/kinds"
)

// Targets from the issue "Performance at fleet scale".
var (
	targetColdStart   = atMost(3000, "p99 < 3 s")
	targetSotWChange  = atMost(500, "p99 < 500 ms")
	targetDeltaChange = atMost(150, "p99 < 150 ms")
	targetChangeCPU   = atMost(0.3, "< 0.3 CPU-s")
	targetGroup       = atMost(50, "p99 < 50 ms")
	targetBurstResp   = atMost(3, "≤ 3")
	targetBurstConv   = atMost(1000, "≤ 1 s")
	targetRSS         = atMost(300, "< 300 MiB")
	targetS6Latency   = atMost(500, "p99 < 500 ms")
	targetS6Cores     = atMost(1, "< 1 core")
)

// scenario is one named measurement.
type scenario struct {
	id  string
	run func(h *harness, ctx context.Context) *scenarioResult
}

var scenarios = []scenario{
	{"S1", (*harness).coldStart},
	{"S2", (*harness).oneChange},
	{"S3", (*harness).groupChange},
	{"S4", (*harness).burst},
	{"S5", (*harness).memory},
	{"S6", (*harness).endpointStorm},
}

// responseCounts snapshots every Envoy's responses per type.
func responseCounts(envoys []*envoy) map[string]map[string]int {
	out := make(map[string]map[string]int, len(envoys))
	for _, e := range envoys {
		out[e.nodeID] = e.stats(false, false).Responses
	}
	return out
}

// resourceCounts snapshots every Envoy's resources received, per type.
func resourceCounts(envoys []*envoy) map[string]map[string]int {
	out := make(map[string]map[string]int, len(envoys))
	for _, e := range envoys {
		out[e.nodeID] = e.stats(false, false).Resources
	}
	return out
}

// noopCounts snapshots every Envoy's responses that changed nothing, per type.
func noopCounts(envoys []*envoy) map[string]map[string]int {
	out := make(map[string]map[string]int, len(envoys))
	for _, e := range envoys {
		out[e.nodeID] = e.stats(false, false).Noops
	}
	return out
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// responsesSince is how many responses of the types (all when none given) an
// Envoy received since the snapshot.
func responsesSince(e *envoy, before map[string]map[string]int, only ...kinds.Kind) int {
	now := e.stats(false, false).Responses
	n := 0
	for t, c := range now {
		if len(only) == 0 || slices.ContainsFunc(only, func(k kinds.Kind) bool { return k.TypeURL == t }) {
			n += c - before[e.nodeID][t]
		}
	}
	return n
}

// setDesiredTargets sets every Envoy's target from the harness's bookkeeping.
func (h *harness) setDesiredTargets(envoys []*envoy) error {
	states, err := h.desiredStates()
	if err != nil {
		return err
	}
	setTargets(envoys, states)
	return nil
}

// bump moves a CR to its next revision in the API.
func (h *harness) bump(ctx context.Context, cr *desiredCR) error {
	cr.Rev++
	return h.update(ctx, cr, cr.Rev)
}

// waitControllerIdle waits, up to a minute, until the controller is idle: under
// a tenth of a core and no reconcile queued or running (the previous step's
// follow-up work, such as status writes, which may wait on the API rate limit
// rather than use CPU, is done), so a measurement does not include it. It
// returns the last CPU rate.
func (h *harness) waitControllerIdle(ctx context.Context) float64 {
	deadline := time.Now().Add(time.Minute)
	for {
		a := h.sampleCPU()
		select {
		case <-ctx.Done():
			return 0
		case <-time.After(time.Second):
		}
		u := a.to(h.sampleCPU())
		rate := u.Controller / u.WallSeconds
		if (rate < 0.1 && h.queuesEmpty()) || time.Now().After(deadline) {
			return rate
		}
	}
}

// queuesEmpty reports whether no controller has work queued or in progress.
func (h *harness) queuesEmpty() bool {
	m := h.metricsSample()
	if m == nil {
		return true
	}
	for series, v := range m {
		name, _, _ := strings.Cut(series, "{")
		if (name == "workqueue_depth" || name == "workqueue_unfinished_work_seconds") && v != 0 {
			return false
		}
	}
	return true
}

// explainMetrics are the controller metrics whose change over a measurement
// explains where its time went: snapshot builds, reconciles and their queues,
// API requests, garbage collection and time spent waiting for mutexes.
var explainMetrics = []string{
	"arcturus_snapshot_build_seconds_sum", "arcturus_snapshot_build_seconds_count",
	"arcturus_xds_convergence_seconds_sum", "arcturus_xds_convergence_seconds_count",
	"arcturus_xds_responses_total",
	"controller_runtime_reconcile_time_seconds_sum", "controller_runtime_reconcile_time_seconds_count",
	"workqueue_queue_duration_seconds_sum", "workqueue_work_duration_seconds_sum",
	"rest_client_requests_total",
	"go_sync_mutex_wait_total_seconds_total",
	"go_cpu_classes_gc_total_cpu_seconds_total",
}

// metricsSample is a scrape of the controller's metrics, nil when it failed.
func (h *harness) metricsSample() map[string]float64 {
	m, _ := h.ctrl.scrapeMetrics()
	return m
}

// metricsDelta is how much each explaining series grew between two scrapes.
func metricsDelta(before, after map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for series, v := range after {
		name, _, _ := strings.Cut(series, "{")
		if !slices.Contains(explainMetrics, name) {
			continue
		}
		if d := v - before[series]; d != 0 {
			out[series] = d
		}
	}
	return out
}

// buildTotals are the controller's snapshot build passes so far: their count
// and total seconds (arcturus_snapshot_build_seconds).
func (h *harness) buildTotals() (count, seconds float64) {
	m, err := h.ctrl.scrapeMetrics()
	if err != nil {
		return 0, 0
	}
	return m["arcturus_snapshot_build_seconds_count"], m["arcturus_snapshot_build_seconds_sum"]
}

// failed makes a result that only reports an error.
func failed(id, title string, err error) *scenarioResult {
	return &scenarioResult{ID: id, Title: title, Failures: []string{err.Error()}}
}

// coldStart (S1) stops the controller, changes one fleet-wide Cluster while it
// is down, and starts a new one; the Envoys reconnect with what they hold. It
// measures, from the new process's start, when each Envoy holds the new state
// and when it ACKed its last response, and counts re-sent unchanged types and
// emptied configurations.
func (h *harness) coldStart(ctx context.Context) *scenarioResult {
	const title = "cold start: SIGTERM the controller, change one fleet-wide Cluster, start a new controller; P Envoys reconnect with their versions"
	res := &scenarioResult{ID: "S1", Title: title}
	envoys := h.fleet.envoys()
	before := responseCounts(envoys)
	noopsBefore, resourcesBefore := noopCounts(envoys), resourceCounts(envoys)
	stopAt := time.Now()
	h.ctrl.stop()
	res.detail("stopSeconds", time.Since(stopAt).Seconds())
	cr := h.crs.find(kinds.Cluster, selectsFleet)
	if err := h.bump(ctx, cr); err != nil {
		return failed("S1", title, err)
	}
	if err := h.setDesiredTargets(envoys); err != nil {
		return failed("S1", title, err)
	}
	c, err := startController(h.binary, h.kubeconfig, h.addrs, h.workDir+"/arcturus.log")
	if err != nil {
		return failed("S1", title, err)
	}
	h.ctrl = c
	ready, err := c.waitReady(ctx, h.cfg.timeout)
	if err != nil {
		return failed("S1", title, err)
	}
	pending := waitConverged(ctx, envoys, h.cfg.timeout)
	waitQuiet(ctx, envoys, time.Second, h.cfg.timeout)
	cpu, _ := cpuSeconds(c.pid())
	res.detail("metrics", metricsDelta(nil, h.metricsSample()))

	var settled []time.Duration
	unchanged, maxUnchanged := 0, 0
	byType, noops, resent := map[string]int{}, map[string]int{}, map[string]int{}
	for _, e := range envoys {
		st := e.stats(false, false)
		for _, k := range simulatedKinds {
			byType[k.Name] += st.Responses[k.TypeURL] - before[e.nodeID][k.TypeURL]
			noops[k.Name] += st.Noops[k.TypeURL] - noopsBefore[e.nodeID][k.TypeURL]
			resent[k.Name] += st.Resources[k.TypeURL] - resourcesBefore[e.nodeID][k.TypeURL]
		}
		last := st.LastResponse
		if st.ConvergedAt.After(last) {
			last = st.ConvergedAt
		}
		settled = append(settled, last.Sub(c.started))
		n := responsesSince(e, before, kinds.Endpoint, kinds.Listener, kinds.Route)
		unchanged += n
		maxUnchanged = max(maxUnchanged, n)
	}
	readyIn := ready.Sub(c.started)
	res.add("new controller ready (/readyz)", float64(readyIn.Milliseconds()), "ms", nil)
	res.row("all ACKed, from process start", summarize(settled), "", targetColdStart)
	res.row("new Cluster held, from process start", convergenceTimes(envoys, c.started), "", nil)
	res.add("resources re-sent of unchanged types (EDS/LDS/RDS)", float64(resent["Endpoint"]+resent["Listener"]+resent["Route"]), "", atMost(0, "0 (design.md: not re-pushed)"))
	res.add("responses of unchanged types, total", float64(unchanged), "", nil)
	res.add("responses of unchanged types, max per Envoy", float64(maxUnchanged), "", nil)
	res.add("responses that changed nothing, total", float64(sum(noops)), "", nil)
	res.add("controller CPU, start to quiet", cpu, "CPU-s", nil)
	res.detail("responsesByType", byType)
	res.detail("noopResponsesByType", noops)
	res.detail("resourcesSentByType", resent)
	if len(pending) > 0 {
		res.Failures = append(res.Failures, fmt.Sprintf("%d Envoys did not converge after the restart", len(pending)))
	}
	return res
}

// oneChange (S2) changes one fleet-wide Cluster's connect_timeout, several
// times, and measures the time from the API update to each Envoy's ACK of the
// new version, and the controller's CPU per change.
func (h *harness) oneChange(ctx context.Context) *scenarioResult {
	title := fmt.Sprintf("one Cluster change selecting all P pods (%s), %d runs, medians", h.protocol(), h.cfg.s2Runs)
	res := &scenarioResult{ID: "S2", Title: title}
	envoys := h.fleet.envoys()
	cr := h.crs.find(kinds.Cluster, selectsFleet)
	var p50s, p99s, maxs, cpus, nets, builds []float64
	var runs []map[string]any
	for run := range h.cfg.s2Runs {
		waitQuiet(ctx, envoys, time.Second, h.cfg.timeout)
		idleRate := h.waitControllerIdle(ctx)
		c0 := h.sampleCPU()
		m0 := h.metricsSample()
		n0, b0 := h.buildTotals()
		cr.Rev++
		if err := h.setDesiredTargets(envoys); err != nil {
			return failed("S2", title, err)
		}
		t0 := time.Now()
		if err := h.update(ctx, cr, cr.Rev); err != nil {
			return failed("S2", title, err)
		}
		pending := waitConverged(ctx, envoys, h.cfg.timeout)
		// The change's cost includes what follows the ACKs (status writes).
		waitQuiet(ctx, envoys, time.Second, h.cfg.timeout)
		u := c0.to(h.sampleCPU())
		n1, b1 := h.buildTotals()
		lat := convergenceTimes(envoys, t0)
		net := u.Controller - idleRate*u.WallSeconds
		p50s, p99s, maxs, cpus, nets = append(p50s, lat.P50), append(p99s, lat.P99), append(maxs, lat.Max), append(cpus, u.Controller), append(nets, net)
		builds = append(builds, (b1-b0)*1000)
		runs = append(runs, map[string]any{"latency": lat, "cpu": u, "idleCPUPerSecond": idleRate, "pending": len(pending),
			"buildPasses": n1 - n0, "buildSeconds": b1 - b0, "metrics": metricsDelta(m0, h.metricsSample())})
		h.log.printf("S2 run %d: p50 %.0f ms, p99 %.0f ms, max %.0f ms, controller %.2f CPU-s (idle before: %.2f cores), %g build passes taking %.0f ms",
			run+1, lat.P50, lat.P99, lat.Max, u.Controller, idleRate, n1-n0, (b1-b0)*1000)
		if len(pending) > 0 {
			res.Failures = append(res.Failures, fmt.Sprintf("run %d: %d Envoys did not receive the change", run+1, len(pending)))
		}
	}
	t := targetSotWChange
	if h.cfg.delta {
		t = targetDeltaChange
	}
	res.add("update → ACK p50 (median of runs)", median(p50s), "ms", nil)
	res.add("update → ACK p99 (median of runs)", median(p99s), "ms", t)
	res.add("update → ACK max (median of runs)", median(maxs), "ms", nil)
	res.add("controller CPU per change (median)", median(cpus), "CPU-s", targetChangeCPU)
	res.add("  of which above idle (median)", median(nets), "CPU-s", nil)
	res.add("snapshot build passes, total time per change (median)", median(builds), "ms", nil)
	res.detail("runs", runs)
	return res
}

// groupChange (S3) changes a Cluster that selects ten pods: exactly those ten
// Envoys must receive a response.
func (h *harness) groupChange(ctx context.Context) *scenarioResult {
	const title = "one Cluster change selecting 10 of P pods: only those 10 Envoys get a response"
	res := &scenarioResult{ID: "S3", Title: title}
	envoys := h.fleet.envoys()
	cr := h.crs.find(kinds.Cluster, selectsGroup(0))
	waitQuiet(ctx, envoys, time.Second, h.cfg.timeout)
	h.waitControllerIdle(ctx)
	before := responseCounts(envoys)
	cr.Rev++
	if err := h.setDesiredTargets(envoys); err != nil {
		return failed("S3", title, err)
	}
	t0 := time.Now()
	if err := h.update(ctx, cr, cr.Rev); err != nil {
		return failed("S3", title, err)
	}
	pending := waitConverged(ctx, envoys, h.cfg.timeout)
	time.Sleep(time.Second) // anything sent to the other Envoys arrives by now
	waitQuiet(ctx, envoys, time.Second, h.cfg.timeout)
	var selected, responded []string
	var lat []time.Duration
	for _, e := range envoys {
		if selects(cr.Selector, h.podLabels(e.nodeID)) {
			selected = append(selected, e.nodeID)
			st := e.stats(false, false)
			lat = append(lat, st.ConvergedAt.Sub(t0))
		}
		if responsesSince(e, before) > 0 {
			responded = append(responded, e.nodeID)
		}
	}
	res.row("update → ACK (selected Envoys)", summarize(lat), "", targetGroup)
	res.add("Envoys that received a response", float64(len(responded)), "", atMost(float64(len(selected)), fmt.Sprintf("= %d selected", len(selected))))
	if !slices.Equal(selected, responded) {
		res.Failures = append(res.Failures, fmt.Sprintf("responses went to %s, the change selects %s", brief(responded), brief(selected)))
	}
	if len(pending) > 0 {
		res.Failures = append(res.Failures, fmt.Sprintf("%d Envoys did not converge", len(pending)))
	}
	return res
}

// podLabels are the labels of a current pod, by node ID.
func (h *harness) podLabels(node string) map[string]string {
	h.podsMu.Lock()
	defer h.podsMu.Unlock()
	return h.pods[node]
}

// burst (S4) writes cfg.burst CR updates within one second (each CR at most
// once when there are enough) and measures how many responses each Envoy got
// and how long after the burst everything converged.
func (h *harness) burst(ctx context.Context) *scenarioResult {
	title := fmt.Sprintf("a burst of %d CR updates within 1 s", h.cfg.burst)
	res := &scenarioResult{ID: "S4", Title: title}
	envoys := h.fleet.envoys()
	waitQuiet(ctx, envoys, time.Second, h.cfg.timeout)
	h.waitControllerIdle(ctx)
	// One update per CR in turn; a CR's later updates follow its earlier ones on
	// the same worker, so the API applies them in order.
	type job struct {
		cr  *desiredCR
		rev int
		at  time.Duration // offset from the burst's start
	}
	shards := make([][]job, apiWorkers)
	for i := range h.cfg.burst {
		cr := h.crs.all[i%len(h.crs.all)]
		cr.Rev++
		w := (i % len(h.crs.all)) % apiWorkers
		shards[w] = append(shards[w], job{cr, cr.Rev, time.Duration(i) * time.Second / time.Duration(h.cfg.burst)})
	}
	before := responseCounts(envoys)
	if err := h.setDesiredTargets(envoys); err != nil {
		return failed("S4", title, err)
	}
	c0 := h.sampleCPU()
	m0 := h.metricsSample()
	start := time.Now()
	var mu sync.Mutex
	var end time.Time
	var errs []error
	var wg sync.WaitGroup
	for _, jobs := range shards {
		wg.Go(func() {
			for _, j := range jobs {
				time.Sleep(time.Until(start.Add(j.at)))
				err := h.update(ctx, j.cr, j.rev)
				mu.Lock()
				if now := time.Now(); now.After(end) {
					end = now
				}
				if err != nil {
					errs = append(errs, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return failed("S4", title, errs[0])
	}
	pending := waitConverged(ctx, envoys, h.cfg.timeout)
	waitQuiet(ctx, envoys, time.Second, h.cfg.timeout)
	u := c0.to(h.sampleCPU())
	res.detail("metrics", metricsDelta(m0, h.metricsSample()))
	var counts []float64
	for _, e := range envoys {
		counts = append(counts, float64(responsesSince(e, before)))
	}
	conv := convergenceTimes(envoys, end)
	maxCount := slices.Max(counts)
	res.add("burst duration (API writes)", float64(end.Sub(start).Milliseconds()), "ms", nil)
	res.add("responses per Envoy, max", maxCount, "", targetBurstResp)
	res.add("responses per Envoy, median", median(counts), "", nil)
	res.add("converged after the burst, p99", conv.P99, "ms", nil)
	res.add("converged after the burst, max", conv.Max, "ms", targetBurstConv)
	res.cpuRows(u, false)
	if len(pending) > 0 {
		res.Failures = append(res.Failures, fmt.Sprintf("%d Envoys did not converge after the burst", len(pending)))
	}
	return res
}

// memory (S5) reads the controller's memory with P streams, runs the pod churn
// loop (pods with Envoys come and go), and reads it again.
func (h *harness) memory(ctx context.Context) *scenarioResult {
	title := fmt.Sprintf("steady-state memory with P streams; then %d churn cycles of %d pods with Envoys", h.cfg.churn, h.cfg.churnPods)
	res := &scenarioResult{ID: "S5", Title: title}
	envoys := h.fleet.envoys()
	waitQuiet(ctx, envoys, 2*time.Second, h.cfg.timeout)
	h.waitControllerIdle(ctx)
	before, err := h.memorySample()
	if err != nil {
		return failed("S5", title, err)
	}
	counts := responseCounts(envoys)
	churnStart := time.Now()
	for cycle := range h.cfg.churn {
		if err := h.churnCycle(ctx, cycle); err != nil {
			return failed("S5", title, err)
		}
	}
	churnTime := time.Since(churnStart)
	// Give the controller time to notice the closed streams and deleted pods,
	// and its garbage collector a few cycles.
	time.Sleep(5 * time.Second)
	h.waitControllerIdle(ctx)
	after, err := h.memorySample()
	if err != nil {
		return failed("S5", title, err)
	}
	pushed := 0
	for _, e := range envoys {
		pushed += responsesSince(e, counts)
	}
	mib := func(b float64) float64 { return b / (1 << 20) }
	res.add("controller RSS, steady", mib(before.rss), "MiB", targetRSS)
	res.add("controller RSS, after churn", mib(after.rss), "MiB", atMost(mib(before.rss)*1.1, "≤ steady + 10%"))
	res.add("Go heap in use, steady", mib(before.heap), "MiB", nil)
	res.add("Go heap in use, after churn", mib(after.heap), "MiB", nil)
	res.add("goroutines, steady", before.goroutines, "", nil)
	res.add("goroutines, after churn", after.goroutines, "", atMost(before.goroutines+10, "≤ steady + 10"))
	res.add("connected proxies after churn", after.connected, "", nil)
	res.add("responses to the P Envoys during churn", float64(pushed), "", atMost(0, "0"))
	res.add("churn time", churnTime.Seconds(), "s", nil)
	if int(after.connected) != len(h.fleet.envoys()) {
		res.Failures = append(res.Failures, fmt.Sprintf("controller reports %d connected proxies, %d are connected", int(after.connected), len(h.fleet.envoys())))
	}
	return res
}

// memorySample is the controller's memory at one moment.
type memorySample struct {
	rss, heap, goroutines, connected float64
}

func (h *harness) memorySample() (memorySample, error) {
	rss, err := rssBytes(h.ctrl.pid())
	if err != nil {
		return memorySample{}, err
	}
	m, err := h.ctrl.scrapeMetrics()
	if err != nil {
		return memorySample{}, err
	}
	return memorySample{rss: float64(rss), heap: m["go_memstats_heap_inuse_bytes"], goroutines: m["go_goroutines"], connected: m["arcturus_xds_connected_proxies"]}, nil
}

// churnCycle creates churnPods pods with Envoys, waits until they hold their
// configuration, closes their streams and deletes the pods.
func (h *harness) churnCycle(ctx context.Context, cycle int) error {
	names := make([]string, h.cfg.churnPods)
	for i := range names {
		names[i] = fmt.Sprintf("churn-%03d-%03d", cycle, i)
	}
	labels := map[string]string{appLabel: appValue, groupLabel: churnGroup}
	if err := parallel(ctx, len(names), func(ctx context.Context, i int) error {
		return h.createPod(ctx, names[i], labels)
	}); err != nil {
		return err
	}
	states, err := h.desiredStates()
	if err != nil {
		return err
	}
	var churned []*envoy
	for _, n := range names {
		e, err := h.fleet.add(ctx, nodeID(n))
		if err != nil {
			return err
		}
		e.setTarget(states[e.nodeID])
		churned = append(churned, e)
	}
	if pending := waitConverged(ctx, churned, h.cfg.timeout); len(pending) > 0 {
		return fmt.Errorf("churn cycle %d: %d new Envoys did not receive their configuration", cycle, len(pending))
	}
	for _, e := range churned {
		h.fleet.remove(e.nodeID)
	}
	return parallel(ctx, len(names), func(ctx context.Context, i int) error {
		return h.deletePod(ctx, names[i])
	})
}

// endpointStorm (S6) updates one fleet-wide Endpoint cfg.s6Rate times a second
// for cfg.s6Duration; for every update and every Envoy it measures the time
// until the Envoy ACKed that update or a later one (coalescing is allowed).
func (h *harness) endpointStorm(ctx context.Context) *scenarioResult {
	n := int(float64(h.cfg.s6Rate) * h.cfg.s6Duration.Seconds())
	title := fmt.Sprintf("one fleet-wide Endpoint updated %d times/s for %s (%d updates)", h.cfg.s6Rate, h.cfg.s6Duration, n)
	res := &scenarioResult{ID: "S6", Title: title}
	envoys := h.fleet.envoys()
	cr := h.crs.find(kinds.Endpoint, selectsFleet)
	waitQuiet(ctx, envoys, time.Second, h.cfg.timeout)
	h.waitControllerIdle(ctx)
	// seqOf maps each revision's content hash to its update number.
	seqOf := map[uint64]int{}
	for seq := 1; seq <= n; seq++ {
		hs, err := parseInputs([]crInput{{Kind: cr.Kind, Name: cr.Name, Config: mustJSON(cr.configAt(cr.Rev + seq))}})
		if err != nil {
			return failed("S6", title, err)
		}
		seqOf[hs[0].hash] = seq
	}
	for _, e := range envoys {
		e.setWatch(kinds.Endpoint, cr.Name)
	}
	first := cr.Rev
	cr.Rev += n
	before := responseCounts(envoys)
	if err := h.setDesiredTargets(envoys); err != nil {
		return failed("S6", title, err)
	}
	sent := make([]time.Time, n+1)
	n0, b0 := h.buildTotals()
	m0 := h.metricsSample()
	c0 := h.sampleCPU()
	start := time.Now()
	interval := time.Second / time.Duration(h.cfg.s6Rate)
	for seq := 1; seq <= n; seq++ {
		time.Sleep(time.Until(start.Add(time.Duration(seq-1) * interval)))
		sent[seq] = time.Now()
		if err := h.update(ctx, cr, first+seq); err != nil {
			return failed("S6", title, err)
		}
	}
	end := time.Now()
	pending := waitConverged(ctx, envoys, h.cfg.timeout)
	u := c0.to(h.sampleCPU())
	waitQuiet(ctx, envoys, time.Second, h.cfg.timeout)
	n1, b1 := h.buildTotals()
	res.detail("buildPasses", n1-n0)
	res.detail("buildSeconds", b1-b0)
	res.detail("metrics", metricsDelta(m0, h.metricsSample()))

	var lat []time.Duration
	var counts []float64
	missed := 0
	for _, e := range envoys {
		l, m := updateLatencies(e.stats(false, true).Events, seqOf, sent)
		lat, missed = append(lat, l...), missed+m
		counts = append(counts, float64(responsesSince(e, before, kinds.Endpoint)))
		e.setWatch(kinds.Endpoint)
	}
	res.add("achieved update rate", float64(n)/end.Sub(start).Seconds(), "/s", nil)
	res.row("update → ACK (this or a later update)", summarize(lat), "", targetS6Latency)
	res.add("EDS responses per Envoy, median", median(counts), "", nil)
	res.add("controller CPU (average cores, updates to convergence)", u.Controller/u.WallSeconds, "cores", targetS6Cores)
	res.cpuRows(u, false)
	if missed > 0 {
		res.Failures = append(res.Failures, fmt.Sprintf("%d (Envoy, update) pairs never saw that update or a later one", missed))
	}
	if len(pending) > 0 {
		res.Failures = append(res.Failures, fmt.Sprintf("%d Envoys did not converge to the last update", len(pending)))
	}
	return res
}

// updateLatencies pairs each update with the first arrival of it or a later
// update at one Envoy; it returns the latencies and how many updates never had one.
func updateLatencies(events []watchEvent, seqOf map[uint64]int, sent []time.Time) ([]time.Duration, int) {
	var out []time.Duration
	missed := 0
	j := 0
	for seq := 1; seq < len(sent); seq++ {
		for j < len(events) && seqOf[events[j].Hash] < seq {
			j++
		}
		if j == len(events) {
			missed++
			continue
		}
		out = append(out, events[j].At.Sub(sent[seq]))
	}
	return out, missed
}

func (h *harness) protocol() string {
	if h.cfg.delta {
		return "delta"
	}
	return "state-of-the-world"
}
