package worker

import (
	"context"
	"time"

	"github.com/go-json-experiment/json"
	"go.uber.org/zap"

	"github.com/slbdrain/slbdrain/messages"
	"github.com/slbdrain/slbdrain/retry"
)

// dispatch is one of --concurrency goroutines making API calls. It owns its
// Remover: the SDK client is not safe for concurrent use.
func (w *Worker) dispatch(ctx context.Context) {
	var (
		api    Remover
		apiGen uint64 // credential failures seen when api was built
	)
	for {
		// The quota's call is counted before the batch is cut: while a group
		// waits for its region's window, it keeps filling, so a quota-bound
		// drain sends full batches.
		if w.creds.wait(ctx) != nil {
			return
		}
		g, window := w.sched.pop(ctx)
		if g == nil {
			return
		}
		if err := w.ceiling.Wait(ctx); err != nil {
			w.sched.unpop(g, window) // not lost: release() or the next worker will see it
			return
		}
		var ok bool
		if g, window, ok = w.sched.stillCallable(g, window); !ok {
			continue
		}
		cl := w.sched.take(g, window)
		if cl == nil {
			continue
		}
		if w.creds.Failing() {
			// They failed while this call waited: it goes back, unmade.
			w.sched.complete(cl, callResult{class: retry.Credentials, err: w.creds.Err(), notSent: true})
			continue
		}
		if gen := w.creds.generation(); api == nil || gen != apiGen {
			// New, or made before credentials failed: rebuild from the chain.
			var err error
			if api, err = w.newRemover(); err != nil {
				w.log.Error("cannot create SLB client", zap.Error(err))
				w.sched.complete(cl, callResult{err: err, class: retry.Credentials, notSent: true})
				w.credentialsFailed(cl.g.key, err)
				continue
			}
			apiGen = gen
		}
		res, took := w.call(api, cl)
		w.complete(cl, res, took)
	}
}

func (w *Worker) call(api Remover, cl *call) (callResult, time.Duration) {
	w.m.callsInFlight.Inc()
	start := time.Now()
	var res callResult
	var err error
	switch region, group := cl.g.key.region, cl.g.key.id; cl.op {
	case opRemove:
		var out RemoveResult
		out, err = api.RemoveBackendServers(region, group, cl.servers)
		res = callResult{requestID: out.RequestID, remaining: out.Remaining}
	case opWeight, opAdd:
		weighted := make([]WeightedServer, len(cl.slots))
		for i, sl := range cl.slots {
			weighted[i] = WeightedServer{sl.server, sl.weight}
		}
		var out WriteResult
		if cl.op == opWeight {
			out, err = api.SetWeights(region, group, weighted)
		} else {
			out, err = api.AddBackendServers(region, group, weighted)
		}
		res = callResult{requestID: out.RequestID, remaining: out.Servers}
	case opCheck:
		var info GroupInfo
		info, err = api.DescribeGroup(region, group)
		res = callResult{requestID: info.RequestID, remaining: info.Servers}
	}
	took := time.Since(start)
	w.m.callsInFlight.Dec()
	res.err = err
	if err != nil {
		res.class = retry.Classify(err)
		res.requestID = retry.RequestID(err)
	}
	return res, took
}

func (w *Worker) complete(cl *call, res callResult, took time.Duration) {
	class := "ok"
	if res.err != nil {
		class = res.class.String()
	}
	w.m.apiCalls.WithLabelValues(class, cl.g.key.region, opActions[cl.op]).Inc()
	w.m.apiCallDuration.Observe(took.Seconds())
	w.m.serversPerCall.Observe(float64(len(cl.servers)))
	if ce := w.log.Check(zap.DebugLevel, "slb call"); ce != nil {
		ce.Write(zap.String("action", opActions[cl.op]), zap.String("region_id", cl.g.key.region), zap.String("vserver_group_id", cl.g.key.id),
			zap.Int("servers", len(cl.servers)), zap.Int("requests", len(cl.reqs)), zap.String("class", class),
			zap.String("api_request_id", res.requestID), zap.Duration("duration", took), zap.Error(res.err))
	}
	if res.class == retry.Permanent && res.err != nil {
		w.log.Warn("slb call failed permanently", zap.String("action", opActions[cl.op]), zap.String("region_id", cl.g.key.region),
			zap.String("vserver_group_id", cl.g.key.id), zap.Int("requests", len(cl.reqs)),
			zap.String("code", retry.Code(res.err)), zap.String("api_request_id", res.requestID), zap.Error(res.err))
	}
	if res.err == nil {
		w.guard.sawAnswer(cl.g.key, res.remaining, w.clock.Now())
	}
	progress, reports := w.sched.answer(cl, res)
	w.publishProgress(cl, progress)
	w.sched.emit(reports) // after this call's notes: those of the requests it finished come before their events
	w.madeProgress()
	if res.err != nil && res.class == retry.Credentials {
		w.credentialsFailed(cl.g.key, res.err)
	}
}

// publishProgress sends the progress notes of the requests a call advanced.
func (w *Worker) publishProgress(cl *call, progress []note) {
	subject := messages.ProgressSubject(cl.g.key.region, cl.g.key.id)
	for _, n := range progress {
		if n.wait != nil {
			w.rememberWait(n.progress.RequestID, n.wait)
		}
		// Progress is a courtesy: nothing relies on it, so errors are dropped.
		if data, err := json.Marshal(n.progress); err == nil {
			_ = w.nc.Publish(subject, data)
		}
	}
}

// rememberWait keeps a graceful drain's wait record in the outcomes bucket
// (under its own key, expiring with the outcomes), so that a redelivery
// after a shutdown or crash during the wait neither sets the weights again
// nor forgets the weights before the drain. Fire and forget: without it, a
// redelivery waits a whole drain_timeout again and reports weight 100.
func (w *Worker) rememberWait(requestID string, g []messages.Group) {
	data, err := json.Marshal(g)
	if err != nil {
		return
	}
	if err := w.nc.Publish("$KV."+messages.OutcomeBucket+"."+waitKey(requestID), data); err != nil {
		w.log.Warn("cannot keep a graceful drain's wait record", zap.String("request_id", requestID), zap.Error(err))
	}
}
