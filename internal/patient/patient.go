// Package patient makes informers wait out an API server outage instead of
// backing off from it.
//
// Reasoning: client-go's reflector retries a failed list or watch with an
// exponential backoff that grows to 30–60 s and only resets after two quiet
// minutes, and neither controller-runtime nor the shared informer lets it be
// tuned. After an outage of a minute, changes made meanwhile would reach Envoys
// 35–60 s after the API server is back. Here a list or watch that cannot reach
// the API server does not fail: it retries on its own, with a short, capped
// backoff, so the reflector sees one slow call instead of a string of failures,
// and resumes within seconds of the API server's return.
package patient

import (
	"context"
	"errors"
	"net"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"
)

// Backoff bounds the retries of an unreachable API server: from First, doubling up
// to Max. Max is the longest a change can wait after the API server is back.
var Backoff = struct{ First, Max time.Duration }{First: 250 * time.Millisecond, Max: 2 * time.Second}

// NewSharedIndexInformer is client-go's constructor with a patient ListerWatcher;
// it fits controller-runtime's cache.Options.NewInformer.
func NewSharedIndexInformer(lw toolscache.ListerWatcher, obj runtime.Object, resync time.Duration, indexers toolscache.Indexers) toolscache.SharedIndexInformer {
	return toolscache.NewSharedIndexInformer(Wrap(lw), obj, resync, indexers)
}

// Wrap returns lw with lists and watches that wait for an unreachable API server.
func Wrap(lw toolscache.ListerWatcher) toolscache.ListerWatcher {
	return &listerWatcher{inner: toolscache.ToListerWatcherWithContext(lw), raw: lw}
}

type listerWatcher struct {
	inner toolscache.ListerWatcherWithContext
	raw   toolscache.ListerWatcher
}

func (lw *listerWatcher) List(options metav1.ListOptions) (runtime.Object, error) {
	return lw.ListWithContext(context.Background(), options)
}

func (lw *listerWatcher) Watch(options metav1.ListOptions) (watch.Interface, error) {
	return lw.WatchWithContext(context.Background(), options)
}

func (lw *listerWatcher) ListWithContext(ctx context.Context, options metav1.ListOptions) (runtime.Object, error) {
	return retry(ctx, func() (runtime.Object, error) { return lw.inner.ListWithContext(ctx, options) })
}

func (lw *listerWatcher) WatchWithContext(ctx context.Context, options metav1.ListOptions) (watch.Interface, error) {
	return retry(ctx, func() (watch.Interface, error) { return lw.inner.WatchWithContext(ctx, options) })
}

// IsWatchListSemanticsUnSupported passes the wrapped client's answer on to the
// reflector, which decides from it whether to list by watch.
func (lw *listerWatcher) IsWatchListSemanticsUnSupported() bool {
	u, ok := lw.raw.(interface{ IsWatchListSemanticsUnSupported() bool })
	return ok && u.IsWatchListSemanticsUnSupported()
}

// retry calls f until it succeeds, fails for another reason than an unreachable
// or unavailable API server, or ctx ends.
func retry[T any](ctx context.Context, f func() (T, error)) (T, error) {
	delay := Backoff.First
	for {
		v, err := f()
		if err == nil || !Unreachable(err) {
			return v, err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return v, err
		case <-t.C:
		}
		delay = min(2*delay, Backoff.Max)
	}
}

// Unreachable reports whether err says the API server (or its etcd) cannot answer
// now, as opposed to refusing the request.
func Unreachable(err error) bool {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err) ||
			apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err)
	}
	return utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) || utilnet.IsProbableEOF(err) ||
		errors.Is(err, context.DeadlineExceeded) || isNetError(err)
}

func isNetError(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr)
}
