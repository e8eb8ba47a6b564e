//! AFL target: `loadgen::fuzz::scenario`.

fn main() {
    afl::fuzz!(|data: &[u8]| loadgen::fuzz::scenario(data));
}
