package image

// Tests that other tools read what this package writes: skopeo, umoci,
// runc, Debian's docker-registry and containerd.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/hbuild/hbuild/internal/testutil"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

// skopeoPolicy writes a signature policy that accepts anything, so skopeo
// copy does not depend on the host's /etc/containers.
func skopeoPolicy(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(p, []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type skopeoInspect struct {
	Digest       string
	Architecture string
	Os           string
	Layers       []string
	Labels       map[string]string
}

func TestSkopeoReadsLayoutAndArchive(t *testing.T) {
	skopeo := testutil.RequireTool(t, "skopeo")
	ctx := context.Background()
	img := testImage(t, nil)
	want, _ := img.Digest()
	m, _ := img.Manifest()
	policy := skopeoPolicy(t)

	dir := filepath.Join(t.TempDir(), "layout")
	if _, err := Write(ctx, img, "oci-layout:"+dir+":xml"); err != nil {
		t.Fatal(err)
	}
	var si skopeoInspect
	if err := json.Unmarshal(run(t, skopeo, "inspect", "oci:"+dir+":xml"), &si); err != nil {
		t.Fatal(err)
	}
	if si.Digest != want.String() || si.Os != "linux" || si.Architecture != "amd64" || len(si.Layers) != 3 || si.Labels[LabelParts] != "zlib hello" {
		t.Errorf("skopeo inspect oci: %+v, want digest %s", si, want)
	}
	for i, l := range m.Layers {
		if si.Layers[i] != l.Digest.String() {
			t.Errorf("layer %d: skopeo %s, manifest %s", i, si.Layers[i], l.Digest)
		}
	}

	// skopeo copy out of the layout keeps the manifest byte for byte.
	copied := filepath.Join(t.TempDir(), "copy")
	run(t, skopeo, "--policy", policy, "copy", "oci:"+dir+":xml", "oci:"+copied+":again")
	back, err := Load(ctx, "oci-layout:"+copied+":again")
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := back.Digest(); d != want {
		t.Errorf("skopeo copy: digest %s, want %s", d, want)
	}
	if err := validate.Image(back); err != nil {
		t.Fatal(err)
	}

	// The docker archive.
	file := filepath.Join(t.TempDir(), "xml.tar")
	if _, err := Write(ctx, img, "docker-archive:"+file+":localhost/hbuild/xml:1"); err != nil {
		t.Fatal(err)
	}
	si = skopeoInspect{}
	if err := json.Unmarshal(run(t, skopeo, "inspect", "docker-archive:"+file), &si); err != nil {
		t.Fatal(err)
	}
	if si.Os != "linux" || len(si.Layers) != 3 || si.Labels[LabelParts] != "zlib hello" {
		t.Errorf("skopeo inspect docker-archive: %+v", si)
	}
	fromArchive := filepath.Join(t.TempDir(), "fromarchive")
	run(t, skopeo, "--policy", policy, "copy", "docker-archive:"+file, "oci:"+fromArchive+":x")
	a, err := Load(ctx, "oci-layout:"+fromArchive+":x")
	if err != nil {
		t.Fatal(err)
	}
	// skopeo converts the config to OCI: compare what it describes.
	gotCF, err := a.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	wantCF, _ := img.ConfigFile()
	if fmt.Sprint(gotCF.RootFS.DiffIDs) != fmt.Sprint(wantCF.RootFS.DiffIDs) || gotCF.Config.Labels[LabelParts] != "zlib hello" {
		t.Errorf("through the archive: diff IDs %v labels %v, want %v", gotCF.RootFS.DiffIDs, gotCF.Config.Labels, wantCF.RootFS.DiffIDs)
	}
}

// TestUmociRuncRunsEntrypoint builds an image around a static binary,
// unpacks the layout with umoci and runs it with runc.
func TestUmociRuncRunsEntrypoint(t *testing.T) {
	testutil.RequireRoot(t)
	gcc := testutil.RequireTool(t, "gcc")
	umoci := testutil.RequireTool(t, "umoci")
	runc := testutil.RequireTool(t, "runc")
	ctx := context.Background()

	part := t.TempDir()
	src := filepath.Join(t.TempDir(), "marker.c")
	code := `#include <stdio.h>
int main(int argc, char **argv) { printf("hbuild-marker %s\n", argc > 1 ? argv[1] : "none"); return 0; }
`
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(part, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, gcc, "-static", "-O2", "-o", filepath.Join(part, "bin", "marker"), src)
	lf := filepath.Join(t.TempDir(), "layer")
	info, err := WriteLayerFile(ctx, part, lf, LayerOptions{Prefix: "opt/hbuild/parts/marker"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := LayerFromFile(lf, info)
	if err != nil {
		t.Fatal(err)
	}
	img, err := Assemble(nil, []v1.Layer{l}, Config{
		Entrypoint: []string{"/opt/hbuild/parts/marker/bin/marker"},
		Cmd:        []string{"from-runc"},
		Env:        []string{"PATH=/opt/hbuild/parts/marker/bin"},
		Parts:      []PartInfo{{Name: "marker"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	if _, err := Write(ctx, img, "oci-layout:"+dir+":marker"); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "bundle")
	run(t, umoci, "unpack", "--image", dir+":marker", bundle)

	// Not a terminal: the test captures stdout.
	cfgPath := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	spec["process"].(map[string]any)["terminal"] = false
	if b, err = json.Marshal(spec); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("hbuild-image-test-%d", os.Getpid())
	out := run(t, runc, "--root", filepath.Join(t.TempDir(), "runc"), "run", "--bundle", bundle, id)
	if got := string(out); got != "hbuild-marker from-runc\n" {
		t.Errorf("runc output %q", got)
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startProcess starts cmd, kills it at cleanup, and waits until ready
// returns nil, failing if the process exits first or the deadline passes.
// It returns false if the process exited (e.g. its port was taken).
func startProcess(t *testing.T, cmd *exec.Cmd, log *bytes.Buffer, ready func() error) bool {
	t.Helper()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	deadline := time.After(60 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if ready() == nil {
			return true
		}
		select {
		case <-exited:
			exited <- nil // for the cleanup
			return false
		case <-deadline:
			t.Fatalf("%s not ready after 60s:\n%s", cmd.Path, log.String())
		case <-tick.C:
		}
	}
}

func TestDockerRegistry(t *testing.T) {
	bin := testutil.RequireTool(t, "docker-registry")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	var host string
	for attempt := 0; ; attempt++ {
		host = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		cfg := filepath.Join(t.TempDir(), "config.yml")
		conf := fmt.Sprintf(`version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: %s
`, t.TempDir(), host)
		if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		ok := startProcess(t, exec.Command(bin, "serve", cfg), &log, func() error {
			resp, err := http.Get("http://" + host + "/v2/")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return errors.New(resp.Status)
			}
			return nil
		})
		if ok {
			break
		}
		if attempt == 4 {
			t.Fatalf("docker-registry exited:\n%s", log.String())
		}
	}

	ctx := context.Background()
	img := testImage(t, nil)
	want, _ := img.Digest()
	dest := "docker://" + host + "/hbuild/xml:1"
	if d, err := Write(ctx, img, dest); err != nil || d != want.String() {
		t.Fatalf("push: %s, %v", d, err)
	}
	got, err := Load(ctx, dest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got); err != nil {
		t.Fatal(err)
	}
	if d, _ := got.Digest(); d != want {
		t.Errorf("pulled %s, want %s", d, want)
	}
	// And an independent client sees it.
	if skopeo, err := exec.LookPath("skopeo"); err == nil {
		var si skopeoInspect
		if err := json.Unmarshal(run(t, skopeo, "inspect", "--tls-verify=false", "docker://"+host+"/hbuild/xml:1"), &si); err != nil {
			t.Fatal(err)
		}
		if si.Digest != want.String() {
			t.Errorf("skopeo sees %s, want %s", si.Digest, want)
		}
	}
}

func TestContainerdImport(t *testing.T) {
	testutil.RequireRoot(t)
	bin := testutil.RequireTool(t, "containerd")
	tmp := t.TempDir()
	sock := filepath.Join(tmp, "c.sock")
	conf := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = %[3]q
[ttrpc]
  address = %[4]q
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q
`, filepath.Join(tmp, "root"), filepath.Join(tmp, "state"), sock, sock+".ttrpc", filepath.Join(tmp, "opt"))
	cfg := filepath.Join(tmp, "config.toml")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	if !startProcess(t, exec.Command(bin, "--config", cfg), &log, func() error {
		if _, err := os.Stat(sock); err != nil {
			return err
		}
		c, err := containerd.New(sock, containerd.WithTimeout(time.Second))
		if err != nil {
			return err
		}
		defer c.Close()
		ok, err := c.IsServing(context.Background())
		if err == nil && !ok {
			err = errors.New("not serving")
		}
		return err
	}) {
		t.Fatalf("containerd exited:\n%s", log.String())
	}

	ctx := context.Background()
	img := testImage(t, nil)
	want, _ := img.Digest()
	dest := "containerd://" + sock + "?namespace=hbuild-test&name=localhost/hbuild/xml:1"
	if d, err := Write(ctx, img, dest); err != nil || d != want.String() {
		t.Fatalf("import: %s, %v\n%s", d, err, log.String())
	}
	// Importing again updates the record in place.
	if _, err := Write(ctx, img, dest); err != nil {
		t.Fatal(err)
	}
	if ctr, err := exec.LookPath("ctr"); err == nil {
		out := string(run(t, ctr, "--address", sock, "--namespace", "hbuild-test", "images", "ls"))
		if !strings.Contains(out, "localhost/hbuild/xml:1") || !strings.Contains(out, want.String()) {
			t.Errorf("ctr images ls:\n%s", out)
		}
	}
	got, err := Load(ctx, dest)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := got.Digest(); d != want {
		t.Errorf("loaded %s, want %s", d, want)
	}
	if err := validate.Image(got); err != nil {
		t.Fatal(err)
	}
	// An image that is not there, and a socket nobody serves.
	if _, err := Load(ctx, "containerd://"+sock+"?namespace=hbuild-test&name=missing"); err == nil {
		t.Error("missing image: no error")
	}
	if _, err := Write(ctx, img, "containerd://"+filepath.Join(tmp, "nobody.sock")); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Errorf("no socket: %v", err)
	}
}

// TestPodmanLoadsArchive: the docker archive is what `podman load` (and
// `docker load`) take: podman stores the image under its tag, with the
// same config (its image ID is the config's digest) and labels.
func TestPodmanLoadsArchive(t *testing.T) {
	testutil.RequireRoot(t)
	podman := testutil.RequireTool(t, "podman")
	ctx := context.Background()
	img := testImage(t, nil)
	cfgName, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "xml.tar")
	if _, err := Write(ctx, img, "docker-archive:"+file+":localhost/hbuild/xml:1"); err != nil {
		t.Fatal(err)
	}
	// Private storage: nothing of the host's podman is read or written.
	dir := t.TempDir()
	p := func(args ...string) []byte {
		return run(t, podman, append([]string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"),
			"--storage-driver", "vfs", "--events-backend", "none"}, args...)...)
	}
	out := p("load", "-i", file)
	if !strings.Contains(string(out), "localhost/hbuild/xml:1") {
		t.Errorf("podman load: %s", out)
	}
	var inspect []struct {
		ID     string            `json:"Id"`
		Labels map[string]string `json:"Labels"`
	}
	if err := json.Unmarshal(p("image", "inspect", "localhost/hbuild/xml:1"), &inspect); err != nil {
		t.Fatal(err)
	}
	if len(inspect) != 1 || "sha256:"+inspect[0].ID != cfgName.String() || inspect[0].Labels[LabelParts] != "zlib hello" {
		t.Errorf("podman image inspect: %+v, want ID %s and the part labels", inspect, cfgName)
	}
}
