package schemas

import (
	"errors"
	"strconv"

	"github.com/segmentio/encoding/json"
)

// items decodes the items array; problems with single items go to d.ip.
func (d *decoder) items(raw []byte) []Item {
	switch {
	case absent(raw):
		d.p[fItems] = "missing"
		return nil
	case raw[0] != '[':
		d.p[fItems] = "must be an array"
		return nil
	}
	// Fast path: every element is an object. A null element decodes as an
	// empty rawItem and a non-object fails the parse; both take the slow path,
	// which can tell which element is not an object.
	ris := &d.raw.items
	_, err := json.Parse(raw, ris, parseFlags)
	if err == nil {
		for i := range *ris {
			if ri := &(*ris)[i]; ri.SKU == nil && ri.Qty == nil && ri.UnitPrice == nil {
				err = errNotObject
				break
			}
		}
	}
	if err != nil {
		return d.itemsSlow(raw)
	}
	n := len(*ris)
	if !d.checkItemCount(n) {
		return nil
	}
	items := make([]Item, n)
	for i := range *ris {
		d.item(i, n, &items[i], &(*ris)[i])
	}
	return items
}

var errNotObject = errors.New("not an object")

// itemsSlow decodes items that are not all objects.
func (d *decoder) itemsSlow(raw []byte) []Item {
	elems := &d.raw.elems
	if _, err := json.Parse(raw, elems, parseFlags); err != nil {
		d.p[fItems] = "must be an array" // unreachable: raw is a valid JSON array
		return nil
	}
	n := len(*elems)
	if !d.checkItemCount(n) {
		return nil
	}
	items := make([]Item, n)
	ri := &d.raw.item
	for i, e := range *elems {
		*ri = rawItem{}
		if e[0] == '{' {
			if _, err := json.Parse(e, ri, parseFlags); err == nil {
				d.item(i, n, &items[i], ri)
				continue
			}
		}
		d.itemProblem(i, n, itemProblems{whole: "must be an object"})
	}
	return items
}

func (d *decoder) checkItemCount(n int) bool {
	if n > MaxItems {
		d.p[fItems] = "must have at most " + strconv.Itoa(MaxItems) + " items, got " + strconv.Itoa(n)
		return false
	}
	return true
}

func (d *decoder) item(i, n int, it *Item, ri *rawItem) {
	var pr itemProblems
	it.SKU, pr.sku = d.readString(ri.SKU, true)
	it.Qty, pr.qty = readInt(ri.Qty)
	it.UnitPrice, pr.unitPrice = readInt(ri.UnitPrice)
	if pr != (itemProblems{}) {
		d.itemProblem(i, n, pr)
	}
}

func (d *decoder) itemProblem(i, n int, pr itemProblems) {
	if d.ip == nil {
		d.ip = make([]itemProblems, n)
	}
	d.ip[i] = pr
}
