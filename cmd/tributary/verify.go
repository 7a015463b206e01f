package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	firmwaresim "github.com/tributary-io/tributary/firmware-sim"
)

const verifySynopsis = `tributary verify --ledger FILE [--addr HOST:PORT] [--streams a,b] [--until 30s] [--json] [--details 20]

Reads a hub's streams and checks them against the simulator's ledger: per
device, the acknowledged messages that are missing (as sequence ranges), those
stored more than once, and those out of order. Copies of messages the ledger
marks resent are counted but do not fail: MQTT QoS 1 is at-least-once.

Exit codes: 0 every acknowledged message is at the hub exactly once and in
order; 1 problems found (or the hub could not be read); 2 a usage error (a bad
flag, an unreadable ledger, an unknown stream).`

// verifyOptions are verify's flags, checked.
type verifyOptions struct {
	ledger  string
	addr    string
	json    bool
	details int
	opts    firmwaresim.VerifyOptions
}

// runVerify is `tributary verify`.
func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseVerify(args, stderr)
	if err != nil {
		return finish(stderr, err)
	}
	ok, err := verify(ctx, o, stdout)
	if err != nil {
		return finish(stderr, err)
	}
	if !ok {
		return exitFailure
	}
	return exitOK
}

func parseVerify(args []string, stderr io.Writer) (verifyOptions, error) {
	var o verifyOptions
	fs := newFlagSet("verify", verifySynopsis, stderr)
	fs.StringVar(&o.ledger, "ledger", "", "the simulator's ledger file (required)")
	fs.StringVar(&o.addr, "addr", "127.0.0.1:9091", "the hub's gRPC API address (its grpc.listen; plaintext)")
	streams := fs.String("streams", "", "comma-separated streams to read (default: every stream of the hub)")
	fs.DurationVar(&o.opts.Until, "until", 0, "read again until every acknowledged message is there, the hub stops growing, or this long has passed (0: read once)")
	fs.DurationVar(&o.opts.Quiet, "quiet", 0, "with --until: stop early once the hub has not grown for this long and has no replication lag for the site (default 5s)")
	fs.StringVar(&o.opts.Site, "site", "", "count only records of this site (default: the ledger's site)")
	fs.BoolVar(&o.opts.IncludeUnlabelled, "include-unlabelled", false, "also count records without a tributary.site header (reading an edge node directly)")
	fs.BoolVar(&o.json, "json", false, "print the whole report as JSON")
	fs.IntVar(&o.details, "details", 20, "list at most this many failing devices")
	if err := parseFlags(fs, args); err != nil {
		return o, err
	}
	if o.ledger == "" {
		return o, usageError{errors.New("verify: --ledger FILE is required (the ledger `tributary sim` writes)")}
	}
	if *streams != "" {
		for _, s := range strings.Split(*streams, ",") {
			if s = strings.TrimSpace(s); s != "" {
				o.opts.Streams = append(o.opts.Streams, s)
			}
		}
	}
	if o.opts.Until < 0 {
		return o, usageError{fmt.Errorf("verify: --until %v: want 0 (read once) or more", o.opts.Until)}
	}
	if o.details < 0 {
		return o, usageError{fmt.Errorf("verify: --details %d: want 0 or more", o.details)}
	}
	return o, nil
}

// verify runs the check and prints the report; it says whether the hub
// passed.
func verify(ctx context.Context, o verifyOptions, stdout io.Writer) (bool, error) {
	ledger, err := firmwaresim.ReadLedger(o.ledger)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, usageError{fmt.Errorf("verify: --ledger: %w", err)}
		}
		return false, usageError{fmt.Errorf("verify: %w", err)} // FILE:LINE: what is wrong
	}
	conn, err := grpc.NewClient(o.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return false, usageError{fmt.Errorf("verify: --addr %q: %w", o.addr, err)}
	}
	defer conn.Close()
	r, err := firmwaresim.Verify(ctx, conn, ledger, o.opts)
	switch {
	case err != nil && firmwaresim.IsUsageError(err):
		return false, usageError{fmt.Errorf("verify: %w", err)}
	case err != nil:
		return false, fmt.Errorf("verify: reading the hub at %s: %w", o.addr, err)
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return r.OK(), enc.Encode(struct {
			OK      bool   `json:"ok"`
			Summary string `json:"summary"`
			*firmwaresim.Report
		}{r.OK(), r.Summary(), r})
	}
	fmt.Fprintln(stdout, r.Summary())
	return r.OK(), r.WriteDetails(stdout, o.details)
}
