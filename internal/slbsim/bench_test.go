package slbsim

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkRemove measures one SDK client calling the emulator back to back,
// with no latency: the emulator's cost per call, plus the SDK's and the
// loopback's, so we know the emulator is not what limits a benchmark.
func BenchmarkRemove(b *testing.B) {
	sim, srv, err := Start(Config{AccessKeys: map[string]string{testAK: testSecret}})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	seedGroup(sim, "rsp-a", 20)
	cl, err := NewClient(srv.URL, testRegion, testAK, testSecret, 10*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	batch := servers("i-1:80", "i-2:80", "i-3:80", "i-4:80", "i-5:80", "i-6:80", "i-7:80", "i-8:80", "i-9:80", "i-10:80",
		"i-11:80", "i-12:80", "i-13:80", "i-14:80", "i-15:80", "i-16:80", "i-17:80", "i-18:80", "i-19:80", "i-20:80")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := remove(cl, "rsp-a", batch); err != nil {
			b.Fatal(err)
		}
	}
	if st := sim.Stats(); st.Overlaps != 0 || st.Succeeded != st.Calls {
		b.Fatalf("stats %+v", st)
	}
}

// BenchmarkRemoveParallel is the same with one client per goroutine, each on
// its own group, as the worker's dispatchers call.
func BenchmarkRemoveParallel(b *testing.B) {
	sim, srv, err := Start(Config{AccessKeys: map[string]string{testAK: testSecret}})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	sim.Seed(GenerateGroups(testRegion, 256, 20))
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		cl, err := NewClient(srv.URL, testRegion, testAK, testSecret, 10*time.Second)
		if err != nil {
			b.Error(err)
			return
		}
		id := fmt.Sprintf("rsp-sim%04d", next.Add(1)%256+1)
		for pb.Next() {
			if _, err := remove(cl, id, servers("i-sim0001-0001:80")); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
