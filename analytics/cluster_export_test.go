package analytics

// RenderClusterForTest renders the embedded migrations like ClusterDDL,
// with the replicated engines and ON CLUSTER each switchable, so that tests
// can run the result on a server without ZooKeeper. Statements keep {db}.
func RenderClusterForTest(cluster string, replicated, onCluster bool) ([]string, error) {
	r := clusterRender{cluster: cluster, replicated: replicated, onCluster: onCluster}
	files, err := loadMigrations(migrationFiles)
	if err != nil {
		return nil, err
	}
	files, err = r.migrations(files)
	if err != nil {
		return nil, err
	}
	out := r.setup()
	for _, f := range files {
		out = append(out, f.statements...)
	}
	return out, nil
}

// RenderClusterStatementForTest renders one migration statement for
// cluster, given the tables earlier statements created.
func RenderClusterStatementForTest(cluster, statement string, tables ...string) ([]string, error) {
	known := make(map[string]bool)
	for _, t := range tables {
		known[t] = true
	}
	return clusterRender{cluster: cluster, replicated: true, onCluster: true}.statement(statement, known)
}
