package gateway

import (
	"fmt"
	"path/filepath"

	"github.com/tributary-io/tributary/gateway/config"
	"github.com/tributary-io/tributary/spool"
)

// SpoolDir is the spool's directory inside the node's data_dir.
const SpoolDir = "spool"

// openSpool opens the node's spool and makes sure every configured stream
// exists with its configured settings.
func (n *Node) openSpool() (*spool.Spool, error) {
	s, err := spool.Open(filepath.Join(n.cfg.DataDir, SpoolDir), spool.Options{
		Linger:        n.cfg.Spool.Linger.Std(),
		MaxBatchBytes: int(n.cfg.Spool.MaxBatchBytes),
		Registerer:    n.reg,
		Logger:        n.log.With("component", "spool"),
	})
	if err != nil {
		return nil, err
	}
	for i, st := range n.cfg.Streams {
		if err := s.EnsureStream(streamConfig(st)); err != nil {
			s.Close()
			return nil, fmt.Errorf("streams[%d] (%s): %w", i, st.Name, err)
		}
	}
	return s, nil
}

func streamConfig(c config.Stream) spool.StreamConfig {
	full := spool.Block
	if c.Full == "drop_oldest" {
		full = spool.DropOldest
	}
	return spool.StreamConfig{
		Name:         c.Name,
		Partitions:   c.Partitions,
		MaxBytes:     int64(c.MaxBytes),
		MaxAge:       c.MaxAge.Std(),
		Full:         full,
		Priority:     c.Priority,
		Uncompressed: c.Compression == "none",
	}
}
