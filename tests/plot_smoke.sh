#!/bin/sh
# eot sweep --plot draws a PNG with Debian's python3-matplotlib; skipped (exit 77) without it.
eot="$1"; examples="$2"; out="${TMPDIR:-/tmp}/eot-plot-smoke-$$.png"
if ! /usr/bin/python3 -c "import matplotlib, numpy" 2>/dev/null; then
  echo "skipped: /usr/bin/python3 with matplotlib and numpy is not installed (apt-get install python3-matplotlib)"
  exit 77
fi
"$eot" sweep --x "$examples/x.csv" --y "$examples/y.csv" --epsilon-range 0.01:1:4 --quiet --plot "$out" || exit 1
magic=$(head -c 4 "$out" | od -An -c | tr -d ' ')
rm -f "$out"
[ "$magic" = "211PNG" ] || { echo "not a PNG: '$magic'"; exit 1; }
echo "plotted a PNG"
