#!/usr/bin/env bash
# Regenerate the committed kernel matrix, reports/published/kernels/ (`make publish-kernels`; docs/KERNELS.md):
# synproxy and seqadj-ftp on this machine's kernel and on a Debian 6.1 kernel booted in a virtual machine,
# their named and vector cases (the property and stateful cases cost too much under TCG emulation).
#
#   scripts/publish-kernels.sh              # the Debian kernel ABI 6.1.0-47 (scripts/fetch-kernel.sh fetches it)
#   scripts/publish-kernels.sh 6.1.0-57     # another ABI apt knows
#   scripts/publish-kernels.sh --no-run     # publish the last run (out/kernels-publish/) again, without running it
#
# Needs root, and what `splicecheck run --kernel` needs (docs/KERNELS.md); took 4 minutes under TCG on a
# two-CPU machine shared with other jobs (a busier one: 15). The full run goes to the git-ignored
# out/kernels-publish/ (every report format and the pcapng evidence); the published folder keeps, per kernel
# and adapter, results.jsonl (the run itself, from which every report is re-rendered: `splicecheck report
# .../results.jsonl`), index.json and report.md, then the matrix of those runs, each adapter's comparison of
# the 6.1 kernel against this machine's (compare-*.md) and the time table of the run (summary.txt). Review
# the diff before committing it, and bring the kernel matrix section of reports/published/README.md
# (differences and times) up to date by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-.venv/bin}
work=out/kernels-publish
dest=reports/published/kernels
if [ "${1:-}" != "--no-run" ]; then
    image=$(bash scripts/fetch-kernel.sh "${1:-6.1.0-47}" | tail -n 1)
    rm -rf "$work"
    mkdir -p "$work"
    # exit status 1: a case ended in ERROR or a kernel's guest failed; the results present are still published
    # (an ERROR is the harness's, and shows as such in the reports), a missing kernel is caught below
    status=0
    nice -n 10 "$bin/splicecheck" matrix --kernel host --kernel "$image" --adapter synproxy \
        --adapter seqadj-ftp --kind named --kind vector --quiet --out "$work" >"$work/matrix.log" 2>&1 || status=$?
    sed -n '/^Summary/,$p' "$work/matrix.log"
    if [ "$status" -gt 1 ]; then
        echo "publish-kernels: splicecheck matrix failed ($status): $work/matrix.log" >&2
        exit 1
    fi
fi
runs=$(find "$work" -mindepth 3 -maxdepth 3 -name results.jsonl | wc -l)
if [ "$runs" -ne 4 ]; then
    echo "publish-kernels: $runs results files in $work, not 2 kernels x 2 adapters: see $work/matrix.log" >&2
    exit 1
fi

rm -rf "$dest"
mkdir -p "$dest/matrix"
host=$(uname -r)
folders=()  # the matrix's columns: this machine's kernel first, as in the run
for results in "$work/$host"/*/results.jsonl $(find "$work" -mindepth 3 -maxdepth 3 -name results.jsonl \
                                                -not -path "$work/$host/*" | sort); do
    rel=${results#"$work"/}
    folder=$dest/${rel%/results.jsonl}
    mkdir -p "$folder"
    cp "$results" "$folder/results.jsonl"
    "$bin/splicecheck" report "$folder/results.jsonl" --formats json md >/dev/null
    folders+=("$folder")
done
"$bin/splicecheck" report --matrix "${folders[@]}" --out "$dest/matrix" >/dev/null
for adapter in synproxy seqadj-ftp; do
    for folder in "$dest"/*/"$adapter"; do
        release=$(basename "$(dirname "$folder")")
        [ "$release" = "$host" ] && continue
        # exit status 1 means a regression from the first kernel to this one: a result, not a failure here
        "$bin/splicecheck" compare "$dest/$host/$adapter" "$folder" --format md \
            --out "$dest/matrix/compare-$adapter-$host-vs-$release.md" || [ $? -eq 1 ]
    done
done
sed -n '/^kernel .* under /p; /^Summary/,/^$/p' "$work/matrix.log" | sed '/^$/d' >"$dest/summary.txt"
echo "publish-kernels: $dest regenerated from $work; review and commit it"
