#!/usr/bin/env bash
# The block dot-product kernels alone, this working tree's against another revision's, in one run:
# Tests/Scripts/bench_kernels.c built once with each version of Sources/Native/CKernels/quants.c, then
# both run alternately for each format, position count and matrix (one thread, best of BENCH_REPEATS):
# 256 rows that stay in cache, and 8960 × 8960 (45–85 MB, past the L3) that stream from memory as a
# model's weights do. Prints ns per 256 weight values and position, and the ratio (other / this: above 1
# is faster here). The checksums say whether the two compute the same floats.
#
#   Tests/Scripts/bench-kernels.sh [REVISION]        (default HEAD)
#
# Environment: BENCH_TYPES (default "8 6 2 3 12 14": Q8_0 Q5_0 Q4_0 Q4_1 Q4_K Q6_K), BENCH_POSITIONS
# (default "1 2 6 8 9"), BENCH_REPEATS (default 400), CC (default clang from the Swift toolchain).
set -euo pipefail
cd "$(dirname "$0")/../.."
REV="${1:-HEAD}"
CC="${CC:-$(command -v clang || echo /opt/swift/usr/bin/clang)}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
git show "$REV:Sources/Native/CKernels/quants.c" > "$work/quants_other.c"
cp Sources/Native/CKernels/quants.c "$work/quants_this.c"
for v in other this; do
  "$CC" -O3 -fno-math-errno -ISources/Native/CKernels/include -ISources/Native/CKernels -o "$work/bench_$v" \
    Tests/Scripts/bench_kernels.c "$work/quants_$v.c" Sources/Native/CKernels/cpu.c
done
name() { case "$1" in 2) echo Q4_0;; 3) echo Q4_1;; 6) echo Q5_0;; 8) echo Q8_0;; 12) echo Q4_K;; 14) echo Q6_K;; *) echo "type $1";; esac; }
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1); other: $REV ($(git rev-parse --short "$REV")); this: working tree"
echo "| format | matrix | positions | $REV ns | this ns | ratio | same floats |"
echo "|---|---|---:|---:|---:|---:|---|"
for t in ${BENCH_TYPES:-8 6 2 3 12 14}; do
  cols=1536; [ "$t" = 12 ] || [ "$t" = 14 ] || cols=896
  for shape in "256 $cols ${BENCH_REPEATS:-400} cache" "8960 8960 5 memory"; do
    read -r rows c repeats where <<<"$shape"
    for n in ${BENCH_POSITIONS:-1 2 6 8 9}; do
      read -r _ o_ns o_sum < <("$work/bench_other" "$t" "$rows" "$c" "$n" "$repeats")
      read -r _ t_ns t_sum < <("$work/bench_this" "$t" "$rows" "$c" "$n" "$repeats")
      read -r _ o2 _ < <("$work/bench_other" "$t" "$rows" "$c" "$n" "$repeats")
      read -r _ t2 _ < <("$work/bench_this" "$t" "$rows" "$c" "$n" "$repeats")
      o_ns=$(python3 -c "print(min($o_ns, $o2))"); t_ns=$(python3 -c "print(min($t_ns, $t2))")
      same=$([ "$o_sum" = "$t_sum" ] && echo yes || echo "no ($o_sum / $t_sum)")
      python3 -c "print(f'| $(name "$t") | $rows × $c ($where) | $n | {$o_ns:.2f} | {$t_ns:.2f} | {$o_ns/$t_ns:.2f}× | $same |')"
    done
  done
done
