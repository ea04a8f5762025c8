package policy

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"reflect"
	"testing"
)

// synth describes a small ELF file built byte by byte, so that the parser
// is tested on both classes and byte orders without a cross compiler.
type synth struct {
	class   elf.Class
	bo      binary.ByteOrder
	machine elf.Machine
	interp  string
	needed  []string
	rpath   string
	runpath string
	soname  string
	verneed []VersionNeed
}

func (s synth) build() []byte {
	is64 := s.class == elf.ELFCLASS64
	ehsize, phentsize, word := 52, 32, 4
	if is64 {
		ehsize, phentsize, word = 64, 56, 8
	}
	// String table.
	var strtab bytes.Buffer
	strtab.WriteByte(0)
	idx := map[string]uint64{}
	str := func(x string) uint64 {
		if i, ok := idx[x]; ok {
			return i
		}
		i := uint64(strtab.Len())
		strtab.WriteString(x)
		strtab.WriteByte(0)
		idx[x] = i
		return i
	}
	type dyn struct {
		tag elf.DynTag
		val uint64
	}
	var dyns []dyn
	for _, n := range s.needed {
		dyns = append(dyns, dyn{elf.DT_NEEDED, str(n)})
	}
	if s.rpath != "" {
		dyns = append(dyns, dyn{elf.DT_RPATH, str(s.rpath)})
	}
	if s.runpath != "" {
		dyns = append(dyns, dyn{elf.DT_RUNPATH, str(s.runpath)})
	}
	if s.soname != "" {
		dyns = append(dyns, dyn{elf.DT_SONAME, str(s.soname)})
	}
	// Version needs (same layout in both classes).
	var vn bytes.Buffer
	for i, n := range s.verneed {
		w := func(v any) { _ = binary.Write(&vn, s.bo, v) }
		next := uint32(16 + 16*len(n.Versions))
		if i == len(s.verneed)-1 {
			next = 0
		}
		w(uint16(1))
		w(uint16(len(n.Versions)))
		w(uint32(str(n.File)))
		w(uint32(16))
		w(next)
		for j, v := range n.Versions {
			an := uint32(16)
			if j == len(n.Versions)-1 {
				an = 0
			}
			w(uint32(0))
			w(uint16(0))
			w(uint16(j + 2))
			w(uint32(str(v)))
			w(an)
		}
	}
	const phnum = 3
	interpOff := ehsize + phnum*phentsize
	strOff := interpOff + len(s.interp) + 1
	vnOff := (strOff + strtab.Len() + 7) &^ 7
	dynOff := (vnOff + vn.Len() + 7) &^ 7
	dyns = append(dyns, dyn{elf.DT_STRTAB, uint64(strOff)}, dyn{elf.DT_STRSZ, uint64(strtab.Len())})
	if len(s.verneed) > 0 {
		dyns = append(dyns, dyn{elf.DT_VERNEED, uint64(vnOff)}, dyn{elf.DT_VERNEEDNUM, uint64(len(s.verneed))})
	}
	dyns = append(dyns, dyn{elf.DT_NULL, 0})
	total := dynOff + len(dyns)*2*word

	out := make([]byte, total)
	put := func(off int, v uint64, size int) {
		switch size {
		case 2:
			s.bo.PutUint16(out[off:], uint16(v))
		case 4:
			s.bo.PutUint32(out[off:], uint32(v))
		case 8:
			s.bo.PutUint64(out[off:], v)
		}
	}
	copy(out, elf.ELFMAG)
	out[elf.EI_CLASS] = byte(s.class)
	if s.bo == binary.LittleEndian {
		out[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	} else {
		out[elf.EI_DATA] = byte(elf.ELFDATA2MSB)
	}
	out[elf.EI_VERSION] = 1
	put(16, uint64(elf.ET_DYN), 2)
	put(18, uint64(s.machine), 2)
	put(20, 1, 4)
	if is64 {
		put(32, uint64(ehsize), 8) // e_phoff
		put(52, uint64(ehsize), 2)
		put(54, uint64(phentsize), 2)
		put(56, phnum, 2)
	} else {
		put(28, uint64(ehsize), 4)
		put(40, uint64(ehsize), 2)
		put(42, uint64(phentsize), 2)
		put(44, phnum, 2)
	}
	ph := func(i int, typ elf.ProgType, off, size int) {
		b := ehsize + i*phentsize
		put(b, uint64(typ), 4)
		if is64 {
			put(b+8, uint64(off), 8)
			put(b+16, uint64(off), 8)
			put(b+24, uint64(off), 8)
			put(b+32, uint64(size), 8)
			put(b+40, uint64(size), 8)
		} else {
			put(b+4, uint64(off), 4)
			put(b+8, uint64(off), 4)
			put(b+12, uint64(off), 4)
			put(b+16, uint64(size), 4)
			put(b+20, uint64(size), 4)
		}
	}
	ph(0, elf.PT_LOAD, 0, total)
	ph(1, elf.PT_INTERP, interpOff, len(s.interp)+1)
	ph(2, elf.PT_DYNAMIC, dynOff, len(dyns)*2*word)
	copy(out[interpOff:], s.interp)
	copy(out[strOff:], strtab.Bytes())
	copy(out[vnOff:], vn.Bytes())
	for i, d := range dyns {
		put(dynOff+i*2*word, uint64(d.tag), word)
		put(dynOff+i*2*word+word, d.val, word)
	}
	return out
}

func TestParseELFSynthetic(t *testing.T) {
	vn := []VersionNeed{
		{File: "libc.so.6", Versions: []string{"GLIBC_2.2.5", "GLIBC_2.34"}},
		{File: "libstdc++.so.6", Versions: []string{"GLIBCXX_3.4.30"}},
	}
	for _, tc := range []struct {
		name string
		s    synth
	}{
		{"64-bit little-endian", synth{class: elf.ELFCLASS64, bo: binary.LittleEndian, machine: elf.EM_X86_64,
			interp: "/lib64/ld-linux-x86-64.so.2", needed: []string{"libfoo.so.1", "libc.so.6"},
			runpath: "$ORIGIN/../lib:/opt/hbuild/parts/zlib/lib", soname: "libbar.so.2", verneed: vn}},
		{"32-bit big-endian", synth{class: elf.ELFCLASS32, bo: binary.BigEndian, machine: elf.EM_PPC,
			interp: "/lib/ld.so.1", needed: []string{"libc.so.6"}, rpath: "/opt/x/lib", verneed: vn[:1]}},
		{"no version needs", synth{class: elf.ELFCLASS64, bo: binary.BigEndian, machine: elf.EM_S390,
			needed: []string{"libm.so.6"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.s.build()
			e, err := ParseELF(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			if e.Class != tc.s.class || e.Machine != tc.s.machine || e.Type != elf.ET_DYN || !e.Dynamic {
				t.Errorf("header: %+v", e)
			}
			if e.Interp != tc.s.interp || e.Soname != tc.s.soname || !reflect.DeepEqual(e.Needed, tc.s.needed) {
				t.Errorf("interp %q soname %q needed %q", e.Interp, e.Soname, e.Needed)
			}
			if (tc.s.runpath != "") != e.HasRunPath || joinOr(e.RunPath) != tc.s.runpath || joinOr(e.RPath) != tc.s.rpath {
				t.Errorf("rpath %q runpath %q (%v)", e.RPath, e.RunPath, e.HasRunPath)
			}
			if len(tc.s.verneed) > 0 && !reflect.DeepEqual(e.VersionNeeds, tc.s.verneed) || len(tc.s.verneed) == 0 && len(e.VersionNeeds) != 0 {
				t.Errorf("version needs %+v, want %+v", e.VersionNeeds, tc.s.verneed)
			}
			// Every prefix of the file is refused cleanly or parsed.
			for n := 0; n < len(b); n++ {
				if _, err := ParseELF(bytes.NewReader(b[:n]), int64(n)); err == nil {
					t.Fatalf("truncated to %d bytes: no error", n)
				} else if n >= 4 && errors.Is(err, errNotELF) {
					t.Fatalf("truncated to %d bytes: %v", n, err)
				}
			}
		})
	}
}

func joinOr(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(x)
	}
	return b.String()
}

// TestParseELFMatchesDebugELF compares the parser with debug/elf's full
// reader on the host's own libraries.
func TestParseELFMatchesDebugELF(t *testing.T) {
	files := []string{"/bin/sh", "/usr/bin/env"}
	for _, lib := range []string{"libc.so.6", "libstdc++.so.6", "libxml2.so.2", "libssl.so.3", "libz.so.1"} {
		files = append(files, "/usr/lib/x86_64-linux-gnu/"+lib)
	}
	n := 0
	for _, name := range files {
		if _, err := os.Stat(name); err != nil {
			continue
		}
		n++
		e, err := parseFile(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		f, err := elf.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		needed, _ := f.ImportedLibraries()
		runpath, _ := f.DynString(elf.DT_RUNPATH)
		soname, _ := f.DynString(elf.DT_SONAME)
		vns, _ := f.DynamicVersionNeeds()
		f.Close()
		if !reflect.DeepEqual(e.Needed, needed) || joinOr(e.RunPath) != joinOr(runpath) || e.Soname != joinOr(soname) {
			t.Errorf("%s: needed %q runpath %q soname %q; debug/elf %q %q %q", name, e.Needed, e.RunPath, e.Soname, needed, runpath, soname)
		}
		var want []VersionNeed
		for _, vn := range vns {
			w := VersionNeed{File: vn.Name}
			for _, v := range vn.Needs {
				w.Versions = append(w.Versions, v.Dep)
			}
			want = append(want, w)
		}
		if !reflect.DeepEqual(e.VersionNeeds, want) {
			t.Errorf("%s: version needs %+v, debug/elf %+v", name, e.VersionNeeds, want)
		}
	}
	if n == 0 {
		t.Fatal("none of the host's ELF files was found")
	}
}

func FuzzParseELF(f *testing.F) {
	vn := []VersionNeed{{File: "libc.so.6", Versions: []string{"GLIBC_2.2.5", "GLIBC_2.34"}}}
	f.Add(synth{class: elf.ELFCLASS64, bo: binary.LittleEndian, machine: elf.EM_X86_64, interp: "/lib64/ld-linux-x86-64.so.2",
		needed: []string{"libfoo.so.1", "libc.so.6"}, runpath: "$ORIGIN/../lib", soname: "libx.so.1", verneed: vn}.build())
	f.Add(synth{class: elf.ELFCLASS32, bo: binary.BigEndian, machine: elf.EM_PPC, needed: []string{"libc.so.6"}, rpath: "/a:/b", verneed: vn}.build())
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	// A small real library with version definitions, when the host has it.
	if b, err := os.ReadFile("/usr/lib/x86_64-linux-gnu/libdl.so.2"); err == nil && len(b) < 64<<10 {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseELF(bytes.NewReader(b), int64(len(b)))
		if err == nil && e == nil {
			t.Fatal("nil ELF without error")
		}
		if err != nil && e != nil {
			t.Fatal("ELF with error")
		}
		if e != nil {
			MaxVersions(e.VersionNeeds)
			_, _ = e.DefinedVersions(bytes.NewReader(b), int64(len(b)))
		}
	})
}
