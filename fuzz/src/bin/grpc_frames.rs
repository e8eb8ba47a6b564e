//! AFL target: `loadgen::fuzz::grpc_frames`.

fn main() {
    afl::fuzz!(|data: &[u8]| loadgen::fuzz::grpc_frames(data));
}
