package deploy

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// composeFile is the part of a compose file the tests check.
type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string                       `yaml:"image"`
	Build       *composeBuild                `yaml:"build"`
	Command     []string                     `yaml:"command"`
	Environment map[string]string            `yaml:"environment"`
	Ports       []string                     `yaml:"ports"`
	Expose      []string                     `yaml:"expose"`
	DependsOn   map[string]composeDependency `yaml:"depends_on"`
	Healthcheck *composeHealthcheck          `yaml:"healthcheck"`
	Restart     string                       `yaml:"restart"`
	Profiles    []string                     `yaml:"profiles"`
	Volumes     []string                     `yaml:"volumes"`
	Deploy      struct {
		Replicas *int `yaml:"replicas"`
	} `yaml:"deploy"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

type composeDependency struct {
	Condition string `yaml:"condition"`
}

type composeHealthcheck struct {
	Test        []string `yaml:"test"`
	Interval    string   `yaml:"interval"`
	Timeout     string   `yaml:"timeout"`
	StartPeriod string   `yaml:"start_period"`
	Retries     int      `yaml:"retries"`
}

func readCompose(t *testing.T) *composeFile {
	t.Helper()
	var c composeFile
	readYAML(t, "compose.yaml", &c)
	if len(c.Services) == 0 {
		t.Fatal("compose.yaml: got no services, want some")
	}
	return &c
}

// kafkaServices returns the names of the Kafka nodes, sorted.
func (c *composeFile) kafkaServices() []string {
	var names []string
	for name, s := range c.Services {
		if strings.HasPrefix(s.Image, "apache/kafka:") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// listeners parses a Kafka listener list ("NAME://host:port,...") into
// name → host:port.
func listeners(t *testing.T, v string) map[string]string {
	t.Helper()
	out := make(map[string]string)
	for _, l := range strings.Split(v, ",") {
		name, addr, ok := strings.Cut(strings.TrimSpace(l), "://")
		if !ok {
			t.Fatalf("listener %q: got no NAME://host:port", l)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			t.Fatalf("listener %q: %v", l, err)
		}
		out[name] = addr
	}
	return out
}

func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return p
}

// publishedPorts parses "host:container" port mappings into container →
// host port.
func publishedPorts(t *testing.T, service string, ports []string) map[string]string {
	t.Helper()
	out := make(map[string]string)
	for _, p := range ports {
		host, container, ok := strings.Cut(p, ":")
		if !ok || strings.Contains(container, ":") {
			t.Errorf("%s port %q: got no host:container, want that form", service, p)
			continue
		}
		for _, n := range []string{host, container} {
			if v, err := strconv.Atoi(n); err != nil || v < 1 || v > 65535 {
				t.Errorf("%s port %q: got %q, want a port number", service, p, n)
			}
		}
		out[container] = host
	}
	return out
}
