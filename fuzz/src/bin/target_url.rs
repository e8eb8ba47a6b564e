//! AFL target: the command line's target URL parser, the host fixed to 127.0.0.1.

#[allow(dead_code)]
#[path = "../../../crates/loadgen-cli/src/target.rs"]
mod target;
#[path = "../../../crates/loadgen-cli/src/target_fuzz.rs"]
mod target_fuzz;

fn main() {
    afl::fuzz!(|data: &[u8]| target_fuzz::target_url(data));
}
