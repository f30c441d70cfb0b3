package controllers

import (
	"context"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"
)

// namespaceTrigger re-queues namespaces into the Envoy-kind controllers when
// something they depend on changed outside their own kind: a referenced resource of
// another kind, or the pods a resource selects. Both change the ResolvedRefs
// condition without touching the object itself.
//
// Requests are coalesced per kind and namespace and handed to each controller by
// one goroutine, so a reconciler never blocks on another controller's queue.
type namespaceTrigger struct {
	mu      sync.Mutex
	pending map[string]map[string]bool // kind → namespaces
	wake    map[string]chan struct{}
	events  map[string]chan event.GenericEvent
}

func newNamespaceTrigger(kinds []envoyKind) *namespaceTrigger {
	t := &namespaceTrigger{
		pending: map[string]map[string]bool{},
		wake:    map[string]chan struct{}{},
		events:  map[string]chan event.GenericEvent{},
	}
	for _, k := range kinds {
		t.pending[k.Name] = map[string]bool{}
		t.wake[k.Name] = make(chan struct{}, 1)
		t.events[k.Name] = make(chan event.GenericEvent)
	}
	return t
}

// enqueue asks every kind but except (may be empty) to reconcile the namespace.
func (t *namespaceTrigger) enqueue(namespace, except string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for kind, set := range t.pending {
		if kind == except {
			continue
		}
		set[namespace] = true
		select {
		case t.wake[kind] <- struct{}{}:
		default:
		}
	}
}

// Start delivers pending requests until ctx ends. It implements manager.Runnable.
func (t *namespaceTrigger) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	for kind := range t.pending {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.deliver(ctx, kind)
		}()
	}
	wg.Wait()
	return nil
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: every replica
// keeps its conditions computed.
func (t *namespaceTrigger) NeedLeaderElection() bool { return false }

func (t *namespaceTrigger) deliver(ctx context.Context, kind string) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.wake[kind]:
		}
		t.mu.Lock()
		namespaces := t.pending[kind]
		t.pending[kind] = map[string]bool{}
		t.mu.Unlock()
		for ns := range namespaces {
			select {
			case t.events[kind] <- event.GenericEvent{Object: &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: ns}}}:
			case <-ctx.Done():
				return
			}
		}
	}
}
