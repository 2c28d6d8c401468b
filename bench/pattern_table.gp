# GET /healthz latency over time, one series per offload mode, from pattern_table's CSVs.
#   gnuplot -e "csv_dir='DIR'; out='docs/pattern-table.png'; subtitle='...'; seconds=15; rounds=3" \
#     bench/pattern_table.gp
set terminal pngcairo size 1100,560 font "sans,11"
set output out
set datafile separator ","
if (!exists("subtitle")) subtitle = ""
set title "GET /healthz latency while resizing photos, per runtime.offload mode\n{/*0.85 " . subtitle . "}" enhanced
if (!exists("seconds")) seconds = 15
if (!exists("rounds")) rounds = 1
round = seconds * 1.0 / rounds
set xlabel sprintf("seconds under load (each mode's %d rounds of %g s, joined; dotted lines)", rounds, round)
set ylabel "healthz latency, ms (log scale)"
set logscale y
set format y "%g"
set grid xtics ytics mytics lc rgb "#dddddd"
set key outside right top title "runtime.offload"
set xrange [0:seconds]
set yrange [0.1:*]
# The server's stall threshold (runtime.stall_threshold, default 50 ms).
set arrow from graph 0, first 50 to graph 1, first 50 nohead dt 2 lc rgb "#888888"
do for [r = 1:rounds - 1] {
  set arrow from first r * round, graph 0 to first r * round, graph 1 nohead dt 3 lc rgb "#bbbbbb"
}
set style textbox opaque noborder
set label "stall threshold 50 ms" at graph 0.99, first 50 right boxed front tc rgb "#666666" font "sans,9"
series(name) = csv_dir . "/healthz-" . name . ".csv"
# Points, not lines: a blocked I/O thread gives a few slow samples between quick ones,
# and lines between them would hide everything else. Idle underneath, cpu_pool on top.
plot series("idle")     skip 1 using 1:2 with lines lw 1 lc rgb "#aaaaaa" title "idle (no load)", \
     series("inline")   skip 1 using 1:2 with points pt 9 ps 0.9 lc rgb "#40d62728" title "inline", \
     series("io_pool")  skip 1 using 1:2 with points pt 5 ps 0.6 lc rgb "#40ff7f0e" title "io\\_pool", \
     series("cpu_pool") skip 1 using 1:2 with points pt 7 ps 0.4 lc rgb "#1f77b4" title "cpu\\_pool"
