//! AFL target: `loadgen::fuzz::ws_frames`.

fn main() {
    afl::fuzz!(|data: &[u8]| loadgen::fuzz::ws_frames(data));
}
