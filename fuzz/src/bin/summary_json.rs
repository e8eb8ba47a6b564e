//! AFL target: `loadgen::fuzz::summary_json`.

fn main() {
    afl::fuzz!(|data: &[u8]| loadgen::fuzz::summary_json(data));
}
