package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// decodeAll decodes every document of a YAML stream into a node, skipping
// empty documents.
func decodeAll(data []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(n.Content) == 0 || n.Content[0].Kind == 0 {
			continue
		}
		if n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Tag == "!!null" {
			continue
		}
		docs = append(docs, &n)
	}
}

// readYAML reads and decodes a one-document YAML file into v.
func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	docs := readYAMLDocs(t, path)
	if len(docs) != 1 {
		t.Fatalf("%s: got %d YAML documents, want 1", path, len(docs))
	}
	if err := docs[0].Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// readYAMLDocs reads every document of a YAML file.
func readYAMLDocs(t *testing.T, path string) []*yaml.Node {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	docs, err := decodeAll(data)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return docs
}

// imageTag splits an image reference into repository and tag, ignoring a
// registry port ("registry:5000/x:1.2" is "registry:5000/x" and "1.2").
func imageTag(ref string) (repo, tag string) {
	ref, _, _ = strings.Cut(ref, "@")
	slash := strings.LastIndex(ref, "/")
	colon := strings.LastIndex(ref, ":")
	if colon <= slash {
		return ref, ""
	}
	return ref[:colon], ref[colon+1:]
}

// checkPinned reports an image that is not pinned to a version tag.
func checkPinned(ref string) error {
	repo, tag := imageTag(ref)
	switch {
	case ref == "":
		return errors.New("no image")
	case strings.Contains(ref, "${"):
		return fmt.Errorf("image %q comes from a variable", ref)
	case tag == "":
		return fmt.Errorf("image %q has no tag (means latest)", ref)
	case tag == "latest" || tag == "stable" || tag == "nonroot" && !strings.HasPrefix(repo, "gcr.io/distroless/"):
		return fmt.Errorf("image %q has the moving tag %q", ref, tag)
	}
	return nil
}

func TestImageTag(t *testing.T) {
	tests := []struct {
		ref      string
		wantRepo string
		wantTag  string
		pinned   bool
	}{
		{"apache/kafka:4.1.0", "apache/kafka", "4.1.0", true},
		{"clickhouse/clickhouse-server", "clickhouse/clickhouse-server", "", false},
		{"clickhouse/clickhouse-server:latest", "clickhouse/clickhouse-server", "latest", false},
		{"registry:5000/surge", "registry:5000/surge", "", false},
		{"registry:5000/surge:v1", "registry:5000/surge", "v1", true},
		{"gcr.io/distroless/static-debian12:nonroot", "gcr.io/distroless/static-debian12", "nonroot", true},
		{"${IMAGE}", "${IMAGE}", "", false},
	}
	for _, tt := range tests {
		repo, tag := imageTag(tt.ref)
		if repo != tt.wantRepo || tag != tt.wantTag {
			t.Errorf("imageTag(%q): got %q %q, want %q %q", tt.ref, repo, tag, tt.wantRepo, tt.wantTag)
		}
		if err := checkPinned(tt.ref); (err == nil) != tt.pinned {
			t.Errorf("checkPinned(%q): got %v, want pinned=%v", tt.ref, err, tt.pinned)
		}
	}
}

// TestREADMECoversFiles checks that README.md explains every deployment
// file, so a new file cannot arrive undocumented.
func TestREADMECoversFiles(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatalf("read README.md: %v", err)
	}
	var files []string
	err = filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch {
		case strings.HasSuffix(path, ".go"), path == "README.md", strings.Contains(path, "testdata"):
			return nil
		}
		files = append(files, filepath.ToSlash(path))
		return nil
	})
	if err != nil {
		t.Fatalf("list deploy/: %v", err)
	}
	for _, want := range []string{"Dockerfile", "compose.yaml", "k8s/kafka-topics.yaml",
		"k8s/kustomization.yaml", "k8s/sink-pdb.yaml", "k8s/sink.yaml"} {
		if !slices.Contains(files, want) {
			t.Errorf("deploy/ files: got %v, want %s among them", files, want)
		}
	}
	for _, f := range files {
		if !bytes.Contains(readme, []byte(f)) {
			t.Errorf("README.md: got no mention of %s, want one", f)
		}
	}
}
