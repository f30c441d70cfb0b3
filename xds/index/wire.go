package index

import (
	"crypto/sha256"
	"encoding/hex"
	"hash/fnv"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/runtime/protoiface"
)

// Encoded is a proto message whose deterministic encoding was computed once.
//
// Reasoning: go-control-plane marshals every resource of every response through
// proto.Marshal, once per stream. With a thousand Envoys receiving the same
// resource, that is a thousand serializations of identical bytes. Encoded answers
// proto.Marshal's fast path with a copy of the bytes computed when the resource
// was indexed, so each resource version is serialized once and shared by every
// node that receives it. Reads (field access through reflection) go to the
// wrapped message, so the value behaves like the original everywhere else.
type Encoded struct {
	proto.Message
	name    string
	bytes   []byte
	methods protoiface.Methods

	sha256 func() string
}

// NewEncoded wraps m, the Envoy resource called name, with its deterministic
// encoding.
func NewEncoded(name string, m proto.Message) (*Encoded, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, err
	}
	e := &Encoded{Message: m, name: name, bytes: b}
	e.sha256 = sync.OnceValue(func() string {
		sum := sha256.Sum256(e.bytes)
		return hex.EncodeToString(sum[:])
	})
	e.methods = protoiface.Methods{
		Flags: protoiface.SupportMarshalDeterministic,
		Size:  func(protoiface.SizeInput) protoiface.SizeOutput { return protoiface.SizeOutput{Size: len(e.bytes)} },
		Marshal: func(in protoiface.MarshalInput) (protoiface.MarshalOutput, error) {
			return protoiface.MarshalOutput{Buf: append(in.Buf, e.bytes...)}, nil
		},
		// Validated Envoy protos are proto3: nothing can be missing.
		CheckInitialized: func(protoiface.CheckInitializedInput) (protoiface.CheckInitializedOutput, error) {
			return protoiface.CheckInitializedOutput{}, nil
		},
	}
	return e, nil
}

// GetName returns the Envoy resource name. go-control-plane finds resource names
// through this method (types.ResourceWithName), e.g. for delta version maps.
func (e *Encoded) GetName() string { return e.name }

// SHA256 returns the hex SHA-256 of the encoding, computed once: go-control-plane
// versions delta resources this way.
func (e *Encoded) SHA256() string { return e.sha256() }

// Bytes returns the encoding; callers must not modify it.
func (e *Encoded) Bytes() []byte { return e.bytes }

// Hash returns the content hash of the encoding (see Hash).
func (e *Encoded) Hash() uint64 { return hashBytes(e.bytes) }

// ProtoReflect implements proto.Message with the precomputed encoding.
func (e *Encoded) ProtoReflect() protoreflect.Message {
	return encodedReflect{Message: e.Message.ProtoReflect(), e: e}
}

type encodedReflect struct {
	protoreflect.Message
	e *Encoded
}

func (r encodedReflect) Interface() protoreflect.ProtoMessage { return r.e }

func (r encodedReflect) ProtoMethods() *protoiface.Methods { return &r.e.methods }

func hashBytes(b []byte) uint64 {
	h := fnv.New64a()
	_, _ = h.Write(b)
	return h.Sum64()
}
