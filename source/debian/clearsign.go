package debian

import (
	"bytes"
	"io"
	"os"

	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
)

// stripClearsign returns the signed text of a clearsigned file (a .dsc is
// usually signed by its uploader; the archive vouches for it through the
// Sources checksums, so the uploader's signature is not checked), or the
// file itself when it is not signed.
func stripClearsign(f *os.File) (io.Reader, error) {
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	if b, _ := clearsign.Decode(data); b != nil {
		return bytes.NewReader(b.Plaintext), nil
	}
	return bytes.NewReader(data), nil
}
