package schemas

import (
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNewEventID(t *testing.T) {
	id := NewEventID()
	if len(id) != EventIDLen {
		t.Fatalf("NewEventID: got %q (%d chars), want %d chars", id, len(id), EventIDLen)
	}
	for _, c := range id {
		if !strings.ContainsRune(crockford, c) {
			t.Errorf("NewEventID: got %q with %q, want only Crockford base-32 characters", id, c)
		}
	}
	if id[0] > '7' {
		t.Errorf("NewEventID: got %q, want a first character in 0-7 (128 bits)", id)
	}
	if err := Validate(&UserEvent{EventID: id, UserID: "u", SessionID: "s", Type: EventSearch, TS: time.Now()}); err != nil {
		t.Errorf("a record with event id %q: got %v, want valid", id, err)
	}
}

func TestEventIDTimeOrder(t *testing.T) {
	base := time.Date(2024, 11, 29, 8, 0, 0, 0, time.UTC)
	prev := newEventID(base)
	// The first 10 characters are the millisecond timestamp.
	if got, want := prev[:10], "01JDVEY500"; got != want {
		t.Errorf("time part of %s: got %s, want %s", base, got, want)
	}
	for i := 1; i < 1000; i++ {
		id := newEventID(base.Add(time.Duration(i) * time.Millisecond))
		if id <= prev {
			t.Fatalf("id at +%dms: got %s <= previous %s, want increasing", i, id, prev)
		}
		prev = id
	}
	if a, b := newEventID(base), newEventID(base); a == b || a[:10] != b[:10] {
		t.Errorf("same millisecond: got %s and %s, want equal time parts and different random parts", a, b)
	}
}

func TestEventIDUniqueConcurrent(t *testing.T) {
	const goroutines, each = 4, 20000
	ids := make([][]string, goroutines)
	var wg sync.WaitGroup
	for g := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				ids[g] = append(ids[g], NewEventID())
			}
		}()
	}
	wg.Wait()
	seen := make(map[string]bool, goroutines*each)
	for _, list := range ids {
		for _, id := range list {
			if seen[id] {
				t.Fatalf("NewEventID: got %s twice, want unique ids", id)
			}
			seen[id] = true
		}
	}
}
