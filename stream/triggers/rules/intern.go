package rules

// Rule ids are interned per partition: a rule state holds a small number
// instead of a string, so it has no pointers and compares fast, and the
// rules of the set in force are found by that number without a map lookup.
// Ids of rules no longer in the file (from the changelog, or before a
// reload) keep their number: state is kept by rule id.

// intern returns the interned id of rule id.
func (p *Partition) intern(id string) uint32 {
	if rid, ok := p.ids[id]; ok {
		return rid
	}
	return p.newName(id)
}

// internBytes is intern for an id read from a record.
func (p *Partition) internBytes(id []byte) uint32 {
	if rid, ok := p.ids[string(id)]; ok {
		return rid
	}
	return p.newName(string(id))
}

func (p *Partition) newName(id string) uint32 {
	rid := uint32(len(p.names))
	p.names = append(p.names, id)
	p.ids[id] = rid
	return rid
}

// ruleOf returns the rule of the set in force with interned id rid, or nil.
func (p *Partition) ruleOf(rid uint32) *Rule {
	if int(rid) < len(p.byRid) {
		return p.byRid[rid]
	}
	return nil
}

// rid is the interned id of r, a rule of the set in force.
func (p *Partition) rid(r *Rule) uint32 { return p.rids[r.pos] }

// indexRules interns the ids of the set in force.
func (p *Partition) indexRules() {
	p.rids = p.rids[:0]
	for _, r := range p.set.Rules {
		p.rids = append(p.rids, p.intern(r.ID))
	}
	p.byRid = make([]*Rule, len(p.names))
	for i, r := range p.set.Rules {
		p.byRid[p.rids[i]] = r
	}
}
