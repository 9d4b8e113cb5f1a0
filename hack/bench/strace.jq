# The syscall table of hack/bench/all.sh, from `strace -f -c` of one run each.
#
# Input (jq -R -s): WHO <TAB> SYSCALL <TAB> CALLS <TAB> ERRORS <TAB> SECONDS
# (SECONDS, strace's system time under tracing, is kept in the raw file
# only: ptrace stops make it meaningless as a cost.)
# $whos: the column order; $top: how many syscalls to list.
# Lists the syscalls with the most calls in any column, then totals.

def lpad($n): tostring | (" " * ($n - length)) + .;
def rpad($n): tostring | . + (" " * ($n - length));

[ split("\n")[] | select(length > 0) | split("\t")
  | {who: .[0], name: .[1], calls: (.[2] | tonumber), errors: (.[3] | tonumber),
     secs: (.[4] | tonumber)} ] as $r
| [ $whos[] | . as $w | select(any($r[]; .who == $w)) ] as $cols
| ($cols | map(length) + [8] | max + 2) as $cw
| ([ $r | group_by(.name)[] | {name: .[0].name, max: (map(.calls) | max)} ]
   | sort_by(-.max, .name) | .[0:$top] | map(.name)) as $names
| def cell($w; $n): [ $r[] | select(.who == $w and .name == $n) | .calls ] | (.[0] // "-");
  def total($w; f): [ $r[] | select(.who == $w) | f ] | add;
  ("syscall" | rpad(20)) + ($cols | map(lpad($cw)) | add),
  ($names[] as $n | ($n | rpad(20)) + ($cols | map(cell(.; $n) | lpad($cw)) | add)),
  ("all syscalls" | rpad(20)) + ($cols | map(total(.; .calls) | lpad($cw)) | add),
  ("  of which failed" | rpad(20)) + ($cols | map(total(.; .errors) | lpad($cw)) | add),
  ("distinct syscalls" | rpad(20)) + ($cols | map(. as $w | [$r[] | select(.who == $w)] | length | lpad($cw)) | add),
  "(calls by every process of one run: strace -f -c)"
