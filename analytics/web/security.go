package web

import (
	"net"
	"net/http"
	"strings"
)

// contentSecurityPolicy allows only the page's own scripts, styles, icon
// and API: no inline script or style, no framing, no form posts.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// secure wraps h with the security headers, the method check, the Host check
// (without an authorizer) and the API key check (with one).
func (s *Server) secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			hd.Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "the campaign page is read-only: use GET")
			return
		}
		if s.auth == nil {
			// Loopback only: a page from elsewhere that rebinds its own
			// name to 127.0.0.1 still sends its own name as Host.
			if !loopbackHost(hostOnly(r.Host)) {
				writeError(w, http.StatusMisdirectedRequest, "this server answers only to localhost, 127.0.0.1 or [::1]; serve with API keys to reach it by another name")
				return
			}
		} else if !s.authorized(w, r) {
			return
		}
		h.ServeHTTP(w, r)
	})
}

// authorized checks the request's API key and answers 401 or 403 when it
// does not allow reading reports.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	secret := ""
	if _, pass, ok := r.BasicAuth(); ok {
		secret = pass
	} else if h := r.Header.Get("Authorization"); h != "" {
		if scheme, tok, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
			secret = strings.TrimSpace(tok)
		}
	} else {
		secret = r.Header.Get("X-API-Key")
	}
	known, allowed := false, false
	if secret != "" {
		known, allowed = s.auth(secret)
	}
	switch {
	case allowed:
		return true
	case known:
		writeError(w, http.StatusForbidden, "this API key lacks the reports:read scope")
	default:
		w.Header().Set("WWW-Authenticate", `Basic realm="surge campaign page", charset="UTF-8"`)
		writeError(w, http.StatusUnauthorized, "an API key with the reports:read scope is needed: as the password of HTTP Basic authentication, as Authorization: Bearer KEY, or as X-API-Key")
	}
	return false
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}
