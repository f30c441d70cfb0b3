// Package leader elects the replica that writes status, without ever stopping the
// process.
//
// Reasoning: controller-runtime's leader election exits the process when the
// lease cannot be renewed, e.g. while the API server is unreachable for longer
// than the renew deadline. For Arcturus that would drop every Envoy connected to
// the leader exactly when the control plane can least afford it. Serving needs no
// leadership; only status writing (and a few single-writer tasks) do. So losing
// the lease here stops the leader-only work, and the replica campaigns again.
package leader

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Timing is client-go's recommended lease timing (controller-runtime's default).
var Timing = struct{ LeaseDuration, RenewDeadline, RetryPeriod time.Duration }{
	LeaseDuration: 15 * time.Second,
	RenewDeadline: 10 * time.Second,
	RetryPeriod:   2 * time.Second,
}

// Elector tells whether this replica leads, and runs leader-only work while it
// does. It implements manager.Runnable; add it to the manager, whose own leader
// election must be off.
type Elector struct {
	lock resourcelock.Interface
	log  logr.Logger

	leading atomic.Bool
	mu      sync.Mutex
	work    []manager.Runnable
}

// Leadership is what the rest of the controller needs to know of the election.
type Leadership interface {
	// IsLeader reports whether this replica leads now.
	IsLeader() bool
	// Run runs r each time this replica is elected, with a context that ends
	// when it stops leading. Call it before the manager starts.
	Run(r manager.Runnable) error
}

// NewElector returns an elector that campaigns with lock.
func NewElector(lock resourcelock.Interface, log logr.Logger) *Elector {
	return &Elector{lock: lock, log: log}
}

// IsLeader reports whether this replica holds the lease now.
func (e *Elector) IsLeader() bool { return e.leading.Load() }

// Run implements Leadership.
func (e *Elector) Run(r manager.Runnable) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.work = append(e.work, r)
	return nil
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: every replica campaigns.
func (e *Elector) NeedLeaderElection() bool { return false }

// Start campaigns until ctx ends, again after every loss of the lease.
func (e *Elector) Start(ctx context.Context) error {
	for {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            e.lock,
			LeaseDuration:   Timing.LeaseDuration,
			RenewDeadline:   Timing.RenewDeadline,
			RetryPeriod:     Timing.RetryPeriod,
			ReleaseOnCancel: true, // a replica that shuts down hands over at once
			Name:            e.lock.Describe(),
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: e.lead,
				OnStoppedLeading: func() { e.leading.Store(false) },
			},
		})
		if err != nil {
			return err
		}
		le.Run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		e.log.Info("Lost the leader lease: status writing stops, serving goes on; campaigning again")
	}
}

// lead runs the leader-only work until leadership ends (ctx).
func (e *Elector) lead(ctx context.Context) {
	e.log.Info("Elected leader: writing status")
	e.leading.Store(true)
	e.mu.Lock()
	work := e.work
	e.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range work {
		wg.Go(func() {
			if err := r.Start(ctx); err != nil && ctx.Err() == nil {
				e.log.Error(err, "Leader-only task failed; it runs again at the next election")
			}
		})
	}
	wg.Wait()
}

// Always is the leadership of a single replica, without election: it always leads.
type Always struct{ Manager manager.Manager }

// IsLeader implements Leadership.
func (Always) IsLeader() bool { return true }

// Run implements Leadership: the manager runs r.
func (a Always) Run(r manager.Runnable) error { return a.Manager.Add(everyReplica{r}) }

type everyReplica struct{ manager.Runnable }

func (everyReplica) NeedLeaderElection() bool { return false }
