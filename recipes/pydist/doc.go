// Package pydist is the Python packaging knowledge the zc.recipe.egg family
// of recipes needs at plan time: it recognises distribution file names
// (sdists and PEP 427 wheels), orders PEP 440 versions, parses PEP 508
// requirements and evaluates their markers, reads the metadata of wheels and
// sdists (Requires-Dist, setuptools' requires.txt, entry_points.txt), finds
// distribution links on find-links pages and selects the file that a
// buildout [versions] pin names for a target interpreter.
//
// It is pure: it reads the archives and pages it is given, never touches the
// network, never writes to disk and never runs Python. It is not an
// installer: unpacking, building sdists and writing scripts belong to the
// recipes that call it. Everything it parses is treated as hostile input:
// reads are bounded and malformed input is an error, never a panic.
package pydist
