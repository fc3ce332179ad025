// Package deploy holds surge's deployment files — the container image
// (Dockerfile), a local production-like stack (compose.yaml: a three-broker
// Kafka cluster in KRaft mode, ClickHouse, surge's services, Prometheus and
// Grafana), Kubernetes manifests (k8s/: surge's Deployments with their
// Services, PodDisruptionBudgets and autoscalers, Strimzi KafkaTopics and
// KafkaUser, an Altinity ClickHouseInstallation), Prometheus alert rules
// (prometheus/) and Grafana dashboards (grafana/).
//
// The package has no code of its own. Its tests parse every file and check
// it against surge itself: they build the surge binary and read each
// command's --help, so a command or flag used in a deployment file that the
// CLI no longer has fails the tests. The alert rules and dashboards are
// checked against the metrics surge's components really register, and the
// dashboards' ClickHouse queries run against a migrated local ClickHouse.
// See README.md for how to use the files.
package deploy
