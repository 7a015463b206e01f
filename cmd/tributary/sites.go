package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
)

// runSites prints what a hub knows of its sites: `tributary sites --addr
// HUB:PORT` (the hub's gRPC API address, grpc.listen).
func runSites(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("sites", "tributary sites --addr HOST:PORT [--json] [--token-file FILE] [--tls-ca FILE]", stderr)
	addr := fs.String("addr", "127.0.0.1:9091", "the hub's gRPC API address (its grpc.listen)")
	asJSON := fs.Bool("json", false, "print the hub's answer as JSON")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
	var api apiFlags
	api.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return finish(stderr, err)
	}
	dopts, err := api.dialOptions("sites")
	if err != nil {
		return finish(stderr, err)
	}
	conn, err := grpc.NewClient(*addr, dopts...)
	if err != nil {
		return finish(stderr, usageError{fmt.Errorf("sites: --addr %q: %w", *addr, err)})
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	resp, err := tributaryv1.NewSiteServiceClient(conn).ListSites(ctx, &tributaryv1.ListSitesRequest{})
	if err != nil {
		return finish(stderr, fmt.Errorf("sites: %s: %w", *addr, err))
	}
	if *asJSON {
		b, err := protojson.MarshalOptions{Multiline: true, EmitUnpopulated: true}.Marshal(resp)
		if err != nil {
			return finish(stderr, err)
		}
		fmt.Fprintln(stdout, string(b))
		return exitOK
	}
	printSites(stdout, resp, time.Now())
	return exitOK
}

// printSites writes one line per site and stream: partitions summed, the
// oldest unacknowledged record the oldest of them.
func printSites(w io.Writer, resp *tributaryv1.ListSitesResponse, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SITE\tSTATE\tLAST CONTACT\tVERSION\tSTREAM\tEDGE HEAD\tHUB CHECKPOINT\tLAG RECORDS\tLAG BYTES\tOLDEST NOT AT HUB\tGAPS")
	for _, s := range resp.GetSites() {
		state := "disconnected"
		if s.GetConnected() {
			state = "connected"
		}
		last := "never"
		if t := s.GetLastContact(); t != nil {
			last = now.Sub(t.AsTime()).Round(time.Second).String() + " ago"
		}
		type sum struct {
			head, ckpt, lag, bytes uint64
			oldest                 float64
		}
		var order []string
		sums := map[string]*sum{}
		for _, p := range s.GetPartitions() {
			x := sums[p.GetStream()]
			if x == nil {
				x = &sum{}
				sums[p.GetStream()] = x
				order = append(order, p.GetStream())
			}
			x.head += p.GetEdgeHead()
			x.ckpt += p.GetHubCheckpoint()
			x.lag += p.GetLagRecords()
			x.bytes += p.GetLagBytes()
			x.oldest = max(x.oldest, p.GetOldestUnackedSeconds())
		}
		if len(order) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t-\t\t\t\t\t\t%d\n", s.GetSite(), state, last, s.GetVersion(), s.GetGapRecords())
		}
		for _, name := range order {
			x := sums[name]
			oldest := "-"
			if x.lag > 0 && x.oldest > 0 {
				oldest = (time.Duration(x.oldest * float64(time.Second))).Round(time.Second).String()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%d\n", s.GetSite(), state, last, s.GetVersion(), name,
				x.head, x.ckpt, x.lag, x.bytes, oldest, s.GetGapRecords())
		}
	}
	tw.Flush()
}
