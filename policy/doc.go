// Package policy proves that ELF files need only glibc and libraries from
// declared parts. It reads ELF headers, the dynamic section and the
// version-needs table with the standard library (debug/elf's definitions,
// positioned reads on the file, nothing executed: no ldd), resolves every
// DT_NEEDED entry the way the dynamic loader (glibc's ld.so) would, and
// reports, per file, what it needs, where each library was found, the
// highest GLIBC_/GLIBCXX_/CXXABI_/GCC_ versions it needs, and every
// violation with the fix.
//
// Two entry points:
//
//   - CheckPart checks one part's output against the part itself, the parts
//     it depends on and the runtime base's glibc. The engine calls it after
//     every part's build.
//   - CheckRoot checks a whole file system (an extracted image or a root
//     directory), as `hbuild verify` does.
//
// # Resolution
//
// For a library NAME needed by object O (loaded, directly or through other
// libraries, by a root file R), the search order is ld.so's:
//
//  1. NAME containing a slash (after the expansion of $ORIGIN, which ld.so
//     also applies to DT_NEEDED) is used as a path.
//  2. A library already loaded under that name or SONAME is reused.
//  3. If O has no DT_RUNPATH: the DT_RPATH of O, then of the object that
//     loaded O, and so on up to R (an object with a DT_RUNPATH has no
//     effective DT_RPATH).
//  4. O's DT_RUNPATH.
//  5. Unless O is linked with -z nodeflib: the runtime base's library
//     directories (the image's /etc/ld.so.conf directories, then
//     /lib/<multiarch>, /usr/lib/<multiarch>, /lib64, /usr/lib64, /lib,
//     /usr/lib). When CheckPart is given no runtime directory, the base is
//     the built-in list of glibc sonames instead.
//
// $ORIGIN (and ${ORIGIN}) expands to the directory of the object at run
// time: Tree.Path joined with the file's place in the tree. $LIB expands to
// lib/<multiarch> and $PLATFORM to the machine name. Candidates are
// looked up in the run-time view of the trees (Tree.Path mapped to
// Tree.Dir; a path belongs to the tree with the longest Path holding it,
// so a part or dependency seen below a runtime base at "/" hides what the
// base has there, and the directories above a tree's Path exist in the
// view even when the base lacks them); symbolic links are followed inside
// that view only, so a link that leaves the trees is a missing file, never
// the host's. Like ld.so, a candidate of another ELF class or machine is
// skipped.
//
// # Rules for a part (CheckPart)
//
// Every ELF executable and shared object in the part (other ELF types and
// non-ELF files are skipped, by their first bytes) must have each needed
// library resolve to: the part itself, a declared dependency, the glibc
// libraries of the runtime base (libc, libm, libpthread, libdl, librt,
// libutil, libresolv, libanl, libmvec, libBrokenLocale, libthread_db,
// libc_malloc_debug, libnss_*, ld-linux, the helpers of glibc's iconv
// modules (libCNS, libGB, libISOIR165, libJIS, libJISX0213, libKSC); plus
// libgcc_s and libstdc++ unless
// the policy turns them off), or a library the policy allows by name. A
// DT_RPATH/DT_RUNPATH entry outside the part and its dependencies (/usr/lib,
// /usr/local/lib, the build directory, an undeclared part) is a violation,
// and so are empty or relative entries. When the root file loads a library
// of a dependency that itself cannot load, that is reported on the root
// file. Each file's highest GLIBC_ version is checked against MaxGlibc when
// it is set. As ld.so does, a library that is found but does not define a
// (non-weak) symbol version the file needs from it is refused: a program
// built against glibc 2.38 in front of a 2.36 runtime base fails here, not
// at run time. (With the built-in glibc list there is no libc file to ask;
// MaxGlibc is the check then.)
//
// # Rules for a file system (CheckRoot)
//
// The whole tree is one run-time view rooted at "/". Every ELF file in it
// is checked. A library found in a system library directory (the ld.so
// directories above and anything under /lib*, /usr/lib*, /usr/local/lib*)
// comes "from the base" and is allowed only if it is a glibc library (or
// allowed by the policy); any other library found there — libxml2.so.2 from
// a Debian package, say — is reported as a host library. A library found
// elsewhere through DT_RPATH/DT_RUNPATH (an hbuild image's parts under
// /opt/hbuild) is a part library and is fine. DT_RPATH/DT_RUNPATH entries
// that name a system library directory are violations (entries made of
// $ORIGIN are not: they stay beside the file, and what they find is judged
// by where it lives, as for glibc's own iconv modules), as are empty and
// relative entries. So an hbuild image (a glibc base plus parts linked
// with RUNPATH) passes, and a Debian image whose programs use libxml2 from
// the archive fails, listing those libraries.
//
// # Policy options
//
// In a profile, a part's own options policy-allow-libs,
// policy-ignore-paths, policy-max-glibc, policy-warn-only,
// policy-allow-libstdcxx and policy-allow-libgcc (read with FromOptions),
// or the same names without the policy- prefix in an [hbuild-policy]
// section (read with FromSection). See Options for their meaning.
//
// The package is silent: it returns reports and errors and prints nothing.
package policy
