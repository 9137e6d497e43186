// Added to cri-dockerd's core package by deploy/k8s-testenv/build.sh; not upstream code. (The
// directory's leading underscore keeps the go tool from treating this file as part of the wrapper
// module.)
//
// cri-dockerd gives every pod sandbox container oom_score_adj -998, and the kubelet asks for -997
// for Guaranteed pods. Lowering oom_score_adj needs CAP_SYS_RESOURCE, which some VMs and containers
// withhold even from root; runc then fails to start every such container ("can't get final child's
// PID from pipe: EOF"). Like containerd's CRI option restrict_oom_score_adj, this keeps the value no
// lower than cri-dockerd's own when the process lacks that capability; otherwise it is unchanged.
package core

import (
	"os"
	"strconv"
	"strings"
)

const capSysResource = 24

func restrictOOMScoreAdj(want int) int {
	if hasCapability(capSysResource) {
		return want
	}
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return want
	}
	own, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || want >= own {
		return want
	}
	return own
}

// hasCapability reports whether the capability is in this process's effective set (true when that
// cannot be read, so nothing changes where the check does not apply).
func hasCapability(bit uint) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return true
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err != nil || caps&(1<<bit) != 0
		}
	}
	return true
}
