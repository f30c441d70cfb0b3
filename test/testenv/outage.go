package testenv

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Outage is a TCP proxy to the API server that a test can cut: connections
// through it are dropped and new ones refused, as when the API server is
// unreachable from one replica while others still reach it. (To stop the API
// server for everyone, start the environment with Options.StateDir and stop its
// control plane.)
type Outage struct {
	// Addr is the proxy's host:port; clients use it in place of the API server's.
	Addr string

	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

// NewOutage starts a proxy to upstream (host:port), closed when the test ends.
func NewOutage(t testing.TB, upstream string) *Outage {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &Outage{Addr: l.Addr().String()}
	t.Cleanup(func() { _ = l.Close(); o.Cut() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			o.mu.Lock()
			down := o.down
			o.mu.Unlock()
			var up net.Conn
			if !down {
				up, err = net.Dial("tcp", upstream)
			}
			if down || err != nil {
				_ = c.Close()
				continue
			}
			o.mu.Lock()
			o.conns = append(o.conns, c, up)
			o.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
			go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
		}
	}()
	return o
}

// Cut drops every connection and refuses new ones until Restore.
func (o *Outage) Cut() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.down = true
	for _, c := range o.conns {
		_ = c.Close()
	}
	o.conns = nil
}

// Restore lets connections through again.
func (o *Outage) Restore() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.down = false
}
