package main

import (
	"reflect"
	"regexp"
	"testing"

	"github.com/segmentio/encoding/json"

	"github.com/surgeio/surge/stream/admin"
	"github.com/surgeio/surge/stream/control"
	"github.com/surgeio/surge/stream/dispatch"
	"github.com/surgeio/surge/stream/lag"
	"github.com/surgeio/surge/stream/plan"
	"github.com/surgeio/surge/stream/triggers"
)

// fill sets every field of v (a pointer) to a non-zero value, with one
// element in every slice and map, so that marshalling shows every key.
func fill(v reflect.Value, depth int) {
	if depth > 8 {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		fill(v.Elem(), depth+1)
	case reflect.Struct:
		if v.Type().PkgPath() == "time" {
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), depth+1)
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte(`"x"`))
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0), depth+1)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k := reflect.New(v.Type().Key()).Elem()
		fill(k, depth+1)
		e := reflect.New(v.Type().Elem()).Elem()
		fill(e, depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.String:
		v.SetString("k")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1)
	}
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// badKeys returns the object keys of a JSON document that are not
// snake_case.
func badKeys(v any, path string, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if !snakeCase.MatchString(k) {
				*out = append(*out, path+"."+k)
			}
			badKeys(e, path+"."+k, out)
		}
	case []any:
		for _, e := range x {
			badKeys(e, path+"[]", out)
		}
	}
}

// TestJSONOutputSnakeCase checks every --output json document: its keys
// are snake_case (the names README documents as stable).
func TestJSONOutputSnakeCase(t *testing.T) {
	docs := map[string]any{
		"surge config":                  &configReport{},
		"surge doctor":                  &doctorReport{},
		"surge produce":                 &produceReport{},
		"surge migrate":                 &migrateReport{},
		"surge lag":                     &lag.Snapshot{},
		"surge topics create":           &[]admin.TopicResult{},
		"surge topics list":             &[]admin.TopicInfo{},
		"surge topics describe":         &admin.TopicDetail{},
		"surge topics plan":             &plan.Plan{},
		"surge topics resize":           &resizeReport{},
		"surge topics resize --dry-run": &control.Plan{},
		"surge dlq show":                &deadLetterReport{},
		"surge dlq redrive":             &dispatch.RedriveReport{},
		"surge rules backtest":          &triggers.BacktestResult{},
	}
	for name, doc := range docs {
		fill(reflect.ValueOf(doc), 0)
		b, err := json.Marshal(doc)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		var bad []string
		badKeys(v, "", &bad)
		if len(bad) > 0 {
			t.Errorf("%s --output json: got keys %v, want snake_case\n%s", name, bad, b)
		}
	}
}
