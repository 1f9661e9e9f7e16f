# usage: bash bench/gpu/grid.sh SECONDS 'ENV;SHAPE;LENGTHS;METHODS' ...   (one compare.sh call per item, all inside the deadline)
# Used for the fifth run (reports/gpu/README.md): a call of the GPU machine is at most 600 s, so every item gets what is left.
end=$(( $(date +%s) + $1 )); shift
mkdir -p /tmp/w
for item in "$@"; do
  IFS=';' read -r envs shape lengths methods <<< "$item"
  left=$(( end - $(date +%s) )); [ $left -gt 20 ] || { echo "skipped (deadline): $item"; continue; }
  t0=$(date +%s); echo "== $item (budget ${left}s)"
  timeout $left env $envs bash bench/gpu/compare.sh /tmp/w $shape $lengths $methods; echo "rc=$? $(( $(date +%s) - t0 ))s"
done
