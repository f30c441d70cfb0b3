package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	statusv3 "github.com/envoyproxy/go-control-plane/envoy/service/status/v3"

	"github.com/arcturus-dev/arcturus/xds/kinds"
)

// columns are the proxy-status type columns, one per kind, in table order.
var columns = func() []column {
	out := make([]column, len(kinds.All))
	for i, k := range kinds.All {
		out[i] = column{header: k.API, typeURL: k.TypeURL}
	}
	return out
}()

type column struct{ header, typeURL string }

const proxyStatusSummary = "List every connected Envoy and whether it runs the current configuration, per xDS type"

func proxyStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var common commonFlags
	fs := newFlagSet("proxy-status", "[flags]", proxyStatusSummary, stderr)
	common.bind(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	resp, err := fetchStatus(ctx, common, &statusv3.ClientStatusRequest{ExcludeResourceContents: true})
	if err != nil {
		return err
	}
	if len(resp.GetConfig()) == 0 {
		fmt.Fprintf(stderr, "No Envoy is connected to %s.\n", common.xdsAddress)
		return nil
	}
	return writeProxyStatus(stdout, resp)
}

// typeStatus is one node's summary of one xDS type.
type typeStatus struct {
	// Status is SYNCED, STALE or NACKED; empty when the node holds nothing of the type.
	Status string
	// Version is the version the node last ACKed.
	Version string
	// Errors are the NACK messages, by resource name.
	Errors map[string]string
}

// String is the table cell: "SYNCED (1a2b3c4d)", or "-" for nothing.
func (s typeStatus) String() string {
	switch {
	case s.Status == "":
		return "-"
	case s.Version == "":
		return s.Status
	default:
		return fmt.Sprintf("%s (%s)", s.Status, shortVersion(s.Version))
	}
}

// summarize folds the per-resource statuses of one type: NACKED when any
// resource is in error, else STALE when any is, else SYNCED.
func summarize(cc *statusv3.ClientConfig, typeURL string) typeStatus {
	var s typeStatus
	rank := map[string]int{"": 0, "SYNCED": 1, "STALE": 2, "NACKED": 3}
	for _, c := range cc.GetGenericXdsConfigs() {
		if c.GetTypeUrl() != typeURL {
			continue
		}
		st := ""
		switch c.GetConfigStatus() {
		case statusv3.ConfigStatus_SYNCED, statusv3.ConfigStatus_NOT_SENT:
			st = "SYNCED"
		case statusv3.ConfigStatus_STALE:
			st = "STALE"
		case statusv3.ConfigStatus_ERROR:
			st = "NACKED"
			if s.Errors == nil {
				s.Errors = map[string]string{}
			}
			s.Errors[c.GetName()] = c.GetErrorState().GetDetails()
		}
		if rank[st] > rank[s.Status] {
			s.Status = st
		}
		if s.Version == "" {
			s.Version = c.GetVersionInfo()
		}
	}
	return s
}

// shortVersion abbreviates a version for the table.
func shortVersion(v string) string {
	if len(v) > 8 {
		return v[:8]
	}
	return v
}

// writeProxyStatus prints one row per node, then the NACK messages if any.
func writeProxyStatus(w io.Writer, resp *statusv3.ClientStatusResponse) error {
	configs := slices.Clone(resp.GetConfig())
	slices.SortFunc(configs, func(a, b *statusv3.ClientConfig) int {
		return strings.Compare(a.GetNode().GetId(), b.GetNode().GetId())
	})
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprint(tw, "NAME")
	for _, c := range columns {
		fmt.Fprintf(tw, "\t%s", c.header)
	}
	fmt.Fprintln(tw)
	var nacks []string
	for _, cc := range configs {
		fmt.Fprint(tw, cc.GetNode().GetId())
		for _, c := range columns {
			s := summarize(cc, c.typeURL)
			fmt.Fprintf(tw, "\t%s", s)
			names := make([]string, 0, len(s.Errors))
			for name := range s.Errors {
				names = append(names, name)
			}
			slices.Sort(names)
			for _, name := range names {
				nacks = append(nacks, fmt.Sprintf("%s %s %q: %s", cc.GetNode().GetId(), c.header, name, oneLine(s.Errors[name])))
			}
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(nacks) > 0 {
		fmt.Fprintln(w, "\nNACKED:")
		for _, n := range nacks {
			fmt.Fprintln(w, "  "+n)
		}
	}
	return nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
