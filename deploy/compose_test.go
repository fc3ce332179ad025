package deploy

import (
	"encoding/base64"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestComposeServices(t *testing.T) {
	c := readCompose(t)
	tests := []struct {
		service   string
		wantImage string // repository; "" for a service built from this repository
		wantPorts map[string]string
	}{
		{"kafka-1", "apache/kafka", map[string]string{"9094": "19092"}},
		{"kafka-2", "apache/kafka", map[string]string{"9094": "29092"}},
		{"kafka-3", "apache/kafka", map[string]string{"9094": "39092"}},
		{"clickhouse", "clickhouse/clickhouse-server", map[string]string{"9000": "9000", "8123": "8123"}},
		{"surge-topics", "", nil},
		{"surge-migrate", "", nil},
		{"surge-sink", "", nil},
		{"surge-produce", "", nil},
		{"surge-gateway", "", map[string]string{"8080": "8080"}},
		{"surge-dispatch-payment", "", nil},
		{"surge-triggers", "", nil},
		{"surge-lag", "", nil},
		{"prometheus", "prom/prometheus", map[string]string{"9090": "9090"}},
		{"grafana", "grafana/grafana", map[string]string{"3000": "3000"}},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			s, ok := c.Services[tt.service]
			if !ok {
				t.Fatalf("got no service %s, want it", tt.service)
			}
			if err := checkPinned(s.Image); err != nil {
				t.Errorf("image: got %v, want an image pinned to a version tag", err)
			}
			if repo, _ := imageTag(s.Image); tt.wantImage != "" && repo != tt.wantImage {
				t.Errorf("image: got %s, want %s", repo, tt.wantImage)
			}
			if tt.wantImage == "" {
				if s.Build == nil {
					t.Fatal("build: got none, want the surge image built from this repository")
				}
				got, _ := filepath.Abs(filepath.Join(s.Build.Context, s.Build.Dockerfile))
				want, _ := filepath.Abs("Dockerfile")
				if got != want {
					t.Errorf("build: got Dockerfile %s, want %s", got, want)
				}
			}
			got := publishedPorts(t, tt.service, s.Ports)
			if !maps.Equal(got, tt.wantPorts) {
				t.Errorf("published ports (container → host): got %v, want %v", got, tt.wantPorts)
			}
		})
	}
	hostPorts := make(map[string]string)
	for _, name := range slices.Sorted(maps.Keys(c.Services)) {
		for _, host := range publishedPorts(t, name, c.Services[name].Ports) {
			if other, dup := hostPorts[host]; dup {
				t.Errorf("host port %s: got it published by %s and %s, want one", host, other, name)
			}
			hostPorts[host] = name
		}
		for _, v := range c.Services[name].Volumes {
			src, _, ok := strings.Cut(v, ":")
			if !ok || strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				continue
			}
			if _, declared := c.Volumes[src]; !declared {
				t.Errorf("%s: got volume %q, want it declared under volumes", name, src)
			}
		}
	}
}

func TestComposeKafkaKRaft(t *testing.T) {
	c := readCompose(t)
	brokers := c.kafkaServices()
	if len(brokers) != 3 {
		t.Fatalf("Kafka nodes: got %v, want 3", brokers)
	}
	clusterIDs := make(map[string]bool)
	nodeIDs := make(map[string]string) // node id → service
	var voters string
	for _, name := range brokers {
		s := c.Services[name]
		env := s.Environment
		t.Run(name, func(t *testing.T) {
			roles := strings.Split(env["KAFKA_PROCESS_ROLES"], ",")
			if !slices.Contains(roles, "broker") || !slices.Contains(roles, "controller") {
				t.Errorf("KAFKA_PROCESS_ROLES: got %q, want broker,controller (KRaft combined mode)", env["KAFKA_PROCESS_ROLES"])
			}
			clusterIDs[env["CLUSTER_ID"]] = true
			if b, err := base64.RawURLEncoding.DecodeString(env["CLUSTER_ID"]); err != nil || len(b) != 16 {
				t.Errorf("CLUSTER_ID: got %q, want a base64url UUID (kafka-storage.sh random-uuid)", env["CLUSTER_ID"])
			}
			id := env["KAFKA_NODE_ID"]
			if other, dup := nodeIDs[id]; dup || id == "" {
				t.Errorf("KAFKA_NODE_ID: got %q, also on %s; want a unique id", id, other)
			}
			nodeIDs[id] = name
			if voters == "" {
				voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
			} else if got := env["KAFKA_CONTROLLER_QUORUM_VOTERS"]; got != voters {
				t.Errorf("KAFKA_CONTROLLER_QUORUM_VOTERS: got %q, want the same on every node (%q)", got, voters)
			}

			ls := listeners(t, env["KAFKA_LISTENERS"])
			adv := listeners(t, env["KAFKA_ADVERTISED_LISTENERS"])
			protocols := make(map[string]bool)
			for _, m := range strings.Split(env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"], ",") {
				l, _, _ := strings.Cut(m, ":")
				protocols[l] = true
			}
			for l := range ls {
				if !protocols[l] {
					t.Errorf("listener %s: got no entry in KAFKA_LISTENER_SECURITY_PROTOCOL_MAP, want one", l)
				}
			}
			ctrl := env["KAFKA_CONTROLLER_LISTENER_NAMES"]
			if _, ok := ls[ctrl]; !ok {
				t.Errorf("KAFKA_CONTROLLER_LISTENER_NAMES: got %q, want one of the listeners %v", ctrl, ls)
			}
			inter := env["KAFKA_INTER_BROKER_LISTENER_NAME"]
			if got, want := adv[inter], name+":"+port(t, ls[inter]); got != want {
				t.Errorf("advertised inter-broker listener %s: got %q, want %q", inter, got, want)
			}
			published := publishedPorts(t, name, s.Ports)
			for l, a := range adv {
				if l == inter {
					continue
				}
				host, p, _ := net.SplitHostPort(a)
				if host != "localhost" || published[port(t, ls[l])] != p {
					t.Errorf("advertised listener %s: got %s with %s published as %q, want localhost:%s published from listener port %s",
						l, a, port(t, ls[l]), published[port(t, ls[l])], p, port(t, ls[l]))
				}
			}
			for _, key := range []string{"KAFKA_DEFAULT_REPLICATION_FACTOR", "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"} {
				if n, err := strconv.Atoi(env[key]); err != nil || n < 2 || n > len(brokers) {
					t.Errorf("%s: got %q, want 2..%d", key, env[key], len(brokers))
				}
			}
			if n, err := strconv.Atoi(env["KAFKA_MIN_INSYNC_REPLICAS"]); err != nil || n < 1 || n >= len(brokers) {
				t.Errorf("KAFKA_MIN_INSYNC_REPLICAS: got %q, want 1..%d so a broker can be lost", env["KAFKA_MIN_INSYNC_REPLICAS"], len(brokers)-1)
			}
			if got := env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]; got != "false" {
				t.Errorf("KAFKA_AUTO_CREATE_TOPICS_ENABLE: got %q, want false (surge creates its topics)", got)
			}
			if dir := env["KAFKA_LOG_DIRS"]; !slices.ContainsFunc(s.Volumes, func(v string) bool { return strings.HasSuffix(v, ":"+dir) }) {
				t.Errorf("KAFKA_LOG_DIRS %q: got volumes %v, want one mounted there", dir, s.Volumes)
			}
		})
	}
	if len(clusterIDs) != 1 {
		t.Errorf("CLUSTER_ID: got %d different values, want one", len(clusterIDs))
	}
	wantVoters := make(map[string]string)
	for _, v := range strings.Split(voters, ",") {
		id, addr, _ := strings.Cut(v, "@")
		host, p, _ := net.SplitHostPort(addr)
		wantVoters[id] = host
		if _, ok := c.Services[host]; !ok {
			t.Errorf("quorum voter %s: got no service %s", v, host)
			continue
		}
		if ctrl := listeners(t, c.Services[host].Environment["KAFKA_LISTENERS"])["CONTROLLER"]; port(t, ctrl) != p {
			t.Errorf("quorum voter %s: got port %s, want the CONTROLLER listener port of %s (%s)", v, p, host, ctrl)
		}
	}
	if !maps.Equal(wantVoters, nodeIDs) {
		t.Errorf("quorum voters (node id → host): got %v, want %v", wantVoters, nodeIDs)
	}
}

func TestComposeDependencies(t *testing.T) {
	c := readCompose(t)
	for _, name := range slices.Sorted(maps.Keys(c.Services)) {
		s := c.Services[name]
		if h := s.Healthcheck; h != nil {
			if len(h.Test) < 2 || (h.Test[0] != "CMD" && h.Test[0] != "CMD-SHELL") {
				t.Errorf("%s healthcheck test: got %q, want [CMD ...] or [CMD-SHELL ...]", name, h.Test)
			}
			for _, d := range []string{h.Interval, h.Timeout, h.StartPeriod} {
				if _, err := time.ParseDuration(d); err != nil {
					t.Errorf("%s healthcheck: got duration %q, want one like 10s", name, d)
				}
			}
		}
		for dep, d := range s.DependsOn {
			target, ok := c.Services[dep]
			switch {
			case !ok:
				t.Errorf("%s depends on %s: got no such service", name, dep)
			case len(target.Profiles) > 0 && len(s.Profiles) == 0:
				t.Errorf("%s depends on %s: got a dependency only started with --profile %v", name, dep, target.Profiles)
			case d.Condition == "service_healthy" && target.Healthcheck == nil:
				t.Errorf("%s waits for %s to be healthy: got no healthcheck on %s, want one", name, dep, dep)
			case d.Condition == "service_completed_successfully" && target.Restart != "no":
				t.Errorf("%s waits for %s to complete: got restart %q on it, want \"no\" (one-shot)", name, dep, target.Restart)
			case d.Condition != "service_healthy" && d.Condition != "service_completed_successfully" && d.Condition != "service_started":
				t.Errorf("%s depends on %s: got condition %q, want a compose condition", name, dep, d.Condition)
			}
		}
	}
	for _, name := range []string{"kafka-1", "kafka-2", "kafka-3", "clickhouse"} {
		if c.Services[name].Healthcheck == nil {
			t.Errorf("%s: got no healthcheck, want one", name)
		}
	}
}

// TestComposeSurge checks every surge service's command line and SURGE_*
// variables against the CLI's real commands and flags.
func TestComposeSurge(t *testing.T) {
	c := readCompose(t)
	cli := surgeCLI(t)
	brokers := c.kafkaServices()
	tests := []struct {
		service      string
		wantCommand  string
		wantFlags    map[string]string
		wantOneShot  bool
		wantReplicas int
		wantDeps     map[string]string
	}{
		{service: "surge-topics", wantCommand: "topics create", wantFlags: map[string]string{"partitions": "16", "replication": "3"}, wantOneShot: true,
			wantDeps: map[string]string{"kafka-1": "service_healthy", "kafka-2": "service_healthy", "kafka-3": "service_healthy"}},
		{service: "surge-migrate", wantCommand: "migrate", wantOneShot: true,
			wantDeps: map[string]string{"clickhouse": "service_healthy"}},
		{service: "surge-sink", wantCommand: "sink", wantFlags: map[string]string{"metrics-addr": ":9464"}, wantReplicas: 2,
			wantDeps: map[string]string{"kafka-1": "service_healthy", "kafka-2": "service_healthy", "kafka-3": "service_healthy",
				"clickhouse": "service_healthy", "surge-topics": "service_completed_successfully", "surge-migrate": "service_completed_successfully"}},
		{service: "surge-produce", wantCommand: "produce", wantOneShot: true,
			wantDeps: map[string]string{"surge-topics": "service_completed_successfully"}},
		{service: "surge-gateway", wantCommand: "gateway", wantFlags: map[string]string{"addr": ":8080"},
			wantDeps: map[string]string{"surge-topics": "service_completed_successfully"}},
		{service: "surge-dispatch-payment", wantCommand: "dispatch", wantFlags: map[string]string{"group": "payment", "metrics-addr": ":9465"},
			wantDeps: map[string]string{"surge-topics": "service_completed_successfully"}},
		{service: "surge-triggers", wantCommand: "triggers", wantFlags: map[string]string{"rules": "/etc/surge/rules/holiday.yaml", "metrics-addr": ":9465"},
			wantDeps: map[string]string{"surge-topics": "service_completed_successfully"}},
		{service: "surge-lag", wantCommand: "lag", wantFlags: map[string]string{"watch": "true", "metrics-addr": ":9466"},
			wantDeps: map[string]string{"surge-topics": "service_completed_successfully"}},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			s := c.Services[tt.service]
			inv, err := cli.parse(s.Command)
			if err != nil {
				t.Fatalf("command %q: %v", s.Command, err)
			}
			// A command with subcommands (gateway hash-key) also runs itself.
			if got := inv.cmd.path; got != tt.wantCommand {
				t.Errorf("command %q: got surge %q, want surge %q", s.Command, got, tt.wantCommand)
			}
			if len(inv.args) > 0 {
				t.Errorf("command %q: got arguments %q, want none", s.Command, inv.args)
			}
			for f, want := range tt.wantFlags {
				if got := inv.flags[f]; got != want {
					t.Errorf("--%s: got %q, want %q", f, got, want)
				}
			}
			for _, name := range slices.Sorted(maps.Keys(s.Environment)) {
				if _, ok, err := inv.cmd.envFlag(name, s.Environment[name]); err != nil {
					t.Error(err)
				} else if !ok {
					t.Errorf("environment %s: got a variable surge does not read, want SURGE_*", name)
				}
			}
			if got := s.Restart == "no"; got != tt.wantOneShot {
				t.Errorf("restart: got %q, want one-shot=%v", s.Restart, tt.wantOneShot)
			}
			if got := s.Deploy.Replicas; tt.wantReplicas > 0 && (got == nil || *got != tt.wantReplicas) {
				t.Errorf("deploy.replicas: got %v, want %d", got, tt.wantReplicas)
			}
			deps := make(map[string]string)
			for d, v := range s.DependsOn {
				deps[d] = v.Condition
			}
			if !maps.Equal(deps, tt.wantDeps) {
				t.Errorf("depends_on: got %v, want %v", deps, tt.wantDeps)
			}
			if addr, ok := inv.flags["metrics-addr"]; ok {
				if p := port(t, addr); !slices.Contains(s.Expose, p) {
					t.Errorf("expose: got %v, want the metrics port %s", s.Expose, p)
				}
			}
			if r, ok := inv.flags["replication"]; ok {
				if n, _ := strconv.Atoi(r); n > len(brokers) {
					t.Errorf("--replication %d: got more replicas than the %d brokers", n, len(brokers))
				}
			}
		})
	}
}

// TestComposeSurgeEndpoints checks that every surge service whose command
// talks to Kafka (has --brokers) or ClickHouse (has --clickhouse) gets the
// SURGE_BROKERS or SURGE_CLICKHOUSE* settings, and that they reach the
// Kafka and ClickHouse services as they are configured.
func TestComposeSurgeEndpoints(t *testing.T) {
	c := readCompose(t)
	cli := surgeCLI(t)
	ch := c.Services["clickhouse"].Environment
	for _, name := range slices.Sorted(maps.Keys(c.Services)) {
		s := c.Services[name]
		if s.Build == nil {
			continue
		}
		env := s.Environment
		t.Run(name, func(t *testing.T) {
			inv, err := cli.parse(s.Command)
			if err != nil {
				t.Fatalf("command %q: %v", s.Command, err)
			}
			_, kafka := inv.cmd.flags["brokers"]
			_, clickhouse := inv.cmd.flags["clickhouse"]
			if !kafka && !clickhouse {
				t.Fatalf("surge %s connects to neither Kafka nor ClickHouse", inv.cmd.path)
			}
			if kafka {
				checkComposeBrokers(t, c, env)
			}
			if !clickhouse {
				return
			}
			if got, want := env["SURGE_CLICKHOUSE"], "clickhouse:9000"; got != want {
				t.Errorf("SURGE_CLICKHOUSE: got %q, want %q (the native protocol port)", got, want)
			}
			pairs := []struct{ surge, clickhouse string }{
				{"SURGE_CLICKHOUSE_USER", "CLICKHOUSE_USER"},
				{"SURGE_CLICKHOUSE_PASSWORD", "CLICKHOUSE_PASSWORD"},
				{"SURGE_CLICKHOUSE_DATABASE", "CLICKHOUSE_DB"},
			}
			for _, p := range pairs {
				if env[p.surge] == "" || env[p.surge] != ch[p.clickhouse] {
					t.Errorf("%s: got %q, want the clickhouse service's %s %q", p.surge, env[p.surge], p.clickhouse, ch[p.clickhouse])
				}
			}
		})
	}
}

// checkComposeBrokers checks that SURGE_BROKERS names every broker by the
// address it advertises inside the network.
func checkComposeBrokers(t *testing.T, c *composeFile, env map[string]string) {
	t.Helper()
	var got []string
	for _, b := range strings.Split(env["SURGE_BROKERS"], ",") {
		host, p, err := net.SplitHostPort(b)
		if err != nil {
			t.Fatalf("SURGE_BROKERS %q: %v", env["SURGE_BROKERS"], err)
		}
		kenv := c.Services[host].Environment
		adv := listeners(t, kenv["KAFKA_ADVERTISED_LISTENERS"])[kenv["KAFKA_INTER_BROKER_LISTENER_NAME"]]
		if adv != b {
			t.Errorf("SURGE_BROKERS entry %s: got %s advertising %q there, want the address it advertises inside the network", b, host, adv)
		}
		got = append(got, host+":"+p)
	}
	if len(got) != len(c.kafkaServices()) {
		t.Errorf("SURGE_BROKERS: got %v, want all %d brokers", got, len(c.kafkaServices()))
	}
}

// TestComposeMonitoring checks that Prometheus scrapes every surge service
// on the port it serves /metrics on, and loads the alert rules.
func TestComposeMonitoring(t *testing.T) {
	c := readCompose(t)
	cli := surgeCLI(t)
	var cfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName      string `yaml:"job_name"`
			DNSSDConfigs []struct {
				Names []string `yaml:"names"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, filepath.Join("prometheus", "prometheus.yml"), &cfg)
	prom := c.Services["prometheus"]
	for _, rf := range cfg.RuleFiles {
		if !slices.Contains(prom.Volumes, "./prometheus/alerts.yaml:"+rf+":ro") {
			t.Errorf("rule file %s: got volumes %v, want ./prometheus/alerts.yaml mounted there", rf, prom.Volumes)
		}
	}
	scraped := make(map[string]string)
	for _, sc := range cfg.ScrapeConfigs {
		for _, d := range sc.DNSSDConfigs {
			for _, n := range d.Names {
				scraped[n] = strconv.Itoa(d.Port)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Services)) {
		s := c.Services[name]
		if s.Build == nil || s.Restart == "no" || len(s.Profiles) > 0 {
			continue // one-shots are not scraped
		}
		inv, err := cli.parse(s.Command)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		addr, ok := inv.flags["metrics-addr"]
		if inv.cmd.path == "gateway" {
			addr, ok = inv.flags["addr"] // the gateway serves /metrics on its API port
		}
		if !ok {
			t.Errorf("%s: got no metrics address, want every long-running command to serve /metrics", name)
			continue
		}
		if got, want := scraped[name], port(t, addr); got != want {
			t.Errorf("%s: got scraped on port %q, want %s", name, got, want)
		}
	}
}
