#!/bin/sh
# Data-parallel throughput with 2 ranks against 1 on this machine (bench/dist_scaling.cpp), runs interleaved round
# after round; prints each configuration's median examples/s and all-reduce time, and the median of the per-round
# ratios 2 ranks / 1 rank. Strong scaling: the same global batch split over the ranks; weak: the same rows per rank.
#   bench/dist_scaling.sh [BUILD_DIR] [ROUNDS] [STEPS]      (defaults: build 5 30)
# Then the MPI_Allreduce cost against message size on 2 ranks (for docs/distributed.md's cost model).
set -eu
build=${1:-build}
rounds=${2:-5}
steps=${3:-30}
bin="$build/bench/dist_scaling"
[ -x "$bin" ] || { echo "dist_scaling.sh: $bin not built (cmake --build $build --target dist_scaling)" >&2; exit 1; }
mpirun="mpiexec --oversubscribe --bind-to core"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# configuration: name ranks case per-rank
configs="lenet_1rank_b64 1 lenet 64
lenet_2ranks_b32 2 lenet 32
lenet_2ranks_b64 2 lenet 64
gpt_1rank_b8 1 gpt 8
gpt_2ranks_b4 2 gpt 4
gpt_2ranks_b8 2 gpt 8"
r=1
while [ "$r" -le "$rounds" ]; do
  echo "$configs" | while read -r name ranks case per; do
    line=$($mpirun -n "$ranks" "$bin" --case "$case" --per-rank "$per" --steps "$steps" </dev/null)
    echo "round $r config $name $line" >>"$log"
  done
  r=$((r + 1))
done
awk '
  function field(k,   i) { for (i = 1; i <= NF; ++i) if ($i == k) return $(i + 1); return "" }
  function median(list, n,   a, i, j, t) {
    for (i = 1; i <= n; ++i) a[i] = list[i]
    for (i = 1; i <= n; ++i) for (j = i + 1; j <= n; ++j) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  {
    c = field("config"); r = field("round")
    rate[c, r] = field("examples_per_s"); red[c, r] = field("allreduce_ms"); st[c, r] = field("step_ms")
    wt[c, r] = field("wait_ms"); bytes[c] = field("gradient_bytes")
    if (!(c in seen)) { seen[c] = 1; order[++nc] = c }
    if (r > rounds) rounds = r
  }
  END {
    printf "%-18s %14s %10s %10s %12s %14s\n", "configuration", "examples/s", "step ms", "wait ms", "allreduce ms", "gradient bytes"
    for (i = 1; i <= nc; ++i) {
      c = order[i]
      for (r = 1; r <= rounds; ++r) { a[r] = rate[c, r]; b[r] = st[c, r]; w[r] = wt[c, r]; d[r] = red[c, r] }
      printf "%-18s %14.0f %10.2f %10.2f %12.3f %14s\n", c, median(a, rounds), median(b, rounds), median(w, rounds), median(d, rounds), bytes[c]
    }
    split("lenet_2ranks_b32 lenet_1rank_b64 strong lenet_2ranks_b64 lenet_1rank_b64 weak gpt_2ranks_b4 gpt_1rank_b8 strong gpt_2ranks_b8 gpt_1rank_b8 weak", p, " ")
    for (i = 1; i <= 12; i += 3) {
      for (r = 1; r <= rounds; ++r) q[r] = rate[p[i], r] / rate[p[i + 1], r]
      printf "ratio %s/%s = %.2f (%s scaling, median of %d rounds)\n", p[i], p[i + 1], median(q, rounds), p[i + 2], rounds
    }
  }' "$log"
$mpirun -n 2 "$bin" --allreduce </dev/null
