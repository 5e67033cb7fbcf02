package pvesim

import (
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

var diskKeyRe = regexp.MustCompile(`^(scsi|ide|sata|virtio|efidisk|tpmstate)\d+$`)

var allocRe = regexp.MustCompile(`^([a-z][a-z0-9\-_.]*[a-z0-9]):(\d+(\.\d+)?)$`)

// applyConfig sets and deletes config keys, allocating and importing disks;
// it returns Proxmox's error message on failure.
func (s *Sim) applyConfig(vm *VM, set map[string]string, del []string, force bool) string {
	for _, k := range del {
		old, ok := vm.Config[k]
		if !ok {
			continue
		}
		delete(vm.Config, k)
		if diskKeyRe.MatchString(k) || strings.HasPrefix(k, "unused") {
			volid := strings.Split(strings.SplitN(old, ",", 2)[0], "=")[0]
			if strings.HasPrefix(k, "unused") || force || strings.HasSuffix(volid, "-cloudinit") {
				delete(s.volumes[vm.Node], volid)
			} else {
				vm.Config[s.nextUnused(vm)] = volid
			}
		}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := set[k]
		if diskKeyRe.MatchString(k) {
			nv, msg := s.allocDisk(vm, k, v)
			if msg != "" {
				return msg
			}
			v = nv
		}
		vm.Config[k] = v
	}
	return ""
}

func (s *Sim) nextUnused(vm *VM) string {
	for i := 0; ; i++ {
		k := fmt.Sprintf("unused%d", i)
		if _, ok := vm.Config[k]; !ok {
			return k
		}
	}
}

// allocDisk turns "STORAGE:SIZE", "STORAGE:0,import-from=VOL" and
// "STORAGE:cloudinit" into an allocated volume and its config value.
func (s *Sim) allocDisk(vm *VM, key, v string) (string, string) {
	parts := strings.Split(v, ",")
	file := parts[0]
	if strings.HasPrefix(file, "file=") {
		file = strings.TrimPrefix(file, "file=")
	}
	var opts []string
	importFrom := ""
	for _, o := range parts[1:] {
		if strings.HasPrefix(o, "import-from=") {
			importFrom = strings.TrimPrefix(o, "import-from=")
			continue
		}
		if strings.HasPrefix(o, "size=") {
			continue
		}
		opts = append(opts, o)
	}
	stor, rest, _ := strings.Cut(file, ":")
	st := s.storages[stor]
	m := allocRe.FindStringSubmatch(file)
	var size int64
	name := ""
	switch {
	case rest == "cloudinit":
		if st == nil {
			return "", fmt.Sprintf("storage '%s' does not exist", stor)
		}
		name = fmt.Sprintf("%s:vm-%d-cloudinit", stor, vm.VMID)
		size = 4 << 20
		opts = append([]string{"media=cdrom"}, opts...)
	case m != nil:
		if st == nil {
			return "", fmt.Sprintf("storage '%s' does not exist", stor)
		}
		if !st.allows("images") {
			return "", fmt.Sprintf("storage '%s' does not support content-type 'images'", stor)
		}
		gib, _ := strconv.ParseFloat(m[2], 64)
		size = int64(gib * (1 << 30))
		if importFrom != "" {
			src := s.volumes[vm.Node][importFrom]
			if src == nil {
				return "", fmt.Sprintf("volume '%s' does not exist", importFrom)
			}
			size = src.Size
		} else if size == 0 {
			return "", fmt.Sprintf("%s: size 0 needs import-from", key)
		}
		name = s.newDiskName(vm, stor)
	default: // an existing volume, re-attached
		if _, ok := s.volumes[vm.Node][file]; !ok {
			return "", fmt.Sprintf("volume '%s' does not exist", file)
		}
		for k, cv := range vm.Config {
			if strings.HasPrefix(k, "unused") && cv == file {
				delete(vm.Config, k)
			}
		}
		size = s.volumes[vm.Node][file].Size
		name = file
	}
	if _, ok := s.volumes[vm.Node][name]; !ok {
		s.volumes[vm.Node][name] = &Volume{VolID: name, Content: "images", Format: "raw", Size: size, VMID: vm.VMID}
	}
	return strings.Join(append(append([]string{name}, opts...), "size="+humanSize(size)), ","), ""
}

func (s *Sim) newDiskName(vm *VM, stor string) string {
	for i := 0; ; i++ {
		name := fmt.Sprintf("%s:vm-%d-disk-%d", stor, vm.VMID, i)
		if _, ok := s.volumes[vm.Node][name]; !ok {
			return name
		}
	}
}

// humanSize writes a byte count as Proxmox does in disk options (3G, 512M).
func humanSize(b int64) string {
	switch {
	case b%(1<<40) == 0:
		return fmt.Sprintf("%dT", b>>40)
	case b%(1<<30) == 0:
		return fmt.Sprintf("%dG", b>>30)
	case b%(1<<20) == 0:
		return fmt.Sprintf("%dM", b>>20)
	case b%(1<<10) == 0:
		return fmt.Sprintf("%dK", b>>10)
	}
	return strconv.FormatInt(b, 10)
}

var sizeArgRe = regexp.MustCompile(`^(\+?)(\d+(?:\.\d+)?)([KMGT]?)$`)

func parseSize(num, unit string) int64 {
	f, _ := strconv.ParseFloat(num, 64)
	mult := map[string]float64{"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[unit]
	return int64(f * mult)
}

func resizeDisk(s *Sim, p params) (any, *apiError) {
	vm, err := s.vm(p, true)
	if err != nil {
		return nil, err
	}
	disk := p.get("disk")
	cur, ok := vm.Config[disk]
	if !ok {
		return nil, errf(http.StatusInternalServerError, "disk '%s' does not exist", disk)
	}
	volid := strings.Split(cur, ",")[0]
	vol := s.volumes[vm.Node][volid]
	m := sizeArgRe.FindStringSubmatch(p.get("size"))
	newSize := parseSize(m[2], m[3])
	if m[1] == "+" {
		newSize += vol.Size
	}
	return s.startTask(vm.Node, "qmresize", strconv.Itoa(vm.VMID), func() string {
		if newSize < vol.Size {
			return "shrinking disks is not supported"
		}
		vol.Size = newSize
		var opts []string
		for _, o := range strings.Split(vm.Config[disk], ",") {
			if !strings.HasPrefix(o, "size=") {
				opts = append(opts, o)
			}
		}
		vm.Config[disk] = strings.Join(append(opts, "size="+humanSize(newSize)), ",")
		return ""
	}), nil
}
