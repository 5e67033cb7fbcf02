// Command testapp is the backup tests' container: "serve" prints the
// marker file of /data and waits for SIGTERM, "health" succeeds when the
// marker exists, "load" writes stdin to /data/loaded.sql, "load-fail"
// reads stdin and fails as psql does on a broken script, "check" prints
// /data/tables (what the stand-in database holds; nothing when absent).
package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	cmd := "serve"
	if len(os.Args) > 1 {
		cmd = os.Args[1]
	}
	switch cmd {
	case "health":
		if _, err := os.Stat("/data/marker"); err != nil {
			os.Exit(1)
		}
	case "load":
		b, err := io.ReadAll(os.Stdin)
		if err == nil {
			err = os.WriteFile("/data/loaded.sql", b, 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	case "check":
		b, _ := os.ReadFile("/data/tables")
		os.Stdout.Write(b)
	case "load-fail":
		io.Copy(io.Discard, os.Stdin)
		fmt.Fprintln(os.Stderr, `psql:<stdin>:2: ERROR:  syntax error at or near "THIS"`)
		os.Exit(3)
	default:
		b, err := os.ReadFile("/data/marker")
		if err != nil {
			fmt.Println("marker=<missing>")
		} else {
			fmt.Printf("marker=%s\n", b)
		}
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
	}
}
