// Package firmwaresim is a simulated fleet of field devices (smart meters,
// phasor measurement units, vibration sensors, environment sensors, alarm
// panels) that publish over MQTT like firmware does, and the end-to-end
// verifier that proves every acknowledged reading reached the hub exactly
// once. It is a client of the product: it imports only the public API
// (api/) and libraries, never Tributary's own packages.
//
// # The message
//
// Every message a device publishes is a JSON object (see Message) carrying
// the device id and the device's sequence number, which counts every
// message of the device, on every topic, from 0 without holes. The topics
// follow the example edge config's routes:
//
//	sensors/SITE/DEVICE/KIND   telemetry (smart meter, PMU, environment)
//	vibration/DEVICE/burst     vibration bursts (larger payloads)
//	alarms/SITE/DEVICE         alarms (rare)
//
// # The ledger
//
// The fleet keeps a ledger of what each device had acknowledged (a PUBACK
// for QoS 1) as ranges of sequence numbers, and of the sequence numbers a
// device published more than once (after a connection loss, firmware sends
// again what it never saw acknowledged: MQTT QoS 1 is at-least-once, so the
// broker may hold both copies). The verifier reads the hub's streams and
// reports, per device, what the ledger says was acknowledged but is
// missing, what is stored more than once although the device sent it once,
// and what is out of order.
package firmwaresim
