// Package leader elects the replica that writes status, in a way that losing the
// election never stops the replica: it only stops the leader-only work.
//
// Reasoning: controller-runtime's built-in leader election ends the manager, and
// so the process, when the lease cannot be renewed, for instance when the API
// server is unreachable for longer than the renew deadline. Every Envoy connected
// to that replica would lose its stream. Here the manager runs without leader
// election and Election is one of its runnables: it campaigns, runs the work
// added to it while it leads, stops that work when the lease is lost, and
// campaigns again. Serving xDS never depends on it.
package leader

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Options configure an Election. Durations default to controller-runtime's.
type Options struct {
	// Namespace and Name locate the Lease (required).
	Namespace, Name string
	// LeaseDuration, RenewDeadline and RetryPeriod are client-go's leader
	// election timings: 15s, 10s and 2s by default.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// Election campaigns for the Lease for as long as its context lives. It is a
// manager.Runnable that every replica runs; IsLeader and the runnables added to
// it follow the Lease. It is safe for concurrent use.
type Election struct {
	opts Options
	lock resourcelock.Interface
	log  logr.Logger

	mu        sync.Mutex
	runnables []manager.Runnable
	started   bool

	// term is the context of the current term; it is cancelled when the term ends.
	term atomic.Pointer[context.Context]
}

// New returns an Election for the Lease in opts, reached through cfg.
func New(cfg *rest.Config, opts Options, log logr.Logger) (*Election, error) {
	if opts.Namespace == "" || opts.Name == "" {
		return nil, errors.New("leader: Namespace and Name are required")
	}
	if opts.LeaseDuration == 0 {
		opts.LeaseDuration = 15 * time.Second
	}
	if opts.RenewDeadline == 0 {
		opts.RenewDeadline = 10 * time.Second
	}
	if opts.RetryPeriod == 0 {
		opts.RetryPeriod = 2 * time.Second
	}
	host, err := os.Hostname()
	if err != nil {
		return nil, err
	}
	lock, err := resourcelock.NewFromKubeconfig(resourcelock.LeasesResourceLock, opts.Namespace, opts.Name,
		resourcelock.ResourceLockConfig{Identity: host + "_" + string(uuid.NewUUID())}, rest.CopyConfig(cfg), opts.RenewDeadline)
	if err != nil {
		return nil, err
	}
	return &Election{opts: opts, lock: lock, log: log}, nil
}

// Add registers work that runs only while this replica leads: it is started
// with a context that ends when the lease is lost, and started again on every
// later term, so it must be restartable. Add it before the manager starts.
func (e *Election) Add(r manager.Runnable) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started {
		return errors.New("leader: Add after Start")
	}
	e.runnables = append(e.runnables, r)
	return nil
}

// IsLeader reports whether this replica holds the Lease now.
func (e *Election) IsLeader() bool {
	term := e.term.Load()
	return term != nil && (*term).Err() == nil
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: every replica
// campaigns.
func (*Election) NeedLeaderElection() bool { return false }

// Start implements manager.Runnable: it campaigns until ctx ends, running the
// added work during each term. It returns nil when ctx ends.
func (e *Election) Start(ctx context.Context) error {
	e.mu.Lock()
	e.started = true
	runnables := e.runnables
	e.mu.Unlock()
	for ctx.Err() == nil {
		started, finished := make(chan struct{}), make(chan struct{})
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:          e.lock,
			LeaseDuration: e.opts.LeaseDuration,
			RenewDeadline: e.opts.RenewDeadline,
			RetryPeriod:   e.opts.RetryPeriod,
			// Hand the lease over at shutdown, so another replica writes status
			// at once rather than after LeaseDuration.
			ReleaseOnCancel: true,
			Name:            e.opts.Name,
			Callbacks: leaderelection.LeaderCallbacks{
				// termCtx ends with the term, and IsLeader with it.
				OnStartedLeading: func(termCtx context.Context) {
					close(started)
					defer close(finished)
					e.term.Store(&termCtx)
					e.log.Info("Elected leader; writing status", "lease", e.opts.Namespace+"/"+e.opts.Name)
					var work sync.WaitGroup
					for _, r := range runnables {
						work.Go(func() {
							if err := r.Start(termCtx); err != nil && termCtx.Err() == nil {
								e.log.Error(err, "Leader-only work stopped with an error")
							}
						})
					}
					work.Wait()
				},
				OnStoppedLeading: func() {}, // required; IsLeader follows termCtx
			},
		})
		if err != nil {
			return err
		}
		le.Run(ctx)
		// Run returns once the term's context is cancelled; its work stops
		// before the next campaign starts it again.
		select {
		case <-started:
			<-finished
		default: // never elected, or cancelled before the term began
		}
		if ctx.Err() == nil {
			e.log.Info("Lost the leader lease; stopped writing status, still serving, campaigning again", "lease", e.opts.Namespace+"/"+e.opts.Name)
		}
	}
	return nil
}

// Leadership is what leader-only work needs: whether this replica leads now,
// and a place to run work only while it does. *Election implements it.
type Leadership interface {
	IsLeader() bool
	Add(manager.Runnable) error
}

// Always is the Leadership of a replica that runs without leader election: it
// always leads, and its leader-only work runs with the manager.
func Always(mgr manager.Manager) Leadership { return always{mgr} }

type always struct{ mgr manager.Manager }

func (always) IsLeader() bool                 { return true }
func (a always) Add(r manager.Runnable) error { return a.mgr.Add(r) }
