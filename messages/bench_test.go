package messages

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// benchRequest is a typical scale-in request: n servers of one group.
func benchRequest(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"version":1,"request_id":"asg-42-scalein-0001","region_id":"cn-hangzhou","vserver_group_id":"rsp-cige6j5e7p","backend_servers":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"server_id":"i-bp1a2b3c4d5e6f7g%03d","port":80,"type":"ecs"}`, i)
	}
	b.WriteString(`],"reason":"scale-in","source":"ess-lifecycle-hook/asg-42","deadline":"2026-11-27T10:00:00Z"}`)
	return []byte(b.String())
}

func BenchmarkDecode(b *testing.B) {
	for _, n := range []int{1, 20} {
		data := benchRequest(n)
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Decode(testSubject, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// For comparison: encoding/json into the same struct, without any of
	// the contract's checks.
	data := benchRequest(20)
	b.Run("servers=20/encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var r DrainRequest
			if err := json.Unmarshal(data, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkOutcomeMarshal: calling MarshalJSON directly skips the pass in
// which encoding/json re-validates a Marshaler's output.
func BenchmarkOutcomeMarshal(b *testing.B) {
	o := exampleOutcome()
	o.BackendServers = nil
	for i := range 20 {
		o.BackendServers = append(o.BackendServers, BackendServer{ServerID: fmt.Sprintf("i-bp1a2b3c4d5e6f7g%03d", i), Port: 80, Type: "ecs"})
	}
	o.FinishedAt = time.Now()
	b.Run("MarshalJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := o.MarshalJSON(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(&o); err != nil {
				b.Fatal(err)
			}
		}
	})
}
