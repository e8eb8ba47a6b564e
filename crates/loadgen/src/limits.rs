//! Every cap on what comes from outside — files, pipes, standard input, peers' messages —
//! in one place. Each is enforced while reading (a reader never takes more than its cap
//! and one byte), never after; README's "Limits" table lists them.

use std::io::{self, Read};
use std::path::Path;

const MIB: u64 = 1024 * 1024;

/// A body file: `--body @FILE`, `--payload @FILE`, a targets file's `@body`.
pub const BODY_FILE: u64 = 64 * MIB;
/// A gRPC message file (`--message @FILE`, which may hold an array of messages).
pub const MESSAGE_FILE: u64 = 16 * MIB;
/// One gRPC message, rendered or received (gRPC's own default maximum).
pub const GRPC_MESSAGE: usize = 4 * MIB as usize;
/// A WebSocket message (and frame) read or sent, at most; a larger one read is a
/// `response_error` before its payload is buffered.
pub const WS_MESSAGE: usize = 16 * MIB as usize;
/// A `.proto` file (`--proto`; a regular file, its size checked before protox reads it).
pub const PROTO_FILE: u64 = 16 * MIB;
/// A compiled descriptor set (`--protoset`).
pub const PROTOSET_FILE: u64 = 64 * MIB;
/// A PEM file: `--cacert`, `--cert`, `--key`, the servers' `--tls-*`.
pub const PEM_FILE: u64 = MIB;
/// A data feed (`--data`): bytes read, and field text held.
pub const DATA_FILE: u64 = 512 * MIB;
/// Field text a data feed may hold.
pub const DATA_HELD: usize = 256 * MIB as usize;
/// One line of a data feed.
pub const DATA_LINE: u64 = 16 * MIB;
/// One line of a targets file.
pub const TARGETS_LINE: usize = MIB as usize;
/// The header lines of one request of a targets file, together.
pub const TARGETS_HEADERS: usize = MIB as usize;
/// Distinct body files one reading of a targets file holds (each read once).
pub const BODY_FILES: usize = 256 * MIB as usize;
/// Requests of a targets file held in memory, in bytes (URLs, headers, bodies not shared):
/// past it, or past 100,000 requests, the file streams.
pub const TARGETS_HELD: usize = 128 * MIB as usize;
/// Targets read from standard input or a FIFO (spooled to a file: they cannot be read
/// twice).
pub const TARGETS_STDIN: u64 = 256 * MIB;
/// A scenario file.
pub const SCENARIO_FILE: u64 = 4 * MIB;
/// A JSON summary read by `merge` and `compare`.
pub const SUMMARY_FILE: u64 = 256 * MIB;
/// One request as rendered from its templates (body, path and headers together).
pub const RENDERED: usize = 64 * MIB as usize;

/// Reads at most `cap` bytes of `r`; more is an error ("larger than N MiB").
pub fn read_capped(r: impl Read, cap: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    r.take(cap.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > cap {
        return Err(too_large(cap));
    }
    Ok(out)
}

/// Reads the file at `path`, at most `cap` bytes (a FIFO, `/dev/zero` or a growing file
/// included: the size is not trusted, the bytes are counted).
pub fn read_file(path: impl AsRef<Path>, cap: u64) -> io::Result<Vec<u8>> {
    read_capped(std::fs::File::open(path)?, cap)
}

/// Like [`read_file`], as UTF-8 text.
pub fn read_text(path: impl AsRef<Path>, cap: u64) -> io::Result<String> {
    String::from_utf8(read_file(path, cap)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// The error of a reader past its cap.
fn too_large(cap: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!("larger than {}", size(cap)),
    )
}

/// The first 60 characters of `s`, for messages.
pub fn clip(s: &str) -> String {
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// A cap as people write it: `64 MiB`, `512 KiB`, `100 bytes`.
pub fn size(bytes: u64) -> String {
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_stops_one_byte_past_its_cap() {
        // an endless source: read_capped takes cap + 1 bytes and says why
        let e = read_capped(io::repeat(0), 1024).unwrap_err();
        assert_eq!(e.to_string(), "larger than 1 KiB");
        assert_eq!(read_capped(&b"abc"[..], 3).unwrap(), b"abc");
        assert!(read_capped(&b"abcd"[..], 3).is_err());
        let e = read_file("/dev/zero", 2 * MIB).unwrap_err();
        assert_eq!(e.to_string(), "larger than 2 MiB");
        assert_eq!(size(100), "100 bytes");
    }
}
