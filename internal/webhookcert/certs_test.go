package webhookcert

import (
	"bytes"
	"net"
	"testing"
	"time"
)

var testNames = names{dns: []string{"svc.ns.svc", "svc.ns.svc.cluster.local"}, ips: []net.IP{net.ParseIP("127.0.0.1")}}

func mustDesired(t *testing.T, in map[string][]byte, n names, now time.Time, p plan) (map[string][]byte, string) {
	t.Helper()
	out, reason, err := desired(in, n, now, p)
	if err != nil {
		t.Fatal(err)
	}
	return out, reason
}

func TestDesired(t *testing.T) {
	now := time.Now()
	fresh, reason := mustDesired(t, nil, testNames, now, plan{})
	if reason == "" {
		t.Fatal("nothing generated")
	}
	everyPlan := []plan{{}, {renewCA: true}, {renewCA: true, renewServing: true}}

	t.Run("a fresh Secret is left alone by every plan", func(t *testing.T) {
		for _, p := range everyPlan {
			if _, reason := mustDesired(t, fresh, testNames, now, p); reason != "" {
				t.Errorf("%+v: %s", p, reason)
			}
		}
	})

	t.Run("renewal is the leader's: a start only repairs", func(t *testing.T) {
		later := now.Add(300 * day)
		if _, reason := mustDesired(t, fresh, testNames, later, plan{}); reason != "" {
			t.Errorf("start renewed a usable certificate: %s", reason)
		}
		out, reason := mustDesired(t, fresh, testNames, later, plan{renewCA: true, renewServing: true})
		if reason == "" || bytes.Equal(out[TLSCertKey], fresh[TLSCertKey]) || !bytes.Equal(out[CACertKey], fresh[CACertKey]) {
			t.Errorf("leader: %q", reason)
		}
	})

	t.Run("a broken serving key is replaced, the CA kept", func(t *testing.T) {
		in := copyData(fresh)
		in[TLSKeyKey] = []byte("garbage")
		out, reason := mustDesired(t, in, testNames, now, plan{})
		if reason == "" || !bytes.Equal(out[CACertKey], fresh[CACertKey]) || !bytes.Equal(out[CAKeyKey], fresh[CAKeyKey]) {
			t.Errorf("got %q", reason)
		}
	})

	t.Run("a new name gets a new serving certificate", func(t *testing.T) {
		more := names{dns: append([]string{"extra.example.test"}, testNames.dns...), ips: testNames.ips}
		out, reason := mustDesired(t, fresh, more, now, plan{})
		if reason == "" || bytes.Equal(out[TLSCertKey], fresh[TLSCertKey]) {
			t.Errorf("got %q", reason)
		}
		if err := mustLeaf(t, out[TLSCertKey]).VerifyHostname("extra.example.test"); err != nil {
			t.Error(err)
		}
		// A replica that wants fewer names is happy with more.
		if _, reason := mustDesired(t, out, testNames, now, plan{renewCA: true, renewServing: true}); reason != "" {
			t.Errorf("fewer names: %s", reason)
		}
	})

	t.Run("a lost CA key: a new CA, the old one still trusted until its serving certificate is replaced", func(t *testing.T) {
		in := copyData(fresh)
		delete(in, CAKeyKey)
		out, reason := mustDesired(t, in, testNames, now, plan{})
		cas := parseCerts(out[CACertKey])
		if reason == "" || len(cas) != 2 || !bytes.Equal(out[TLSCertKey], fresh[TLSCertKey]) {
			t.Fatalf("got %q with %d CAs", reason, len(cas))
		}
		out2, reason := mustDesired(t, out, testNames, now, plan{renewCA: true, renewServing: true})
		if reason == "" || mustLeaf(t, out2[TLSCertKey]).CheckSignatureFrom(cas[0]) != nil {
			t.Errorf("serving certificate not re-issued by the new CA: %q", reason)
		}
	})

	t.Run("other keys are kept", func(t *testing.T) {
		in := map[string][]byte{"note": []byte("mine")}
		out, _ := mustDesired(t, in, testNames, now, plan{})
		if string(out["note"]) != "mine" {
			t.Error("lost a key")
		}
	})
}

func copyData(in map[string][]byte) map[string][]byte {
	out := make(map[string][]byte, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}
