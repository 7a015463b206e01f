// Command plainmochi is mochi-mqtt alone, the module Tributary embeds,
// without Tributary's spool: the floor that the spool adds its cost to in
// bench/mqttbench. It admits every client and topic, stores nothing, and
// stops on SIGTERM or SIGINT.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:1883", "TCP address of the MQTT listener")
	flag.Parse()
	if err := run(*listen); err != nil {
		fmt.Fprintln(os.Stderr, "plainmochi:", err)
		os.Exit(1)
	}
}

func run(listen string) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s := mqtt.New(&mqtt.Options{Logger: log})
	if err := s.AddHook(new(allowAll), nil); err != nil {
		return err
	}
	if err := s.AddListener(listeners.NewTCP(listeners.Config{ID: "tcp", Address: listen})); err != nil {
		return err
	}
	if err := s.Serve(); err != nil {
		return err
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	return s.Close()
}

// allowAll admits every client and every topic (the upstream auth package's
// AllowHook, which the third_party copy leaves out).
type allowAll struct{ mqtt.HookBase }

func (*allowAll) ID() string { return "allow-all" }

func (*allowAll) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck}, []byte{b})
}

func (*allowAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (*allowAll) OnACLCheck(*mqtt.Client, string, bool) bool { return true }
