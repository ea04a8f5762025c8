package sandbox

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// traces is what a container could leave behind, counted for this test
// process only (other packages' tests may run containers at the same time).
type traces struct {
	procs   []string // descendants of this process
	netns   []string // network namespaces other than ours that our descendants hold
	mounts  []string // mounts in our mount namespace under the sandbox's or the test's paths
	cgroups []string // cgroups named after this process's containers
	state   []string // entries of the state and staging directories
}

func (a traces) String() string {
	return fmt.Sprintf("processes %v, network namespaces %v, mounts %v, cgroups %v, state %v", a.procs, a.netns, a.mounts, a.cgroups, a.state)
}

func (a traces) equal(b traces) bool { return a.String() == b.String() }

func snapshot(t testing.TB, paths ...string) traces {
	t.Helper()
	var tr traces
	tr.procs = descendants(t, os.Getpid())
	tr.netns = netNamespaces(tr.procs)
	tr.mounts = mountsUnder(t, append([]string{stateBase}, paths...))
	tr.cgroups = ownCgroups(t)
	for _, d := range []string{"state", "roots"} {
		ents, err := os.ReadDir(filepath.Join(stateBase, d))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, e := range ents {
			tr.state = append(tr.state, d+"/"+e.Name())
		}
	}
	return tr
}

// checkNoLeaks runs f and fails if it left a process, mount, cgroup or
// state directory behind.
func checkNoLeaks(t *testing.T, f func(t *testing.T), paths ...string) {
	t.Helper()
	before := snapshot(t, paths...)
	f(t)
	after := snapshot(t, paths...)
	if !after.equal(before) {
		t.Errorf("a container left traces:\nbefore: %v\nafter:  %v", before, after)
	}
}

func descendants(t testing.TB, root int) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	parent := map[int]int{}
	comm := map[int]string{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		j := strings.IndexByte(s, '(')
		if i < 0 || j < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		parent[pid] = ppid
		comm[pid] = s[j+1 : i]
	}
	var out []string
	for pid := range parent {
		for p := parent[pid]; p > 0; p = parent[p] {
			if p == root {
				out = append(out, fmt.Sprintf("%d(%s)", pid, comm[pid]))
				break
			}
			if _, ok := parent[p]; !ok {
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// netNamespaces lists the network namespaces of the given processes
// ("pid(comm)") that differ from this process's.
func netNamespaces(procs []string) []string {
	own, _ := os.Readlink("/proc/self/ns/net")
	seen := map[string]bool{}
	var out []string
	for _, p := range procs {
		pid, _, _ := strings.Cut(p, "(")
		ns, err := os.Readlink("/proc/" + pid + "/ns/net")
		if err != nil || ns == own || seen[ns] {
			continue
		}
		seen[ns] = true
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

func mountsUnder(t testing.TB, prefixes []string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		mp := fields[4]
		for _, p := range prefixes {
			if p != "" && (mp == p || strings.HasPrefix(mp, p+"/")) {
				out = append(out, mp)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// ownCgroups lists the cgroups of this process's containers in every
// hierarchy: they are named hbuild-<pid>-<random>.
func ownCgroups(t testing.TB) []string {
	t.Helper()
	prefix := fmt.Sprintf("hbuild-%d-", os.Getpid())
	var out []string
	_ = filepath.WalkDir("/sys/fs/cgroup", func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if strings.HasPrefix(d.Name(), prefix) {
			out = append(out, p)
			return filepath.SkipDir
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// TestLeakCheckerSeesLeaks proves the checker is not blind: a leftover
// process and state directory show.
func TestLeakCheckerSeesLeaks(t *testing.T) {
	before := snapshot(t)
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	stale := filepath.Join(stateBase, "state", "0-leak-check")
	if err := os.MkdirAll(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(stale)
	after := snapshot(t)
	if after.equal(before) {
		t.Fatalf("a child process and a state directory went unseen: %v", after)
	}
	if len(after.procs) != len(before.procs)+1 || !strings.Contains(strings.Join(after.procs, " "), "(sleep)") {
		t.Errorf("processes before %v, after %v", before.procs, after.procs)
	}
	if len(after.state) != len(before.state)+1 {
		t.Errorf("state before %v, after %v", before.state, after.state)
	}
}
