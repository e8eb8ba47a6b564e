//! The fuzz targets (`loadgen::fuzz`) on their seed corpus (`fuzz/corpus/`) and a bounded
//! number of deterministic mutations of it: seconds per target, in every `cargo test`.
//! `LOADGEN_FUZZ_ITERS=N` runs N mutations per target instead. The coverage-guided run is
//! `cargo afl` in `fuzz/` (see fuzz/README.md).

use std::path::PathBuf;

/// Mutations per target by default (each target's inputs cost differently).
fn iterations(name: &str) -> usize {
    if let Some(n) = std::env::var("LOADGEN_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return n;
    }
    match name {
        "summary_json" | "merge_json" => 300,
        _ => 5_000,
    }
}

fn corpus(name: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(name);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// Runs `target` on `input`; on a panic, saves the input and says where.
fn run_one(name: &str, target: fn(&[u8]), input: &[u8]) {
    if std::panic::catch_unwind(|| target(input)).is_err() {
        let out = std::env::temp_dir().join(format!("loadgen-fuzz-{name}-crash"));
        std::fs::write(&out, input).unwrap();
        panic!("{name}: an input failed; saved to {}", out.display());
    }
}

#[test]
fn every_fuzz_target_survives_its_corpus_and_mutations_of_it() {
    for &(name, target) in loadgen::fuzz::TARGETS {
        let seeds = corpus(name);
        assert!(!seeds.is_empty(), "{name}: no seeds");
        for s in &seeds {
            run_one(name, target, s);
        }
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut input = Vec::new();
        for i in 0..iterations(name) {
            if i % 8 == 0 {
                input = seeds[i / 8 % seeds.len()].clone();
            }
            loadgen::fuzz::mutate(&mut input, &seeds, &mut rng);
            run_one(name, target, &input);
        }
    }
}
