package cluster

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/tributary-io/tributary/spool"
)

// spoolSink keeps everything in the hub's own spool: records in hub
// streams, checkpoints, sessions and the registry in state keys (state.go),
// each commit one spool transaction.
type spoolSink struct {
	sp     *spool.Spool
	listMu sync.Mutex // a new site's open holds it while it adds the site to keySites
}

func (k *spoolSink) sites(context.Context) (map[string]siteRecord, error) {
	var names []string
	if _, err := readJSON(k.sp, keySites, &names); err != nil {
		return nil, err
	}
	out := make(map[string]siteRecord, len(names))
	for _, n := range names {
		var rec siteRecord
		if _, err := readJSON(k.sp, siteKey(n), &rec); err != nil {
			return nil, err
		}
		out[n] = rec
	}
	return out, nil
}

func (k *spoolSink) target(_ context.Context, name string) (int, string, error) {
	for _, c := range k.sp.Streams() {
		if c.Name == name {
			return c.Partitions, "", nil
		}
	}
	return 0, fmt.Sprintf("the hub has no stream %q", name), nil
}

func (k *spoolSink) checkpoint(site, epoch, stream string, p uint32) (uint64, error) {
	next, _, err := readCheckpoint(k.sp, ckptKey(site, epoch, stream, p))
	return next, err
}

// open takes the site's next session generation durably, with the site
// record; every commit of the session expects that generation.
func (k *spoolSink) open(ctx context.Context, site string, rec siteRecord) (sinkSession, error) {
	raw, err := k.sp.State(sessionKey(site))
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	prev, err := parseSessionMark(raw)
	if err != nil {
		return nil, err
	}
	ss := &spoolSession{sp: k.sp, site: site, mark: sessionMark{gen: prev.gen + 1}}
	// No precondition on the old mark: the fenced session may still be
	// committing (which moves only its transaction count); the generation
	// is ours alone, as opens of a site take turns (Server's siteState.hello).
	t := new(spool.Txn).PutState(sessionKey(site), ss.mark.bytes()).PutState(siteKey(site), mustJSON(rec))
	// A new site joins the stored list; new sites take turns, so that two
	// cannot both write the list each without the other.
	k.listMu.Lock()
	names, added := k.siteNames(site)
	if added {
		t.PutState(keySites, mustJSON(names))
	} else {
		k.listMu.Unlock()
	}
	_, err = k.sp.Commit(ctx, t)
	if added {
		k.listMu.Unlock()
	}
	if err != nil {
		return nil, fmt.Errorf("open session: %w", err)
	}
	return ss, nil
}

// siteNames returns the sorted list of site ids, and whether name is new to
// the stored list.
func (k *spoolSink) siteNames(name string) ([]string, bool) {
	var stored []string
	if _, err := readJSON(k.sp, keySites, &stored); err != nil || slices.Contains(stored, name) {
		return nil, false
	}
	stored = append(stored, name)
	slices.Sort(stored)
	return stored, true
}

// spoolSession chains its transactions: each expects the session mark the
// previous one left, so a fenced session commits nothing, not even a
// transaction already queued.
type spoolSession struct {
	sp   *spool.Spool
	site string
	mark sessionMark // owned by the session's receive loop
}

func (ss *spoolSession) gen() uint64 { return ss.mark.gen }

// priorGaps is 0: the hub's own site record, loaded from its spool, holds
// the count.
func (ss *spoolSession) priorGaps() uint64 { return 0 }

func (ss *spoolSession) close() {}

// resume reads the checkpoint only after open: a commit the fenced session
// had queued has landed or failed by the time the fence committed.
func (ss *spoolSession) resume(_ context.Context, epoch, stream string, p uint32) (uint64, bool, error) {
	return readCheckpoint(ss.sp, ckptKey(ss.site, epoch, stream, p))
}

func (ss *spoolSession) commit(ctx context.Context, w *write, done func(error)) error {
	t := new(spool.Txn)
	if len(w.recs) > 0 {
		ss.records(t, w)
	}
	if w.gap != nil {
		t.PutState(gapKey(*w.gap), mustJSON(*w.gap))
	}
	if w.site != nil {
		t.PutState(siteKey(ss.site), mustJSON(*w.site))
	}
	ss.chain(t, w)
	return ss.sp.CommitAsync(ctx, t, func(r spool.Result) { done(r.Err) })
}

// records adds w's records to t: each gains the site header and goes to the
// hub partition of (site, key).
func (ss *spoolSession) records(t *spool.Txn, w *write) {
	groups := make(map[int][]spool.Record)
	var hk []byte
	site := []byte(ss.site) // shared by the write's records: the spool only reads it
	for i := range w.recs {
		r := w.recs[i]
		r.Headers = append(r.Headers[:len(r.Headers):len(r.Headers)], spool.Header{Key: HeaderSite, Value: site})
		hk = append(append(append(hk[:0], ss.site...), 0), r.Key...)
		p := spool.Partition(hk, w.hubParts)
		groups[p] = append(groups[p], r)
	}
	for p := range w.hubParts {
		if g := groups[p]; len(g) > 0 {
			t.AppendTo(w.target, p, g...)
		}
	}
}

// chain makes t part of the session's sequence: it commits only if this
// session still holds the site and every earlier transaction of the session
// committed, and only if the checkpoint is where the session left it.
func (ss *spoolSession) chain(t *spool.Txn, w *write) {
	sk := sessionKey(ss.site)
	t.ExpectState(sk, ss.mark.bytes())
	ss.mark.seq++
	t.PutState(sk, ss.mark.bytes())
	var prev []byte
	if w.hadPrev {
		prev = offsetBytes(w.prev)
	}
	key := ckptKey(ss.site, w.epoch, w.stream, w.partition)
	t.ExpectState(key, prev).PutState(key, offsetBytes(w.next))
}
