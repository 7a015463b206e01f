package firmwaresim

import (
	"fmt"
	"strings"
	"time"
)

// Profile is a kind of device: its id prefix, topics, default rate and
// value dynamics.
type Profile string

// The profiles.
const (
	SmartMeter Profile = "smart-meter"
	PMU        Profile = "pmu"
	Vibration  Profile = "vibration"
	Env        Profile = "env"
	Alarms     Profile = "alarms"
)

// Profiles are all profiles, in the order a mix lists them.
var Profiles = []Profile{SmartMeter, PMU, Vibration, Env, Alarms}

// profileInfo is what the fleet needs to know of a profile.
type profileInfo struct {
	prefix   string        // device id prefix
	interval time.Duration // default time between messages of one device
	weight   int           // share of a mix, in percent
}

var profileInfos = map[Profile]profileInfo{
	SmartMeter: {"meter", time.Second, 55},
	PMU:        {"pmu", 200 * time.Millisecond, 5}, // 50 frames/s, 10 frames a message
	Vibration:  {"vib", 10 * time.Second, 10},
	Env:        {"env", time.Minute, 20},
	Alarms:     {"alarm", time.Hour, 10}, // a mean: alarms arrive as a Poisson process
}

// ParseProfile reads a profile name.
func ParseProfile(s string) (Profile, error) {
	p := Profile(s)
	if _, ok := profileInfos[p]; ok {
		return p, nil
	}
	names := make([]string, len(Profiles))
	for i, p := range Profiles {
		names[i] = string(p)
	}
	return "", fmt.Errorf("unknown profile %q: want one of %s, or mix", s, strings.Join(names, ", "))
}

// DefaultInterval is the time between two messages of one device of
// profile p when no rate is given (for alarms, the mean time).
func (p Profile) DefaultInterval() time.Duration { return profileInfos[p].interval }

// DeviceID is the id of the profile's device with the given index
// (0-based): meter-0001 for index 0.
func (p Profile) DeviceID(index int) string {
	return fmt.Sprintf("%s-%04d", profileInfos[p].prefix, index+1)
}

// DeviceGroup is a number of devices of one profile.
type DeviceGroup struct {
	Profile Profile
	Count   int
}

// Mix splits n devices over every profile by its usual share of a site
// (meters most, PMUs fewest), each profile getting at least one device
// when n allows.
func Mix(n int) []DeviceGroup {
	groups := make([]DeviceGroup, len(Profiles))
	base := 0
	if n >= len(Profiles) {
		base = 1
	}
	rest := n - base*len(Profiles)
	left := n
	for i, p := range Profiles {
		groups[i] = DeviceGroup{p, base + rest*profileInfos[p].weight/100}
		left -= groups[i].Count
	}
	for i := 0; left > 0; i = (i + 1) % len(groups) {
		groups[i].Count++
		left--
	}
	return groups
}
