package worker

import (
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// delivery is what the worker keeps of a JetStream delivery while it holds
// the request: the reply subject that acknowledgements go to. Keeping the
// jetstream.Msg instead would keep its data, subject and parsed headers alive,
// about 2 KB a request, 40 MB at the default MaxAckPending, for a request
// that is already decoded. The bodies are JetStream's acknowledgement
// protocol, as jetstream.Msg sends them: fire and forget.
type delivery struct {
	nc    *nats.Conn
	reply string
}

var (
	ackBody        = []byte("+ACK")
	nakBody        = []byte("-NAK")
	inProgressBody = []byte("+WPI")
	termBody       = []byte("+TERM")
)

func (d delivery) Ack() error        { return d.nc.Publish(d.reply, ackBody) }
func (d delivery) Nak() error        { return d.nc.Publish(d.reply, nakBody) }
func (d delivery) InProgress() error { return d.nc.Publish(d.reply, inProgressBody) }
func (d delivery) Term() error       { return d.nc.Publish(d.reply, termBody) }

// NakWithDelay asks for redelivery after delay.
func (d delivery) NakWithDelay(delay time.Duration) error {
	body := make([]byte, 0, 32)
	body = append(body, `-NAK {"delay": `...)
	body = strconv.AppendInt(body, delay.Nanoseconds(), 10)
	body = append(body, '}')
	return d.nc.Publish(d.reply, body)
}
