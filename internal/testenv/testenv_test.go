package testenv

import (
	"context"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestMain(m *testing.M) { Main(m) }

func TestClickHouseConn(t *testing.T) {
	var name string
	t.Run("fresh database", func(t *testing.T) {
		conn := ClickHouseConn(t)
		name = conn.Database()
		var applied uint64
		if err := conn.DB().QueryRow(context.Background(), "SELECT count() FROM schema_migrations").Scan(&applied); err != nil {
			t.Fatal(err)
		}
		if applied == 0 {
			t.Errorf("schema_migrations is empty, want the migrations applied")
		}
		if other := ClickHouseConn(t); other.Database() == name {
			t.Errorf("two ClickHouseConn calls share database %q, want distinct ones", name)
		}
	})
	// The subtest's cleanup dropped its database; the server stays up.
	conn := ClickHouseConn(t)
	var n uint64
	err := conn.DB().QueryRow(context.Background(), "SELECT count() FROM system.databases WHERE name = ?", name).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("database %s still exists after its test ended", name)
	}
	if got, want := ClickHouse(t), ClickHouse(t); got != want {
		t.Errorf("ClickHouse returned two servers, want one shared")
	}
}

func TestKafka(t *testing.T) {
	tests := []struct {
		name       string
		partitions int32
		seeds      func(t *testing.T) []string
	}{
		{"default partitions", DefaultPartitions, func(t *testing.T) []string { return Kafka(t, "orders", "user-events") }},
		{"three partitions", 3, func(t *testing.T) []string { return KafkaPartitions(t, 3, "orders", "user-events") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl, err := kgo.NewClient(kgo.SeedBrokers(tt.seeds(t)...))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			topics, err := kadm.NewClient(cl).ListTopics(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for name, d := range topics {
				names = append(names, name)
				if got := int32(len(d.Partitions)); got != tt.partitions {
					t.Errorf("topic %s: got %d partitions, want %d", name, got, tt.partitions)
				}
			}
			sort.Strings(names)
			if want := []string{"orders", "user-events"}; !reflect.DeepEqual(names, want) {
				t.Errorf("topics: got %q, want %q", names, want)
			}
		})
	}
}
