package gateway

import (
	_ "embed"
	"net/http"
)

// openAPI is the hand-written OpenAPI 3.0 description of the gateway,
// served at /openapi.json. The tests check that it parses and describes
// every route.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3.0 description of the gateway's routes (a
// copy).
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, openAPI)
}
