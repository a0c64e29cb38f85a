// Package deployments holds what runs slbdrain outside Go: the container
// image, the compose file's companion manifests, Kubernetes manifests, the
// Grafana dashboard and the Prometheus alerts, and the JetStream stream and
// consumer definitions in nats/ for operators who manage them with the nats
// CLI. The worker defines its streams and consumer in code
// (worker.RequestStreamConfig, EventStreamConfig, ConsumerConfig); the tests
// here check that the files say the same.
package deployments
