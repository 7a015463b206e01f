package aggregator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/tributary-io/tributary/spool"
)

// stateChunk is the largest piece of a step's state stored under one spool
// state key (the spool takes at most 1 MiB a value).
const stateChunk = 512 << 10

// manifest is what a partition stores under its state key, beside the
// chunks of its steps' states: it is committed in the same transaction as
// the chunks, the cursor and the output, so it always describes them.
type manifest struct {
	Version     int    `json:"version"`
	Fingerprint string `json:"fingerprint"`
	MaxTime     int64  `json:"max_time,omitempty"` // Unix ns; 0: no record yet
	Chunks      []int  `json:"chunks"`             // per step: how many chunks its state has
}

// stateKeys names a partition's state in the spool.
type stateKeys struct{ base string }

func newStateKeys(pipeline string, partition int) stateKeys {
	return stateKeys{base: "agg/" + pipeline + "/" + strconv.Itoa(partition)}
}

func (k stateKeys) manifest() string { return k.base }
func (k stateKeys) chunk(step, n int) string {
	return k.base + "/" + strconv.Itoa(step) + "/" + strconv.Itoa(n)
}

// loadStates reads a partition's manifest and its steps' states; m is nil
// when none was stored.
func loadStates(sp *spool.Spool, k stateKeys) (m *manifest, states [][]byte, err error) {
	b, err := sp.State(k.manifest())
	if err != nil || b == nil {
		return nil, nil, err
	}
	m = new(manifest)
	if err := json.Unmarshal(b, m); err != nil {
		return nil, nil, fmt.Errorf("state %s: unreadable manifest: %w", k.manifest(), err)
	}
	if m.Version != 1 {
		return nil, nil, fmt.Errorf("state %s: manifest version %d unknown", k.manifest(), m.Version)
	}
	for step, n := range m.Chunks {
		var buf bytes.Buffer
		for i := range n {
			c, err := sp.State(k.chunk(step, i))
			if err != nil {
				return nil, nil, err
			}
			if c == nil {
				return nil, nil, fmt.Errorf("state %s: missing", k.chunk(step, i))
			}
			buf.Write(c)
		}
		if n == 0 {
			states = append(states, nil)
		} else {
			states = append(states, buf.Bytes())
		}
	}
	return m, states, nil
}

// putStates adds to t the puts that store states (one per step) and the
// manifest, and the deletes of chunks the previous manifest had beyond
// the new ones. unchanged[i] skips writing step i's chunks (they are
// stored already, and prev says how many).
func putStates(t *spool.Txn, k stateKeys, m manifest, prev []int, states [][]byte, unchanged []bool) manifest {
	m.Chunks = make([]int, len(states))
	for step, s := range states {
		n := (len(s) + stateChunk - 1) / stateChunk
		m.Chunks[step] = n
		if unchanged[step] && step < len(prev) {
			m.Chunks[step] = prev[step]
			continue
		}
		for i := range n {
			end := min(len(s), (i+1)*stateChunk)
			t.PutState(k.chunk(step, i), s[i*stateChunk:end])
		}
		if step < len(prev) {
			for i := n; i < prev[step]; i++ {
				t.PutState(k.chunk(step, i), nil)
			}
		}
	}
	for step := len(states); step < len(prev); step++ {
		for i := range prev[step] {
			t.PutState(k.chunk(step, i), nil)
		}
	}
	b, _ := json.Marshal(m)
	t.PutState(k.manifest(), b)
	return m
}
