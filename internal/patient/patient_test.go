package patient

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"
)

func TestListWaitsForAnUnreachableAPIServer(t *testing.T) {
	Backoff.First, Backoff.Max = time.Millisecond, 2*time.Millisecond
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{}}
	tests := []struct {
		name      string
		failures  []error // returned by the first calls, then success
		wantErr   bool
		wantCalls int
	}{
		{"connection refused, then up", []error{syscall.ECONNREFUSED, syscall.ECONNREFUSED}, false, 3},
		{"a network error, then up", []error{refused}, false, 2},
		{"etcd unavailable, then up", []error{apierrors.NewServiceUnavailable("etcd"), apierrors.NewInternalError(errors.New("etcdserver: request timed out"))}, false, 3},
		{"forbidden is an answer, not an outage", []error{apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New("no"))}, true, 1},
		{"a bad request is an answer", []error{apierrors.NewBadRequest("no")}, true, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			lw := Wrap(&toolscache.ListWatch{
				ListWithContextFunc: func(context.Context, metav1.ListOptions) (runtime.Object, error) {
					calls++
					if calls <= len(tc.failures) {
						return nil, tc.failures[calls-1]
					}
					return &corev1.PodList{}, nil
				},
				WatchFuncWithContext: func(context.Context, metav1.ListOptions) (watch.Interface, error) {
					return watch.NewEmptyWatch(), nil
				},
			})
			_, err := lw.(toolscache.ListerWithContext).ListWithContext(context.Background(), metav1.ListOptions{})
			if (err != nil) != tc.wantErr || calls != tc.wantCalls {
				t.Errorf("err %v after %d calls; want error %v after %d", err, calls, tc.wantErr, tc.wantCalls)
			}
		})
	}
}

func TestWatchGivesUpWhenTheContextEnds(t *testing.T) {
	Backoff.First, Backoff.Max = time.Millisecond, 2*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	lw := Wrap(&toolscache.ListWatch{
		ListWithContextFunc: func(context.Context, metav1.ListOptions) (runtime.Object, error) { return &corev1.PodList{}, nil },
		WatchFuncWithContext: func(context.Context, metav1.ListOptions) (watch.Interface, error) {
			if calls++; calls == 3 {
				cancel()
			}
			return nil, syscall.ECONNREFUSED
		},
	})
	if _, err := lw.(toolscache.WatcherWithContext).WatchWithContext(ctx, metav1.ListOptions{}); !errors.Is(err, syscall.ECONNREFUSED) || calls != 3 {
		t.Errorf("err %v after %d calls; want the refusal after 3", err, calls)
	}
}
