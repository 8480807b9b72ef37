#!/usr/bin/env bash
# Renders every Graphviz file in DIR to SVG (and PNG with --png): the pictures of examples/program_graphs.
#   scripts/render_graphs.sh [--png] DIR
# Regenerating docs/images/graphs: build/examples/program_graphs --out docs/images/graphs && scripts/render_graphs.sh docs/images/graphs
set -euo pipefail
png=0
if [ "${1:-}" = "--png" ]; then png=1; shift; fi
dir=${1:?usage: render_graphs.sh [--png] DIR}
command -v dot > /dev/null || { echo "render_graphs.sh: Graphviz's dot is not installed (scripts/setup.sh installs graphviz)" >&2; exit 1; }
shopt -s nullglob
files=("$dir"/*.dot)
[ ${#files[@]} -gt 0 ] || { echo "render_graphs.sh: no .dot files in $dir" >&2; exit 1; }
for f in "${files[@]}"; do
  dot -Tsvg "$f" -o "${f%.dot}.svg"
  [ $png -eq 0 ] || dot -Tpng "$f" -o "${f%.dot}.png"
  echo "${f%.dot}.svg: $(stat -c %s "${f%.dot}.svg") bytes"
done
