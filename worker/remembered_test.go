package worker

import "testing"

func TestRememberedTrustsTheFilterOnlyOnceCaughtUp(t *testing.T) {
	m := newRemembered()
	if m.surelyUnknown("a") {
		t.Fatal("an id called unknown before the watcher replayed the bucket")
	}
	m.add("a")
	m.caught.Store(true)
	if m.surelyUnknown("a") {
		t.Error("a remembered id called unknown")
	}
	if !m.surelyUnknown("b") {
		t.Error("an id the bucket never held still needs a lookup")
	}
	m.caught.Store(false) // the watcher stopped: every id is looked up
	if m.surelyUnknown("b") {
		t.Error("an id called unknown while the watcher is not following")
	}
}
