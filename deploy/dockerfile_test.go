package deploy

import (
	"bufio"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction with its continuation lines
// joined.
type instruction struct {
	line int
	cmd  string // upper-case: FROM, RUN, ...
	args string
}

// stage is one FROM and the instructions after it.
type stage struct {
	image, name string
	instrs      []instruction
}

// dockerfile is a parsed Dockerfile.
type dockerfile struct {
	stages   []stage
	comments string
}

func parseDockerfile(t *testing.T, path string) *dockerfile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()
	df := &dockerfile{}
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			df.comments += strings.TrimSpace(strings.TrimPrefix(line, "#")) + "\n"
			continue
		}
		if line == "" && cur.Len() == 0 {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		body, cont := strings.CutSuffix(line, "\\")
		cur.WriteString(body + " ")
		if cont {
			continue
		}
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		in := instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.Join(strings.Fields(args), " ")}
		cur.Reset()
		if in.cmd == "FROM" {
			var s stage
			fields := strings.Fields(in.args)
			for len(fields) > 0 && strings.HasPrefix(fields[0], "--") {
				fields = fields[1:]
			}
			if len(fields) > 0 {
				s.image = fields[0]
			}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				s.name = fields[2]
			}
			df.stages = append(df.stages, s)
		}
		if len(df.stages) == 0 {
			continue // ARG before the first FROM
		}
		last := &df.stages[len(df.stages)-1]
		last.instrs = append(last.instrs, in)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if len(df.stages) == 0 {
		t.Fatalf("%s: got no FROM, want stages", path)
	}
	return df
}

// all returns the arguments of every instruction cmd in the stage.
func (s stage) all(cmd string) []string {
	var out []string
	for _, in := range s.instrs {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

// execForm decodes an instruction's JSON exec form.
func execForm(t *testing.T, cmd, args string) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(args), &v); err != nil {
		t.Fatalf("%s %s: got shell form, want the JSON exec form: %v", cmd, args, err)
	}
	return v
}

// envVars parses ENV arguments in KEY=VALUE form.
func envVars(args string) map[string]string {
	out := make(map[string]string)
	for _, kv := range strings.Fields(args) {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = strings.Trim(v, `"'`)
	}
	return out
}

func TestDockerfile(t *testing.T) {
	df := parseDockerfile(t, "Dockerfile")
	build, final := df.stages[0], df.stages[len(df.stages)-1]
	goBuild := ""
	for _, r := range build.all("RUN") {
		if strings.Contains(r, "go build") {
			goBuild = r
		}
	}
	tests := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"multi-stage", func(t *testing.T) {
			if len(df.stages) < 2 {
				t.Errorf("stages: got %d, want a build stage and a runtime stage", len(df.stages))
			}
			if build.name == "" {
				t.Errorf("build stage: got no name, want FROM ... AS <name>")
			}
		}},
		{"build image", func(t *testing.T) {
			if repo, tag := imageTag(build.image); repo != "golang" || tag != "1.26" {
				t.Errorf("build image: got %q, want golang:1.26 (go.mod's Go)", build.image)
			}
		}},
		{"static trimmed build", func(t *testing.T) {
			if goBuild == "" {
				t.Fatal("build stage: got no RUN go build, want one")
			}
			for _, want := range []string{"-trimpath", "-ldflags", "-s ", "-w", "./cmd/surge"} {
				if !strings.Contains(goBuild, want) {
					t.Errorf("go build: got %q, want %q in it", goBuild, want)
				}
			}
			cgo := strings.Contains(goBuild, "CGO_ENABLED=0")
			for _, e := range build.all("ENV") {
				cgo = cgo || envVars(e)["CGO_ENABLED"] == "0"
			}
			if !cgo {
				t.Error("build stage: got no CGO_ENABLED=0, want a static binary")
			}
		}},
		{"small runtime image", func(t *testing.T) {
			if err := checkPinned(final.image); err != nil {
				t.Error(err)
			}
			repo, _ := imageTag(final.image)
			if !strings.HasPrefix(repo, "gcr.io/distroless/static") && repo != "alpine" {
				t.Errorf("runtime image: got %q, want distroless static or alpine", final.image)
			}
		}},
		{"non-root", func(t *testing.T) {
			users := final.all("USER")
			_, tag := imageTag(final.image)
			if len(users) == 0 && tag != "nonroot" {
				t.Fatalf("runtime stage: got no USER on %s, want a non-root user", final.image)
			}
			if len(users) > 0 {
				user, _, _ := strings.Cut(users[len(users)-1], ":")
				if user == "root" || user == "0" {
					t.Errorf("USER: got %q, want a non-root user", users[len(users)-1])
				}
			}
		}},
		{"entrypoint", func(t *testing.T) {
			eps := final.all("ENTRYPOINT")
			if len(eps) != 1 {
				t.Fatalf("ENTRYPOINT: got %q, want one", eps)
			}
			if got := execForm(t, "ENTRYPOINT", eps[0]); !slices.Equal(got, []string{"surge"}) {
				t.Errorf("ENTRYPOINT: got %q, want [\"surge\"]", got)
			}
			copied := false
			for _, c := range final.all("COPY") {
				f := strings.Fields(c)
				copied = copied || slices.Contains(f, "--from="+build.name) && f[len(f)-1] == "/usr/local/bin/surge"
			}
			if !copied {
				t.Errorf("runtime stage: got COPY %q, want the binary copied --from=%s to /usr/local/bin/surge (on PATH)", final.all("COPY"), build.name)
			}
		}},
		{"healthcheck", func(t *testing.T) {
			if strings.Contains(final.image, "distroless") {
				if hc := final.all("HEALTHCHECK"); len(hc) > 0 {
					t.Errorf("HEALTHCHECK: got %q, want none: distroless has no shell or client to run it", hc)
				}
				if !strings.Contains(df.comments, "HEALTHCHECK") {
					t.Error("comments: got no word on HEALTHCHECK, want why there is none")
				}
			}
		}},
		{"surge configuration", func(t *testing.T) {
			cli := surgeCLI(t)
			root := cli.commands[""]
			for _, e := range final.all("ENV") {
				for k, v := range envVars(e) {
					if _, ok, err := root.envFlag(k, v); err != nil {
						t.Error(err)
					} else if !ok {
						t.Errorf("ENV %s: got a variable surge does not read", k)
					}
				}
			}
			for _, c := range final.all("CMD") {
				if _, err := cli.parse(execForm(t, "CMD", c)); err != nil {
					t.Errorf("CMD %s: %v", c, err)
				}
			}
			if !slices.ContainsFunc(final.all("EXPOSE"), func(p string) bool { return strings.Contains(p, "9464") }) {
				t.Errorf("EXPOSE: got %q, want the sink's metrics port 9464", final.all("EXPOSE"))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.check)
	}
}

func TestDockerignore(t *testing.T) {
	data, err := os.ReadFile("Dockerfile.dockerignore")
	if err != nil {
		t.Fatalf("read Dockerfile.dockerignore: %v", err)
	}
	lines := strings.Split(string(data), "\n")
	for _, want := range []string{".git", ".surge", "bin"} {
		if !slices.Contains(lines, want) {
			t.Errorf("Dockerfile.dockerignore: got no %q, want it kept out of the build context", want)
		}
	}
}
