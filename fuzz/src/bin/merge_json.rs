//! AFL target: `loadgen::fuzz::merge_json`.

fn main() {
    afl::fuzz!(|data: &[u8]| loadgen::fuzz::merge_json(data));
}
