package deploy

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/surgeio/surge/internal/testenv"
)

// dashboard is the part of a Grafana dashboard the tests check.
type dashboard struct {
	UID        string           `json:"uid"`
	Title      string           `json:"title"`
	Panels     []dashboardPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Datasource grafanaDS       `json:"datasource"`
			Query      json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type dashboardPanel struct {
	ID         int        `json:"id"`
	Type       string     `json:"type"`
	Title      string     `json:"title"`
	Datasource *grafanaDS `json:"datasource"`
	Targets    []struct {
		RefID      string     `json:"refId"`
		Datasource *grafanaDS `json:"datasource"`
		Expr       string     `json:"expr"`
		RawSQL     string     `json:"rawSql"`
	} `json:"targets"`
}

type grafanaDS struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaProvisioning struct {
	Datasources []struct {
		Name     string            `yaml:"name"`
		UID      string            `yaml:"uid"`
		Type     string            `yaml:"type"`
		URL      string            `yaml:"url"`
		JSONData map[string]any    `yaml:"jsonData"`
		Secure   map[string]string `yaml:"secureJsonData"`
	} `yaml:"datasources"`
	Providers []struct {
		Name    string `yaml:"name"`
		Type    string `yaml:"type"`
		Options struct {
			Path string `yaml:"path"`
		} `yaml:"options"`
	} `yaml:"providers"`
}

const (
	promType = "prometheus"
	chType   = "grafana-clickhouse-datasource"
)

func readDashboards(t *testing.T) map[string]dashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("grafana", "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("grafana/dashboards/*.json: got %v (%v), want dashboards", files, err)
	}
	out := make(map[string]dashboard)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = d
	}
	return out
}

// provisionedDatasources maps datasource uid to type.
func provisionedDatasources(t *testing.T) map[string]string {
	t.Helper()
	var p grafanaProvisioning
	readYAML(t, filepath.Join("grafana", "provisioning", "datasources", "surge.yaml"), &p)
	out := make(map[string]string)
	for _, d := range p.Datasources {
		out[d.UID] = d.Type
	}
	return out
}

func TestGrafanaDashboards(t *testing.T) {
	dss := provisionedDatasources(t)
	if dss["surge-prometheus"] != promType || dss["surge-clickhouse"] != chType {
		t.Fatalf("provisioned datasources: got %v, want surge-prometheus (%s) and surge-clickhouse (%s)", dss, promType, chType)
	}
	c := surgeMetrics(t)
	dashboards := readDashboards(t)
	for _, want := range []string{"intake.json", "dispatch.json", "sink-freshness.json", "campaign-live.json"} {
		if _, ok := dashboards[want]; !ok {
			t.Errorf("dashboards: got %d files, want %s", len(dashboards), want)
		}
	}
	uids := make(map[string]string)
	for file, d := range dashboards {
		t.Run(file, func(t *testing.T) {
			if d.UID == "" || d.Title == "" {
				t.Errorf("uid %q title %q: want both", d.UID, d.Title)
			}
			if other, dup := uids[d.UID]; dup {
				t.Errorf("uid %s: also used by %s", d.UID, other)
			}
			uids[d.UID] = file
			ids := make(map[int]bool)
			for _, p := range d.Panels {
				if ids[p.ID] {
					t.Errorf("panel %q: id %d used twice", p.Title, p.ID)
				}
				ids[p.ID] = true
				if p.Datasource == nil || dss[p.Datasource.UID] != p.Datasource.Type {
					t.Errorf("panel %q: got datasource %+v, want a provisioned one", p.Title, p.Datasource)
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %q: got no queries, want one", p.Title)
				}
				for _, q := range p.Targets {
					ds := p.Datasource
					if q.Datasource != nil {
						ds = q.Datasource
					}
					switch {
					case ds == nil:
					case ds.Type == promType:
						if q.Expr == "" {
							t.Errorf("panel %q query %s: got no expr", p.Title, q.RefID)
						}
						for _, err := range checkPromQL(q.Expr, c) {
							t.Errorf("panel %q query %s: %v", p.Title, q.RefID, err)
						}
					case ds.Type == chType:
						if q.RawSQL == "" {
							t.Errorf("panel %q query %s: got no rawSql", p.Title, q.RefID)
						}
					default:
						t.Errorf("panel %q: got datasource type %s, want prometheus or clickhouse", p.Title, ds.Type)
					}
				}
			}
			for _, v := range d.Templating.List {
				if v.Datasource.Type != promType {
					continue
				}
				var q struct {
					Query string `json:"query"`
				}
				if err := json.Unmarshal(v.Query, &q); err != nil {
					t.Fatalf("variable %s: %v", v.Name, err)
				}
				m := regexp.MustCompile(`^label_values\((\w+),\s*(\w+)\)$`).FindStringSubmatch(q.Query)
				if m == nil || !slices.Contains(c[m[1]], m[2]) {
					t.Errorf("variable %s: got query %q, want label_values of a surge metric's label", v.Name, q.Query)
				}
			}
		})
	}
}

var (
	timeFilterRE = regexp.MustCompile(`\$__timeFilter\((\w+)\)`)
	chVarRE      = regexp.MustCompile(`\$\{(\w+)\}|\$(\w+)`)
)

// grafanaSQL expands the ClickHouse plugin's macros and the dashboard
// variables as Grafana would for the last hour and campaign "bf".
func grafanaSQL(sql string) string {
	now := time.Now().Unix()
	from, to := strings.TrimSpace(time.Unix(now-3600, 0).UTC().Format("2006-01-02 15:04:05")), time.Unix(now, 0).UTC().Format("2006-01-02 15:04:05")
	sql = timeFilterRE.ReplaceAllString(sql, "$1 >= toDateTime('"+from+"') AND $1 <= toDateTime('"+to+"')")
	sql = strings.NewReplacer("$__fromTime", "toDateTime('"+from+"')", "$__toTime", "toDateTime('"+to+"')").Replace(sql)
	return chVarRE.ReplaceAllString(sql, "bf")
}

// TestGrafanaClickHouseQueries runs every ClickHouse query of the
// dashboards, macros expanded, on a migrated database of the local test
// server: tables, columns and functions must exist there.
func TestGrafanaClickHouseQueries(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := func(t *testing.T, what, sql string) {
		t.Helper()
		if strings.Contains(grafanaSQL(sql), "$") {
			t.Errorf("%s: got an unexpanded macro in %q", what, grafanaSQL(sql))
		}
		rows, err := conn.DB().Query(ctx, grafanaSQL(sql))
		if err != nil {
			t.Errorf("%s: %v\n%s", what, err, grafanaSQL(sql))
			return
		}
		for rows.Next() {
		}
		if err := rows.Err(); err != nil {
			t.Errorf("%s: %v", what, err)
		}
		rows.Close()
	}
	n := 0
	for file, d := range readDashboards(t) {
		for _, p := range d.Panels {
			for _, q := range p.Targets {
				if q.RawSQL != "" {
					n++
					run(t, file+" panel "+p.Title, q.RawSQL)
				}
			}
		}
		for _, v := range d.Templating.List {
			if v.Datasource.Type == chType {
				var sql string
				if err := json.Unmarshal(v.Query, &sql); err != nil {
					t.Fatalf("%s variable %s: %v", file, v.Name, err)
				}
				n++
				run(t, file+" variable "+v.Name, sql)
			}
		}
	}
	if n < 6 {
		t.Errorf("ClickHouse queries: got %d, want the campaign dashboard's and more", n)
	}
}

func TestGrafanaProvisioning(t *testing.T) {
	var p grafanaProvisioning
	readYAML(t, filepath.Join("grafana", "provisioning", "dashboards", "surge.yaml"), &p)
	if len(p.Providers) != 1 || p.Providers[0].Type != "file" {
		t.Fatalf("dashboard providers: got %+v, want one file provider", p.Providers)
	}
	path := p.Providers[0].Options.Path
	g := readCompose(t).Services["grafana"]
	if !slices.Contains(g.Volumes, "./grafana/dashboards:"+path+":ro") {
		t.Errorf("compose grafana volumes: got %v, want ./grafana/dashboards mounted at the provider path %s", g.Volumes, path)
	}
	if !slices.Contains(g.Volumes, "./grafana/provisioning:/etc/grafana/provisioning:ro") {
		t.Errorf("compose grafana volumes: got %v, want ./grafana/provisioning at /etc/grafana/provisioning", g.Volumes)
	}
	if !strings.Contains(g.Environment["GF_INSTALL_PLUGINS"], chType) {
		t.Errorf("GF_INSTALL_PLUGINS: got %q, want %s", g.Environment["GF_INSTALL_PLUGINS"], chType)
	}
	var ds grafanaProvisioning
	readYAML(t, filepath.Join("grafana", "provisioning", "datasources", "surge.yaml"), &ds)
	for _, d := range ds.Datasources {
		switch d.Type {
		case promType:
			if !strings.HasPrefix(d.URL, "http://prometheus:") {
				t.Errorf("Prometheus datasource url: got %q, want the compose service prometheus", d.URL)
			}
		case chType:
			if d.JSONData["host"] != "clickhouse" || d.JSONData["port"] != 9000 || d.JSONData["protocol"] != "native" {
				t.Errorf("ClickHouse datasource: got %v, want host clickhouse, port 9000, native", d.JSONData)
			}
			if !strings.HasPrefix(d.Secure["password"], "$") {
				t.Errorf("ClickHouse password: got a literal, want it from Grafana's environment")
			}
		}
	}
}
