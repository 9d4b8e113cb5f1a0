# Renders one table of hack/bench/all.sh from its raw records.
#
# Input (jq -R -s): the records file, one measurement a line:
#   BENCH <TAB> WHO <TAB> ITER <TAB> NANOSECONDS <TAB> MAXRSS_KB <TAB> CPU_NS <TAB> MINFLT
# $spec: {bench, title, unit: "ms"|"s"|"MiB"|"", field: "ns"|"rss"|"cpu"|"minflt",
#         base, rate (optional: items per iteration, adds an items/s column),
#         rows: [{label, terms: [{who, k}], base?, noratio?, medians?}]}
# A row's value in iteration i is the sum of k * value(who, i) over its
# terms, taken only in iterations where every term was measured: "total" is
# create + start + delete of the same container. A row with medians: true
# is instead the sum of k * median(who), with no spread: "crun net of
# wrapper" is median(crun) - median(wrapper), the wrapper timed in the same
# rounds. (A per-iteration difference would add the wrapper's noise, heavy-
# tailed here, to crun's.)
# Columns: median, p10, p90 (linear interpolation), n, then items/s (with
# rate), then the ratio of the row's median to the base row's median.

def pct($q): ((length - 1) * $q) as $i | ($i | floor) as $lo | ($i | ceil) as $hi
  | .[$lo] + (.[$hi] - .[$lo]) * ($i - $lo);
def fix($d): pow(10; $d) as $m | (. * $m | round) as $n | ($n | fabs) as $a
  | (if $n < 0 then "-" else "" end) + ($a / $m | floor | tostring)
  + (if $d > 0 then "." + ($a % $m | tostring | ("0" * ($d - length)) + .) else "" end);
def lpad($n): tostring | (" " * ($n - length)) + .;
def rpad($n): tostring | . + (" " * ($n - length));

($spec.unit) as $unit
| (if $unit == "ms" then 1e6 elif $unit == "s" then 1e9 elif $unit == "MiB" then 1024 else 1 end) as $div
| (if $unit == "s" then 3 elif $unit == "" then 0 else 2 end) as $dec
| [ split("\n")[] | select(length > 0) | split("\t")
    | select(.[0] == $spec.bench)
    | {who: .[1], iter: .[2],
       v: ({"ns": .[3], "rss": .[4], "cpu": .[5], "minflt": .[6]}[$spec.field] | tonumber)} ]
| (group_by(.who) | map({key: .[0].who, value: (map({key: .iter, value: .v}) | from_entries)})
   | from_entries) as $by
| [ $spec.rows[]
    | . as $row
    | if $row.medians then
        [ $row.terms[] | . as $t | [ $by[$t.who] // {} | .[] / $div ] | sort
          | {n: length, m: (if length > 0 then pct(0.5) * $t.k else null end)} ] as $ms
        | select(all($ms[]; .n > 0))
        | $row + {median: ($ms | map(.m) | add), p10: null, p90: null, n: ($ms | map(.n) | min)}
      else
      [ ($by[$row.terms[0].who] // {} | keys[]) as $it
        | [ $row.terms[] | $by[.who][$it] as $x | if $x == null then null else $x * .k end ]
        | select(all(. != null)) | add / $div ] as $vals
    | select($vals | length > 0)
    | ($vals | sort) as $s
    | $row + {median: ($s | pct(0.5)), p10: ($s | pct(0.1)), p90: ($s | pct(0.9)), n: ($s | length)}
      end ]
| (map({key: .label, value: .median}) | from_entries) as $med
| ([.[].label | length] + [12] | max + 2) as $w
| "\($spec.title)",
  ("" | rpad($w)) + ("median" | lpad(9)) + ("p10" | lpad(9)) + ("p90" | lpad(9)) + ("n" | lpad(5))
    + (if $spec.rate then ("per s" | lpad(9)) else "" end) + "  vs " + $spec.base,
  (.[] | (.label | rpad($w))
    + ([.median, .p10, .p90] | map(if . == null then "-" else fix($dec) end | lpad(9)) | add)
    + (.n | lpad(5))
    + (if $spec.rate then ($spec.rate / .median | fix(1) | lpad(9)) else "" end)
    + "  " + ((.base // $spec.base) as $b
              | if .noratio or $med[$b] == null or $med[$b] == 0 then "-"
                else (.median / $med[$b] | fix(2)) + "x" end)),
  "(\(if $unit == "" then "counts" else $unit end); n = iterations; ratio = median / median of the base row)",
  ""
