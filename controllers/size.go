package controllers

import (
	"encoding/json"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	ourv1alpha1 "github.com/arcturus-dev/arcturus/api/v1alpha1"
)

// Size limits of what the API server can store.
//
// Reasoning: etcd refuses a write larger than its --max-request-bytes (1.5 MiB
// by default, and on managed clusters), and the API server stores a custom
// resource as one JSON value. Once a spec is accepted, status.lastAccepted holds
// a copy of spec.config (so the last accepted configuration survives a restart
// and is the same on every replica), and the status subresource's managedFields
// entry lists its fields again: an object admitted near the limit would never
// get a status. So the webhook and the reconciler refuse a spec whose object
// would not fit once its status holds that copy. The estimate is computed from
// the object alone, without encoding it, so every replica decides the same, at
// every reconcile.
const (
	// maxStoredObjectBytes is what an object may take in etcd, with a margin for
	// the request around it; measured against envtest's kube-apiserver and etcd
	// (see TestStoredSizeLimit and docs/validation.md).
	maxStoredObjectBytes = 1536*1024 - 8*1024
	// statusReserveBytes covers what the estimate does not count: names, UID,
	// timestamps, the three conditions (messages up to maxConditionMessage),
	// status.proxies and the managedFields bookkeeping.
	statusReserveBytes = 24 * 1024
)

// errTooLargeToStore is the message of a status write that etcd refused.
const errTooLargeToStore = "request is too large"

// projectedSize estimates the bytes the object takes in etcd once its status
// holds status.lastAccepted for the current spec.
func projectedSize(o ourv1alpha1.Object) int {
	spec := o.EnvoySpec()
	n := statusReserveBytes
	// spec.config, and its copy in status.lastAccepted.config.
	n += 2 * len(spec.Config.Raw)
	if spec.WorkloadSelector != nil {
		if b, err := json.Marshal(spec.WorkloadSelector); err == nil {
			n += 2 * len(b)
		}
	}
	for _, m := range []map[string]string{o.GetLabels(), o.GetAnnotations()} {
		if b, err := json.Marshal(m); err == nil {
			n += len(b)
		}
	}
	// The entries of whoever wrote the spec; the status writer's entry, which
	// lists the fields of status.lastAccepted.config, is about as large as theirs.
	// It is estimated from theirs rather than read, so that the estimate does not
	// change once the status is written.
	for _, mf := range o.GetManagedFields() {
		if mf.Subresource == "status" || mf.FieldsV1 == nil {
			continue
		}
		n += 2 * len(mf.FieldsV1.Raw)
	}
	return n
}

// sizeError returns the error of an object too large to be stored with its
// status, or nil. It names the limit and how much spec.config may take.
func sizeError(o ourv1alpha1.Object) *field.Error {
	size := projectedSize(o)
	if size <= maxStoredObjectBytes {
		return nil
	}
	configLen := len(o.EnvoySpec().Config.Raw)
	room := max(0, (maxStoredObjectBytes-(size-2*configLen))/2)
	detail := fmt.Sprintf("with its copy in status.lastAccepted the object would take about %d KiB, "+
		"more than the %d KiB the API server can store (etcd's 1.5 MiB request limit): spec.config has %d bytes, at most %d fit",
		kib(size), kib(maxStoredObjectBytes), configLen, room)
	if _, ok := o.GetAnnotations()[lastAppliedAnnotation]; ok {
		detail += " (client-side kubectl apply keeps another copy in an annotation; kubectl apply --server-side does not)"
	}
	return &field.Error{Type: field.ErrorTypeTooLong, Field: "spec.config", BadValue: field.OmitValueType{}, Detail: detail}
}

// lastAppliedAnnotation is where client-side kubectl apply keeps a copy of the object.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

func kib(n int) int { return (n + 1023) / 1024 }

// isTooLargeToStore reports whether err is etcd refusing a write for its size.
func isTooLargeToStore(err error) bool {
	return err != nil && strings.Contains(err.Error(), errTooLargeToStore)
}
