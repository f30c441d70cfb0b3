package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// buildController builds the arcturus binary of the working tree into dir.
func buildController(ctx context.Context, repo, dir string) (string, error) {
	bin := filepath.Join(dir, "arcturus")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build arcturus: %w", err)
	}
	return bin, nil
}

// controllerAddrs are the controller's listen addresses; they stay the same
// across restarts, so the Envoys reconnect to the same place.
type controllerAddrs struct {
	XDS, Metrics, Probe string
}

// freeAddrs reserves three loopback ports.
func freeAddrs() (controllerAddrs, error) {
	var addrs []string
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return controllerAddrs{}, err
		}
		ls = append(ls, l)
		addrs = append(addrs, l.Addr().String())
	}
	return controllerAddrs{XDS: addrs[0], Metrics: addrs[1], Probe: addrs[2]}, nil
}

// controller is one running arcturus process.
type controller struct {
	addrs   controllerAddrs
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{}
}

// startController runs the binary with the default flags except the addresses
// and webhooks (no webhook configuration is installed), logging to logPath.
// Every simulated pod has IP 127.0.0.1, where the Envoys connect from, so the
// default --verify-node-ip=true stays on.
func startController(binary, kubeconfig string, addrs controllerAddrs, logPath string) (*controller, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	args := []string{
		"controller",
		"--kubeconfig", kubeconfig,
		"--xds-bind-address", addrs.XDS,
		"--metrics-bind-address", addrs.Metrics,
		"--health-probe-bind-address", addrs.Probe,
		"--enable-webhooks=false",
		// Thousands of simulated Envoys share one address and a few connections.
		"--xds-max-streams-per-ip=0", "--xds-streams-per-ip-per-second=0", "--xds-max-streams-per-connection=0",
	}
	// ARCTURUS_EXTRA_ARGS adds controller flags, e.g. --pprof-bind-address to profile a scenario.
	args = append(args, strings.Fields(os.Getenv("ARCTURUS_EXTRA_ARGS"))...)
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	c := &controller{addrs: addrs, cmd: cmd, done: make(chan struct{})}
	c.started = time.Now()
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, err
	}
	go func() { _ = cmd.Wait(); _ = logFile.Close(); close(c.done) }()
	return c, nil
}

// waitReady polls /readyz (every existing resource and pod indexed) and returns
// when it first answered 200.
func (c *controller) waitReady(ctx context.Context, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get("http://" + c.addrs.Probe + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Now(), nil
			}
		}
		select {
		case <-c.done:
			return time.Time{}, errors.New("arcturus exited before it was ready")
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("arcturus not ready after %s", timeout)
		}
	}
}

// stop sends SIGTERM and waits for the process to exit (killing it after 30 s).
func (c *controller) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

func (c *controller) pid() int { return c.cmd.Process.Pid }

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every Linux
// architecture Go supports (glibc's sysconf(_SC_CLK_TCK) would say so too).
const clockTicks = 100

// cpuSeconds is the CPU time (user + system) a process has used: fields 14 and
// 15 of /proc/<pid>/stat.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is parenthesised and may contain spaces.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseFloat(fields[11], 64)
	stime, err2 := strconv.ParseFloat(fields[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return (utime + stime) / clockTicks, nil
}

// rssBytes is a process's resident set size (VmRSS in /proc/<pid>/status).
func rssBytes(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS")
}

// machineBusySeconds is the CPU time all cores spent outside idle and iowait,
// from the first line of /proc/stat.
func machineBusySeconds() (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)[1:]
	var busy float64
	for i, f := range fields {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return 0, err
		}
		if i != 3 && i != 4 && i < 7 { // user nice system irq softirq: not idle, iowait, steal, guest
			busy += v
		}
	}
	return busy / clockTicks, nil
}

// childPIDs finds the processes this harness started by command name
// (kube-apiserver and etcd, which envtest runs), to account their CPU.
func childPIDs(names ...string) map[string]int {
	out := map[string]int{}
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open {
			continue
		}
		comm := s[open+1 : closing]
		fields := strings.Fields(s[closing+1:])
		if len(fields) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid != self {
			continue
		}
		for _, n := range names {
			if strings.HasPrefix(n, comm) { // comm is cut at 15 characters
				out[n] = pid
			}
		}
	}
	return out
}

// scrapeMetrics reads the controller's Prometheus endpoint into sample name
// (with labels) → value.
func (c *controller) scrapeMetrics() (map[string]float64, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + c.addrs.Metrics + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, nil
}
