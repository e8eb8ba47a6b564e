//! AFL target: `loadgen::fuzz::h1_response`.

fn main() {
    afl::fuzz!(|data: &[u8]| loadgen::fuzz::h1_response(data));
}
