#!/usr/bin/python3
"""Dump the configuration zc.buildout builds for one conformance case.

Usage: /usr/bin/python3 -I scripts/buildout_golden.py CASE_DIR > CASE_DIR/expected.json
       /usr/bin/python3 -I scripts/buildout_golden.py --write CASE_DIR...
         (writes CASE_DIR/expected.json when it changed, says so on stderr)

Run it with Debian's /usr/bin/python3 and its python3-zc.buildout (2.13.2,
with the Python 3.11 fix applied by scripts/deps.sh), never with another
Python on PATH. scripts/gen-profile-goldens.sh runs it for every case.

A case directory holds:
  buildout.cfg             the root profile (plus any files it extends)
  args                     optional: command-line assignments, one per line,
                           `section:option=value` (no colon: section
                           buildout), parsed exactly like buildout's main();
                           a line `-U` disables the user defaults file;
                           blank lines and lines starting with `#` are ignored
  env                      optional: `NAME=VALUE` lines set in the
                           environment (e.g. BUILDOUT_HOME=@@DIR@@/bh);
                           @@DIR@@ and @@HOME@@ are expanded in values
  home/.buildout/...       optional: HOME for the run (user defaults cases);
                           without it HOME is an empty directory
  README                   one line: the spec rule the case covers

The case is copied to a fresh temporary directory and buildout runs there
(Buildout() creates eggs/ in the buildout directory and chdirs into it), with
cwd = that directory, HOME as above, BUILDOUT_HOME unset unless `env` sets it.

Output (JSON, sorted keys, indent 1, UTF-8):
  {"error": null | "ExceptionClass: message",
   "raw": {section: {option: value}},          # buildout._annotated values:
                                               # exactly what `annotate` prints
   "substituted": {section: {option: value}}}  # every option of every section
                                               # read through Buildout[section]
Every section is accessed (sorted by name), so an error anywhere in any
section is reported even if buildout's lazy install would never reach it.
On any exception raised by zc.buildout, "error" is set and both maps are
empty. The absolute path of the case copy is written @@DIR@@, HOME is
written @@HOME@@ (HOME is replaced first).

Deviations from a plain `buildout annotate`, for determinism and because the
network is closed:
  * Options.initialize (recipe loading and construction) is replaced by a
    no-op, so a section with a `recipe` still becomes a part but no egg is
    needed. Only recipes add options there; the configuration language is
    untouched.
  * Dropped options whose value depends on the machine:
      buildout:executable   (sys.executable of the Python running buildout)
  * Kept although tied to the installed zc.buildout: the injected
    versions:zc.buildout = ">=2.13.2" and versions:zc.recipe.egg = ">=2.0.6".
"""

import json
import os
import shutil
import sys
import tempfile

DROPPED = {"buildout": ("executable",)}


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def parse_args(lines):
    """Parse `args` lines the way zc.buildout's main() parses argv."""
    options, user_defaults = [], True
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line == "-U":
            user_defaults = False
            continue
        if "=" not in line:
            raise SystemExit("args: not an assignment: %r" % line)
        option, value = line.split("=", 1)
        option = option.split(":")
        if len(option) == 1:
            option = ["buildout", option[0]]
        elif len(option) != 2:
            raise SystemExit("args: invalid option: %r" % line)
        section, option = option
        options.append((section.strip(), option.strip(), value.strip()))
    return options, user_defaults


def main():
    args = sys.argv[1:]
    write = args[:1] == ["--write"]
    if write:
        args = args[1:]
    if not args or (not write and len(args) != 1):
        raise SystemExit("usage: buildout_golden.py CASE_DIR\n"
                         "       buildout_golden.py --write CASE_DIR...")
    cases = [os.path.abspath(a) for a in args]
    for case in cases:
        if not os.path.isfile(os.path.join(case, "buildout.cfg")):
            raise SystemExit("%s: no buildout.cfg" % case)

    # Import once, then run every case in a forked child: each case gets a
    # fresh process state (cwd, environment, logging, easy_install globals)
    # without paying the import again.
    import zc.buildout.buildout  # noqa: F401

    failed = 0
    for case in cases:
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(rfd)
            code = 1
            try:
                data = golden(case)
                with os.fdopen(wfd, "wb") as f:
                    f.write(data)
                code = 0
            except BaseException:
                import traceback
                traceback.print_exc()
            finally:
                os._exit(code)
        os.close(wfd)
        with os.fdopen(rfd, "rb") as f:
            data = f.read()
        _, status = os.waitpid(pid, 0)
        if status != 0:
            sys.stderr.write("buildout_golden: %s failed\n" % case)
            failed += 1
            continue
        if not write:
            sys.stdout.buffer.write(data)
            continue
        path = os.path.join(case, "expected.json")
        old = None
        if os.path.exists(path):
            with open(path, "rb") as f:
                old = f.read()
        if old != data:
            with open(path + ".tmp", "wb") as f:
                f.write(data)
            os.replace(path + ".tmp", path)
            sys.stderr.write("updated %s\n" % path)
    return 1 if failed else 0


def golden(case):
    work = os.path.realpath(tempfile.mkdtemp(prefix="buildout-golden-"))
    try:
        return run(case, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(case, work):
    d = os.path.join(work, "case")
    shutil.copytree(case, d, symlinks=True,
                    ignore=shutil.ignore_patterns("expected.json"))
    home = os.path.join(d, "home")
    if not os.path.isdir(home):
        home = os.path.join(work, "home")
        os.mkdir(home)

    os.environ.pop("BUILDOUT_HOME", None)
    os.environ["HOME"] = home
    for line in read_lines(os.path.join(case, "env")):
        if not line.strip() or line.startswith("#"):
            continue
        name, value = line.split("=", 1)
        os.environ[name.strip()] = (value.replace("@@HOME@@", home)
                                    .replace("@@DIR@@", d))
    options, user_defaults = parse_args(
        read_lines(os.path.join(case, "args")))
    os.chdir(d)

    import zc.buildout.buildout as zb  # already imported by main()

    # No recipe is ever loaded: see the module docstring.
    zb.Options.initialize = lambda self: None

    # zc.buildout logs ("Creating directory ...") to stdout: send it to
    # stderr, the JSON goes back to the parent through a pipe.
    sys.stdout = sys.stderr
    result = {"error": None, "raw": {}, "substituted": {}}
    try:
        bo = zb.Buildout(os.path.join(d, "buildout.cfg"), options,
                         user_defaults=user_defaults, command="annotate")
        raw = {}
        for sname, section in bo._annotated.items():
            raw[sname] = {k: v.value for k, v in section.items()}
        substituted = {}
        for sname in sorted(bo._raw):
            section = bo[sname]
            substituted[sname] = {k: section[k] for k in sorted(section.keys())}
        result["raw"], result["substituted"] = raw, substituted
    except Exception as e:  # everything zc.buildout rejects
        result["error"] = "%s: %s" % (type(e).__name__, e)

    for maps in (result["raw"], result["substituted"]):
        for sname, names in DROPPED.items():
            for name in names:
                maps.get(sname, {}).pop(name, None)

    def clean(s):
        return s.replace(home, "@@HOME@@").replace(d, "@@DIR@@")

    def walk(o):
        if isinstance(o, dict):
            return {clean(k): walk(v) for k, v in o.items()}
        if isinstance(o, str):
            return clean(o)
        return o

    out = json.dumps(walk(result), sort_keys=True, indent=1,
                     ensure_ascii=False)
    return out.encode("utf-8") + b"\n"


if __name__ == "__main__":
    sys.exit(main())
