package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/tributary-io/tributary/gateway/config"
	"github.com/tributary-io/tributary/spool"
)

// errProblems marks a check that ran and found damage (exit code 1).
var errProblems = errors.New("the spool has problems")

func runSpool(_ context.Context, args []string, stdout, stderr io.Writer) int {
	const usageText = "Usage: tributary spool check|stat --dir DIR   (DIR is the node's data_dir/spool)"
	if len(args) == 0 || (args[0] != "check" && args[0] != "stat") {
		fmt.Fprintln(stderr, usageText)
		return exitUsage
	}
	fs := newFlagSet("spool "+args[0], "tributary spool "+args[0]+" --dir DIR [--json]", stderr)
	dir := fs.String("dir", "", "the spool directory: the node's data_dir/spool")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parseFlags(fs, args[1:]); err != nil {
		return finish(stderr, err)
	}
	if *dir == "" {
		return finish(stderr, usageError{errors.New("spool " + args[0] + ": --dir DIR is required")})
	}
	var err error
	if args[0] == "check" {
		err = spoolCheck(*dir, *asJSON, stdout)
	} else {
		err = spoolStat(*dir, *asJSON, stdout)
	}
	if errors.Is(err, errProblems) {
		return exitFailure
	}
	return finish(stderr, err)
}

func spoolCheck(dir string, asJSON bool, w io.Writer) error {
	r, err := spool.CheckDir(dir)
	if err != nil {
		return err
	}
	if asJSON {
		if err := writeJSON(w, r); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(w, "spool %s (epoch %s)\n", r.Path, r.Epoch)
		fmt.Fprintf(w, "%d streams, %d partitions, %d batches, %d records, %d gaps\n", r.Streams, r.Partitions, r.Batches, r.Records, r.Gaps)
		for _, p := range r.Problems {
			fmt.Fprintln(w, "PROBLEM:", p)
		}
		if r.OK() {
			fmt.Fprintln(w, "ok")
		} else {
			fmt.Fprintf(w, "%d %s\n", len(r.Problems), plural(len(r.Problems), "problem", "problems"))
		}
	}
	if !r.OK() {
		return errProblems
	}
	return nil
}

func spoolStat(dir string, asJSON bool, w io.Writer) error {
	st, err := spool.StatDir(dir)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(w, st)
	}
	fmt.Fprintf(w, "spool %s\nepoch %s\nfile  %s\n\n", st.Path, st.Epoch, config.Size(st.FileBytes))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAM\tPARTITION\tSTART\tNEXT\tBYTES\tBATCHES\tGAPS\tBUDGET\tFULL")
	for _, s := range st.Streams {
		for _, p := range s.Partitions {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%d\t%d\t%s\t%s\n", s.Config.Name, p.Partition, p.Start, p.Next,
				config.Size(p.Bytes), p.Batches, p.Gaps, config.Size(s.Config.MaxBytes), s.Config.Full)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(st.Cursors) == 0 {
		fmt.Fprintln(w, "\nno cursors")
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CURSOR\tSTREAM\tPARTITION\tOFFSET\tPROTECTS")
	for _, c := range st.Cursors {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", c.Name, c.Stream, c.Partition, c.Offset, strconv.FormatBool(c.Protect))
	}
	return tw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
