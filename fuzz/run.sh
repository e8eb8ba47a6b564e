#!/usr/bin/env bash
# Coverage-guided fuzzing of loadgen's parsers with AFL++, one target after another.
#
#   fuzz/run.sh [SECONDS] [TARGET...]     (default: 300 s each, every target)
#
# Needs `cargo install cargo-afl` (it builds AFL++ on first use). Findings land in
# fuzz/out/TARGET/default/crashes; replay one with
#   cargo run --release --bin TARGET < fuzz/out/TARGET/default/crashes/id:...
# (the binaries read one input from stdin when not run under AFL).
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-300}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(calc_frames h1_response summary_json merge_json values requests target_url scenario)
fi
cargo afl build --release
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1
for t in "${targets[@]}"; do
    mkdir -p "out/$t"
    # resume a previous run's queue when there is one
    input=corpus/$t
    if [ -d "out/$t/default/queue" ]; then input=-; fi
    cargo afl fuzz -V "$secs" -i "$input" -o "out/$t" "target/release/$t" > "out/$t.log" 2>&1 || true
    stats=out/$t/default/fuzzer_stats
    if [ -f "$stats" ]; then
        printf '%-14s %s\n' "$t" "$(awk -F' *: *' '/^(run_time|execs_done|corpus_count|saved_crashes|saved_hangs)/ {printf "%s=%s ", $1, $2}' "$stats")"
    else
        printf '%-14s did not start: see fuzz/out/%s.log\n' "$t" "$t"
    fi
done
