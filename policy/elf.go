package policy

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// ELF is what the policy reads from one ELF file: the parts of the ELF
// header, program headers and dynamic section the dynamic loader uses.
type ELF struct {
	Class   elf.Class   `json:"-"`
	Data    elf.Data    `json:"-"`
	Machine elf.Machine `json:"-"`
	Type    elf.Type    `json:"-"`
	// Interp is the program interpreter (PT_INTERP), "" for shared
	// objects and static executables.
	Interp string `json:"interp,omitempty"`
	// Dynamic is false for static executables (no PT_DYNAMIC).
	Dynamic bool     `json:"-"`
	Needed  []string `json:"needed,omitempty"`
	RPath   []string `json:"rpath,omitempty"`
	RunPath []string `json:"runpath,omitempty"`
	// HasRunPath is true when DT_RUNPATH is present, even if empty; ld.so
	// then ignores DT_RPATH.
	HasRunPath bool   `json:"-"`
	Soname     string `json:"soname,omitempty"`
	Flags1     uint64 `json:"-"`
	// DebugOnly marks a separate debug-info file: its dynamic section has
	// no contents and the loader never loads it.
	DebugOnly bool `json:"-"`
	// VersionNeeds are the symbol versions needed from each library
	// (.gnu.version_r, through DT_VERNEED).
	VersionNeeds []VersionNeed `json:"version_needs,omitempty"`

	// Where the version definitions are, read on demand by
	// DefinedVersions: file offsets of DT_VERDEF and DT_STRTAB.
	verdefOff, verdefNum, strOff, strSize uint64
}

// VersionNeed is one library's entry in the version-needs table.
type VersionNeed struct {
	File     string   `json:"file"`
	Versions []string `json:"versions"`
	// Weak are the versions marked weak: the loader only warns when the
	// library lacks them.
	Weak []string `json:"weak,omitempty"`
}

// NoDefaultLib reports whether the object was linked with -z nodeflib: the
// loader then skips the default library directories for its needs.
func (e *ELF) NoDefaultLib() bool { return e.Flags1&uint64(elf.DF_1_NODEFLIB) != 0 }

// Limits that keep a hostile file from making the parser read or loop much.
const (
	maxPhnum      = 4096
	maxDynSize    = 1 << 20
	maxString     = 4096
	maxVerEntries = 4096
	pageSize      = 4096
)

var (
	errNotELF    = errors.New("not an ELF file")
	errTruncated = errors.New("truncated ELF file")
)

// IsELF reports whether the first bytes are the ELF magic.
func IsELF(magic []byte) bool { return len(magic) >= 4 && string(magic[:4]) == elf.ELFMAG }

// pager serves small reads at arbitrary offsets from a few cached pages, so
// that parsing costs a handful of positioned reads, never the whole file.
// Page buffers come from a pool and go back when parsing is done.
type pager struct {
	r     io.ReaderAt
	size  int64
	pages []cachedPage
}

type cachedPage struct {
	n   int64
	buf *[pageSize]byte
	b   []byte
}

var pagePool = sync.Pool{New: func() any { return new([pageSize]byte) }}

func (p *pager) release() {
	for _, c := range p.pages {
		pagePool.Put(c.buf)
	}
	p.pages = p.pages[:0]
}

func (p *pager) page(n int64) ([]byte, error) {
	for _, c := range p.pages {
		if c.n == n {
			return c.b, nil
		}
	}
	off := n * pageSize
	l := int64(pageSize)
	if off+l > p.size {
		l = p.size - off
	}
	buf := pagePool.Get().(*[pageSize]byte)
	b := buf[:l]
	if _, err := p.r.ReadAt(b, off); err != nil && !(errors.Is(err, io.EOF) && len(b) > 0) {
		pagePool.Put(buf)
		return nil, fmt.Errorf("read at %d: %w", off, err)
	}
	p.pages = append(p.pages, cachedPage{n: n, buf: buf, b: b})
	return b, nil
}

// bytes returns n bytes at off.
func (p *pager) bytes(off, n uint64) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	if off > uint64(p.size) || n > uint64(p.size)-off {
		return nil, errTruncated
	}
	first, last := int64(off/pageSize), int64((off+n-1)/pageSize)
	if first == last {
		b, err := p.page(first)
		if err != nil {
			return nil, err
		}
		s := off - uint64(first)*pageSize
		return b[s : s+n], nil
	}
	out := make([]byte, 0, n)
	for i := first; i <= last; i++ {
		b, err := p.page(i)
		if err != nil {
			return nil, err
		}
		lo, hi := uint64(0), uint64(len(b))
		if i == first {
			lo = off - uint64(first)*pageSize
		}
		if i == last {
			hi = off + n - uint64(last)*pageSize
		}
		out = append(out, b[lo:hi]...)
	}
	return out, nil
}

// cstring returns the NUL-terminated string at off, reading at most limit
// bytes.
func (p *pager) cstring(off, limit uint64) (string, error) {
	if limit > maxString {
		limit = maxString
	}
	if off >= uint64(p.size) {
		return "", errTruncated
	}
	if rest := uint64(p.size) - off; limit > rest {
		limit = rest
	}
	var sb []byte
	for done := uint64(0); done < limit; {
		n := pageSize - (off+done)%pageSize
		if n > limit-done {
			n = limit - done
		}
		b, err := p.bytes(off+done, n)
		if err != nil {
			return "", err
		}
		if i := bytes.IndexByte(b, 0); i >= 0 {
			return string(append(sb, b[:i]...)), nil
		}
		sb = append(sb, b...)
		done += n
	}
	return "", errors.New("unterminated string")
}

type segment struct{ off, vaddr, filesz uint64 }

// ParseELF reads an ELF file's header, program headers, dynamic section
// and version needs through r (size bytes long). It returns an error
// wrapping errNotELF for other files and a descriptive error for broken
// ones; it never panics on hostile input.
func ParseELF(r io.ReaderAt, size int64) (*ELF, error) {
	p := &pager{r: r, size: size, pages: make([]cachedPage, 0, 8)}
	defer p.release()
	magic, err := p.bytes(0, 4)
	if err != nil || !IsELF(magic) {
		return nil, errNotELF
	}
	ident, err := p.bytes(0, elf.EI_NIDENT)
	if err != nil {
		return nil, err
	}
	e := &ELF{Class: elf.Class(ident[elf.EI_CLASS]), Data: elf.Data(ident[elf.EI_DATA])}
	var bo binary.ByteOrder
	switch e.Data {
	case elf.ELFDATA2LSB:
		bo = binary.LittleEndian
	case elf.ELFDATA2MSB:
		bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("unknown ELF data encoding %d", e.Data)
	}
	var phoff, phentsize, phnum, shoff, shentsize, shnum uint64
	switch e.Class {
	case elf.ELFCLASS32:
		h, err := p.bytes(0, 52)
		if err != nil {
			return nil, err
		}
		e.Type, e.Machine = elf.Type(bo.Uint16(h[16:])), elf.Machine(bo.Uint16(h[18:]))
		phoff, phentsize, phnum = uint64(bo.Uint32(h[28:])), uint64(bo.Uint16(h[42:])), uint64(bo.Uint16(h[44:]))
		shoff, shentsize, shnum = uint64(bo.Uint32(h[32:])), uint64(bo.Uint16(h[46:])), uint64(bo.Uint16(h[48:]))
		if phnum > 0 && phentsize < 32 {
			return nil, fmt.Errorf("bad program header size %d", phentsize)
		}
	case elf.ELFCLASS64:
		h, err := p.bytes(0, 64)
		if err != nil {
			return nil, err
		}
		e.Type, e.Machine = elf.Type(bo.Uint16(h[16:])), elf.Machine(bo.Uint16(h[18:]))
		phoff, phentsize, phnum = bo.Uint64(h[32:]), uint64(bo.Uint16(h[54:])), uint64(bo.Uint16(h[56:]))
		shoff, shentsize, shnum = bo.Uint64(h[40:]), uint64(bo.Uint16(h[58:])), uint64(bo.Uint16(h[60:]))
		if phnum > 0 && phentsize < 56 {
			return nil, fmt.Errorf("bad program header size %d", phentsize)
		}
	default:
		return nil, fmt.Errorf("unknown ELF class %d", e.Class)
	}
	if phnum == 0xffff || phnum > maxPhnum {
		return nil, fmt.Errorf("unsupported program header count %d", phnum)
	}
	if e.Type != elf.ET_EXEC && e.Type != elf.ET_DYN {
		return e, nil
	}
	var loads []segment
	var dyn, interp *segment
	for i := uint64(0); i < phnum; i++ {
		b, err := p.bytes(phoff+i*phentsize, phentsize)
		if err != nil {
			return nil, fmt.Errorf("read program header %d: %w", i, err)
		}
		var typ elf.ProgType
		var s segment
		if e.Class == elf.ELFCLASS32 {
			typ = elf.ProgType(bo.Uint32(b))
			s = segment{off: uint64(bo.Uint32(b[4:])), vaddr: uint64(bo.Uint32(b[8:])), filesz: uint64(bo.Uint32(b[16:]))}
		} else {
			typ = elf.ProgType(bo.Uint32(b))
			s = segment{off: bo.Uint64(b[8:]), vaddr: bo.Uint64(b[16:]), filesz: bo.Uint64(b[32:])}
		}
		switch typ {
		case elf.PT_LOAD:
			loads = append(loads, s)
		case elf.PT_DYNAMIC:
			if dyn == nil {
				dyn = &s
			}
		case elf.PT_INTERP:
			if interp == nil {
				interp = &s
			}
		}
	}
	// A separate debug-info file (/usr/lib/debug/.build-id/*.debug) keeps
	// the program headers of the file it describes, but the contents of
	// .interp and .dynamic are not in it (SHT_NOBITS): the loader never
	// loads such a file, and it is not checked.
	debugOnly := func(seg *segment) bool {
		return isNoBits(p, bo, e.Class, shoff, shentsize, shnum, seg.vaddr)
	}
	if interp != nil {
		if e.Interp, err = p.cstring(interp.off, interp.filesz); err != nil {
			if debugOnly(interp) {
				return &ELF{Class: e.Class, Data: e.Data, Machine: e.Machine, Type: e.Type, DebugOnly: true}, nil
			}
			return nil, fmt.Errorf("read interpreter: %w", err)
		}
	}
	if dyn == nil {
		return e, nil
	}
	e.Dynamic = true
	if err := e.readDynamic(p, bo, *dyn, loads); err != nil {
		if debugOnly(dyn) {
			return &ELF{Class: e.Class, Data: e.Data, Machine: e.Machine, Type: e.Type, DebugOnly: true}, nil
		}
		return nil, err
	}
	return e, nil
}

// isNoBits reports whether the section at address addr is SHT_NOBITS (no
// contents in the file), reading the section headers.
func isNoBits(p *pager, bo binary.ByteOrder, class elf.Class, shoff, shentsize, shnum, addr uint64) bool {
	min := uint64(64)
	if class == elf.ELFCLASS32 {
		min = 40
	}
	if shoff == 0 || shnum == 0 || shnum > maxPhnum || shentsize < min {
		return false
	}
	for i := uint64(0); i < shnum; i++ {
		b, err := p.bytes(shoff+i*shentsize, min)
		if err != nil {
			return false
		}
		typ, a := elf.SectionType(bo.Uint32(b[4:])), uint64(0)
		if class == elf.ELFCLASS32 {
			a = uint64(bo.Uint32(b[12:]))
		} else {
			a = bo.Uint64(b[16:])
		}
		if a == addr && addr != 0 {
			return typ == elf.SHT_NOBITS
		}
	}
	return false
}

// fileOffset maps a virtual address to a file offset through the PT_LOAD
// segments, as the loader sees the file.
func fileOffset(loads []segment, addr uint64) (uint64, bool) {
	for _, s := range loads {
		if addr >= s.vaddr && addr-s.vaddr < s.filesz {
			return s.off + (addr - s.vaddr), true
		}
	}
	return 0, false
}

func (e *ELF) readDynamic(p *pager, bo binary.ByteOrder, dyn segment, loads []segment) error {
	entsize := uint64(16)
	if e.Class == elf.ELFCLASS32 {
		entsize = 8
	}
	size := dyn.filesz
	if size > maxDynSize {
		size = maxDynSize
	}
	size -= size % entsize
	b, err := p.bytes(dyn.off, size)
	if err != nil {
		return fmt.Errorf("read dynamic section: %w", err)
	}
	var needed []uint64
	var rpath, runpath, soname, strtab, strsz, verneed, verneednum, verdef, verdefnum uint64
	var hasRPath, hasSoname, hasStrtab, hasVerneed, hasVerdef bool
	for i := uint64(0); i+entsize <= uint64(len(b)); i += entsize {
		var tag elf.DynTag
		var val uint64
		if e.Class == elf.ELFCLASS32 {
			tag, val = elf.DynTag(int32(bo.Uint32(b[i:]))), uint64(bo.Uint32(b[i+4:]))
		} else {
			tag, val = elf.DynTag(int64(bo.Uint64(b[i:]))), bo.Uint64(b[i+8:])
		}
		switch tag {
		case elf.DT_NULL:
			i = uint64(len(b))
		case elf.DT_NEEDED:
			if len(needed) < maxVerEntries {
				needed = append(needed, val)
			}
		case elf.DT_RPATH:
			rpath, hasRPath = val, true
		case elf.DT_RUNPATH:
			runpath, e.HasRunPath = val, true
		case elf.DT_SONAME:
			soname, hasSoname = val, true
		case elf.DT_STRTAB:
			strtab, hasStrtab = val, true
		case elf.DT_STRSZ:
			strsz = val
		case elf.DT_VERNEED:
			verneed, hasVerneed = val, true
		case elf.DT_VERNEEDNUM:
			verneednum = val
		case elf.DT_VERDEF:
			verdef, hasVerdef = val, true
		case elf.DT_VERDEFNUM:
			verdefnum = val
		case elf.DT_FLAGS_1:
			e.Flags1 = val
		}
	}
	if !hasStrtab {
		if len(needed) > 0 || hasRPath || e.HasRunPath || hasSoname {
			return errors.New("dynamic section has no DT_STRTAB")
		}
		return nil
	}
	stroff, ok := fileOffset(loads, strtab)
	if !ok {
		return fmt.Errorf("DT_STRTAB address %#x is not in a loaded segment", strtab)
	}
	e.strOff, e.strSize = stroff, strsz
	if hasVerdef && verdefnum > 0 {
		if off, ok := fileOffset(loads, verdef); ok {
			e.verdefOff, e.verdefNum = off, verdefnum
		}
	}
	str := func(idx uint64) (string, error) {
		if strsz != 0 && idx >= strsz {
			return "", fmt.Errorf("string index %d beyond DT_STRSZ %d", idx, strsz)
		}
		limit := uint64(maxString)
		if strsz != 0 {
			limit = strsz - idx
		}
		if idx > ^uint64(0)-stroff {
			return "", errTruncated
		}
		return p.cstring(stroff+idx, limit)
	}
	for _, n := range needed {
		s, err := str(n)
		if err != nil {
			return fmt.Errorf("read DT_NEEDED: %w", err)
		}
		e.Needed = append(e.Needed, s)
	}
	if hasSoname {
		if e.Soname, err = str(soname); err != nil {
			return fmt.Errorf("read DT_SONAME: %w", err)
		}
	}
	if hasRPath {
		s, err := str(rpath)
		if err != nil {
			return fmt.Errorf("read DT_RPATH: %w", err)
		}
		e.RPath = strings.Split(s, ":")
	}
	if e.HasRunPath {
		s, err := str(runpath)
		if err != nil {
			return fmt.Errorf("read DT_RUNPATH: %w", err)
		}
		e.RunPath = strings.Split(s, ":")
	}
	if hasVerneed && verneednum > 0 {
		off, ok := fileOffset(loads, verneed)
		if !ok {
			return fmt.Errorf("DT_VERNEED address %#x is not in a loaded segment", verneed)
		}
		if err := e.readVerneed(p, bo, off, verneednum, str); err != nil {
			return fmt.Errorf("read version needs: %w", err)
		}
	}
	return nil
}

// readVerneed walks the Elf_Verneed list and its Elf_Vernaux entries (the
// same 16-byte layout in both classes).
func (e *ELF) readVerneed(p *pager, bo binary.ByteOrder, off, num uint64, str func(uint64) (string, error)) error {
	total := 0
	for i := uint64(0); i < num; i++ {
		b, err := p.bytes(off, 16)
		if err != nil {
			return err
		}
		cnt, file, aux, next := uint64(bo.Uint16(b[2:])), uint64(bo.Uint32(b[4:])), uint64(bo.Uint32(b[8:])), uint64(bo.Uint32(b[12:]))
		name, err := str(file)
		if err != nil {
			return err
		}
		vn := VersionNeed{File: name}
		a := off + aux
		for j := uint64(0); j < cnt; j++ {
			if total++; total > maxVerEntries {
				return errors.New("too many version entries")
			}
			ab, err := p.bytes(a, 16)
			if err != nil {
				return err
			}
			v, err := str(uint64(bo.Uint32(ab[8:])))
			if err != nil {
				return err
			}
			vn.Versions = append(vn.Versions, v)
			if elf.DynamicVersionFlag(bo.Uint16(ab[4:]))&elf.VER_FLG_WEAK != 0 {
				vn.Weak = append(vn.Weak, v)
			}
			an := uint64(bo.Uint32(ab[12:]))
			if an == 0 {
				break
			}
			a += an
		}
		e.VersionNeeds = append(e.VersionNeeds, vn)
		if next == 0 {
			break
		}
		off += next
	}
	return nil
}

// DefinedVersions returns the symbol versions the file defines
// (.gnu.version_d, through DT_VERDEF), such as GLIBC_2.34 for libc.so.6,
// reading them through r; nil when it defines none.
func (e *ELF) DefinedVersions(r io.ReaderAt, size int64) ([]string, error) {
	if e.verdefNum == 0 {
		return nil, nil
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if e.Data == elf.ELFDATA2MSB {
		bo = binary.BigEndian
	}
	p := &pager{r: r, size: size, pages: make([]cachedPage, 0, 4)}
	defer p.release()
	var out []string
	off := e.verdefOff
	for i := uint64(0); i < e.verdefNum && i < maxVerEntries; i++ {
		// Elf_Verdef: version, flags, ndx, cnt (u16), hash, aux, next (u32).
		b, err := p.bytes(off, 20)
		if err != nil {
			return nil, fmt.Errorf("read version definitions: %w", err)
		}
		flags, cnt, aux, next := bo.Uint16(b[2:]), bo.Uint16(b[6:]), uint64(bo.Uint32(b[12:])), uint64(bo.Uint32(b[16:]))
		if cnt > 0 && flags&uint16(elf.VER_FLG_BASE) == 0 {
			// The first Elf_Verdaux names the version.
			a, err := p.bytes(off+aux, 8)
			if err != nil {
				return nil, fmt.Errorf("read version definitions: %w", err)
			}
			idx := uint64(bo.Uint32(a))
			if e.strSize != 0 && idx >= e.strSize {
				return nil, fmt.Errorf("version name index %d beyond DT_STRSZ", idx)
			}
			limit := uint64(maxString)
			if e.strSize != 0 {
				limit = e.strSize - idx
			}
			name, err := p.cstring(e.strOff+idx, limit)
			if err != nil {
				return nil, fmt.Errorf("read version definitions: %w", err)
			}
			out = append(out, name)
		}
		if next == 0 {
			break
		}
		off += next
	}
	return out, nil
}
