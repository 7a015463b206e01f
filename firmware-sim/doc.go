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
// # The fleet
//
// RunFleet runs devices of five profiles (see Profiles and NewGenerator):
// smart meters, PMUs (50 frames/s, sent 10 frames a message), vibration
// sensors (bursts of 256 to 1024 samples), environment sensors and alarm
// panels. Each device is one goroutine with its own MQTT connection, which
// it re-establishes itself with exponential backoff and full jitter; it
// buffers while offline (bounded, oldest dropped and counted), keeps a
// window of QoS 1 publishes in flight, and after a lost connection sends
// again what was not acknowledged, in order. Values are a function of the
// seed, the device's index and the device's clock.
//
// # The ledger
//
// The fleet keeps a ledger of what each device had acknowledged (a PUBACK
// for QoS 1) as ranges of sequence numbers, and of the sequence numbers a
// device published more than once (after a connection loss, firmware sends
// again what it never saw acknowledged: MQTT QoS 1 is at-least-once, so the
// broker may hold both copies). The verifier reads the hub's streams
// (Verify), or the Kafka topics a hub with a Kafka sink writes
// (VerifyKafka), and reports, per device, what the ledger says was
// acknowledged but is missing, what is stored more than once although the
// device sent it once, and what is out of order.
//
// # Caveats
//
//   - A message dropped from a full offline buffer after it was sent once
//     may be at the broker without being in the ledger.
//   - QoS 0 messages (FleetOptions.AtMostOnce) are never acknowledged, so
//     the ledger does not list them.
//   - Values follow the device's clock, so two runs give the same values
//     only for the same timestamps; Generator on its own is fully
//     reproducible (see the golden files in testdata).
package firmwaresim
