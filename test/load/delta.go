package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"

	"github.com/arcturus-dev/arcturus/xds/kinds"
)

// deltaSession runs one delta (incremental) ADS stream until it fails or ctx
// ends. CDS and LDS are explicit wildcards ("*"), EDS and RDS subscribe by name,
// and a reconnect sends initial_resource_versions, as Envoy does.
func (e *envoy) deltaSession(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := e.client.DeltaAggregatedResources(ctx, grpc.WaitForReady(true))
	if err != nil {
		return err
	}
	e.opened()
	for i, k := range e.resumeOrder() {
		e.mu.Lock()
		req := &discoveryv3.DeltaDiscoveryRequest{
			TypeUrl:                 k.TypeURL,
			ResourceNamesSubscribe:  deltaNames(e.subscribed[k.TypeURL]),
			InitialResourceVersions: maps.Clone(e.resVersion[k.TypeURL]),
		}
		e.mu.Unlock()
		if i == 0 {
			req.Node = e.node()
		}
		if err := stream.Send(req); err != nil {
			return err
		}
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		if err := e.handleDelta(stream, resp); err != nil {
			return err
		}
	}
}

// deltaNames turns subscribed names into a delta subscription: nil is the wildcard.
func deltaNames(names []string) []string {
	if names == nil {
		return []string{"*"}
	}
	return names
}

// handleDelta applies a delta response to what the Envoy holds, ACKs it, and
// sends the follow-up subscription changes.
func (e *envoy) handleDelta(stream discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient, resp *discoveryv3.DeltaDiscoveryResponse) error {
	kind, ok := kindByTypeURL(resp.GetTypeUrl())
	if !ok {
		return fmt.Errorf("delta response of unknown type %s", resp.GetTypeUrl())
	}
	n := len(resp.GetResources())
	typeURLs, values, names := make([]string, n), make([][]byte, n), make([]string, n)
	for i, r := range resp.GetResources() {
		typeURLs[i], values[i], names[i] = r.GetResource().GetTypeUrl(), r.GetResource().GetValue(), r.GetName()
	}
	changed, err := decodeAll(kind, typeURLs, values, names)
	if err != nil {
		return err
	}
	e.mu.Lock()
	got := maps.Clone(e.held[kind.TypeURL])
	if got == nil {
		got = map[string]uint64{}
	}
	versions := e.resVersion[kind.TypeURL]
	if versions == nil {
		versions = map[string]string{}
		e.resVersion[kind.TypeURL] = versions
	}
	for _, r := range resp.GetResources() {
		versions[r.GetName()] = r.GetVersion()
	}
	for _, name := range resp.GetRemovedResources() {
		delete(got, name)
		delete(versions, name)
	}
	e.mu.Unlock()
	maps.Copy(got, changed)
	if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: kind.TypeURL, ResponseNonce: resp.GetNonce()}); err != nil {
		return err
	}
	refs := e.record(kind, got, len(changed), time.Now())
	next := e.nextSubscriptions(kind, refs)
	for _, k := range simulatedKinds {
		change, ok := next[k.TypeURL]
		if !ok {
			continue
		}
		if err := stream.Send(e.deltaChange(k, change)); err != nil {
			return err
		}
	}
	return nil
}

// deltaChange is the request that moves a type's subscription. Envoy forgets
// what it unsubscribes from; the server sends no removal for it.
func (e *envoy) deltaChange(kind kinds.Kind, change subChange) *discoveryv3.DeltaDiscoveryRequest {
	req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: kind.TypeURL}
	if change.Next == nil {
		req.ResourceNamesSubscribe = []string{"*"}
		return req
	}
	for _, n := range change.Next {
		if !slices.Contains(change.Prev, n) {
			req.ResourceNamesSubscribe = append(req.ResourceNamesSubscribe, n)
		}
	}
	for _, n := range change.Prev {
		if !slices.Contains(change.Next, n) {
			req.ResourceNamesUnsubscribe = append(req.ResourceNamesUnsubscribe, n)
		}
	}
	if len(req.ResourceNamesUnsubscribe) > 0 {
		e.mu.Lock()
		held := maps.Clone(e.held[kind.TypeURL])
		for _, n := range req.ResourceNamesUnsubscribe {
			delete(held, n)
			delete(e.resVersion[kind.TypeURL], n)
		}
		e.held[kind.TypeURL] = held
		e.mu.Unlock()
	}
	return req
}
