package gateway

import (
	"context"
	"fmt"

	"github.com/tributary-io/tributary/gateway/config"
	"github.com/tributary-io/tributary/ingest"
	"github.com/tributary-io/tributary/internal/tokens"
	"github.com/tributary-io/tributary/spool"
)

// newAPIAuth reads http.tokens_file, which the ingest API and the read
// API share.
func newAPIAuth(h config.HTTP) (readAuth, error) {
	a := readAuth{anonymous: h.AllowAnonymous}
	if h.TokensFile != "" {
		var err error
		if a.tokens, err = tokens.Load(h.TokensFile); err != nil {
			return a, fmt.Errorf("http.tokens_file: %w", err)
		}
	}
	return a, nil
}

// newIngestAPI builds an edge node's HTTP/gRPC ingest API, with the
// tokens of n.auth. A hub takes no records from clients: it returns nil, and the
// node registers no IngestService (gRPC answers UNIMPLEMENTED, REST 404).
func (n *Node) newIngestAPI() (*ingest.API, error) {
	if n.cfg.Role != config.RoleEdge {
		return nil, nil
	}
	h := n.cfg.HTTP
	return ingest.NewAPI(ingest.APIOptions{
		Tokens:         n.auth.tokens,
		AllowAnonymous: h.AllowAnonymous,
		MaxBodyBytes:   int64(h.MaxBodyBytes),
		MaxBulkBytes:   int64(h.MaxBulkBytes),
		MaxBatchBytes:  int(n.cfg.Spool.MaxBatchBytes),
		Logger:         n.log.With("component", "api"),
		Registerer:     n.reg,
	}, spoolAppender{n})
}

// spoolAppender appends to the node's spool, which Start opens after the
// API is built; before that, and once it is gone, it refuses.
type spoolAppender struct{ n *Node }

func (a spoolAppender) AppendAsync(ctx context.Context, stream string, recs []spool.Record, done func(spool.Result)) error {
	a.n.lnMu.Lock()
	sp := a.n.spool
	a.n.lnMu.Unlock()
	if sp == nil {
		return spool.ErrClosed
	}
	return sp.AppendAsync(ctx, stream, recs, done)
}
