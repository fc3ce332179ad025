package deploy

import (
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/admin"
)

func TestK8sManifests(t *testing.T) {
	objs := manifests(t)
	wantAPI := map[string]string{
		"Deployment": "apps/v1", "PodDisruptionBudget": "policy/v1", "Service": "v1",
		"ServiceAccount": "v1", "KafkaTopic": "kafka.strimzi.io/v1beta2", "KafkaUser": "kafka.strimzi.io/v1beta2",
		"HorizontalPodAutoscaler": "autoscaling/v2", "ScaledObject": "keda.sh/v1alpha1",
		"ClickHouseInstallation": "clickhouse.altinity.com/v1",
	}
	seen := make(map[string]string)
	files := make(map[string]bool)
	for _, o := range objs {
		id := o.Kind + "/" + o.Metadata.Name
		files[o.file] = true
		switch {
		case o.Kind == "" || o.Metadata.Name == "":
			t.Errorf("%s: got a resource with kind %q name %q, want both", o.file, o.Kind, o.Metadata.Name)
		case wantAPI[o.Kind] == "":
			t.Errorf("%s: got kind %s, want one of %v (add it to this test)", o.file, o.Kind, slices.Sorted(maps.Keys(wantAPI)))
		case o.APIVersion != wantAPI[o.Kind]:
			t.Errorf("%s %s: got apiVersion %s, want %s", o.file, id, o.APIVersion, wantAPI[o.Kind])
		case o.Metadata.Namespace != "":
			t.Errorf("%s %s: got namespace %s, want none (the kustomization sets it)", o.file, id, o.Metadata.Namespace)
		}
		if other, dup := seen[id]; dup {
			t.Errorf("%s: got %s also in %s, want it once", o.file, id, other)
		}
		seen[id] = o.file
	}

	var k kustomization
	readYAML(t, filepath.Join("k8s", "kustomization.yaml"), &k)
	if got, want := slices.Sorted(slices.Values(k.Resources)), slices.Sorted(maps.Keys(files)); !slices.Equal(got, want) {
		t.Errorf("kustomization resources: got %v, want every manifest %v", got, want)
	}
	if k.Namespace == "" {
		t.Error("kustomization namespace: got none, want one")
	}
	for _, o := range objs {
		if o.Kind != "Deployment" {
			continue
		}
		var d deployment
		one(t, objs, "Deployment", o.Metadata.Name, &d)
		for _, c := range append(d.Spec.Template.Spec.InitContainers, d.Spec.Template.Spec.Containers...) {
			repo, tag := imageTag(c.Image)
			i := slices.IndexFunc(k.Images, func(im kustomizeImage) bool { return im.Name == repo })
			if i < 0 || k.Images[i].NewTag != tag {
				t.Errorf("%s: kustomization images: got %+v, want %s with newTag %s", o.Metadata.Name, k.Images, repo, tag)
			}
		}
	}
}

func TestK8sSinkDeployment(t *testing.T) {
	objs := manifests(t)
	cli := surgeCLI(t)
	var d deployment
	one(t, objs, "Deployment", "surge-sink", &d)
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("containers: got %d, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	var topic kafkaTopic
	cluster := one(t, objs, "KafkaTopic", "orders", &topic).Metadata.Labels["strimzi.io/cluster"]
	inv, err := cli.parse(c.Args)
	if err != nil {
		t.Fatalf("args %q: %v", c.Args, err)
	}
	metricsPort := ""
	if addr, ok := inv.flags["metrics-addr"]; ok {
		metricsPort = port(t, addr)
	}
	env := make(map[string]string)
	for _, e := range c.Env {
		env[e.Name] = e.Value
		if e.ValueFrom != nil {
			env[e.Name] = "from-ref"
		}
	}

	tests := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"replicas and selector", func(t *testing.T) {
			if r := d.Spec.Replicas; r == nil || *r < 2 {
				t.Errorf("replicas: got %v, want at least 2", r)
			}
			sel := d.Spec.Selector.MatchLabels
			if len(sel) == 0 || !subset(sel, d.Spec.Template.Metadata.Labels) {
				t.Errorf("selector %v: got pod labels %v, want them to match", sel, d.Spec.Template.Metadata.Labels)
			}
		}},
		{"image", func(t *testing.T) {
			if err := checkPinned(c.Image); err != nil {
				t.Error(err)
			}
			if len(c.Command) > 0 && !slices.Equal(c.Command, []string{"surge"}) {
				t.Errorf("command: got %q, want none (the image's ENTRYPOINT is surge)", c.Command)
			}
		}},
		{"surge command", func(t *testing.T) {
			if inv.cmd.path != "sink" || len(inv.args) > 0 {
				t.Errorf("args %q: got surge %q %q, want surge sink", c.Args, inv.cmd.path, inv.args)
			}
			for _, name := range slices.Sorted(maps.Keys(env)) {
				if _, _, err := inv.cmd.envFlag(name, env[name]); err != nil {
					t.Error(err)
				}
			}
		}},
		{"ports and probes", func(t *testing.T) {
			if metricsPort == "" {
				t.Fatal("got no --metrics-addr, want the sink to serve metrics for the probes")
			}
			named := ""
			for _, p := range c.Ports {
				if strconv.Itoa(p.ContainerPort) == metricsPort {
					named = p.Name
				}
			}
			if named == "" {
				t.Fatalf("ports: got %+v, want containerPort %s", c.Ports, metricsPort)
			}
			probes := map[string]*probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe}
			for _, kind := range []string{"startup", "readiness", "liveness"} {
				p := probes[kind]
				switch {
				case p == nil && kind == "startup":
				case p == nil:
					t.Errorf("%s probe: got none, want a TCP probe on the metrics port", kind)
				case p.HTTPGet != nil:
					t.Errorf("%s probe: got httpGet %s, want tcpSocket (the sink has no health endpoint)", kind, p.HTTPGet.Path)
				case p.TCPSocket == nil || (p.TCPSocket.Port != named && p.TCPSocket.Port != metricsPort):
					t.Errorf("%s probe: got %+v, want tcpSocket on port %s (%s)", kind, p.TCPSocket, named, metricsPort)
				}
			}
		}},
		{"configuration", func(t *testing.T) {
			host, p, err := net.SplitHostPort(env["SURGE_BROKERS"])
			if want := cluster + "-kafka-bootstrap"; err != nil || host != want || p != "9092" {
				t.Errorf("SURGE_BROKERS: got %q, want %s:9092 (Strimzi's bootstrap Service of %s)", env["SURGE_BROKERS"], want, cluster)
			}
			if _, p, err := net.SplitHostPort(env["SURGE_CLICKHOUSE"]); err != nil || p != "9000" {
				t.Errorf("SURGE_CLICKHOUSE: got %q, want host:9000 (the native protocol port)", env["SURGE_CLICKHOUSE"])
			}
			for _, e := range c.Env {
				if strings.Contains(e.Name, "PASSWORD") && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
					t.Errorf("%s: got a literal value, want valueFrom.secretKeyRef", e.Name)
				}
			}
			if _, ok := env["SURGE_CLICKHOUSE_PASSWORD"]; !ok {
				t.Error("SURGE_CLICKHOUSE_PASSWORD: got none, want it from a Secret")
			}
		}},
		{"resources", func(t *testing.T) {
			for _, r := range []string{"cpu", "memory"} {
				if c.Resources.Requests[r] == "" {
					t.Errorf("requests.%s: got none, want one", r)
				}
			}
			limit, err := parseBytes(c.Resources.Limits["memory"])
			if err != nil {
				t.Fatalf("limits.memory: %v", err)
			}
			request, err := parseBytes(c.Resources.Requests["memory"])
			if err != nil || request > limit {
				t.Errorf("requests.memory: got %q (%v), want at most limits.memory %q", c.Resources.Requests["memory"], err, c.Resources.Limits["memory"])
			}
			if gml, err := parseBytes(env["GOMEMLIMIT"]); err != nil || gml >= limit || gml < limit/2 {
				t.Errorf("GOMEMLIMIT: got %q (%v), want below limits.memory %q with some headroom", env["GOMEMLIMIT"], err, c.Resources.Limits["memory"])
			}
		}},
		{"security", func(t *testing.T) {
			sc := pod.SecurityContext
			if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
				t.Errorf("pod securityContext: got runAsNonRoot %v runAsUser %v, want true and a non-zero uid", sc.RunAsNonRoot, sc.RunAsUser)
			}
			csc := c.SecurityContext
			if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
				t.Error("allowPrivilegeEscalation: got not false, want false")
			}
			if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
				t.Error("readOnlyRootFilesystem: got not true, want true")
			}
			if !slices.Contains(csc.Capabilities.Drop, "ALL") {
				t.Errorf("capabilities.drop: got %q, want ALL", csc.Capabilities.Drop)
			}
			if g := pod.TerminationGracePeriodSeconds; g == nil || *g < 30 {
				t.Errorf("terminationGracePeriodSeconds: got %v, want at least 30 to flush and commit", g)
			}
			var sa struct{}
			one(t, objs, "ServiceAccount", pod.ServiceAccountName, &sa)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.check)
	}
}

// TestK8sKafkaTopics checks the KafkaTopics against the topics
// `surge topics create` makes with compose's partition and replica counts.
func TestK8sKafkaTopics(t *testing.T) {
	objs := manifests(t)
	const partitions, replication = 16, 3
	cmd := readCompose(t).Services["surge-topics"].Command
	if got := strings.Join(cmd, " "); !strings.Contains(got, "--partitions "+strconv.Itoa(partitions)) || !strings.Contains(got, "--replication "+strconv.Itoa(replication)) {
		t.Errorf("compose surge-topics: got %q, want --partitions %d --replication %d like the KafkaTopics", got, partitions, replication)
	}
	specs := admin.DefaultSpecs(stream.DefaultTopics(), partitions, replication)
	var names []string
	for _, o := range objs {
		if o.Kind == "KafkaTopic" {
			names = append(names, o.Metadata.Name)
		}
	}
	if want := stream.DefaultTopics().All(); !slices.Equal(slices.Sorted(slices.Values(names)), slices.Sorted(slices.Values(want))) {
		t.Errorf("KafkaTopics: got %v, want %v", names, want)
	}
	clusters := make(map[string]bool)
	for _, want := range specs {
		t.Run(want.Name, func(t *testing.T) {
			var kt kafkaTopic
			o := one(t, objs, "KafkaTopic", want.Name, &kt)
			clusters[o.Metadata.Labels["strimzi.io/cluster"]] = true
			if kt.Spec.TopicName != "" && kt.Spec.TopicName != want.Name {
				t.Errorf("topicName: got %s, want %s", kt.Spec.TopicName, want.Name)
			}
			if kt.Spec.Partitions != want.Partitions || kt.Spec.Replicas != want.ReplicationFactor {
				t.Errorf("partitions/replicas: got %d/%d, want %d/%d", kt.Spec.Partitions, kt.Spec.Replicas, want.Partitions, want.ReplicationFactor)
			}
			got := make(map[string]string)
			for k, v := range kt.Spec.Config {
				got[k] = fmt.Sprint(v)
			}
			if !maps.Equal(got, want.Configs) {
				t.Errorf("config: got %v, want %v", got, want.Configs)
			}
		})
	}
	if len(clusters) != 1 || clusters[""] {
		t.Errorf("strimzi.io/cluster labels: got %v, want one cluster name on every topic", slices.Collect(maps.Keys(clusters)))
	}
}

func TestK8sSinkPDBAndService(t *testing.T) {
	objs := manifests(t)
	var d deployment
	one(t, objs, "Deployment", "surge-sink", &d)
	podLabels := d.Spec.Template.Metadata.Labels
	replicas := *d.Spec.Replicas

	var p pdb
	one(t, objs, "PodDisruptionBudget", "surge-sink", &p)
	if sel := p.Spec.Selector.MatchLabels; len(sel) == 0 || !subset(sel, podLabels) {
		t.Errorf("PodDisruptionBudget selector: got %v, want it to match the sink's pod labels %v", sel, podLabels)
	}
	switch {
	case p.Spec.MaxUnavailable != nil && (*p.Spec.MaxUnavailable < 1 || *p.Spec.MaxUnavailable >= replicas):
		t.Errorf("maxUnavailable: got %d, want 1..%d so a drain proceeds and a pod keeps consuming", *p.Spec.MaxUnavailable, replicas-1)
	case p.Spec.MinAvailable != nil && (*p.Spec.MinAvailable < 1 || *p.Spec.MinAvailable >= replicas):
		t.Errorf("minAvailable: got %d, want 1..%d", *p.Spec.MinAvailable, replicas-1)
	case p.Spec.MaxUnavailable == nil && p.Spec.MinAvailable == nil:
		t.Error("PodDisruptionBudget: got neither maxUnavailable nor minAvailable, want one")
	}

	var s service
	one(t, objs, "Service", "surge-sink-metrics", &s)
	if sel := s.Spec.Selector; len(sel) == 0 || !subset(sel, podLabels) {
		t.Errorf("Service selector: got %v, want it to match the sink's pod labels %v", sel, podLabels)
	}
	ports := make(map[string]bool)
	for _, cp := range d.Spec.Template.Spec.Containers[0].Ports {
		ports[cp.Name], ports[strconv.Itoa(cp.ContainerPort)] = true, true
	}
	for _, sp := range s.Spec.Ports {
		if !ports[sp.TargetPort] {
			t.Errorf("Service port %s: got targetPort %q, want a port of the sink container %v", sp.Name, sp.TargetPort, slices.Sorted(maps.Keys(ports)))
		}
	}
}
