package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
	"github.com/arcturus-dev/arcturus/test/testenv"
	"github.com/arcturus-dev/arcturus/xds/kinds"
)

// apiWorkers is how many requests the harness keeps in flight to the API server;
// its client's rate limit is raised to match (the default 5 QPS would make
// creating a thousand pods take minutes).
const (
	apiWorkers = 32
	apiQPS     = 2000
	apiBurst   = 4000
)

// harness owns everything a run starts: the API server, the controller process,
// the simulated Envoys, and the desired state it compares them against.
type harness struct {
	cfg     config
	log     *progress
	workDir string

	env        *envtest.Environment
	k8s        client.Client
	kubeconfig string
	binary     string
	addrs      controllerAddrs
	ctrl       *controller
	fleet      *fleet

	crs *crSet
	// pods: node ID → labels of every pod the harness created and not deleted.
	pods   map[string]map[string]string
	podsMu sync.Mutex

	// apiPIDs are kube-apiserver's and etcd's PIDs, for CPU accounting.
	apiPIDs map[string]int
	// emptiedSeen: how many emptied configurations of each node were reported.
	emptiedSeen map[string]int
}

// setUp starts the API server, builds and starts the controller, creates the
// pods and custom resources, and connects the fleet.
func (h *harness) setUp(ctx context.Context, res *results) error {
	var err error
	if h.workDir, err = os.MkdirTemp("", "arcturus-load-"); err != nil {
		return err
	}
	h.log.printf("work dir %s (controller log: arcturus.log)", h.workDir)
	buildErr := make(chan error, 1)
	go func() {
		var err error
		h.binary, err = buildController(ctx, testenv.RepoRoot(), h.workDir)
		buildErr <- err
	}()
	if err := h.startAPIServer(); err != nil {
		return err
	}
	if err := <-buildErr; err != nil {
		return err
	}
	h.log.printf("API server up, arcturus built")
	if err := h.createPods(ctx); err != nil {
		return err
	}
	h.log.printf("created %d pods", h.cfg.pods)
	if err := h.createCRs(ctx); err != nil {
		return err
	}
	h.log.printf("created %d custom resources", len(h.crs.all))
	if h.addrs, err = freeAddrs(); err != nil {
		return err
	}
	if err := h.startController(ctx); err != nil {
		return err
	}
	if err := h.waitAccepted(ctx); err != nil {
		return err
	}
	h.log.printf("all custom resources Accepted")
	res.Setup = h.describeSetup()
	return nil
}

// startAPIServer starts envtest with the CRDs, writes an admin kubeconfig for the
// controller and creates the harness's own client.
func (h *harness) startAPIServer() error {
	env, cfg, err := testenv.Start(testenv.Options{})
	if err != nil {
		return err
	}
	h.env = env
	h.apiPIDs = childPIDs("kube-apiserver", "etcd")
	user, err := env.AddUser(envtest.User{Name: "load-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	h.kubeconfig = filepath.Join(h.workDir, "kubeconfig")
	if err := os.WriteFile(h.kubeconfig, kc, 0o600); err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(ourv1alpha1.AddToScheme(scheme))
	cfg.QPS, cfg.Burst = apiQPS, apiBurst
	h.k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	return err
}

// tearDown stops what setUp started; the work dir stays with -keep.
func (h *harness) tearDown() {
	if h.fleet != nil {
		h.fleet.close()
	}
	if h.ctrl != nil {
		h.ctrl.stop()
	}
	if h.env != nil {
		_ = h.env.Stop()
	}
	if h.workDir != "" && !h.cfg.keep {
		_ = os.RemoveAll(h.workDir)
	}
}

// startController starts a controller process and waits until it is ready.
func (h *harness) startController(ctx context.Context) error {
	c, err := startController(h.binary, h.kubeconfig, h.addrs, filepath.Join(h.workDir, "arcturus.log"))
	if err != nil {
		return err
	}
	h.ctrl = c
	ready, err := c.waitReady(ctx, h.cfg.timeout)
	if err != nil {
		return err
	}
	h.log.printf("arcturus ready after %s", ready.Sub(c.started).Round(time.Millisecond))
	return nil
}

// parallel runs fn(i) for i in [0, n) on apiWorkers goroutines and returns the
// first error.
func parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, apiWorkers)
	for range min(apiWorkers, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(ctx, i); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// createPods creates the namespace and the fleet's pods.
func (h *harness) createPods(ctx context.Context) error {
	if err := h.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		return err
	}
	h.pods = map[string]map[string]string{}
	return parallel(ctx, h.cfg.pods, func(ctx context.Context, i int) error {
		return h.createPod(ctx, podName(i), podLabels(i))
	})
}

// createPod creates a pod that looks Running at podIP (no kubelet runs it).
func (h *harness) createPod(ctx context.Context, name string, labels map[string]string) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "envoy", Image: "envoyproxy/envoy"}}},
	}
	if err := h.k8s.Create(ctx, pod); err != nil {
		return fmt.Errorf("create pod %s: %w", name, err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: podIP, PodIPs: []corev1.PodIP{{IP: podIP}}}
	if err := h.k8s.Status().Update(ctx, pod); err != nil {
		return fmt.Errorf("set status of pod %s: %w", name, err)
	}
	h.podsMu.Lock()
	h.pods[nodeID(name)] = labels
	h.podsMu.Unlock()
	return nil
}

// deletePod deletes a pod at once.
func (h *harness) deletePod(ctx context.Context, name string) error {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	if err := h.k8s.Delete(ctx, pod, client.GracePeriodSeconds(0)); err != nil {
		return fmt.Errorf("delete pod %s: %w", name, err)
	}
	h.podsMu.Lock()
	delete(h.pods, nodeID(name))
	h.podsMu.Unlock()
	return nil
}

func nodeID(pod string) string { return pod + "." + namespace }

// createCRs creates the desired CR set.
func (h *harness) createCRs(ctx context.Context) error {
	return parallel(ctx, len(h.crs.all), func(ctx context.Context, i int) error {
		cr := h.crs.all[i]
		obj := mustNew(cr.Kind)
		obj.SetNamespace(namespace)
		obj.SetName(cr.Name)
		spec := obj.EnvoySpec()
		spec.Config = runtime.RawExtension{Raw: cr.ConfigJSON()}
		spec.WorkloadSelector = &ourv1alpha1.WorkloadSelector{Labels: cr.Selector}
		if err := h.k8s.Create(ctx, obj); err != nil {
			return fmt.Errorf("create %s %s: %w", cr.Kind.Name, cr.Name, err)
		}
		return nil
	})
}

// update writes revision rev of a CR's config (a JSON patch replacing
// spec.config, so the stored config is exactly the new one) and records it.
func (h *harness) update(ctx context.Context, cr *desiredCR, rev int) error {
	patch, err := json.Marshal([]map[string]any{{"op": "replace", "path": "/spec/config", "value": json.RawMessage(mustJSON(cr.configAt(rev)))}})
	if err != nil {
		return err
	}
	obj := mustNew(cr.Kind)
	obj.SetNamespace(namespace)
	obj.SetName(cr.Name)
	if err := h.k8s.Patch(ctx, obj, client.RawPatch(types.JSONPatchType, patch)); err != nil {
		return fmt.Errorf("update %s %s: %w", cr.Kind.Name, cr.Name, err)
	}
	return nil
}

// listCRs reads every custom resource of the namespace from the API.
func (h *harness) listCRs(ctx context.Context) ([]ourv1alpha1.Object, error) {
	var out []ourv1alpha1.Object
	for _, k := range simulatedKinds {
		list, err := ourv1alpha1.NewList(k.Name)
		if err != nil {
			return nil, err
		}
		if err := h.k8s.List(ctx, list, client.InNamespace(namespace)); err != nil {
			return nil, err
		}
		out = append(out, list.EnvoyItems()...)
	}
	return out, nil
}

// notAccepted lists the CRs whose current generation is not Accepted.
func notAccepted(objs []ourv1alpha1.Object) []string {
	var out []string
	for _, o := range objs {
		c := meta.FindStatusCondition(o.EnvoyStatus().Conditions, ourv1alpha1.ConditionAccepted)
		if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != o.GetGeneration() {
			out = append(out, fmt.Sprintf("%T %s", o, o.GetName()))
		}
	}
	return out
}

// waitAccepted waits until every CR's current generation is Accepted.
func (h *harness) waitAccepted(ctx context.Context) error {
	deadline := time.Now().Add(h.cfg.timeout)
	for {
		objs, err := h.listCRs(ctx)
		if err != nil {
			return err
		}
		pending := notAccepted(objs)
		if len(objs) == len(h.crs.all) && len(pending) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d custom resources not Accepted after %s, e.g. %s", len(pending), len(objs), h.cfg.timeout, brief(pending))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// desiredStates is what every current pod's Envoy should hold according to the
// harness's own bookkeeping (used as the target while measuring, without
// reading the API in the middle of a measurement).
func (h *harness) desiredStates() (map[string]state, error) {
	var inputs []crInput
	for _, cr := range h.crs.all {
		inputs = append(inputs, crInput{Kind: cr.Kind, Name: cr.Name, Selector: cr.Selector, Config: cr.ConfigJSON()})
	}
	h.podsMu.Lock()
	pods := make([]podInput, 0, len(h.pods))
	for id, labels := range h.pods {
		pods = append(pods, podInput{NodeID: id, Labels: labels})
	}
	h.podsMu.Unlock()
	return expectedStates(inputs, pods)
}

// setTargets gives each Envoy its pod's state as target; an Envoy without a pod
// should hold nothing.
func setTargets(envoys []*envoy, states map[string]state) {
	for _, e := range envoys {
		s, ok := states[e.nodeID]
		if !ok {
			s = state{}
		}
		e.setTarget(s)
	}
}

// connectFleet starts an Envoy for every pod and waits until all hold their
// configuration; it reports the time each took, from the first stream opened.
func (h *harness) connectFleet(ctx context.Context) (*scenarioResult, error) {
	h.fleet = newFleet(h.addrs.XDS, h.cfg.delta, h.cfg.pods)
	states, err := h.desiredStates()
	if err != nil {
		return nil, err
	}
	res := &scenarioResult{ID: "S0", Title: "initial connect: P fresh Envoys to a ready controller (informational)"}
	c0 := h.sampleCPU()
	m0 := h.metricsSample()
	start := time.Now()
	for i := range h.cfg.pods {
		e, err := h.fleet.add(ctx, nodeID(podName(i)))
		if err != nil {
			return nil, err
		}
		e.setTarget(states[e.nodeID])
	}
	envoys := h.fleet.envoys()
	pending := waitConverged(ctx, envoys, h.cfg.timeout)
	lat := convergenceTimes(envoys, start)
	res.row("time to full config", lat, "", nil)
	res.cpuRows(c0.to(h.sampleCPU()), false)
	res.detail("metrics", metricsDelta(m0, h.metricsSample()))
	if len(pending) > 0 {
		return res, fmt.Errorf("%d Envoys did not receive their configuration within %s", len(pending), h.cfg.timeout)
	}
	h.log.printf("fleet of %d Envoys connected (p99 %.0f ms)", len(envoys), lat.P99)
	return res, nil
}

// verify checks every Envoy against the expectation computed from the API's
// custom resources and pods: it waits until each holds exactly its pod's
// resources, and reports those that do not, and every emptied configuration.
// It also returns how long the CRs' status took to show their generation.
func (h *harness) verify(ctx context.Context) ([]string, time.Duration) {
	var failures []string
	// Status may lag behind serving (the controller's API rate limit): give it
	// time, then read the CRs the expectation is computed from.
	start := time.Now()
	if err := h.waitAccepted(ctx); err != nil {
		failures = append(failures, err.Error())
	}
	statusWait := time.Since(start)
	objs, err := h.listCRs(ctx)
	if err != nil {
		return append(failures, "list custom resources: "+err.Error()), statusWait
	}
	var inputs []crInput
	for _, o := range objs {
		kind, _ := kindOf(o)
		inputs = append(inputs, crInput{Kind: kind, Name: o.GetName(), Selector: o.EnvoySpec().WorkloadSelector.GetLabels(), Config: o.EnvoySpec().Config.Raw})
	}
	var pods corev1.PodList
	if err := h.k8s.List(ctx, &pods, client.InNamespace(namespace)); err != nil {
		return append(failures, "list pods: "+err.Error()), statusWait
	}
	var podInputs []podInput
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			podInputs = append(podInputs, podInput{NodeID: nodeID(p.Name), Labels: p.Labels})
		}
	}
	states, err := expectedStates(inputs, podInputs)
	if err != nil {
		return append(failures, "compute expectation: "+err.Error()), statusWait
	}
	envoys := h.fleet.envoys()
	setTargets(envoys, states)
	pending := waitConverged(ctx, envoys, h.cfg.timeout)
	for i, e := range pending {
		if i == 10 {
			failures = append(failures, fmt.Sprintf("... and %d more Envoys differ", len(pending)-10))
			break
		}
		st := e.stats(true, false)
		failures = append(failures, fmt.Sprintf("%s holds other resources than its pod should: %s", e.nodeID, states[e.nodeID].diff(st.Held)))
	}
	return append(failures, h.newEmptied(envoys)...), statusWait
}

// newEmptied returns the emptied configurations not reported yet.
func (h *harness) newEmptied(envoys []*envoy) []string {
	if h.emptiedSeen == nil {
		h.emptiedSeen = map[string]int{}
	}
	var out []string
	for _, e := range envoys {
		st := e.stats(false, false)
		for _, msg := range st.Emptied[h.emptiedSeen[e.nodeID]:] {
			out = append(out, "empty configuration sent: "+msg)
		}
		h.emptiedSeen[e.nodeID] = len(st.Emptied)
	}
	return out
}

// kindOf returns the kind of an Arcturus object.
func kindOf(o ourv1alpha1.Object) (kinds.Kind, error) {
	for _, k := range simulatedKinds {
		if obj, err := ourv1alpha1.New(k.Name); err == nil && reflect.TypeOf(obj) == reflect.TypeOf(o) {
			return k, nil
		}
	}
	return kinds.Kind{}, errors.New("not an Arcturus kind")
}

// mustNew returns an empty object of a kind of the table.
func mustNew(k kinds.Kind) ourv1alpha1.Object {
	obj, err := ourv1alpha1.New(k.Name)
	if err != nil {
		panic(err)
	}
	return obj
}
