//! AFL target: `loadgen::fuzz::values`.

fn main() {
    afl::fuzz!(|data: &[u8]| loadgen::fuzz::values(data));
}
