package stream

import "github.com/surgeio/surge/schemas"

// Topics names the pipeline's topics. The zero value names none; start from
// DefaultTopics and override the fields a deployment renames.
type Topics struct {
	// Orders carries orders and order status changes.
	Orders string `json:"orders" mapstructure:"orders"`
	// UserEvents carries shoppers' page views, searches, cart changes.
	UserEvents string `json:"user_events" mapstructure:"user_events"`
	// Coupons carries coupons issued by campaign rules.
	Coupons string `json:"coupons" mapstructure:"coupons"`
	// DeadLetters carries records that could not be processed, with the
	// reason in their headers (see DeadLetter).
	DeadLetters string `json:"dead_letters" mapstructure:"dead_letters"`
}

// DefaultTopics returns the topic names surge uses unless configured
// otherwise: "orders", "user-events", "coupons" and "dead-letters".
func DefaultTopics() Topics {
	return Topics{
		Orders:      "orders",
		UserEvents:  "user-events",
		Coupons:     "coupons",
		DeadLetters: "dead-letters",
	}
}

// For returns the topic records of kind k go to: orders and order statuses
// share Orders (so one user's order and its status changes stay in one
// partition, in order), user events go to UserEvents and coupons to
// Coupons. It returns "" for a kind surge does not know.
func (t Topics) For(k schemas.Kind) string {
	switch k {
	case schemas.KindOrder, schemas.KindOrderStatus:
		return t.Orders
	case schemas.KindUserEvent:
		return t.UserEvents
	case schemas.KindCoupon:
		return t.Coupons
	default:
		return ""
	}
}

// All returns every topic name, data topics first and DeadLetters last,
// skipping empty names.
func (t Topics) All() []string {
	all := make([]string, 0, 4)
	for _, n := range [...]string{t.Orders, t.UserEvents, t.Coupons, t.DeadLetters} {
		if n != "" {
			all = append(all, n)
		}
	}
	return all
}

// Data returns the topics that carry events (all but DeadLetters), skipping
// empty names. Consumers of the whole pipeline, such as the sink, read
// these.
func (t Topics) Data() []string {
	data := make([]string, 0, 3)
	for _, n := range [...]string{t.Orders, t.UserEvents, t.Coupons} {
		if n != "" {
			data = append(data, n)
		}
	}
	return data
}
