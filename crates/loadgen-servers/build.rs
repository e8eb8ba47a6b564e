//! Compiles proto/calc.proto in process (protox: no protoc needed) into the gRPC server's
//! code and the descriptor set its reflection service serves.

fn main() {
    println!("cargo:rerun-if-changed=proto/calc.proto");
    let fds = protox::compile(["calc.proto"], ["proto"]).expect("proto/calc.proto compiles");
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(
        out.join("calc_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )
    .expect("the descriptor set is written");
    tonic_prost_build::configure()
        .build_client(false)
        .compile_fds(fds)
        .expect("the gRPC code is generated");
}
