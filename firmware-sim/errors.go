package firmwaresim

import "errors"

// ErrNeverConnected is returned by RunFleet when no device could connect
// to the broker during the whole run: a wrong address, a broker that is
// down, or credentials it refuses.
var ErrNeverConnected = errors.New("no device could connect to the broker")
