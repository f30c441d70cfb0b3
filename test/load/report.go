package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/arcturus-dev/arcturus/test/testenv"
)

// results is what a run reports: printed as a table, written as JSON.
type results struct {
	Meta      runMeta           `json:"meta"`
	Setup     setupInfo         `json:"setup"`
	Scenarios []*scenarioResult `json:"scenarios"`
	// ControllerLog counts the controller's log lines by level and message.
	ControllerLog map[string]int `json:"controllerLog"`
	// Failures are correctness failures; any makes the run exit non-zero.
	Failures []string `json:"failures"`
}

type runMeta struct {
	Started   time.Time `json:"started"`
	Pods      int       `json:"pods"`
	CRs       string    `json:"crs"`
	Protocol  string    `json:"protocol"` // sotw or delta
	Quick     bool      `json:"quick"`
	GoVersion string    `json:"goVersion"`
	NProc     int       `json:"nproc"`
	CPUModel  string    `json:"cpuModel"`
	MemTotal  string    `json:"memTotal"`
	Commit    string    `json:"commit"`
	Dirty     []string  `json:"dirty,omitempty"` // git status --short of the measured tree
}

type setupInfo struct {
	CRsByKind map[string]int `json:"crsByKind"`
	// Pod0 is what fleet pod 0 (selected by every fleet-wide CR and its group's)
	// receives; All is the size if every CR selected every pod.
	Pod0Resources   int `json:"pod0Resources"`
	Pod0ProtoBytes  int `json:"pod0ProtoBytes"`
	Pod0JSONBytes   int `json:"pod0JsonBytes"`
	AllProtoBytes   int `json:"allProtoBytes"`
	AllJSONBytes    int `json:"allJsonBytes"`
	StreamsPerConn  int `json:"streamsPerConn"`
	ConnectionCount int `json:"connections"`
}

// scenarioResult is one scenario's rows (the table) plus details (JSON only).
type scenarioResult struct {
	ID       string         `json:"id"`
	Title    string         `json:"title"`
	Rows     []row          `json:"rows"`
	Details  map[string]any `json:"details,omitempty"`
	Failures []string       `json:"failures,omitempty"`
}

// row is one measured value, with the target where it has one.
type row struct {
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Target string  `json:"target,omitempty"`
	Met    *bool   `json:"met,omitempty"`
}

// target is a limit a value must stay at or under.
type target struct {
	limit float64
	text  string
}

func atMost(limit float64, text string) *target { return &target{limit, text} }

// add appends a row, judging it against t when given.
func (s *scenarioResult) add(metric string, value float64, unit string, t *target) {
	r := row{Metric: metric, Value: value, Unit: unit}
	if t != nil {
		met := value <= t.limit
		r.Target, r.Met = t.text, &met
	}
	s.Rows = append(s.Rows, r)
}

// row adds p50, p99 and max of a latency summary; t judges the p99.
func (s *scenarioResult) row(metric string, l latency, prefix string, t *target) {
	s.add(prefix+metric+" p50", l.P50, "ms", nil)
	s.add(prefix+metric+" p99", l.P99, "ms", t)
	s.add(prefix+metric+" max", l.Max, "ms", nil)
}

// detail records a value for the JSON only.
func (s *scenarioResult) detail(key string, v any) {
	if s.Details == nil {
		s.Details = map[string]any{}
	}
	s.Details[key] = v
}

// latency summarises durations in milliseconds.
type latency struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// summarize computes nearest-rank percentiles.
func summarize(ds []time.Duration) latency {
	if len(ds) == 0 {
		return latency{}
	}
	ms := make([]float64, len(ds))
	for i, d := range ds {
		ms[i] = float64(d) / float64(time.Millisecond)
	}
	slices.Sort(ms)
	rank := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(ms)))) - 1
		return ms[max(0, min(i, len(ms)-1))]
	}
	return latency{N: len(ms), P50: rank(0.50), P99: rank(0.99), Max: ms[len(ms)-1]}
}

// convergenceTimes summarises when the Envoys reached their targets, from start.
func convergenceTimes(envoys []*envoy, start time.Time) latency {
	var ds []time.Duration
	for _, e := range envoys {
		if st := e.stats(false, false); st.Converged {
			ds = append(ds, max(0, st.ConvergedAt.Sub(start)))
		}
	}
	return summarize(ds)
}

// median of a few values.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// printTable writes the results as an aligned table.
func printTable(w io.Writer, r *results) {
	fmt.Fprintf(w, "\nArcturus load test: P=%d, CRs=%s, %s, %d CPUs (%s), commit %s\n",
		r.Meta.Pods, r.Meta.CRs, r.Meta.Protocol, r.Meta.NProc, r.Meta.CPUModel, short(r.Meta.Commit))
	fmt.Fprintf(w, "per pod: %d resources, %d bytes proto (%d JSON); all CRs: %d bytes proto\n\n",
		r.Setup.Pod0Resources, r.Setup.Pod0ProtoBytes, r.Setup.Pod0JSONBytes, r.Setup.AllProtoBytes)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tmetric\tvalue\ttarget\tmet")
	for _, s := range r.Scenarios {
		for _, row := range s.Rows {
			met := ""
			if row.Met != nil {
				met = map[bool]string{true: "yes", false: "NO"}[*row.Met]
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.ID, row.Metric, formatValue(row.Value, row.Unit), row.Target, met)
		}
	}
	_ = tw.Flush()
	for _, s := range r.Scenarios {
		fmt.Fprintf(w, "%s: %s\n", s.ID, s.Title)
	}
	if len(r.Failures) > 0 {
		fmt.Fprintf(w, "\nCORRECTNESS FAILURES (%d):\n", len(r.Failures))
		for _, f := range r.Failures {
			fmt.Fprintln(w, "  "+f)
		}
	} else {
		fmt.Fprintln(w, "\ncorrectness: every Envoy held exactly its pod's resources after every scenario; no empty configuration was sent")
	}
}

func formatValue(v float64, unit string) string {
	switch {
	case unit == "":
		return fmt.Sprintf("%g", v)
	case v == math.Trunc(v) && math.Abs(v) < 1e9:
		return fmt.Sprintf("%.0f %s", v, unit)
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f %s", v, unit)
	default:
		return fmt.Sprintf("%.3g %s", v, unit)
	}
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}

// writeJSON writes the results to path.
func writeJSON(path string, r *results) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// summarizeLog counts the lines of the controller's JSON log by level and
// message: errors there (such as status write conflicts) explain timings.
func summarizeLog(path string) map[string]int {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var line struct{ Level, Msg string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg != "" {
			out[line.Level+": "+line.Msg]++
		}
	}
	return out
}

// describeMachine fills in the machine and the measured tree.
func describeMachine(m *runMeta) {
	m.GoVersion, m.NProc = runtime.Version(), runtime.NumCPU()
	m.CPUModel = procField("/proc/cpuinfo", "model name")
	m.MemTotal = procField("/proc/meminfo", "MemTotal")
	if out, err := exec.Command("git", "-C", testenv.RepoRoot(), "rev-parse", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "-C", testenv.RepoRoot(), "status", "--short").Output(); err == nil {
		for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
			if l != "" {
				m.Dirty = append(m.Dirty, l)
			}
		}
	}
}

// procField returns the value of the first "key: value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// describeSetup measures the CR set and the per-pod configuration.
func (h *harness) describeSetup() setupInfo {
	s := setupInfo{CRsByKind: map[string]int{}, StreamsPerConn: streamsPerConn, ConnectionCount: (h.cfg.pods + streamsPerConn - 1) / streamsPerConn}
	labels := podLabels(0)
	for _, cr := range h.crs.all {
		s.CRsByKind[cr.Kind.Name]++
		size, jsonSize := proto.Size(cr.Config()), len(cr.ConfigJSON())
		s.AllProtoBytes += size
		s.AllJSONBytes += jsonSize
		if selects(cr.Selector, labels) {
			s.Pod0Resources++
			s.Pod0ProtoBytes += size
			s.Pod0JSONBytes += jsonSize
		}
	}
	return s
}

// cpuSample is the CPU time used so far by each process that matters.
type cpuSample struct {
	at                                            time.Time
	controller, harness, apiserver, etcd, machine float64
}

// cpuUsage is CPU seconds used between two samples.
type cpuUsage struct {
	WallSeconds float64 `json:"wallSeconds"`
	Controller  float64 `json:"controller"`
	Harness     float64 `json:"harness"`
	APIServer   float64 `json:"apiserver"`
	Etcd        float64 `json:"etcd"`
	Machine     float64 `json:"machine"`
}

func (h *harness) sampleCPU() cpuSample {
	s := cpuSample{at: time.Now()}
	if h.ctrl != nil {
		s.controller, _ = cpuSeconds(h.ctrl.pid())
	}
	s.harness, _ = cpuSeconds(os.Getpid())
	if pid, ok := h.apiPIDs["kube-apiserver"]; ok {
		s.apiserver, _ = cpuSeconds(pid)
	}
	if pid, ok := h.apiPIDs["etcd"]; ok {
		s.etcd, _ = cpuSeconds(pid)
	}
	s.machine, _ = machineBusySeconds()
	return s
}

func (a cpuSample) to(b cpuSample) cpuUsage {
	return cpuUsage{
		WallSeconds: b.at.Sub(a.at).Seconds(),
		Controller:  b.controller - a.controller, Harness: b.harness - a.harness,
		APIServer: b.apiserver - a.apiserver, Etcd: b.etcd - a.etcd, Machine: b.machine - a.machine,
	}
}

// cpuRows reports where the CPU went; with cores, as average cores too.
func (s *scenarioResult) cpuRows(u cpuUsage, cores bool) {
	s.add("controller CPU", u.Controller, "CPU-s", nil)
	if cores && u.WallSeconds > 0 {
		s.add("controller CPU (average cores)", u.Controller/u.WallSeconds, "cores", nil)
	}
	s.detail("cpu", u)
}
