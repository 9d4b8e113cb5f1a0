# The per-phase table of `berth --debug run` (hack/bench/all.sh).
#
# Input (jq -R -s): one line per phase and run:
#   VARIANT <TAB> ITER <TAB> INDEX <TAB> PHASE <TAB> MICROSECONDS
# where MICROSECONDS is the time since the previous record of that run, and
# two pseudo-phases per run: "~outside" (wall time minus the last record:
# exec of the binary, loading, argument parsing before the first record,
# exit after the last) and "~wall" (the run's wall time).
# $variants: the column order, e.g. ["plain", "seccomp", "userns"].
# Prints the median of each phase per variant, in run order.

def median: sort | ((length - 1) / 2) as $i | (.[($i | floor)] + .[($i | ceil)]) / 2;
def lpad($n): tostring | (" " * ($n - length)) + .;
def rpad($n): tostring | . + (" " * ($n - length));

[ split("\n")[] | select(length > 0) | split("\t")
  | {variant: .[0], iter: .[1], index: (.[2] | tonumber), phase: .[3], us: (.[4] | tonumber)} ] as $recs
# Phases in run order: the first variant's order, then every phase only
# another variant has, inserted after the phase that precedes it there.
| ([ $variants[] as $v
     | [ $recs[] | select(.variant == $v and (.phase | startswith("~") | not)) ]
     | group_by(.phase) | map({phase: .[0].phase, index: (map(.index) | median)})
     | sort_by(.index) | map(.phase) ]
   | reduce .[] as $seq ([];
       . as $order
       | reduce range(0; $seq | length) as $j ($order;
           if index([$seq[$j]]) != null then .
           elif $j == 0 then [$seq[0]] + .
           else (index([$seq[$j - 1]]) // (length - 1)) as $at
             | .[0:$at + 1] + [$seq[$j]] + .[$at + 1:]
           end))) as $order
| ($order + ["~outside", "~wall"]) as $rows
| ([$rows[] | length] + [30] | max + 2) as $w
| ("phase (time since the previous record)" | rpad($w)) + ($variants | map(lpad(10)) | add),
  ($rows[] as $p
   | (if $p == "~outside" then "exec, startup before the first record, exit"
      elif $p == "~wall" then "wall time of the run"
      else $p end | rpad($w))
     + ($variants | map(. as $v
         | [ $recs[] | select(.variant == $v and .phase == $p) | .us ]
         | if length == 0 then "-" else median | round | tostring end | lpad(10)) | add)),
  "(median microseconds over the runs; medians do not add up to the median wall time)"
