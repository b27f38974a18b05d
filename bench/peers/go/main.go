// The Go peer of the performance lab: what the seeds' Go rewrite would serve for the same
// routes, with the standard library only. /api/health answers the same JSON shape as
// ferrite; /api/stats verifies ferrite's HS256 access token (signature, alg, iss, aud, exp,
// scope) and answers the same snapshot bytes (read once from STATS_FILE). Routes that need a
// Postgres driver or argon2 are not here: neither is in Go's standard library.
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log"
	"net/http"
	"os"
	"strings"
	"time"
)

var (
	secret    = []byte(os.Getenv("JWT_SECRET"))
	started   = time.Now()
	statsBody []byte
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

func main() {
	var err error
	if statsBody, err = os.ReadFile(os.Getenv("STATS_FILE")); err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		json.NewEncoder(w).Encode(map[string]any{
			"status": "ok", "version": "0.1.0", "worker": "1",
			"uptimeSeconds": time.Since(started).Seconds(),
		})
	})
	mux.HandleFunc("/api/stats", func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if !strings.HasPrefix(auth, "Bearer ") || !verify(auth[7:]) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"status":401,"code":"UNAUTHORIZED"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(statsBody)
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), mux))
}
