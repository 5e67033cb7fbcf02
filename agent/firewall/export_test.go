package firewall

import "github.com/google/nftables"

// SetBeforeFlush lets tests add to the batch that replaces the table.
func SetBeforeFlush(t *Table, f func(c *nftables.Conn)) { t.beforeFlush = f }

// SetBeforeRestore lets tests add to the batch that restores the old table.
func SetBeforeRestore(t *Table, f func(c *nftables.Conn)) { t.beforeRestore = f }

// Ping is the lock-out probe's ICMP echo, for tests that ping between
// namespaces.
var Ping = ping
