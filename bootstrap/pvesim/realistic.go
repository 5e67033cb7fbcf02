package pvesim

import "time"

// Realistic sets task durations and the guest agent's delay to what a small
// Proxmox VE node with SSD storage takes (image download ~30s, create with
// a 3 GiB import ~15s, cloud-init installing qemu-guest-agent ~30s),
// multiplied by scale (0.01 makes a 30s download take 300ms).
func (o *Options) Realistic(scale float64) {
	d := func(s float64) time.Duration { return time.Duration(s * scale * float64(time.Second)) }
	o.TaskDurations = map[string]time.Duration{
		"download":   d(30),
		"qmcreate":   d(15),
		"qmresize":   d(1),
		"qmstart":    d(2),
		"qmshutdown": d(10),
		"qmstop":     d(2),
		"qmconfig":   d(15),
		"qmdestroy":  d(3),
	}
	o.DefaultTask = d(1)
	o.AgentDelay = d(30)
}
