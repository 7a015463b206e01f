package cluster

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"

	"github.com/tributary-io/tributary/spool"
)

// The hub's replication state lives in the spool's state keys, committed
// with the records it describes:
//
//	repl/sites                          JSON list of site ids
//	repl/site/SITE                      JSON siteRecord: epoch, version, streams offered, gap records
//	repl/session/SITE                   16 bytes: session generation, and the session's transaction count
//	repl/ckpt/SITE/EPOCH/STREAM/PART    8 bytes: the next edge offset the hub wants
const (
	keySites = "repl/sites"
)

func siteKey(site string) string    { return "repl/site/" + site }
func sessionKey(site string) string { return "repl/session/" + site }

func ckptKey(site, epoch, stream string, p uint32) string {
	return "repl/ckpt/" + site + "/" + epoch + "/" + stream + "/" + strconv.FormatUint(uint64(p), 10)
}

// siteIDRE is the form of a site id, as the edge's config requires it.
var siteIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// siteRecord is what the hub keeps of a site between sessions.
type siteRecord struct {
	Epoch      string      `json:"epoch"`
	Version    string      `json:"version"`
	Streams    []siteOffer `json:"streams"`
	GapRecords uint64      `json:"gap_records"`
}

type siteOffer struct {
	Stream     string `json:"stream"`
	Partitions uint32 `json:"partitions"`
}

// session generation and transaction count, as stored.
type sessionMark struct{ gen, seq uint64 }

func (m sessionMark) bytes() []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, m.gen)
	binary.BigEndian.PutUint64(b[8:], m.seq)
	return b
}

func parseSessionMark(b []byte) (sessionMark, error) {
	if b == nil {
		return sessionMark{}, nil
	}
	if len(b) != 16 {
		return sessionMark{}, fmt.Errorf("session state is %d bytes, want 16", len(b))
	}
	return sessionMark{binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])}, nil
}

func offsetBytes(off uint64) []byte { return binary.BigEndian.AppendUint64(nil, off) }

// readCheckpoint returns the stored checkpoint, and whether there is one.
func readCheckpoint(sp *spool.Spool, key string) (uint64, bool, error) {
	b, err := sp.State(key)
	if err != nil || b == nil {
		return 0, false, err
	}
	if len(b) != 8 {
		return 0, false, fmt.Errorf("checkpoint %s is %d bytes, want 8", key, len(b))
	}
	return binary.BigEndian.Uint64(b), true, nil
}

func readJSON(sp *spool.Spool, key string, v any) (bool, error) {
	b, err := sp.State(key)
	if err != nil || b == nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("state %s: %w", key, err)
	}
	return true, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs and slices are marshalled here
	}
	return b
}
