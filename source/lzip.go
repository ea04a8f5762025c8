package source

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/ulikunitz/xz/lzma"
)

// lzipReader decompresses lzip files (one or more members): each member is
// "LZIP", a version byte, a coded dictionary size, an LZMA stream with an
// end marker and fixed properties (lc=3 lp=0 pb=2), and a trailer with the
// CRC32 and sizes, which are checked.
type lzipReader struct {
	br     *bufio.Reader
	member io.Reader
	crc    uint32
	size   uint64
	first  bool
	done   bool
}

func newLzipReader(r io.Reader) (*lzipReader, error) {
	z := &lzipReader{br: bufio.NewReaderSize(r, 64<<10), first: true}
	if err := z.start(); err != nil {
		return nil, err
	}
	return z, nil
}

// lzipMaxDict caps the dictionary a header may ask for (lzip's own
// maximum; fuzz targets lower it, as the dictionary is allocated up front).
var lzipMaxDict uint32 = 512 << 20

func (z *lzipReader) start() error {
	hdr := make([]byte, 6)
	n, err := io.ReadFull(z.br, hdr)
	if err != nil {
		if !z.first && n == 0 && err == io.EOF {
			z.done = true
			return nil
		}
		return fmt.Errorf("lzip: read header: %w", err)
	}
	if string(hdr[:4]) != "LZIP" {
		if z.first {
			return errors.New("lzip: not an lzip file")
		}
		// Trailing data after the last member is ignored, as lzip does
		// with --ignore-trailing.
		z.done = true
		return nil
	}
	if hdr[4] != 1 {
		return fmt.Errorf("lzip: unsupported version %d", hdr[4])
	}
	exp := uint(hdr[5] & 0x1f)
	if exp < 12 || exp > 29 {
		return fmt.Errorf("lzip: bad dictionary size code %#x", hdr[5])
	}
	dict := uint32(1) << exp
	dict -= (dict / 16) * uint32(hdr[5]>>5)
	if dict > lzipMaxDict {
		return fmt.Errorf("lzip: dictionary of %d bytes is too large", dict)
	}
	var lh [13]byte
	lh[0] = 0x5d // lc=3 lp=0 pb=2
	binary.LittleEndian.PutUint32(lh[1:5], dict)
	binary.LittleEndian.PutUint64(lh[5:], ^uint64(0)) // size unknown: end marker
	lr, err := lzma.NewReader(&prefixByteReader{prefix: lh[:], br: z.br})
	if err != nil {
		return fmt.Errorf("lzip: %w", err)
	}
	z.member = lr
	z.crc = 0
	z.size = 0
	z.first = false
	return nil
}

func (z *lzipReader) Read(p []byte) (int, error) {
	for {
		if z.done {
			return 0, io.EOF
		}
		n, err := z.member.Read(p)
		if n > 0 {
			z.crc = crc32.Update(z.crc, crc32.IEEETable, p[:n])
			z.size += uint64(n)
		}
		if err == io.EOF {
			if err := z.trailer(); err != nil {
				return n, err
			}
			if err := z.start(); err != nil {
				return n, err
			}
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err != nil {
			return n, fmt.Errorf("lzip: %w", err)
		}
		return n, nil
	}
}

func (z *lzipReader) trailer() error {
	var t [20]byte
	if _, err := io.ReadFull(z.br, t[:]); err != nil {
		return fmt.Errorf("lzip: read trailer: %w", io.ErrUnexpectedEOF)
	}
	if crc := binary.LittleEndian.Uint32(t[0:4]); crc != z.crc {
		return fmt.Errorf("lzip: CRC mismatch: stored %08x, computed %08x", crc, z.crc)
	}
	if size := binary.LittleEndian.Uint64(t[4:12]); size != z.size {
		return fmt.Errorf("lzip: size mismatch: stored %d, decoded %d", size, z.size)
	}
	return nil
}

// prefixByteReader reads prefix then br, as an io.ByteReader too, so the
// LZMA decoder reads no byte past its stream.
type prefixByteReader struct {
	prefix []byte
	br     *bufio.Reader
}

func (r *prefixByteReader) Read(p []byte) (int, error) {
	if len(r.prefix) > 0 {
		n := copy(p, r.prefix)
		r.prefix = r.prefix[n:]
		return n, nil
	}
	return r.br.Read(p)
}

func (r *prefixByteReader) ReadByte() (byte, error) {
	if len(r.prefix) > 0 {
		b := r.prefix[0]
		r.prefix = r.prefix[1:]
		return b, nil
	}
	return r.br.ReadByte()
}

var lzipMagic = []byte("LZIP")

func isLzip(head []byte) bool { return bytes.HasPrefix(head, lzipMagic) }
