// Package deployments holds what runs slbdrain outside Go: the container
// image, the compose file's companion manifests, Kubernetes manifests, the
// Grafana dashboard and the Prometheus alerts. Its Go API is the JetStream
// stream and consumer definitions in nats/, embedded so that the worker
// creates its streams from the very files operators apply with
// `nats stream add --config`: one source of truth.
package deployments

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
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

// RequestStream returns the SLB_DRAIN_REQUESTS stream of nats/requests-stream.json.
func RequestStream() (jetstream.StreamConfig, error) {
	return decodeStrict[jetstream.StreamConfig]("nats/requests-stream.json", requestStreamJSON)
}

// EventStream returns the SLB_DRAIN_EVENTS stream of nats/events-stream.json.
func EventStream() (jetstream.StreamConfig, error) {
	return decodeStrict[jetstream.StreamConfig]("nats/events-stream.json", eventStreamJSON)
}

// Consumer returns the worker's durable pull consumer of nats/consumer.json.
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
