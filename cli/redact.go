package cli

import (
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/arcturus-dev/arcturus/xds/translate"
)

// redacted replaces secret material in dumps, as in Envoy's own /config_dump.
const redacted = translate.Redacted

// redact returns a resource fit to print (see translate.Redact): private keys
// never appear in a dump.
func redact(typeURL string, a *anypb.Any) (*anypb.Any, error) { return translate.Redact(typeURL, a) }
