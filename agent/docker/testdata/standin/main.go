// Command standin is a small static program the container tests build into
// a FROM scratch image and tag with the names of real images (nextcloud,
// postgres, ...). What it does depends on the name it is called by:
//
//	standin serve       HTTP on $PORT (8080): /healthz is 200 once $HEALTHY_AFTER
//	                    has passed (and /data/unhealthy is absent); / prints env.
//	                    With $TLS_NAMES (comma-separated DNS names, wildcards
//	                    allowed) it serves HTTPS instead, with a self-signed
//	                    certificate made at start naming them (a proxy's
//	                    stand-in, whose routes are probed by name)
//	standin health      exits 0 when http://127.0.0.1:$PORT/healthz answers 200
//	standin exit N      exits with status N (one-shot jobs)
//	anything else       serve (the real image's own arguments)
//	php occ maintenance:mode --on|--off   sets 'maintenance' => true|false in
//	                    /var/www/html/config/config.php, as Nextcloud's occ does
//	php occ upgrade     appends "upgrade $VERSION uid=N" to config/upgrade.log
//	php occ user:resetpassword --password-from-env USER   sets USER's password
//	                    to $OC_PASS: its SHA-256 in /var/www/html/data/
//	                    standin-passwords/USER (the real one hashes it into the
//	                    database); USER must be $NEXTCLOUD_ADMIN_USER, the one
//	                    user the installation made
//
// The image also holds a static busybox as /bin/sh and the usual commands,
// so health checks and `sh -c` run for real; databases are real images of
// their own (dockertest.Postgres, dockertest.Redis).
//
// On start it appends "$SERVICE started" to $LOG_FILE when set, which the
// tests read to check start order.
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"
)

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	switch name {
	case "php":
		occ(args)
		return
	}
	if len(args) == 0 {
		args = []string{"serve"}
	}
	switch args[0] {
	case "serve":
		serve()
	case "health":
		port := env("PORT", "8080")
		resp, err := http.Get("http://127.0.0.1:" + port + "/healthz")
		if err != nil || resp.StatusCode != 200 {
			os.Exit(1)
		}
	case "exit":
		code := 0
		if len(args) > 1 {
			fmt.Sscan(args[1], &code)
		}
		logStart()
		os.Exit(code)
	default:
		// The real image's arguments (traefik --configFile=..., ...).
		serve()
	}
}

// selfSigned makes a certificate for names, signed by its own key.
func selfSigned(names []string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func logStart() {
	if f := os.Getenv("LOG_FILE"); f != "" {
		fh, err := os.OpenFile(f, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(fh, "%s started %d\n", os.Getenv("SERVICE"), time.Now().UnixNano())
			fh.Close()
		}
	}
}

func serve() {
	// As PID 1 a process gets no default signal handling: exit on SIGTERM
	// so that stopping takes milliseconds, not the 10 s kill timeout.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; os.Exit(0) }()
	logStart()
	start := time.Now()
	after, _ := time.ParseDuration(env("HEALTHY_AFTER", "0s"))
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if _, err := os.Stat("/data/unhealthy"); err == nil || time.Since(start) < after {
			http.Error(w, "starting", 503)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		e := os.Environ()
		sort.Strings(e)
		fmt.Fprintln(w, strings.Join(e, "\n"))
	})
	srv := &http.Server{Addr: ":" + env("PORT", "8080"), Handler: mux}
	var err error
	if names := os.Getenv("TLS_NAMES"); names != "" {
		cert, cerr := selfSigned(strings.Split(names, ","))
		if cerr != nil {
			fmt.Fprintln(os.Stderr, cerr)
			os.Exit(1)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		err = srv.ListenAndServeTLS("", "")
	} else {
		err = srv.ListenAndServe()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// ConfigPHP is Nextcloud's configuration file in the app container.
const ConfigPHP = "/var/www/html/config/config.php"

var maintenanceRe = regexp.MustCompile(`(?m)^(\s*'maintenance'\s*=>\s*)(true|false)\s*,`)

// occ stands in for `php occ maintenance:mode --on|--off`: like the real
// one it sets 'maintenance' in config.php (adding the key when missing,
// creating a minimal file when there is none) and says what it did.
func occ(args []string) {
	if len(args) == 2 && args[0] == "occ" && args[1] == "upgrade" {
		// As Nextcloud's after a new image: the stand-in notes the run (and
		// the image's $VERSION) in config/upgrade.log beside config.php.
		f, err := os.OpenFile(filepath.Join(filepath.Dir(ConfigPHP), "upgrade.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err == nil {
			_, err = fmt.Fprintf(f, "upgrade %s uid=%d\n", os.Getenv("VERSION"), os.Getuid())
			f.Close()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("Nextcloud is already latest version")
		return
	}
	if len(args) >= 2 && args[0] == "occ" && args[1] == "user:resetpassword" {
		resetPassword(args[2:])
		return
	}
	if len(args) < 3 || args[0] != "occ" || args[1] != "maintenance:mode" || (args[2] != "--on" && args[2] != "--off") {
		fmt.Fprintln(os.Stderr, "stand-in php: only `php occ maintenance:mode --on|--off` and `php occ upgrade`")
		os.Exit(2)
	}
	on := args[2] == "--on"
	data, err := os.ReadFile(ConfigPHP)
	if os.IsNotExist(err) {
		data, err = []byte("<?php\n$CONFIG = array (\n  'installed' => true,\n);\n"), nil
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	val := fmt.Sprint(on)
	if maintenanceRe.Match(data) {
		data = maintenanceRe.ReplaceAll(data, []byte("${1}"+val+","))
	} else {
		i := bytes.LastIndex(data, []byte(");"))
		if i < 0 {
			fmt.Fprintln(os.Stderr, "config.php holds no $CONFIG array")
			os.Exit(1)
		}
		head := bytes.TrimRight(data[:i], " \t\n")
		sep := "\n"
		if len(head) > 0 && head[len(head)-1] != ',' && head[len(head)-1] != '(' {
			sep = ",\n"
		}
		data = append(append(head[:len(head):len(head)], sep+"  'maintenance' => "+val+",\n"...), data[i:]...)
	}
	if err := os.MkdirAll(filepath.Dir(ConfigPHP), 0o750); err == nil {
		err = os.WriteFile(ConfigPHP, data, 0o640)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if on {
		fmt.Println("Maintenance mode enabled")
	} else {
		fmt.Println("Maintenance mode disabled")
	}
}

// PasswordDir holds the stand-in's users' password hashes.
const PasswordDir = "/var/www/html/data/standin-passwords"

// resetPassword stands in for `php occ user:resetpassword
// --password-from-env USER`, with the real one's messages.
func resetPassword(args []string) {
	if len(args) != 2 || args[0] != "--password-from-env" {
		fmt.Fprintln(os.Stderr, "stand-in php: only `php occ user:resetpassword --password-from-env USER`")
		os.Exit(2)
	}
	user := args[1]
	if user == "" || user != os.Getenv("NEXTCLOUD_ADMIN_USER") {
		fmt.Fprintln(os.Stderr, "User does not exist")
		os.Exit(1)
	}
	pass := os.Getenv("OC_PASS")
	if pass == "" {
		fmt.Fprintln(os.Stderr, "--password-from-env given, but OC_PASS is empty!")
		os.Exit(1)
	}
	sum := sha256.Sum256([]byte(pass))
	err := os.MkdirAll(PasswordDir, 0o750)
	if err == nil {
		err = os.WriteFile(filepath.Join(PasswordDir, user), []byte(hex.EncodeToString(sum[:])+"\n"), 0o640)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("Successfully reset password for %s\n", user)
}
