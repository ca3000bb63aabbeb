#!/usr/bin/env bash
# The package's import graph, read from the sources: for every target under Sources/ and Tests/,
# the package modules its files import (`import X`, `@testable import X`), layered so that each
# module sits above everything it imports.
#
#   scripts/import-graph.sh           print the graph
#   scripts/import-graph.sh --check   fail when (1) a target's imports differ from its dependencies
#                                     in Package.swift (a dependency nothing imports, or an import
#                                     that is not listed), or (2) the graph in docs/DESIGN-NOTES.md
#                                     (between the import-graph markers) is not the printed one
#   scripts/import-graph.sh --write   rewrite that block of docs/DESIGN-NOTES.md from the sources
#
# `make test` runs --check first. Only package modules count: Foundation, Glibc, Testing and the
# like are the toolchain's.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C  # one sort order for the page and the check, whatever the locale

DOC=docs/DESIGN-NOTES.md
BEGIN='<!-- import-graph begin -->'
END='<!-- import-graph end -->'

# Package modules: every target under Sources/, and the support targets under Tests/ that other
# test targets import (SimulationSupport).
modules=$(ls Sources; ls Tests)
targets() { ls Sources; ls Tests; }
dir_of() { if [ -d "Sources/$1" ]; then echo "Sources/$1"; else echo "Tests/$1"; fi; }

# The package modules a target's Swift files import, sorted, one line.
imports_of() {
    local dir; dir=$(dir_of "$1")
    { find "$dir" -name '*.swift' -print0 | xargs -0 -r cat; } |
        sed -nE 's/^[[:space:]]*(@testable[[:space:]]+|@preconcurrency[[:space:]]+)*import[[:space:]]+([A-Za-z_][A-Za-z0-9_]*).*/\2/p' |
        while read -r m; do if grep -qx "$m" <<<"$modules" && [ "$m" != "$1" ]; then echo "$m"; fi; done |
        sort -u | tr '\n' ' ' | sed 's/ $//'
}

# The dependencies Package.swift lists for a target, sorted, one line; "?" when the target's
# declaration cannot be read (a format this script does not know is an error, not a pass).
deps_of() {
    local flat; flat=$(tr '\n' ' ' < Package.swift | tr -s ' ')
    if grep -qE "\.systemLibrary\(name: \"$1\"" <<<"$flat"; then echo ""; return; fi
    local list
    list=$(grep -oE "\.(target|executableTarget|testTarget)\(name: \"$1\", dependencies: \[[^]]*\]" <<<"$flat" |
        sed -E 's/.*dependencies: \[([^]]*)\]/\1/') || { echo "?"; return; }
    tr ',' '\n' <<<"$list" | tr -d ' "' | sed '/^$/d' | sort -u | tr '\n' ' ' | sed 's/ $//'
}

# Layer of a target: 0 for one that imports no package module, else one above its highest import.
layer_of() {
    local best=0 m l
    for m in $(imports_of "$1"); do
        l=$(layer_of "$m")
        if [ "$l" -ge "$best" ]; then best=$((l + 1)); fi
    done
    echo "$best"
}

graph() {
    local group t imps
    for group in Sources Tests; do
        echo "$group (highest layer first; each imports only what is named on its line)"
        for t in $(ls "$group"); do
            imps=$(imports_of "$t")
            printf '%s %s %s\n' "$(layer_of "$t")" "$t" "$imps"
        done | sort -k1,1nr -k2,2 | while read -r l t imps; do
            printf '  %s%-*s%s\n' "$(printf '%*s' $((l * 2)) '')" $((30 - l * 2)) "$t" "${imps:+-> $imps}"
        done | sed 's/ *$//'
    done
}

# The lines between the markers, without the code fence around them.
documented() {
    awk -v b="$BEGIN" -v e="$END" '$0 == e { inside = 0 } inside { print } $0 == b { inside = 1 }' "$DOC" |
        sed '1{/^```/d}' | sed '${/^```$/d}'
}

check() {
    local failed=0 t imps deps
    for t in $(targets); do
        imps=$(imports_of "$t"); deps=$(deps_of "$t")
        if [ "$deps" = "?" ]; then
            echo "import-graph: cannot read the dependencies of $t in Package.swift"; failed=1
        elif [ "$imps" != "$deps" ]; then
            echo "import-graph: $t imports [$imps] but Package.swift lists [$deps]"; failed=1
        fi
    done
    if ! grep -qxF "$BEGIN" "$DOC"; then
        echo "import-graph: $DOC has no import-graph block"; failed=1
    elif ! diff <(documented) <(graph) >/dev/null; then
        echo "import-graph: the graph in $DOC is not the one the sources make (scripts/import-graph.sh --write updates it):"
        diff <(documented) <(graph) || true
        failed=1
    fi
    [ "$failed" = 0 ] && echo "import-graph: Package.swift and $DOC match the sources' imports"
    return "$failed"
}

write() {
    grep -qxF "$BEGIN" "$DOC" || { echo "import-graph: $DOC has no import-graph block to rewrite"; exit 1; }
    local new; new=$(mktemp)
    local b e
    b=$(grep -nxF "$BEGIN" "$DOC" | head -1 | cut -d: -f1)
    e=$(grep -nxF "$END" "$DOC" | head -1 | cut -d: -f1)
    [ -n "$e" ] && [ "$e" -gt "$b" ] || { echo "import-graph: no '$END' after the begin marker in $DOC"; exit 1; }
    { head -n "$b" "$DOC"; echo '```text'; graph; echo '```'; tail -n +"$e" "$DOC"; } > "$new"
    cat "$new" > "$DOC" && rm -f "$new"
}

case "${1:-}" in
    "") graph ;;
    --check) check ;;
    --write) write ;;
    *) echo "usage: $0 [--check|--write]" >&2; exit 2 ;;
esac
