// Command standin is a small static program the container tests build into
// a FROM scratch image and tag with the names of real images (nextcloud,
// postgres, ...). What it does depends on the name it is called by:
//
//	standin serve       HTTP on $PORT (8080): /healthz is 200 once $HEALTHY_AFTER
//	                    has passed (and /data/unhealthy is absent); / prints env
//	standin health      exits 0 when http://127.0.0.1:$PORT/healthz answers 200
//	standin exit N      exits with status N (one-shot jobs)
//	anything else       serve (the real image's own arguments)
//	php occ maintenance:mode --on|--off   appends the mode to /var/www/html/maintenance.log
//	sh -c ...           a CMD-SHELL healthcheck: exits 0 when /healthz answers 200
//	pg_dumpall ...      prints a small SQL dump on stdout
//
// On start it appends "$SERVICE started" to $LOG_FILE when set, which the
// tests read to check start order.
package main

import (
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
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
	case "sh":
		// Stands in for CMD-SHELL healthchecks of the real images
		// (pg_isready, redis-cli ping): healthy once serving.
		if resp, err := http.Get("http://127.0.0.1:" + env("PORT", "8080") + "/healthz"); err != nil || resp.StatusCode != 200 {
			os.Exit(1)
		}
		return
	case "pg_dumpall":
		fmt.Println("-- stand-in dump", strings.Join(args, " "))
		fmt.Println("CREATE TABLE assets (id int);")
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
	if err := http.ListenAndServe(":"+env("PORT", "8080"), mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// occ stands in for `php occ maintenance:mode --on|--off`.
func occ(args []string) {
	if len(args) < 3 || args[0] != "occ" || args[1] != "maintenance:mode" {
		fmt.Fprintln(os.Stderr, "stand-in php: only `php occ maintenance:mode --on|--off`")
		os.Exit(2)
	}
	mode := strings.TrimPrefix(args[2], "--")
	f, err := os.OpenFile("/var/www/html/maintenance.log", os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o666)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintf(f, "%s uid=%d\n", mode, os.Getuid())
	f.Close()
	fmt.Println("Maintenance mode", mode)
}
