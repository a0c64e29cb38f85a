package deployments

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/slbdrain/slbdrain/worker"
)

// The files use the JetStream API's JSON (durations in nanoseconds), which
// is the nats CLI's --config format and what jetstream's types decode.
var (
	//go:embed nats/requests-stream.json
	requestStreamJSON []byte
	//go:embed nats/events-stream.json
	eventStreamJSON []byte
	//go:embed nats/consumer.json
	consumerJSON []byte
)

// RequestStream decodes the SLB_DRAIN_REQUESTS stream of nats/requests-stream.json.
func RequestStream() (jetstream.StreamConfig, error) {
	return decodeStrict[jetstream.StreamConfig]("nats/requests-stream.json", requestStreamJSON)
}

// EventStream decodes the SLB_DRAIN_EVENTS stream of nats/events-stream.json.
func EventStream() (jetstream.StreamConfig, error) {
	return decodeStrict[jetstream.StreamConfig]("nats/events-stream.json", eventStreamJSON)
}

// Consumer decodes the worker's durable pull consumer of nats/consumer.json.
func Consumer() (jetstream.ConsumerConfig, error) {
	return decodeStrict[jetstream.ConsumerConfig]("nats/consumer.json", consumerJSON)
}

// decodeStrict rejects unknown fields: a misspelt setting in a file must
// fail loudly, not leave the server's default in its place.
func decodeStrict[T any](name string, data []byte) (T, error) {
	var v, zero T
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return zero, fmt.Errorf("decode %s: %w", name, err)
	}
	if dec.More() {
		return zero, fmt.Errorf("decode %s: trailing data after the object", name)
	}
	return v, nil
}

var update = flag.Bool("update", false, "rewrite nats/*.json from the worker's definitions")

// productionConfig is the worker configuration the files describe: the
// defaults, on a 3-node cluster (--stream-replicas 3).
func productionConfig() worker.Config {
	cfg := worker.DefaultConfig()
	cfg.StreamReplicas = 3
	return cfg
}

// TestNATSDefinitionsMatchTheWorker: the files operators apply say exactly
// what the worker creates (with --stream-replicas 3). `go test
// ./deployments -run TestNATSDefinitionsMatchTheWorker -update` rewrites
// them from the code.
func TestNATSDefinitionsMatchTheWorker(t *testing.T) {
	cfg := productionConfig()
	for _, c := range []struct {
		file string
		data []byte
		want any
	}{
		{"nats/requests-stream.json", requestStreamJSON, worker.RequestStreamConfig(cfg)},
		{"nats/events-stream.json", eventStreamJSON, worker.EventStreamConfig(cfg)},
		{"nats/consumer.json", consumerJSON, worker.ConsumerConfig(cfg)},
	} {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false) // subjects end in ">": kept readable
		enc.SetIndent("", "  ")
		if err := enc.Encode(c.want); err != nil {
			t.Fatal(err)
		}
		want := buf.Bytes()
		if *update {
			if err := os.WriteFile(c.file, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if !bytes.Equal(c.data, want) {
			t.Errorf("%s differs from the worker's definition (run with -update to rewrite it):\n got: %s\nwant: %s", c.file, c.data, want)
		}
	}
}
