package worker

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the worker's Prometheus families, all prefixed slbdrain_.
type metrics struct {
	requestsReceived      prometheus.Counter
	redeliveries          prometheus.Counter
	outcomes              *prometheus.CounterVec // status
	apiCalls              *prometheus.CounterVec // class: ok, throttled, transient, credentials, permanent
	apiCallDuration       prometheus.Histogram
	serversPerCall        prometheus.Histogram
	requestLatency        prometheus.Histogram
	callsInFlight         prometheus.Gauge
	heldRequests          prometheus.Gauge
	activeGroups          prometheus.Gauge
	rateLimit             prometheus.Gauge
	publishFailures       prometheus.Counter
	credentialsFailing    prometheus.Gauge
	consumerPending       prometheus.Gauge
	consumerAckPending    prometheus.Gauge
	quotaShare            *prometheus.GaugeVec   // region, action
	quotaWindowsSpent     *prometheus.CounterVec // region, action
	notRemoved            prometheus.Counter
	quickRetries          prometheus.Counter
	portsFound            prometheus.Counter
	riders                prometheus.Counter
	knownOutcomes         prometheus.Counter
	outcomeLookupFailures prometheus.Counter
	activeReplica         prometheus.Gauge
	bisections            prometheus.Counter
	outcomeLookupsSkipped prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requestsReceived: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slbdrain_requests_received_total", Help: "Drain request deliveries taken from JetStream, redeliveries included."}),
		redeliveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slbdrain_redeliveries_total", Help: "Drain request deliveries with NumDelivered > 1."}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slbdrain_outcomes_total", Help: "Outcome events acknowledged by JetStream, by status."}, []string{"status"}),
		apiCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slbdrain_api_calls_total", Help: "SLB API calls, by result class (ok or the error class), region and API action."}, []string{"class", "region", "action"}),
		apiCallDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "slbdrain_api_call_duration_seconds", Help: "Duration of SLB API calls.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		serversPerCall: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "slbdrain_servers_per_call", Help: "Backend servers carried by one API call.",
			Buckets: []float64{1, 2, 4, 8, 12, 16, 19, 20}}),
		requestLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "slbdrain_request_latency_seconds", Help: "Time from a request's arrival in the stream to its outcome.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 14)}),
		callsInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "slbdrain_calls_in_flight", Help: "SLB API calls in flight."}),
		heldRequests: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "slbdrain_held_requests", Help: "Requests the worker holds unacked: queued, in flight, backing off or being reported."}),
		activeGroups: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "slbdrain_active_groups", Help: "VServer groups with queued or in-flight work."}),
		rateLimit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "slbdrain_rate_limit_calls_per_second", Help: "Ceiling of the worker's API call rate over all regions (--slb-qps)."}),
		publishFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slbdrain_event_publish_failures_total", Help: "Outcome events JetStream did not acknowledge; their requests are redelivered."}),
		credentialsFailing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "slbdrain_credentials_failing", Help: "1 while the SLB API rejects the worker's credentials."}),
		consumerPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "slbdrain_consumer_pending", Help: "Requests in the stream not yet delivered to the consumer (polled)."}),
		consumerAckPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "slbdrain_consumer_ack_pending", Help: "Requests delivered and not yet acked, over all replicas (polled)."}),
		quotaShare: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "slbdrain_quota_share_calls", Help: "Calls per quota window the worker has learnt it may make (what other tools of the account leave it), by region and API action."},
			[]string{"region", "action"}),
		quotaWindowsSpent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slbdrain_quota_windows_spent_total", Help: "Quota windows the API's throttling answers showed spent before the worker's share was used, by region and API action."},
			[]string{"region", "action"}),
		notRemoved: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slbdrain_servers_not_removed_total", Help: "Backend servers a successful remove call's answer still listed; they are retried."}),
		quickRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slbdrain_quick_retries_total", Help: "Calls retried with no backoff: the service's throttling or a 5xx while the region's other calls succeed (noise); the region's quota paces them."}),
		portsFound: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slbdrain_ports_found_total", Help: "Ports of an instance-scope request's instances that a write call's answer listed and the resolution had not seen (added meanwhile); they join the request."}),
		riders: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slbdrain_riders_total", Help: "Servers asked to be removed that the group's latest answer showed gone, or its call out carried: sent only in room a call leaves."}),
		knownOutcomes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slbdrain_known_outcomes_total", Help: "Requests whose id already had a remembered outcome: acked with no call and no event."}),
		outcomeLookupFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slbdrain_outcome_lookup_failures_total", Help: "Outcomes bucket lookups that failed; the request was handled as new."}),
		outcomeLookupsSkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slbdrain_outcome_lookups_skipped_total", Help: "New requests the filter of remembered ids showed unknown: no bucket lookup needed."}),
		bisections: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slbdrain_call_splits_total", Help: "Calls split in halves after a permanent error, to find the backend servers the API refuses."}),
		activeReplica: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "slbdrain_active_replica", Help: "1 while this replica holds the consumer's pin (drains), 0 as a standby or before it knows."}),
	}
	if reg != nil {
		reg.MustRegister(m.requestsReceived, m.redeliveries, m.outcomes, m.apiCalls, m.apiCallDuration,
			m.serversPerCall, m.requestLatency, m.callsInFlight, m.heldRequests, m.activeGroups,
			m.rateLimit, m.publishFailures, m.credentialsFailing, m.consumerPending, m.consumerAckPending,
			m.quotaShare, m.quotaWindowsSpent, m.notRemoved, m.quickRetries, m.portsFound, m.riders, m.knownOutcomes, m.outcomeLookupFailures, m.activeReplica, m.bisections, m.outcomeLookupsSkipped)
	}
	return m
}
