package deploy

import (
	"testing"

	"github.com/surgeio/surge/internal/testenv"
)

// TestMain stops the shared ClickHouse server the Grafana tests start.
func TestMain(m *testing.M) { testenv.Main(m) }
