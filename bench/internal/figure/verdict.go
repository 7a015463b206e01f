package figure

import (
	"encoding/json"
	"fmt"
	"os"
)

// Verdict is one target's outcome.
type Verdict struct {
	Section int     `json:"section"`
	Target  string  `json:"target"`
	Result  string  `json:"result"`
	Value   float64 `json:"value"`
	Status  string  `json:"status"` // PASS, MISS, or n/a (not measured here)
}

// Judge makes a verdict: n/a unless known, then PASS or MISS.
func Judge(section int, target string, value float64, known, pass bool, result string) Verdict {
	v := Verdict{Section: section, Target: target, Value: value, Result: result, Status: "n/a"}
	if known {
		v.Status = "MISS"
		if pass {
			v.Status = "PASS"
		}
	}
	return v
}

// Line formats a verdict for a section's notes.
func (v Verdict) Line() string {
	return fmt.Sprintf("target: %s → %s: %s", v.Target, v.Result, v.Status)
}

// WriteJSON writes results, indented, to path.
func WriteJSON(path string, results any) error {
	b, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}
