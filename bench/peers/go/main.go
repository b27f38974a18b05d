// The Go peer of the performance lab: what the seeds' Go rewrite would serve for the same
// routes, with the standard library only, and the same response headers ferrite sends
// (X-Request-Id, the API security headers, Vary, an ETag on every body). /api/health answers the
// same JSON shape as ferrite; /api/stats verifies ferrite's HS256 access token (signature, alg,
// iss, aud, exp, scope) and answers the same snapshot bytes (read once from STATS_FILE) with a
// precomputed ETag, `Cache-Control: no-cache` and 304 on a matching If-None-Match; without a
// valid token it answers ferrite's 401 problem+json, and any other path ferrite's 404
// problem+json. With TLS_PORT, TLS_CERT and TLS_KEY it also serves TLS (HTTP/2 by ALPN, as
// net/http does by default). Routes that need a Postgres driver or argon2 are not here: neither
// is in Go's standard library.
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

var (
	secret    = []byte(os.Getenv("JWT_SECRET"))
	started   = time.Now()
	statsBody []byte
	statsEtag string
	b64       = base64.RawURLEncoding
)

type claims struct {
	Sub   string `json:"sub"`
	Scope string `json:"scope"`
	Iss   string `json:"iss"`
	Aud   string `json:"aud"`
	Exp   int64  `json:"exp"`
}

func verify(token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	header, err := b64.DecodeString(parts[0])
	if err != nil || !bytes.Contains(header, []byte(`"alg":"HS256"`)) {
		return false
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return false
	}
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var c claims
	if json.Unmarshal(payload, &c) != nil {
		return false
	}
	if c.Iss != "ferrite" || c.Aud != "ferrite" || c.Exp < time.Now().Unix()-30 {
		return false
	}
	for _, s := range strings.Fields(c.Scope) {
		if s == "miner:read" || s == "admin" {
			return true
		}
	}
	return false
}

// etag names a body by its 64-bit FNV-1a hash (ferrite uses XXH64, which is not in the standard library).
func etag(body []byte) string {
	h := fnv.New64a()
	h.Write(body)
	return `"` + fmt.Sprintf("%016x", h.Sum64()) + `"`
}

func uuid() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// headers sets what every ferrite API answer carries and returns the request id.
func headers(w http.ResponseWriter) string {
	id := uuid()
	h := w.Header()
	h["X-Request-Id"] = []string{id}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	h["X-Frame-Options"] = []string{"DENY"}
	h["Content-Security-Policy"] = []string{"default-src 'none'; frame-ancestors 'none'"}
	h["Referrer-Policy"] = []string{"no-referrer"}
	h["Vary"] = []string{"Accept-Encoding"}
	return id
}

func send(w http.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	h["Content-Type"] = []string{contentType}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	h["Etag"] = []string{etag(body)}
	w.WriteHeader(status)
	w.Write(body)
}

func problem(w http.ResponseWriter, r *http.Request, id string, status int, code, title, detail string) {
	body, _ := json.Marshal(map[string]any{
		"type": "https://ferrite.dev/problems/" + code, "title": title, "status": status, "code": code,
		"detail": detail, "instance": r.URL.Path, "requestId": id,
	})
	send(w, status, "application/problem+json; charset=utf-8", body)
}

func main() {
	var err error
	if statsBody, err = os.ReadFile(os.Getenv("STATS_FILE")); err != nil {
		log.Fatal(err)
	}
	statsEtag = etag(statsBody)
	mux := http.NewServeMux()
	mux.HandleFunc("/api/health", func(w http.ResponseWriter, r *http.Request) {
		headers(w)
		body, _ := json.Marshal(map[string]any{
			"status": "ok", "version": "0.1.0", "worker": "1",
			"uptimeSeconds": time.Since(started).Seconds(),
		})
		send(w, http.StatusOK, "application/json; charset=utf-8", body)
	})
	mux.HandleFunc("/api/stats", func(w http.ResponseWriter, r *http.Request) {
		id := headers(w)
		auth := r.Header.Get("Authorization")
		if !strings.HasPrefix(auth, "Bearer ") || !verify(auth[7:]) {
			w.Header()["Www-Authenticate"] = []string{`Bearer realm="ferrite", error="invalid_token"`}
			problem(w, r, id, http.StatusUnauthorized, "UNAUTHORIZED", "Authentication required",
				`Send an access token as "Authorization: Bearer <token>".`)
			return
		}
		h := w.Header()
		h["Etag"] = []string{statsEtag}
		h["Cache-Control"] = []string{"no-cache"}
		if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, statsEtag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h["Content-Type"] = []string{"application/json; charset=utf-8"}
		w.Write(statsBody)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		id := headers(w)
		problem(w, r, id, http.StatusNotFound, "NOT_FOUND", "Not found", "No route for "+r.Method+" "+r.URL.Path)
	})
	if port := os.Getenv("TLS_PORT"); port != "" {
		go func() {
			log.Fatal(http.ListenAndServeTLS("127.0.0.1:"+port, os.Getenv("TLS_CERT"), os.Getenv("TLS_KEY"), mux))
		}()
	}
	log.Fatal(http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), mux))
}
