package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// describeMachine reads what a reader needs to weigh the absolute figures:
// CPU model and count, memory, kernel, Go version.
func describeMachine() []string {
	var out []string
	model, cores := "", 0
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if !ok {
				continue
			}
			switch strings.TrimSpace(k) {
			case "model name":
				if model == "" {
					model = strings.TrimSpace(v)
				}
			case "processor":
				cores++
			}
		}
		f.Close()
	}
	if model == "" {
		model = runtime.GOARCH
	}
	out = append(out, fmt.Sprintf("CPU: %s; %d logical CPUs in /proc/cpuinfo, nproc (usable by this process) %d, GOMAXPROCS %d", model, cores, runtime.NumCPU(), runtime.GOMAXPROCS(0)))
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
				out = append(out, fmt.Sprintf("Memory: %.1f GiB", kb/(1<<20)))
			}
		}
	}
	if b, err := os.ReadFile("/proc/version"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			out = append(out, "Kernel: "+strings.Join(f[:3], " "))
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		out = append(out, "Load average when the run began (1/5/15 min): "+strings.Join(strings.Fields(string(b))[:3], " "))
	}
	out = append(out, fmt.Sprintf("Go: %s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH))
	return out
}
