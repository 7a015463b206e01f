package firmwaresim

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Report is what Verify found. Counts are of messages (records), except
// where a field says devices.
//
// What fails (see OK): acknowledged messages missing at the hub; copies
// the pipeline made (a message stored more than once that its device sent
// once); a device's messages out of order within one stream partition;
// one device's messages spread over several partitions of one stream (the
// hub promises one partition per device, and order cannot be checked
// across partitions). What does not fail: copies of messages the device
// sent again (the ledger marks them resent: MQTT QoS 1 is at-least-once,
// so the broker may store both), resent messages that arrive after later
// ones, and messages stored without an acknowledgement (QoS 0, or a PUBACK
// lost with the connection).
type Report struct {
	// Source is where the records were read: "" a node's read API
	// (Verify), "kafka" Kafka topics (VerifyKafka).
	Source string `json:"source,omitempty"`
	Site   string `json:"site"`
	// Streams are the streams read; with Kafka, the topics.
	Streams []string `json:"streams"`
	// Devices is how many devices the ledger holds; Acked their
	// acknowledged messages.
	Devices int    `json:"devices"`
	Acked   uint64 `json:"acked"`
	// AtHub is the simulator messages of the site read, copies included
	// (from Kafka: those in the topics).
	AtHub uint64 `json:"at_hub"`

	Missing    uint64 `json:"missing"`
	Duplicated uint64 `json:"duplicated"` // copies beyond the first, not explained by the ledger
	OutOfOrder uint64 `json:"out_of_order"`
	// SplitDevices is how many devices were found in more than one
	// partition of a stream (of a topic, in Kafka).
	SplitDevices int `json:"split_devices"`

	ResentDuplicates uint64 `json:"resent_duplicates"` // copies of messages the ledger marks resent
	ResentLate       uint64 `json:"resent_late"`       // resent messages found after later ones
	Extra            uint64 `json:"extra"`             // distinct messages stored but not acknowledged
	// UnknownDevices is how many devices at the hub the ledger does not
	// know (their messages count as Extra).
	UnknownDevices int `json:"unknown_devices"`

	// Records skipped: of other sites, without a site header (unless
	// VerifyOptions.IncludeUnlabelled), and of the site but not simulator
	// messages.
	OtherSite  uint64 `json:"other_site"`
	Unlabelled uint64 `json:"unlabelled"`
	Foreign    uint64 `json:"foreign"`

	// Gaps met in the node's streams: records its drop_oldest policy
	// dropped. A gap is not tied to a site, so it may or may not explain
	// this site's missing messages.
	Gaps []GapNote `json:"gaps,omitempty"`
	// Expired lists offsets the node's retention deleted before they were
	// read.
	Expired []ExpiredNote `json:"expired,omitempty"`
	// From the hub's SiteService, when it knows the site (SiteKnown): the
	// records the edge reported lost (drop_oldest gaps at the edge, never
	// replicated) and the replication lag when reading stopped. From
	// Kafka: the gap records of the site in the checkpoint topic, and no
	// lag (Kafka does not know the edge's head).
	SiteKnown      bool   `json:"site_known"`
	SiteGapRecords uint64 `json:"site_gap_records"`
	SiteLagRecords uint64 `json:"site_lag_records"`

	// Problems holds every device that fails, sorted by device.
	Problems []DeviceReport `json:"problems,omitempty"`

	Passes         int           `json:"passes"`
	Elapsed        time.Duration `json:"-"`
	ElapsedSeconds float64       `json:"elapsed_seconds"`
	// Stopped says why reading stopped.
	Stopped string `json:"stopped"`
}

// DeviceReport is one device that fails.
type DeviceReport struct {
	Device string `json:"device"`
	// NotInLedger: the hub holds messages of a device the ledger does not
	// know (only listed when it also fails otherwise).
	NotInLedger bool   `json:"not_in_ledger,omitempty"`
	Acked       uint64 `json:"acked"`
	Seen        uint64 `json:"seen"` // distinct messages

	Missing      RangeList `json:"missing,omitempty"`
	MissingCount uint64    `json:"missing_count"`
	// Duplicated are the sequence numbers stored more than once that the
	// device sent once; DuplicatedCopies the copies beyond the first.
	Duplicated       RangeList   `json:"duplicated,omitempty"`
	DuplicatedCopies uint64      `json:"duplicated_copies"`
	OutOfOrder       uint64      `json:"out_of_order"`
	FirstOutOfOrder  *OutOfOrder `json:"first_out_of_order,omitempty"`
	// Partitions lists, for a device found in several partitions of one
	// stream, those partitions as STREAM/PARTITION.
	Partitions []string `json:"partitions,omitempty"`

	ResentDuplicates uint64 `json:"resent_duplicates"`
	ResentLate       uint64 `json:"resent_late"`
	Extra            uint64 `json:"extra"`
}

// OutOfOrder is one message found after a later one of its device.
type OutOfOrder struct {
	Stream    string `json:"stream"`
	Partition int32  `json:"partition"`
	Offset    uint64 `json:"offset"`
	Seq       uint64 `json:"seq"`
	After     uint64 `json:"after"` // the device's previous seq in that partition
}

// GapNote is a range of offsets [From, To) a node dropped.
type GapNote struct {
	Stream    string `json:"stream"`
	Partition int32  `json:"partition"`
	From      uint64 `json:"from_offset"`
	To        uint64 `json:"to_offset"`
	Count     uint64 `json:"count"`
	Reason    string `json:"reason"`
}

// ExpiredNote is a range of offsets [From, To) deleted by retention before
// Verify read them.
type ExpiredNote struct {
	Stream    string `json:"stream"`
	Partition int32  `json:"partition"`
	From      uint64 `json:"from_offset"`
	To        uint64 `json:"to_offset"`
}

// RangeList is a list of ranges, written (and marshalled) like the ledger
// writes them: "17-19,200".
type RangeList []Range

func (l RangeList) String() string { return ranges{rs: l}.String() }

// MarshalText writes l as its String.
func (l RangeList) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// OK says whether the hub holds every acknowledged message exactly once,
// in order: nothing missing, no copy the pipeline made, nothing out of
// order, no device spread over partitions.
func (r *Report) OK() bool {
	return r.Missing == 0 && r.Duplicated == 0 && r.OutOfOrder == 0 && r.SplitDevices == 0
}

// report builds the Report from what was read.
func (t *tally) report() *Report {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := &Report{Site: t.o.Site, Streams: slices.Clone(t.streams), AtHub: t.counted,
		Foreign: t.foreign, OtherSite: t.otherSite, Unlabelled: t.unlabelled}
	slices.Sort(r.Streams)
	inLedger := map[string]bool{}
	for _, dev := range t.ledger.Devices() {
		inLedger[dev] = true
	}
	r.Devices = len(inLedger)
	names := make([]string, 0, len(t.devices)+len(inLedger))
	for dev := range inLedger {
		names = append(names, dev)
	}
	for dev := range t.devices {
		if !inLedger[dev] {
			names = append(names, dev)
			r.UnknownDevices++
		}
	}
	slices.Sort(names)
	for _, dev := range names {
		dr := t.deviceReport(dev, inLedger[dev])
		r.Acked += dr.Acked
		r.Missing += dr.MissingCount
		r.Duplicated += dr.DuplicatedCopies
		r.OutOfOrder += dr.OutOfOrder
		r.ResentDuplicates += dr.ResentDuplicates
		r.ResentLate += dr.ResentLate
		r.Extra += dr.Extra
		if len(dr.Partitions) > 0 {
			r.SplitDevices++
		}
		if dr.fails() {
			r.Problems = append(r.Problems, dr)
		}
	}
	keys := make([]streamPart, 0, len(t.parts))
	for k := range t.parts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b streamPart) int {
		if c := strings.Compare(a.stream, b.stream); c != 0 {
			return c
		}
		return int(a.partition) - int(b.partition)
	})
	for _, k := range keys {
		r.Gaps = append(r.Gaps, t.parts[k].gaps...)
		r.Expired = append(r.Expired, t.parts[k].expired...)
	}
	return r
}

func (t *tally) deviceReport(dev string, inLedger bool) DeviceReport {
	dr := DeviceReport{Device: dev, NotInLedger: !inLedger}
	acked := t.ledger.Acked(dev)
	dr.Acked = countOf(acked)
	d := t.devices[dev]
	if d == nil {
		dr.Missing = subtract(acked, nil)
		dr.MissingCount = dr.Acked
		return dr
	}
	dr.Seen = d.seen.count()
	dr.Missing = subtract(acked, d.seen.rs)
	dr.MissingCount = countOf(dr.Missing)
	dr.Extra = dr.Seen - (dr.Acked - dr.MissingCount)
	dr.Duplicated, dr.DuplicatedCopies = slices.Clone(d.dupSeqs.rs), d.dupCopies
	dr.OutOfOrder, dr.FirstOutOfOrder = d.outOfOrder, d.firstDisorder
	dr.ResentDuplicates, dr.ResentLate = d.resentCopies, d.resentLate
	perStream := map[string][]int32{}
	for k := range d.last {
		perStream[k.stream] = append(perStream[k.stream], k.partition)
	}
	for s, ps := range perStream {
		if len(ps) > 1 {
			slices.Sort(ps)
			for _, p := range ps {
				dr.Partitions = append(dr.Partitions, fmt.Sprintf("%s/%d", s, p))
			}
		}
	}
	slices.Sort(dr.Partitions)
	return dr
}

func (d DeviceReport) fails() bool {
	return d.MissingCount > 0 || d.DuplicatedCopies > 0 || d.OutOfOrder > 0 || len(d.Partitions) > 0
}

// Summary is the report in one line, e.g.
//
//	verify: 500 devices, 1,234,567 acked, 1,234,602 at the hub: 0 missing, 0 duplicated (3 resent duplicates explained by QoS 1), 0 out of order — OK
func (r *Report) Summary() string {
	var b strings.Builder
	where := "at the hub"
	if r.Source == sourceKafka {
		where = "in Kafka"
	}
	fmt.Fprintf(&b, "verify: %s devices, %s acked, %s %s: %s missing, %s duplicated",
		group(uint64(r.Devices)), group(r.Acked), group(r.AtHub), where, group(r.Missing), group(r.Duplicated))
	if r.ResentDuplicates > 0 {
		fmt.Fprintf(&b, " (%s resent %s explained by QoS 1)", group(r.ResentDuplicates), pluralize(r.ResentDuplicates, "duplicate", "duplicates"))
	}
	fmt.Fprintf(&b, ", %s out of order", group(r.OutOfOrder))
	if r.ResentLate > 0 {
		fmt.Fprintf(&b, " (%s resent late, explained by QoS 1)", group(r.ResentLate))
	}
	if r.SplitDevices > 0 {
		fmt.Fprintf(&b, ", %s %s in several partitions of a stream", group(uint64(r.SplitDevices)), pluralize(uint64(r.SplitDevices), "device", "devices"))
	}
	if r.Extra > 0 {
		fmt.Fprintf(&b, ", %s unacknowledged stored", group(r.Extra))
	}
	if r.OK() {
		b.WriteString(" — OK")
	} else {
		b.WriteString(" — FAILED")
	}
	return b.String()
}

// WriteDetails writes what explains the summary: how the streams were
// read, notes (gaps, retention, skipped records, the site's edge losses
// and lag), and the first maxDevices failing devices, one line each.
func (r *Report) WriteDetails(w io.Writer, maxDevices int) error {
	var b strings.Builder
	site := r.Site
	if site == "" {
		site = "(any)"
	}
	fmt.Fprintf(&b, "site %s; streams %s; %d %s in %v: %s\n", site, strings.Join(r.Streams, ", "), r.Passes,
		pluralize(uint64(r.Passes), "pass", "passes"), r.Elapsed.Round(time.Millisecond), r.Stopped)
	for _, n := range r.notes() {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	if len(r.Problems) > 0 && maxDevices > 0 {
		shown := min(maxDevices, len(r.Problems))
		fmt.Fprintf(&b, "failing devices (%d of %d):\n", shown, len(r.Problems))
		for _, d := range r.Problems[:shown] {
			fmt.Fprintf(&b, "  %s\n", d.line())
		}
		if shown < len(r.Problems) {
			fmt.Fprintf(&b, "  … and %d more (--details N shows more, --json all)\n", len(r.Problems)-shown)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// notes are the facts that explain, or qualify, the counts.
func (r *Report) notes() []string {
	var out []string
	for _, g := range r.Gaps {
		out = append(out, fmt.Sprintf("gap in %s/%d offsets %d-%d: %d records dropped (%s) before they were read; "+
			"lost data is lost, so the messages they held count as missing", g.Stream, g.Partition, g.From, g.To-1, g.Count, g.Reason))
	}
	for _, e := range r.Expired {
		out = append(out, fmt.Sprintf("retention deleted %s/%d offsets %d-%d before they were read; messages they held count as missing",
			e.Stream, e.Partition, e.From, e.To-1))
	}
	if r.SiteKnown && r.SiteGapRecords > 0 {
		who := "the hub says"
		if r.Source == sourceKafka {
			who = "the checkpoint topic says"
		}
		out = append(out, fmt.Sprintf("%s site %s lost %s records at the edge (drop_oldest on a full disk) before they were replicated; "+
			"they explain missing messages, which still count as missing", who, r.Site, group(r.SiteGapRecords)))
	}
	if r.SiteKnown && r.SiteLagRecords > 0 {
		out = append(out, fmt.Sprintf("replication of site %s still lagged %s records when reading stopped: try a longer --until",
			r.Site, group(r.SiteLagRecords)))
	}
	if r.OtherSite > 0 {
		out = append(out, fmt.Sprintf("%s records of other sites skipped", group(r.OtherSite)))
	}
	if r.Unlabelled > 0 {
		why := "an edge node's own records"
		if r.Source == sourceKafka {
			why = "not written by a hub"
		}
		out = append(out, fmt.Sprintf("%s records without a %s header skipped (%s: --include-unlabelled counts them)",
			group(r.Unlabelled), HeaderSite, why))
	}
	if r.Foreign > 0 {
		out = append(out, fmt.Sprintf("%s records of the site are not simulator messages (foreign): ignored", group(r.Foreign)))
	}
	if r.UnknownDevices > 0 {
		out = append(out, fmt.Sprintf("%d devices at the hub are not in the ledger: their messages count as unacknowledged", r.UnknownDevices))
	}
	if r.Extra > 0 {
		out = append(out, fmt.Sprintf("%s messages stored without an acknowledgement in the ledger (QoS 0, or a PUBACK lost with the connection): fine",
			group(r.Extra)))
	}
	return out
}

// line is the device's failures in one line.
func (d DeviceReport) line() string {
	parts := []string{d.Device + ":"}
	if d.NotInLedger {
		parts = append(parts, "not in the ledger;")
	}
	if d.MissingCount > 0 {
		parts = append(parts, fmt.Sprintf("missing %s (%d of %d acked);", d.Missing, d.MissingCount, d.Acked))
	}
	if d.DuplicatedCopies > 0 {
		parts = append(parts, fmt.Sprintf("duplicated %s (%d extra %s);", d.Duplicated, d.DuplicatedCopies, pluralize(d.DuplicatedCopies, "copy", "copies")))
	}
	if d.OutOfOrder > 0 {
		f := d.FirstOutOfOrder
		parts = append(parts, fmt.Sprintf("%d out of order (first: seq %d after %d at %s/%d offset %d);", d.OutOfOrder, f.Seq, f.After, f.Stream, f.Partition, f.Offset))
	}
	if len(d.Partitions) > 0 {
		parts = append(parts, fmt.Sprintf("in several partitions: %s;", strings.Join(d.Partitions, ",")))
	}
	return strings.TrimSuffix(strings.Join(parts, " "), ";")
}

// group writes n with thousands separators: 1,234,567.
func group(n uint64) string {
	s := strconv.FormatUint(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func pluralize(n uint64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
