#!/usr/bin/env bash
# Plots per-layer statistics written by --stats-csv (tg::LayerStats::write_csv) to a PNG with gnuplot: for every
# layer output, its zero fraction (dead ReLUs) and its standard deviation over the recorded steps; below, the
# standard deviation of every parameter gradient.      scripts/plot_stats.sh stats.csv [out.png]
set -euo pipefail
csv=${1:?usage: plot_stats.sh stats.csv [out.png]}
png=${2:-${csv%.csv}.png}
command -v gnuplot >/dev/null || { echo "plot_stats.sh: gnuplot is missing (apt-get install gnuplot-nox)" >&2; exit 1; }
[ -s "$csv" ] || { echo "plot_stats.sh: $csv is missing or empty" >&2; exit 1; }
head -1 "$csv" | grep -q '^step,name,tensor,count,mean,std,max_abs,zero_fraction$' ||
  { echo "plot_stats.sh: $csv is not a --stats-csv file (unexpected header)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# one file per series: outputs keyed by layer and tensor, gradients by parameter name
awk -F, -v dir="$work" 'NR > 1 {
  kind = ($3 == "gradient") ? "gradient" : "output"
  key = (kind == "output") ? $2 " " $3 : $2
  gsub(/[^A-Za-z0-9_.]+/, "_", key)
  file = dir "/" kind "-" key ".dat"
  if (!(file in seen)) { seen[file] = 1; print "# " $2 " " $3 > file }
  print $1, $6, $8 >> file
}' "$csv"
series() { ls "$work"/$1-*.dat 2>/dev/null | tr '\n' ' '; }
outputs=$(series output)
gradients=$(series gradient)
[ -n "$outputs$gradients" ] || { echo "plot_stats.sh: $csv holds no rows" >&2; exit 1; }
title() { basename "$1" .dat | sed 's/^[a-z]*-//'; }
plot_list() {  # plot_list <column> <files...>
  local column=$1 first=1; shift
  for f in "$@"; do
    [ $first -eq 1 ] || printf ', '
    printf '"%s" using 1:%s with linespoints lw 2 title "%s"' "$f" "$column" "$(title "$f")"
    first=0
  done
}
gnuplot <<GNUPLOT
set terminal pngcairo size 1100,1000 noenhanced
set output "$png"
set grid
set key outside right
set multiplot layout 3,1
set title "layer outputs: fraction of exact zeros"
set xlabel "step"
plot $(plot_list 3 $outputs)
set title "layer outputs: standard deviation"
set logscale y
plot $(plot_list 2 $outputs)
set title "parameter gradients: standard deviation"
plot $(plot_list 2 $gradients)
unset multiplot
GNUPLOT
echo "wrote $png"
