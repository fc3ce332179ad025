package web

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/segmentio/encoding/json"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/output"
)

//go:embed assets
var assets embed.FS

// routes are the page, its assets and the API, behind secure.
func (s *Server) routes() http.Handler {
	static, _ := fs.Sub(assets, "assets")
	files := http.FileServer(http.FS(static))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, static, "index.html")
	})
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") || r.URL.Path == "index.html" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})))
	mux.HandleFunc("GET /api/reports", s.handleReportList)
	mux.HandleFunc("GET /api/reports/{name}", s.handleReport)
	mux.HandleFunc("GET /api/snapshot", s.handleSnapshot)
	mux.HandleFunc("GET /api/live", s.handleLive)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such page: the campaign page is /, its API /api/reports")
	})
	return s.secure(mux)
}

// view is what a page shows: the filters as given (relative times are read
// again at every snapshot).
type view struct {
	Campaign string `json:"campaign"`
	From     string `json:"from"`
	To       string `json:"to"`
}

// params reads the view's filters against the server's clock.
func (s *Server) params(v view) (analytics.ReportParams, error) {
	return analytics.ParseReportParams(v.Campaign, v.From, v.To, s.now())
}

// parseView reads campaign, from and to from the query string; anything
// else, a parameter given twice or a bad value is an error for a 400.
func (s *Server) parseView(r *http.Request) (view, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return view{}, fmt.Errorf("query string: %v", err)
	}
	var v view
	for k, vals := range q {
		var dst *string
		switch k {
		case "campaign":
			dst = &v.Campaign
		case "from":
			dst = &v.From
		case "to":
			dst = &v.To
		default:
			return view{}, fmt.Errorf("unknown parameter %q: want campaign, from and to", k)
		}
		if len(vals) > 1 {
			return view{}, fmt.Errorf("parameter %q given %d times", k, len(vals))
		}
		*dst = vals[0]
	}
	if _, err := s.params(v); err != nil {
		return view{}, err
	}
	return v, nil
}

type reportInfo struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Path        string `json:"path"`
}

func (s *Server) handleReportList(w http.ResponseWriter, r *http.Request) {
	var out []reportInfo
	for _, n := range analytics.RollupReportNames() {
		out = append(out, reportInfo{n, analytics.DescribeReport(n), "/api/reports/" + n})
	}
	writeJSON(w, http.StatusOK, out)
}

// handleReport answers what `surge report NAME --output json` prints.
func (s *Server) handleReport(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	served := analytics.RollupReportNames()
	if !slices.Contains(served, name) {
		msg := fmt.Sprintf("report %q is not served here; the API serves %s (the reports that read the rollups)", name, strings.Join(served, ", "))
		if analytics.DescribeReport(name) != "" {
			msg += "; it reads raw tables: run surge report " + name
		}
		writeError(w, http.StatusNotFound, msg)
		return
	}
	v, err := s.parseView(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	p, _ := s.params(v)
	res, err := s.rep.Report(r.Context(), name, p)
	if err != nil {
		s.logger.Warn("campaign page: report", "report", name, "err", err)
		writeError(w, http.StatusServiceUnavailable, "report "+name+" failed: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = output.Rows(w, output.JSON, res.Columns, res.Rows)
}

func (s *Server) handleSnapshot(w http.ResponseWriter, r *http.Request) {
	v, err := s.parseView(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	b := s.snapshot(r.Context(), v, nil)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = output.Value(w, v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// marshal encodes v compactly; the snapshot types always encode.
func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"error": errors.New("encode snapshot: " + err.Error()).Error()})
	}
	return b
}
