package main

import (
	"fmt"
	"strconv"
)

// The workload: telemetry readings from energy meters, about 150 bytes
// of JSON each, published on bench/{device}. Publisher p of n publishes
// for devices p, p+n, p+2n, … in turn, so that every case spreads the same
// 1,000 device keys over its connections.

const devices = 1000

// topicOf is the topic of device d.
func topicOf(d int) string { return fmt.Sprintf("bench/%s", deviceID(d)) }

func deviceID(d int) string { return deviceIDs[d] }

// deviceIDs are the devices' ids, made once: the generator formats
// readings on its hot path.
var deviceIDs = func() []string {
	ids := make([]string, devices)
	for d := range ids {
		ids[d] = fmt.Sprintf("m-%04d", d)
	}
	return ids
}()

// devicesOf lists publisher p's devices, out of n publishers.
func devicesOf(p, n int) []int {
	var ds []int
	for d := p; d < devices; d += n {
		ds = append(ds, d)
	}
	if len(ds) == 0 { // more publishers than devices: share them
		ds = append(ds, p%devices)
	}
	return ds
}

// appendPayload appends reading seq of device d: values that vary with
// seq, a timestamp in Unix ms, always the same fields.
func appendPayload(b []byte, d int, seq uint64) []byte {
	x := int64(seq*2654435761+uint64(d)*40503) & 0xffff // cheap, deterministic variation
	b = append(b, `{"device":"`...)
	b = append(b, deviceID(d)...)
	b = append(b, `","site":"plant-01","seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, 1764410400000+int64(seq)*100, 10)
	b = appendFixed(append(b, `,"v":`...), 22000+x%2000, 2)
	b = appendFixed(append(b, `,"i":`...), 1000+x%500, 2)
	b = appendFixed(append(b, `,"p":`...), 270000+x*3%30000, 2)
	b = appendFixed(append(b, `,"q":`...), 30000+x%3000, 2)
	b = appendFixed(append(b, `,"f":`...), 4990+x%20, 2)
	b = appendFixed(append(b, `,"pf":`...), 950+x%50, 3)
	return append(b, `,"unit":"V","st":"ok"}`...)
}

// appendFixed appends v / 10^dec with dec decimals (v ≥ 0), without
// allocating.
func appendFixed(b []byte, v int64, dec int) []byte {
	start := len(b)
	b = strconv.AppendInt(b, v, 10)
	for len(b)-start <= dec { // at least one digit before the point
		b = append(b, 0)
		copy(b[start+1:], b[start:])
		b[start] = '0'
	}
	b = append(b, 0)
	point := len(b) - 1 - dec
	copy(b[point+1:], b[point:len(b)-1])
	b[point] = '.'
	return b
}
