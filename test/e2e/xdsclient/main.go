// Command xdsclient is the e2e tests' gRPC data plane: grpc-go's production xDS
// client, configured only by the GRPC_XDS_BOOTSTRAP_CONFIG environment variable
// (read by grpc-go at package initialisation, which is why it runs as its own
// process rather than inside the test binary).
//
// It dials -target and, every -interval, calls the standard health service's
// Check method. Each RPC prints one line to stdout:
//
//	ok <backend>      the RPC succeeded; <backend> is the value of the "backend"
//	                  response header set by the server that answered
//	error <code> <message>
//	                  the RPC failed: its gRPC status code (e.g. Unavailable)
//	                  and message, on one line
//
// It runs until it is killed, or until -count RPCs have been made.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	// Registers the xds:/// resolver and the xDS load-balancing policies.
	_ "google.golang.org/grpc/xds"
)

func main() {
	target := flag.String("target", "xds:///echo", "gRPC target to dial")
	interval := flag.Duration("interval", 100*time.Millisecond, "pause between RPCs")
	timeout := flag.Duration("timeout", 2*time.Second, "deadline of each RPC")
	count := flag.Int("count", 0, "stop after this many RPCs (0: never)")
	flag.Parse()

	if os.Getenv("GRPC_XDS_BOOTSTRAP_CONFIG") == "" && os.Getenv("GRPC_XDS_BOOTSTRAP") == "" {
		fmt.Fprintln(os.Stderr, "xdsclient: neither GRPC_XDS_BOOTSTRAP_CONFIG nor GRPC_XDS_BOOTSTRAP is set")
		os.Exit(2)
	}

	conn, err := grpc.NewClient(*target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "xdsclient: dial:", err)
		os.Exit(1)
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)

	// Flushed after every line so the test sees each result as it happens.
	out := bufio.NewWriter(os.Stdout)
	for i := 0; *count == 0 || i < *count; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		var header metadata.MD
		_, err := health.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&header))
		cancel()
		if err != nil {
			st := status.Convert(err)
			fmt.Fprintf(out, "error %s %s\n", st.Code(), strings.ReplaceAll(st.Message(), "\n", " "))
		} else {
			backend := "<none>"
			if v := header.Get("backend"); len(v) > 0 {
				backend = v[0]
			}
			fmt.Fprintf(out, "ok %s\n", backend)
		}
		if err := out.Flush(); err != nil {
			// The reader went away: the test is over.
			os.Exit(0)
		}
		time.Sleep(*interval)
	}
}
