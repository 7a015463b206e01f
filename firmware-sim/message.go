package firmwaresim

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Message is the JSON body of every published message. Values holds the
// profile's readings (e.g. "voltage": 229.81); Samples a vibration burst.
type Message struct {
	Device  string             `json:"device"`
	Seq     uint64             `json:"seq"`
	Time    time.Time          `json:"ts"`
	Profile string             `json:"profile"`
	Values  map[string]float64 `json:"values,omitempty"`
	Samples []float64          `json:"samples,omitempty"`
	// Alarm fields.
	Code     string `json:"code,omitempty"`
	Severity string `json:"severity,omitempty"`
}

// ParseIdentity reads the device and sequence number of a stored message
// body, without the rest.
func ParseIdentity(body []byte) (device string, seq uint64, err error) {
	var id struct {
		Device *string `json:"device"`
		Seq    *uint64 `json:"seq"`
	}
	if err := json.Unmarshal(body, &id); err != nil {
		return "", 0, fmt.Errorf("not a simulator message: %w", err)
	}
	if id.Device == nil || id.Seq == nil || *id.Device == "" {
		return "", 0, errors.New("not a simulator message: no device or seq")
	}
	return *id.Device, *id.Seq, nil
}
