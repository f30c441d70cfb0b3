package cli

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// redacted replaces secret material in dumps, as in Envoy's own /config_dump.
const redacted = "[redacted]"

// redact returns a resource fit to print: an SDS secret with its private key
// (and any generic secret) replaced by "[redacted]"; anything else unchanged.
// Private keys never appear in a dump.
func redact(typeURL string, a *anypb.Any) (*anypb.Any, error) {
	if typeURL != resourcev3.SecretType {
		return a, nil
	}
	var s tlsv3.Secret
	if err := a.UnmarshalTo(&s); err != nil {
		return nil, err
	}
	hidden := &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: redacted}}
	if c := s.GetTlsCertificate(); c != nil {
		if c.PrivateKey != nil {
			c.PrivateKey = hidden
		}
		if c.Password != nil {
			c.Password = hidden
		}
	}
	if g := s.GetGenericSecret(); g != nil {
		g.Secret = hidden
	}
	return anypb.New(&s)
}
