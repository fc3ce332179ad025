package control

import (
	"reflect"
	"testing"
)

// mapOffsets are release offsets from maps; absent starts and ends are
// unknown.
type mapOffsets struct {
	commits, starts, ends map[heldKey]int64
	asked                 map[string]int // which kinds decideRelease read
}

func (m *mapOffsets) committed(t string, p int32) int64 {
	m.asked["committed"]++
	return m.commits[heldKey{t, p}]
}

func (m *mapOffsets) start(t string, p int32) (int64, bool) {
	m.asked["start"]++
	o, ok := m.starts[heldKey{t, p}]
	return o, ok
}

func (m *mapOffsets) end(t string, p int32) (int64, bool) {
	m.asked["end"]++
	o, ok := m.ends[heldKey{t, p}]
	return o, ok
}

func TestDecideRelease(t *testing.T) {
	// orders grew 2 -> 4 (resize r1, barrier [100, 50]), then 4 -> 8 (r2,
	// barrier [120, 60, 10, 0]); partition 6 came from 2 (r2), which came
	// from 0 (r1).
	resizes := map[string]*Resize{
		"r1":      {ID: "r1", Old: 2, New: 4, Barrier: []int64{100, 50}},
		"r2":      {ID: "r2", Old: 4, New: 8, Barrier: []int64{120, 60, 10, 0}},
		"pending": {ID: "pending", Old: 8, New: 16},
	}
	k := func(p int32) heldKey { return heldKey{"orders", p} }
	one := func(resize string, parent int32) hold {
		return hold{chain: []link{{resize: resize, parent: parent, compTarget: -1}}}
	}
	chained := hold{chain: []link{{resize: "r2", parent: 2, compTarget: -1}, {resize: "r1", parent: 0, compTarget: -1}}}
	withComp := func(target int64) hold {
		return hold{chain: []link{{resize: "r1", parent: 1, compTopic: "orders-retry", compPart: 1, compTarget: target}}}
	}
	tests := []struct {
		name           string
		holds          map[heldKey]hold
		commits        map[heldKey]int64
		starts, ends   map[heldKey]int64
		wantResume     map[string][]int32
		wantTargets    map[heldKey]map[int]int64
		wantIncomplete []heldKey
		wantNoStart    bool // the log starts were not needed
	}{
		{name: "parent consumed past the barrier", holds: map[heldKey]hold{k(2): one("r1", 0)},
			commits: map[heldKey]int64{k(0): 100}, wantResume: map[string][]int32{"orders": {2}}, wantNoStart: true},
		{name: "parent short of the barrier", holds: map[heldKey]hold{k(2): one("r1", 0)},
			commits: map[heldKey]int64{k(0): 99}, starts: map[heldKey]int64{k(0): 0}},
		{name: "parent deleted past the barrier", holds: map[heldKey]hold{k(2): one("r1", 0)},
			commits: map[heldKey]int64{}, starts: map[heldKey]int64{k(0): 100}, wantResume: map[string][]int32{"orders": {2}}},
		{name: "log start unknown", holds: map[heldKey]hold{k(2): one("r1", 0)}, commits: map[heldKey]int64{k(0): 5}},
		{name: "barrier not written", holds: map[heldKey]hold{k(9): one("pending", 1)},
			commits: map[heldKey]int64{k(1): 1000}, wantIncomplete: []heldKey{k(9)}, wantNoStart: true},
		{name: "resize unknown", holds: map[heldKey]hold{k(9): one("gone", 1)}, wantIncomplete: []heldKey{k(9)}, wantNoStart: true},
		{name: "chain: both links passed", holds: map[heldKey]hold{k(6): chained},
			commits: map[heldKey]int64{k(2): 10, k(0): 100}, wantResume: map[string][]int32{"orders": {6}}, wantNoStart: true},
		{name: "chain: grandparent not passed", holds: map[heldKey]hold{k(6): chained},
			commits: map[heldKey]int64{k(2): 10, k(0): 40}, starts: map[heldKey]int64{k(0): 0}},
		{name: "companion end observed, not consumed yet", holds: map[heldKey]hold{k(3): withComp(-1)},
			commits: map[heldKey]int64{k(1): 50, {"orders-retry", 1}: 7}, ends: map[heldKey]int64{{"orders-retry", 1}: 9},
			wantTargets: map[heldKey]map[int]int64{k(3): {0: 9}}, wantNoStart: true},
		{name: "companion consumed to the end observed", holds: map[heldKey]hold{k(3): withComp(-1)},
			commits: map[heldKey]int64{k(1): 50, {"orders-retry", 1}: 9}, ends: map[heldKey]int64{{"orders-retry", 1}: 9},
			wantResume: map[string][]int32{"orders": {3}}, wantTargets: map[heldKey]map[int]int64{k(3): {0: 9}}, wantNoStart: true},
		{name: "companion target kept from before", holds: map[heldKey]hold{k(3): withComp(9)},
			commits: map[heldKey]int64{k(1): 50, {"orders-retry", 1}: 9}, ends: map[heldKey]int64{{"orders-retry", 1}: 500},
			wantResume: map[string][]int32{"orders": {3}}, wantNoStart: true},
		{name: "companion end unknown", holds: map[heldKey]hold{k(3): withComp(-1)},
			commits: map[heldKey]int64{k(1): 50}, wantNoStart: true},
		{name: "several holds, some released", holds: map[heldKey]hold{k(2): one("r1", 0), k(3): one("r1", 1), k(5): one("r2", 1)},
			commits: map[heldKey]int64{k(0): 100, k(1): 60}, wantResume: map[string][]int32{"orders": {2, 3, 5}}, wantNoStart: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			off := &mapOffsets{commits: tt.commits, starts: tt.starts, ends: tt.ends, asked: map[string]int{}}
			d := decideRelease(tt.holds, resizes, off)
			if tt.wantResume == nil {
				tt.wantResume = map[string][]int32{}
			}
			if tt.wantTargets == nil {
				tt.wantTargets = map[heldKey]map[int]int64{}
			}
			if !reflect.DeepEqual(d.resume, tt.wantResume) {
				t.Errorf("resume: got %v, want %v", d.resume, tt.wantResume)
			}
			if !reflect.DeepEqual(d.targets, tt.wantTargets) {
				t.Errorf("targets: got %v, want %v", d.targets, tt.wantTargets)
			}
			var incomplete []heldKey
			for hk := range d.incomplete {
				incomplete = append(incomplete, hk)
			}
			if !reflect.DeepEqual(incomplete, tt.wantIncomplete) {
				t.Errorf("incomplete: got %v, want %v", incomplete, tt.wantIncomplete)
			}
			if tt.wantNoStart && off.asked["start"] > 0 {
				t.Errorf("read the log starts %d times, want none (committed offsets decide)", off.asked["start"])
			}
		})
	}
}
