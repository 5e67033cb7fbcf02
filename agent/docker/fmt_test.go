package docker

import "fmt"

func fmtSscan(s string, v any) { fmt.Sscan(s, v) }
