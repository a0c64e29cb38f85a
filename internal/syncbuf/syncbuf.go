// Package syncbuf is a bytes.Buffer that many goroutines may write to: the
// logs and stderr that tests capture from workers, servers and CLIs.
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer collects writes from any goroutine; String may be read meanwhile.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
