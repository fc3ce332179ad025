// Package deploy holds surge's deployment files — the container image
// (Dockerfile), a local production-like stack (compose.yaml: a three-broker
// Kafka cluster in KRaft mode, ClickHouse and surge) and Kubernetes manifests
// (k8s/: the sink Deployment, Strimzi KafkaTopics, a PodDisruptionBudget).
//
// The package has no code of its own. Its tests parse every file and check
// it against surge itself: they build the surge binary and read each
// command's --help, so a command or flag used in a deployment file that the
// CLI no longer has fails the tests. See README.md for how to use the files.
package deploy
