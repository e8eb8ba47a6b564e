//! AFL target: `loadgen::fuzz::requests`.

fn main() {
    afl::fuzz!(|data: &[u8]| loadgen::fuzz::requests(data));
}
