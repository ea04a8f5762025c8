package image

import (
	"path/filepath"
	"testing"

	"github.com/hbuild/hbuild/internal/testutil"
)

// goldenLayers are the layers of makeTree under FormatVersion. A change
// here means the encoding changed: bump FormatVersion, then update them.
var goldenLayers = map[string]LayerInfo{
	"gzip": {
		Digest:    "sha256:68f017aa41c16ef4a443beaf6b0707c838f711e630896fba8e924fb543133158",
		DiffID:    "sha256:c0018c88d66447ca472d5d70232344998403f308de95306409a0006fee1f28c7",
		Size:      3147624,
		MediaType: MediaTypeGzip,
	},
	"zstd": {
		Digest:    "sha256:0c87f2e984abeb47a945fed4533c94b8307fba440cd178fb3cda29c97e86a78b",
		DiffID:    "sha256:c0018c88d66447ca472d5d70232344998403f308de95306409a0006fee1f28c7",
		Size:      3146654,
		MediaType: MediaTypeZstd,
	},
}

func checkGolden(t *testing.T) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tree")
	makeTree(t, dir, treeVariant{umask: 0o027, mtime: testEpoch.AddDate(1, 0, 0), uid: 123})
	for comp, want := range goldenLayers {
		_, got := layerBytes(t, dir, LayerOptions{Prefix: "opt/hbuild/parts/golden", Epoch: testEpoch, Compression: comp})
		if *got != want {
			t.Errorf("%s layer %+v\nwant (golden, %s) %+v", comp, *got, FormatVersion, want)
		}
	}
}

// TestLayerGolden pins the encoding: same tree, same bytes, on any machine.
func TestLayerGolden(t *testing.T) { checkGolden(t) }

// TestLayerGoldenRootless: an unprivileged user, who cannot chown, gets
// the same layer as root.
func TestLayerGoldenRootless(t *testing.T) {
	testutil.RequireNonRoot(t)
	checkGolden(t)
}
