package plan

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ErrForecast marks a forecast that cannot be read: a malformed --forecast
// spec or forecast file. Its message names the spec or the file and line.
var ErrForecast = errors.New("invalid forecast")

// DefaultRecordBytes is the average record size assumed for a topic whose
// forecast gives neither a record size nor a byte rate.
const DefaultRecordBytes = 200

// TopicForecast is the forecast peak of one topic.
type TopicForecast struct {
	Topic         string  `json:"topic"`
	RecordsPerSec float64 `json:"records_per_sec"`
	BytesPerSec   float64 `json:"bytes_per_sec"`
	// RecordBytes is the average record size: given, or BytesPerSec /
	// RecordsPerSec when a byte rate was given.
	RecordBytes float64 `json:"record_bytes"`
}

// GroupForecast says how fast one instance of a consumer group can handle
// records when that is slower than reading them: a dispatch group whose
// handler takes HandlerLatency per record with up to MaxInFlight records
// at once handles MaxInFlight / HandlerLatency records/s per instance.
type GroupForecast struct {
	Group          string        `json:"group"`
	HandlerLatency time.Duration `json:"handler_latency"`
	MaxInFlight    int           `json:"max_in_flight"`
}

// RecordsPerSec is the instance's handler capacity, MaxInFlight /
// HandlerLatency, or 0 when either is unset.
func (g GroupForecast) RecordsPerSec() float64 {
	if g.HandlerLatency <= 0 || g.MaxInFlight <= 0 {
		return 0
	}
	return float64(g.MaxInFlight) / g.HandlerLatency.Seconds()
}

// Forecast is the expected peak: per topic rates and, optionally, per
// group handler capacities.
type Forecast struct {
	Topics []TopicForecast          `json:"topics"`
	Groups map[string]GroupForecast `json:"groups,omitempty"`
}

// Topic returns the forecast of topic, if there is one.
func (f Forecast) Topic(topic string) (TopicForecast, bool) {
	for _, t := range f.Topics {
		if t.Topic == topic {
			return t, true
		}
	}
	return TopicForecast{}, false
}

// Merge returns f with the topics and groups of over added, replacing
// those f already has: flags override the forecast file.
func (f Forecast) Merge(over Forecast) Forecast {
	out := Forecast{Groups: map[string]GroupForecast{}}
	for k, g := range f.Groups {
		out.Groups[k] = g
	}
	for k, g := range over.Groups {
		out.Groups[k] = g
	}
	seen := map[string]bool{}
	for _, t := range over.Topics {
		seen[t.Topic] = true
	}
	for _, t := range f.Topics {
		if !seen[t.Topic] {
			out.Topics = append(out.Topics, t)
		}
	}
	out.Topics = append(out.Topics, over.Topics...)
	sort.Slice(out.Topics, func(i, j int) bool { return out.Topics[i].Topic < out.Topics[j].Topic })
	return out
}

const specHelp = "want TOPIC=RATE/s[@SIZE or @BYTES/s], e.g. orders=20000/s, orders=20k/s@450B or user-events=150k/s@40MB/s"

// ParseForecast reads --forecast specs, each "TOPIC=RATE[/s][@SIZE]" or
// "TOPIC=RATE[/s][@BYTES/s]":
//
//	orders=20000/s             20000 records/s of recordBytes each
//	orders=20k/s@450B          records of 450 bytes (KB, KiB, MB also work)
//	user-events=150k/s@40MB/s  150000 records/s totalling 40 MB/s
//
// RATE takes k, M and G suffixes. Specs may also be comma-separated within
// one string. recordBytes is the size of records whose spec gives none
// (DefaultRecordBytes when 0). Errors wrap ErrForecast.
func ParseForecast(specs []string, recordBytes float64) (Forecast, error) {
	if recordBytes <= 0 {
		recordBytes = DefaultRecordBytes
	}
	var f Forecast
	seen := map[string]bool{}
	for _, raw := range specs {
		for _, spec := range strings.Split(raw, ",") {
			spec = strings.TrimSpace(spec)
			if spec == "" {
				continue
			}
			topic, rate, ok := strings.Cut(spec, "=")
			topic = strings.TrimSpace(topic)
			if !ok || topic == "" || strings.TrimSpace(rate) == "" {
				return Forecast{}, fmt.Errorf("%w: --forecast %q: %s", ErrForecast, spec, specHelp)
			}
			tf, err := parseTopicRate(topic, rate, recordBytes)
			if err != nil {
				return Forecast{}, fmt.Errorf("%w: --forecast %q: %v", ErrForecast, spec, err)
			}
			if seen[topic] {
				return Forecast{}, fmt.Errorf("%w: --forecast: topic %s given twice", ErrForecast, topic)
			}
			seen[topic] = true
			f.Topics = append(f.Topics, tf)
		}
	}
	return f, nil
}

// parseTopicRate reads "RATE[/s][@SIZE|@BYTES/s]".
func parseTopicRate(topic, s string, recordBytes float64) (TopicForecast, error) {
	rate, size, hasSize := strings.Cut(s, "@")
	rate, _ = perSecond(rate)
	rps, err := parseCount(rate)
	if err != nil {
		return TopicForecast{}, fmt.Errorf("rate %v", err)
	}
	if rps <= 0 {
		return TopicForecast{}, fmt.Errorf("rate must be above 0 records/s")
	}
	tf := TopicForecast{Topic: topic, RecordsPerSec: rps, RecordBytes: recordBytes}
	if hasSize {
		sz, isRate := perSecond(size)
		b, err := parseBytes(sz)
		if err != nil {
			return TopicForecast{}, fmt.Errorf("size after @: %v", err)
		}
		if b <= 0 {
			return TopicForecast{}, fmt.Errorf("size after @ must be above 0")
		}
		if isRate {
			tf.BytesPerSec, tf.RecordBytes = b, b/rps
			return tf, nil
		}
		tf.RecordBytes = b
	}
	tf.BytesPerSec = tf.RecordsPerSec * tf.RecordBytes
	return tf, nil
}

// forecastFile is the YAML forecast file:
//
//	record_bytes: 300            # records of topics that give no size
//	topics:
//	  orders: 20000/s@450B       # the --forecast syntax, or:
//	  user-events:
//	    rate: 150k/s
//	    record_bytes: 250        # or bytes_per_second: 40MB/s
//	groups:                      # optional handler capacity per group
//	  payment:
//	    handler_latency: 20ms
//	    max_in_flight: 64
type forecastFile struct {
	RecordBytes string               `yaml:"record_bytes"`
	Topics      map[string]topicYAML `yaml:"topics"`
	Groups      map[string]groupYAML `yaml:"groups"`
}

type topicYAML struct {
	Rate        string `yaml:"rate"`
	RecordBytes string `yaml:"record_bytes"`
	BytesPerSec string `yaml:"bytes_per_second"`
}

// UnmarshalYAML takes either the --forecast syntax as a string or a
// mapping with rate, record_bytes and bytes_per_second.
func (t *topicYAML) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		t.Rate = n.Value
		return nil
	}
	type plain topicYAML
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*t = topicYAML(p)
	return nil
}

type groupYAML struct {
	HandlerLatency time.Duration `yaml:"handler_latency"`
	MaxInFlight    int           `yaml:"max_in_flight"`
}

// LoadForecastFile reads a YAML forecast file (see the forecastFile
// layout in this package's documentation). recordBytes is the record
// size of topics that give none, unless the file sets record_bytes.
// Errors wrap ErrForecast and name the file.
func LoadForecastFile(path string, recordBytes float64) (Forecast, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Forecast{}, fmt.Errorf("%w: %v", ErrForecast, err)
	}
	f, err := parseForecastFile(b, recordBytes)
	if err != nil {
		return Forecast{}, fmt.Errorf("%w: %s: %v", ErrForecast, path, err)
	}
	return f, nil
}

func parseForecastFile(b []byte, recordBytes float64) (Forecast, error) {
	var ff forecastFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&ff); err != nil {
		return Forecast{}, err
	}
	if ff.RecordBytes != "" {
		v, err := parseBytes(ff.RecordBytes)
		if err != nil || v <= 0 {
			return Forecast{}, fmt.Errorf("record_bytes %q: want a size above 0 such as 450B or 1KB", ff.RecordBytes)
		}
		recordBytes = v
	}
	if recordBytes <= 0 {
		recordBytes = DefaultRecordBytes
	}
	if len(ff.Topics) == 0 {
		return Forecast{}, errors.New("no topics: want a topics: mapping such as\n  topics:\n    orders: 20000/s@450B")
	}
	f := Forecast{Groups: map[string]GroupForecast{}}
	for topic, ty := range ff.Topics {
		if ty.Rate == "" {
			return Forecast{}, fmt.Errorf("topic %s: no rate (e.g. rate: 20000/s)", topic)
		}
		if ty.RecordBytes != "" && ty.BytesPerSec != "" {
			return Forecast{}, fmt.Errorf("topic %s: give record_bytes or bytes_per_second, not both", topic)
		}
		spec := ty.Rate
		switch {
		case ty.RecordBytes != "":
			spec += "@" + ty.RecordBytes
		case ty.BytesPerSec != "":
			spec += "@" + strings.TrimSuffix(ty.BytesPerSec, "/s") + "/s"
		}
		tf, err := parseTopicRate(topic, spec, recordBytes)
		if err != nil {
			return Forecast{}, fmt.Errorf("topic %s: %v", topic, err)
		}
		f.Topics = append(f.Topics, tf)
	}
	sort.Slice(f.Topics, func(i, j int) bool { return f.Topics[i].Topic < f.Topics[j].Topic })
	for name, g := range ff.Groups {
		if g.HandlerLatency <= 0 || g.MaxInFlight <= 0 {
			return Forecast{}, fmt.Errorf("group %s: want handler_latency (e.g. 20ms) and max_in_flight (e.g. 64), both above 0", name)
		}
		f.Groups[name] = GroupForecast{Group: name, HandlerLatency: g.HandlerLatency, MaxInFlight: g.MaxInFlight}
	}
	return f, nil
}
