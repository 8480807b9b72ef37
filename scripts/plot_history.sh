#!/usr/bin/env bash
# Plots a training history CSV (header line, then numbers; first column on the x axis) to a PNG with
# gnuplot: one line per other column.   scripts/plot_history.sh history.csv [out.png]
set -euo pipefail
csv=${1:?usage: plot_history.sh history.csv [out.png]}
png=${2:-${csv%.csv}.png}
command -v gnuplot >/dev/null || { echo "plot_history.sh: gnuplot is missing (apt-get install gnuplot-nox)" >&2; exit 1; }
[ -s "$csv" ] || { echo "plot_history.sh: $csv is missing or empty" >&2; exit 1; }
columns=$(head -1 "$csv" | tr ',' '\n' | wc -l)
gnuplot <<GNUPLOT
set datafile separator ","
set terminal pngcairo size 900,540 noenhanced
set output "$png"
set key autotitle columnhead
set grid
set xlabel "$(head -1 "$csv" | cut -d, -f1)"
plot for [c=2:$columns] "$csv" using 1:c with linespoints lw 2
GNUPLOT
echo "wrote $png"
