package web_test

import (
	"testing"

	"github.com/surgeio/surge/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
