package controllers

import (
	"context"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"
)

// podQueue is the trigger queue of the Pod controller.
const podQueue = "Pod"

// trigger re-queues work into controllers when something they depend on changed
// outside the objects they watch: a referenced resource of another kind or the
// pods a resource selects (ResolvedRefs), and what the Envoys ACKed or rejected
// (status.proxies, Ready, the pods' readiness gate).
//
// Requests are coalesced per queue and key, and handed to each controller by one
// goroutine, so the caller (a reconciler, or an xDS stream callback) never blocks
// on another controller's queue.
type trigger struct {
	mu      sync.Mutex
	pending map[string]map[types.NamespacedName]bool // queue → keys
	wake    map[string]chan struct{}
	events  map[string]chan event.GenericEvent
	envoy   []string // the queues of the Envoy kinds

	// throttled: namespaces whose proxy-driven refresh is scheduled.
	throttled map[string]bool

	// namespaces, when set, knows the root namespace and the namespaces with pods.
	namespaces interface {
		RootNamespace() string
		Namespaces() []string
	}
}

// proxyStatusInterval bounds how often proxy feedback (ACKs and NACKs, which
// arrive per node) re-evaluates a namespace's status: a change reaching a thousand
// Envoys then costs a few status writes per object, not a thousand.
const proxyStatusInterval = time.Second

func newTrigger(kinds []envoyKind) *trigger {
	t := &trigger{
		pending: map[string]map[types.NamespacedName]bool{},
		wake:    map[string]chan struct{}{},
		events:  map[string]chan event.GenericEvent{},

		throttled: map[string]bool{},
	}
	for _, k := range kinds {
		t.envoy = append(t.envoy, k.Name)
	}
	for _, q := range append([]string{podQueue}, t.envoy...) {
		t.pending[q] = map[types.NamespacedName]bool{}
		t.wake[q] = make(chan struct{}, 1)
		t.events[q] = make(chan event.GenericEvent)
	}
	return t
}

// enqueueNamespace asks every Envoy kind but except (may be empty) to reconcile
// the namespace, and the root namespace, whose resources select its pods too.
func (t *trigger) enqueueNamespace(namespace, except string) {
	for _, q := range t.envoy {
		if q != except {
			t.enqueue(q, types.NamespacedName{Namespace: namespace})
		}
	}
	if root := t.root(); root != "" && root != namespace {
		for _, q := range t.envoy {
			t.enqueue(q, types.NamespacedName{Namespace: root})
		}
	}
}

// enqueueEveryNamespace asks every Envoy kind to reconcile every namespace with
// pods: what the root namespace serves changed, and with it their references.
func (t *trigger) enqueueEveryNamespace() {
	if t.namespaces == nil {
		return
	}
	for _, ns := range t.namespaces.Namespaces() {
		for _, q := range t.envoy {
			t.enqueue(q, types.NamespacedName{Namespace: ns})
		}
	}
}

// root returns the root namespace, or "".
func (t *trigger) root() string {
	if t.namespaces == nil {
		return ""
	}
	return t.namespaces.RootNamespace()
}

// enqueueNamespaceThrottled is enqueueNamespace for proxy feedback: at most once
// per proxyStatusInterval per namespace, and always after the latest call.
func (t *trigger) enqueueNamespaceThrottled(namespace string) {
	t.mu.Lock()
	scheduled := t.throttled[namespace]
	t.throttled[namespace] = true
	t.mu.Unlock()
	if scheduled {
		return
	}
	time.AfterFunc(proxyStatusInterval, func() {
		t.mu.Lock()
		delete(t.throttled, namespace)
		t.mu.Unlock()
		t.enqueueNamespace(namespace, "")
	})
}

// enqueue asks the queue's controller to reconcile key.
func (t *trigger) enqueue(queue string, key types.NamespacedName) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending[queue][key] = true
	select {
	case t.wake[queue] <- struct{}{}:
	default:
	}
}

// Start delivers pending requests until ctx ends. It implements manager.Runnable.
func (t *trigger) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	for q := range t.pending {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.deliver(ctx, q)
		}()
	}
	wg.Wait()
	return nil
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: every replica
// keeps its index and conditions computed.
func (t *trigger) NeedLeaderElection() bool { return false }

func (t *trigger) deliver(ctx context.Context, queue string) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.wake[queue]:
		}
		t.mu.Lock()
		keys := t.pending[queue]
		t.pending[queue] = map[types.NamespacedName]bool{}
		t.mu.Unlock()
		for key := range keys {
			obj := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
			select {
			case t.events[queue] <- event.GenericEvent{Object: obj}:
			case <-ctx.Done():
				return
			}
		}
	}
}
