package deploy

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/surgeio/surge/analytics"
)

type hpa struct {
	Spec struct {
		ScaleTargetRef struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
			Name       string `yaml:"name"`
		} `yaml:"scaleTargetRef"`
		MinReplicas *int `yaml:"minReplicas"`
		MaxReplicas int  `yaml:"maxReplicas"`
		Metrics     []struct {
			Type string `yaml:"type"`
		} `yaml:"metrics"`
	} `yaml:"spec"`
}

type scaledObject struct {
	Spec struct {
		ScaleTargetRef struct {
			Name string `yaml:"name"`
		} `yaml:"scaleTargetRef"`
		MinReplicaCount *int `yaml:"minReplicaCount"`
		MaxReplicaCount int  `yaml:"maxReplicaCount"`
		Triggers        []struct {
			Type     string            `yaml:"type"`
			Metadata map[string]string `yaml:"metadata"`
		} `yaml:"triggers"`
	} `yaml:"spec"`
}

type clickHouseInstallation struct {
	Spec struct {
		Configuration struct {
			Zookeeper struct {
				Nodes []struct {
					Host string `yaml:"host"`
				} `yaml:"nodes"`
			} `yaml:"zookeeper"`
			Users    map[string]any    `yaml:"users"`
			Profiles map[string]string `yaml:"profiles"`
			Clusters []struct {
				Name   string `yaml:"name"`
				Layout struct {
					ShardsCount   int `yaml:"shardsCount"`
					ReplicasCount int `yaml:"replicasCount"`
				} `yaml:"layout"`
			} `yaml:"clusters"`
		} `yaml:"configuration"`
	} `yaml:"spec"`
}

// servedPaths are the HTTP paths a surge command serves, and the flag
// whose address serves them.
func servedPaths(inv *invocation) (addrFlag string, paths []string) {
	if inv.cmd.path == "gateway" {
		return "addr", []string{"/healthz", "/readyz", "/metrics"}
	}
	return "metrics-addr", []string{"/metrics"}
}

// TestK8sSurgeDeployments checks every surge Deployment: its command line
// and environment against the CLI, probes against what the command serves,
// Services, PodDisruptionBudgets and autoscalers against its pods,
// resources and security.
func TestK8sSurgeDeployments(t *testing.T) {
	objs := manifests(t)
	cli := surgeCLI(t)
	var k kustomization
	readYAML(t, filepath.Join("k8s", "kustomization.yaml"), &k)
	configMaps := make(map[string]bool)
	for _, g := range k.ConfigMapGenerator {
		configMaps[g.Name] = true
	}
	autoscaled := make(map[string][2]int) // deployment → min, max
	for _, o := range objs {
		switch o.Kind {
		case "HorizontalPodAutoscaler":
			var h hpa
			one(t, objs, o.Kind, o.Metadata.Name, &h)
			if h.Spec.ScaleTargetRef.Kind != "Deployment" || h.Spec.ScaleTargetRef.APIVersion != "apps/v1" || len(h.Spec.Metrics) == 0 {
				t.Errorf("HPA %s: got target %+v and %d metrics, want an apps/v1 Deployment and metrics", o.Metadata.Name, h.Spec.ScaleTargetRef, len(h.Spec.Metrics))
			}
			m := 1
			if h.Spec.MinReplicas != nil {
				m = *h.Spec.MinReplicas
			}
			autoscaled[h.Spec.ScaleTargetRef.Name] = [2]int{m, h.Spec.MaxReplicas}
		case "ScaledObject":
			var so scaledObject
			one(t, objs, o.Kind, o.Metadata.Name, &so)
			m := 0
			if so.Spec.MinReplicaCount != nil {
				m = *so.Spec.MinReplicaCount
			}
			autoscaled[so.Spec.ScaleTargetRef.Name] = [2]int{m, so.Spec.MaxReplicaCount}
			if len(so.Spec.Triggers) == 0 {
				t.Errorf("ScaledObject %s: got no triggers", o.Metadata.Name)
			}
			for _, tr := range so.Spec.Triggers {
				switch tr.Type {
				case "prometheus":
					for _, err := range checkPromQL(tr.Metadata["query"], surgeMetrics(t)) {
						t.Errorf("ScaledObject %s query: %v", o.Metadata.Name, err)
					}
					if _, err := strconv.ParseFloat(tr.Metadata["threshold"], 64); err != nil || tr.Metadata["serverAddress"] == "" {
						t.Errorf("ScaledObject %s: got threshold %q server %q, want a number and an address", o.Metadata.Name, tr.Metadata["threshold"], tr.Metadata["serverAddress"])
					}
				case "kafka":
					var kt kafkaTopic
					one(t, objs, "KafkaTopic", tr.Metadata["topic"], &kt)
					if int(kt.Spec.Partitions) < so.Spec.MaxReplicaCount {
						t.Errorf("ScaledObject %s: got maxReplicaCount %d above the %d partitions", o.Metadata.Name, so.Spec.MaxReplicaCount, kt.Spec.Partitions)
					}
				default:
					t.Errorf("ScaledObject %s: got trigger %s, want prometheus or kafka", o.Metadata.Name, tr.Type)
				}
			}
		}
	}
	for target, mm := range autoscaled {
		if mm[0] < 2 || mm[1] < mm[0] {
			t.Errorf("autoscaler of %s: got min %d max %d, want min at least 2 (one pod may be evicted) and max above it", target, mm[0], mm[1])
		}
	}

	var want []string
	for _, o := range objs {
		if o.Kind == "Deployment" {
			want = append(want, o.Metadata.Name)
		}
	}
	for _, name := range []string{"surge-gateway", "surge-dispatch-payment", "surge-triggers", "surge-sink", "surge-lag"} {
		if !slices.Contains(want, name) {
			t.Errorf("Deployments: got %v, want %s", want, name)
		}
	}
	for _, name := range want {
		t.Run(name, func(t *testing.T) {
			var d deployment
			one(t, objs, "Deployment", name, &d)
			pod := d.Spec.Template.Spec
			podLabels := d.Spec.Template.Metadata.Labels
			if sel := d.Spec.Selector.MatchLabels; len(sel) == 0 || !subset(sel, podLabels) {
				t.Errorf("selector %v: got pod labels %v, want them to match", sel, podLabels)
			}
			if _, ok := autoscaled[name]; ok && d.Spec.Replicas != nil {
				t.Errorf("replicas: got %d, want none (an autoscaler owns the count)", *d.Spec.Replicas)
			}
			if sc := pod.SecurityContext; sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
				t.Errorf("pod securityContext: got runAsNonRoot %v runAsUser %v, want non-root", sc.RunAsNonRoot, sc.RunAsUser)
			}
			var sa struct{}
			one(t, objs, "ServiceAccount", pod.ServiceAccountName, &sa)
			volumes := make(map[string]bool)
			for _, v := range pod.Volumes {
				volumes[v.Name] = true
				if v.ConfigMap != nil && !configMaps[v.ConfigMap.Name] {
					t.Errorf("volume %s: got ConfigMap %s, want one the kustomization generates", v.Name, v.ConfigMap.Name)
				}
			}
			if len(pod.Containers) != 1 {
				t.Fatalf("containers: got %d, want 1", len(pod.Containers))
			}
			for i, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
				main := i == len(pod.InitContainers)
				checkSurgeContainer(t, cli, c, main, volumes)
			}
			c := pod.Containers[0]
			inv, err := cli.parse(c.Args)
			if err != nil {
				t.Fatalf("args %q: %v", c.Args, err)
			}
			flag, paths := servedPaths(inv)
			served := ""
			if addr, ok := inv.flags[flag]; ok {
				served = port(t, addr)
			}
			if served == "" {
				t.Fatalf("args %q: got no --%s, want the command to serve /metrics", c.Args, flag)
			}
			portName := ""
			ports := make(map[string]bool)
			for _, p := range c.Ports {
				ports[p.Name], ports[strconv.Itoa(p.ContainerPort)] = true, true
				if strconv.Itoa(p.ContainerPort) == served {
					portName = p.Name
				}
			}
			if portName == "" {
				t.Errorf("ports: got %+v, want containerPort %s (--%s)", c.Ports, served, flag)
			}
			if got := d.Spec.Template.Metadata.Annotations["prometheus.io/port"]; got != served {
				t.Errorf("prometheus.io/port: got %q, want %s", got, served)
			}
			for kind, p := range map[string]*probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
				switch {
				case p == nil && kind == "startup":
				case p == nil:
					t.Errorf("%s probe: got none, want one", kind)
				case p.HTTPGet != nil:
					if !slices.Contains(paths, p.HTTPGet.Path) || (p.HTTPGet.Port != portName && p.HTTPGet.Port != served) {
						t.Errorf("%s probe: got GET %s on %s, want one of %v on port %s (%s)", kind, p.HTTPGet.Path, p.HTTPGet.Port, paths, portName, served)
					}
				case p.TCPSocket != nil:
					if p.TCPSocket.Port != portName && p.TCPSocket.Port != served {
						t.Errorf("%s probe: got tcpSocket on %s, want port %s (%s)", kind, p.TCPSocket.Port, portName, served)
					}
				default:
					t.Errorf("%s probe: got neither httpGet nor tcpSocket", kind)
				}
			}
			if inv.cmd.path == "gateway" && (c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz") {
				t.Error("gateway readiness probe: want GET /readyz (ready only while Kafka answers)")
			}

			var pdbs, services int
			for _, o := range objs {
				switch o.Kind {
				case "PodDisruptionBudget":
					var p pdb
					one(t, objs, o.Kind, o.Metadata.Name, &p)
					if sel := p.Spec.Selector.MatchLabels; len(sel) == 0 || !subset(sel, podLabels) {
						continue
					}
					pdbs++
					if p.Spec.MaxUnavailable == nil && p.Spec.MinAvailable == nil {
						t.Errorf("PodDisruptionBudget %s: got neither maxUnavailable nor minAvailable", o.Metadata.Name)
					}
				case "Service":
					var s service
					one(t, objs, o.Kind, o.Metadata.Name, &s)
					if len(s.Spec.Selector) == 0 || !subset(s.Spec.Selector, podLabels) {
						continue
					}
					services++
					for _, sp := range s.Spec.Ports {
						if !ports[sp.TargetPort] {
							t.Errorf("Service %s port %s: got targetPort %q, want a container port %v", o.Metadata.Name, sp.Name, sp.TargetPort, slices.Sorted(maps.Keys(ports)))
						}
					}
				}
			}
			if pdbs != 1 || services < 1 {
				t.Errorf("got %d PodDisruptionBudgets and %d Services selecting the pods, want 1 and at least 1", pdbs, services)
			}
		})
	}
}

// checkSurgeContainer checks one surge container: image, command line,
// SURGE_* environment, secrets, resources and security.
func checkSurgeContainer(t *testing.T, cli *cli, c container, main bool, volumes map[string]bool) {
	t.Helper()
	if err := checkPinned(c.Image); err != nil {
		t.Errorf("%s: %v", c.Name, err)
	}
	if !strings.HasPrefix(c.Image, "ghcr.io/surgeio/surge:") || len(c.Command) > 0 {
		t.Errorf("%s: got image %s command %q, want the surge image and its ENTRYPOINT", c.Name, c.Image, c.Command)
	}
	inv, err := cli.parse(c.Args)
	if err != nil {
		t.Fatalf("%s args %q: %v", c.Name, c.Args, err)
	}
	if len(inv.args) > 0 {
		t.Errorf("%s args %q: got positional arguments %q, want none", c.Name, c.Args, inv.args)
	}
	env := make(map[string]string)
	defined := make(map[string]bool)
	for _, e := range c.Env {
		defined[e.Name] = true
		env[e.Name] = e.Value
		if e.ValueFrom != nil {
			env[e.Name] = "from-ref"
		}
		if strings.Contains(e.Name, "PASSWORD") && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			t.Errorf("%s %s: got a literal value, want valueFrom.secretKeyRef", c.Name, e.Name)
		}
		if _, _, err := inv.cmd.envFlag(e.Name, env[e.Name]); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
	}
	for _, a := range c.Args {
		if strings.HasPrefix(a, "$(") && !defined[strings.TrimSuffix(strings.TrimPrefix(a, "$("), ")")] {
			t.Errorf("%s arg %s: got no such environment variable, want it defined for Kubernetes to expand", c.Name, a)
		}
	}
	for _, f := range []string{"rules", "keys-file"} {
		if p, ok := inv.flags[f]; ok && !slices.ContainsFunc(c.VolumeMounts, func(m struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
		}) bool {
			return volumes[m.Name] && strings.HasPrefix(p, m.MountPath+"/")
		}) {
			t.Errorf("%s --%s %s: got no volume mounted above it", c.Name, f, p)
		}
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		t.Errorf("%s resources: got %+v, want cpu and memory requests and a memory limit", c.Name, c.Resources)
	}
	if main {
		limit, err := parseBytes(c.Resources.Limits["memory"])
		if gml, gerr := parseBytes(env["GOMEMLIMIT"]); err != nil || gerr != nil || gml >= limit || gml < limit/2 {
			t.Errorf("%s GOMEMLIMIT: got %q, want below limits.memory %q with some headroom", c.Name, env["GOMEMLIMIT"], c.Resources.Limits["memory"])
		}
	}
	sc := c.SecurityContext
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("%s securityContext: got %+v, want no privilege escalation, a read-only root and no capabilities", c.Name, sc)
	}
}

// TestK8sPlatform checks the objects surge relies on: the Kafka user whose
// Secret the pods read, the ClickHouse installation the sink migrates ON
// CLUSTER, and the triggers' rules.
func TestK8sPlatform(t *testing.T) {
	objs := manifests(t)
	var topic kafkaTopic
	cluster := one(t, objs, "KafkaTopic", "orders", &topic).Metadata.Labels["strimzi.io/cluster"]
	var user struct{}
	u := one(t, objs, "KafkaUser", "surge", &user)
	if got := u.Metadata.Labels["strimzi.io/cluster"]; got != cluster {
		t.Errorf("KafkaUser strimzi.io/cluster: got %q, want %q like the topics", got, cluster)
	}

	var chi clickHouseInstallation
	chiObj := one(t, objs, "ClickHouseInstallation", "surge", &chi)
	cfg := chi.Spec.Configuration
	if len(cfg.Clusters) != 1 || cfg.Clusters[0].Layout.ReplicasCount < 2 || len(cfg.Zookeeper.Nodes) == 0 {
		t.Fatalf("ClickHouseInstallation: got clusters %+v zookeeper %+v, want one replicated cluster with ZooKeeper/Keeper", cfg.Clusters, cfg.Zookeeper)
	}
	chCluster := cfg.Clusters[0].Name
	if cfg.Profiles["surge/insert_distributed_sync"] != "1" {
		t.Errorf("profile surge: got %v, want insert_distributed_sync 1 (the sink's writes to Distributed tables)", cfg.Profiles)
	}
	for name, v := range analytics.ClusterSettings {
		if got, want := cfg.Profiles["surge/"+name], fmt.Sprint(v); got != want {
			t.Errorf("profile surge %s: got %q, want %q, what surge sets per query (analytics.ClusterSettings)", name, got, want)
		}
	}
	secret := strings.Split(cfg.Users["surge/k8s_secret_password"].(string), "/")

	var d deployment
	one(t, objs, "Deployment", "surge-sink", &d)
	migrated := false
	for _, c := range append(d.Spec.Template.Spec.InitContainers, d.Spec.Template.Spec.Containers...) {
		if len(c.Args) > 0 && c.Args[0] == "migrate" {
			migrated = slices.Equal(c.Args, []string{"migrate", "--cluster", chCluster})
		}
		for _, e := range c.Env {
			switch {
			case e.Name == "SURGE_CLICKHOUSE":
				host, _, _ := strings.Cut(e.Value, ":")
				if prefix := "chi-" + chiObj.Metadata.Name + "-" + chCluster + "-"; !strings.HasPrefix(host, prefix) {
					t.Errorf("%s SURGE_CLICKHOUSE: got %q, want one node of the installation (%s<shard>-<replica>)", c.Name, e.Value, prefix)
				}
			case e.Name == "SURGE_CLICKHOUSE_PASSWORD" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
				if got := []string{e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key}; !slices.Equal(got, secret) {
					t.Errorf("%s SURGE_CLICKHOUSE_PASSWORD: got Secret %v, want the installation's %v", c.Name, got, secret)
				}
			case e.Name == "SURGE_KAFKA_SASL_PASSWORD" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
				if ref := e.ValueFrom.SecretKeyRef; ref.Name != u.Metadata.Name || ref.Key != "password" {
					t.Errorf("%s SURGE_KAFKA_SASL_PASSWORD: got Secret %s key %s, want the KafkaUser's %s key password", c.Name, ref.Name, ref.Key, u.Metadata.Name)
				}
			}
		}
	}
	if !migrated {
		t.Errorf("sink: got no init container running surge migrate --cluster %s, want one", chCluster)
	}

	got, err := os.ReadFile(filepath.Join("k8s", "triggers-rules", "holiday.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("rules", "holiday.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("k8s/triggers-rules/holiday.yaml: got a copy that differs from rules/holiday.yaml, want them identical")
	}
}
