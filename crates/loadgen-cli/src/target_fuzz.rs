//! The target URL parser as a fuzz target: any scheme, weight, port and path the bytes
//! make, the host always 127.0.0.1 (a fuzzer never varies the host: a mutated name would
//! resolve off loopback). Used by the `fuzz` crate (AFL) and by a unit test on mutations
//! of `fuzz/corpus/target_url`.

use crate::target;

/// One line of `WEIGHT? SCHEME PORT PATH`: parsed as `WEIGHT*SCHEME://127.0.0.1:PORT/PATH`;
/// it must be refused or keep the host, the port and a path free of control characters.
pub fn target_url(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in text.split('\n').take(16) {
        let mut words = line.splitn(4, ' ');
        let mut first = words.next().unwrap_or("");
        let weight = if !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit()) {
            let w = format!("{first}*");
            first = words.next().unwrap_or("");
            w
        } else {
            String::new()
        };
        let scheme = first;
        // only digits: a ':' or '@' in the port would move the host
        let port: String = words
            .next()
            .unwrap_or("")
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let mut path = words.collect::<Vec<_>>().join(" ");
        if !path.starts_with(['/', '?', '#']) {
            path.insert(0, '/');
        }
        if scheme.contains([':', '/', '@', '[', ']', '*', '?', '#']) {
            continue; // the scheme must not reach the authority either
        }
        let colon = if port.is_empty() { "" } else { ":" };
        let raw = format!("{weight}{scheme}://127.0.0.1{colon}{port}{path}");
        if let Ok(t) = target::parse(&raw) {
            assert_eq!(t.host, "127.0.0.1", "{raw:?}");
            assert!(t.addr.ip().is_loopback(), "{raw:?}");
            assert!(t.weight >= 1);
            assert!(t.path.starts_with('/'), "{raw:?}");
            assert!(
                !t.path
                    .contains(|c: char| c.is_control() || c.is_whitespace()),
                "{raw:?} → {:?}",
                t.path
            );
            if !port.is_empty() {
                assert_eq!(t.port.to_string(), port.trim_start_matches('0'), "{raw:?}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn target_urls_survive_the_corpus_and_mutations_of_it() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/target_url");
        let seeds: Vec<Vec<u8>> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| std::fs::read(e.unwrap().path()).unwrap())
            .collect();
        let mut rng = 0x2545_F491_4F6C_DD1Du64;
        let mut input = Vec::new();
        for i in 0..5_000 {
            if i % 8 == 0 {
                input = seeds[i / 8 % seeds.len()].clone();
            }
            loadgen::fuzz::mutate(&mut input, &seeds, &mut rng);
            super::target_url(&input);
        }
    }
}
