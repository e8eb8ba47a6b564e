//! AFL target: `loadgen::fuzz::calc_frames`.

fn main() {
    afl::fuzz!(|data: &[u8]| loadgen::fuzz::calc_frames(data));
}
