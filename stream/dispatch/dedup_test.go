package dispatch_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/dispatch"
)

func streamCfg() stream.ClientConfig { return stream.ClientConfig{Brokers: []string{"127.0.0.1:1"}} }

func TestDedupWindow(t *testing.T) {
	d := dispatch.NewDedup(3)
	calls := 0
	fail := false
	h := d.Wrap(func(context.Context, dispatch.Record) error {
		calls++
		if fail {
			return errors.New("down")
		}
		return nil
	})
	rec := func(id string) dispatch.Record { return dispatch.Record{EventID: id} }
	for _, tc := range []struct {
		id        string
		fail      bool
		wantCalls int
	}{
		{"a", false, 1}, {"a", false, 1}, // duplicate skipped
		{"b", true, 2}, {"b", false, 3}, // a failed call is not remembered
		{"c", false, 4}, {"d", false, 5}, // window of 3: b, c, d; a forgotten
		{"a", false, 6}, {"d", false, 6},
	} {
		fail = tc.fail
		_ = h(context.Background(), rec(tc.id))
		if calls != tc.wantCalls {
			t.Errorf("after %s: got %d calls, want %d", tc.id, calls, tc.wantCalls)
		}
	}
}

func TestParseFilter(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
		err  bool
	}{
		{[]string{"key=u-1", "error~timeout"}, "{Key:u-1 Topic: EventID: ID: ErrorContains:timeout Redriven:<nil>}", false},
		{[]string{"topic=orders", "id=0@4"}, "{Key: Topic:orders EventID: ID:0@4 ErrorContains: Redriven:<nil>}", false},
		{[]string{"color=red"}, "", true},
		{[]string{"redriven=maybe"}, "", true},
	} {
		f, err := dispatch.ParseFilter(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("ParseFilter(%v): got error %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if got := fmt.Sprintf("%+v", f); !tc.err && got != tc.want {
			t.Errorf("ParseFilter(%v): got %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestNewValidates(t *testing.T) {
	ok := []dispatch.Opt{dispatch.WithClient(streamCfg()), dispatch.WithGroup("g"),
		dispatch.WithHandler(func(context.Context, dispatch.Record) error { return nil })}
	for _, tc := range []struct {
		name string
		opts []dispatch.Opt
	}{
		{"no group", append(ok[:1:1], ok[2])},
		{"no handler", ok[:2:2]},
		{"zero in flight", append(ok[:3:3], dispatch.WithMaxInFlight(0, 1))},
		{"bad backoff", append(ok[:3:3], dispatch.WithBackoff(time.Second, time.Millisecond))},
		{"same topic twice", append(ok[:3:3], dispatch.WithTopics([]string{"a"}, "a"))},
	} {
		if _, err := dispatch.New(tc.opts...); !errors.Is(err, dispatch.ErrConfig) {
			t.Errorf("%s: got %v, want ErrConfig", tc.name, err)
		}
	}
}
