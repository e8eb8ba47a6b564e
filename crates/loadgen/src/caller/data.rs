//! A data feed (`--data FILE.csv|.jsonl`): rows whose columns templates name, one row per
//! load, cycling — load `j` takes row `j mod rows`, so every thread and every shard agrees.
//!
//! CSV: a header line names the columns; fields may be quoted (`"a,b"`, `""` for a quote).
//! JSON lines: one object per line, its keys the columns (the first line's keys; strings
//! as they are, other values as JSON text). The whole feed is held in memory, up to
//! [`MAX_DATA_BYTES`] of field text.

use std::io::{BufRead, Read};

use crate::error::ConfigError;

/// The most field text a feed may hold.
pub const MAX_DATA_BYTES: usize = crate::limits::DATA_HELD;

/// The rows of a data feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFeed {
    columns: Vec<String>,
    /// Row-major fields: row r's column c at `r * columns + c`.
    fields: Vec<String>,
}

/// The feed's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFormat {
    /// Comma-separated values with a header line.
    Csv,
    /// One JSON object per line.
    JsonLines,
}

impl DataFormat {
    /// By file name: `.jsonl`, `.ndjson` and `.json` are JSON lines, anything else CSV.
    pub fn of_path(path: &str) -> DataFormat {
        let lower = path.to_ascii_lowercase();
        if [".jsonl", ".ndjson", ".json"]
            .iter()
            .any(|e| lower.ends_with(e))
        {
            DataFormat::JsonLines
        } else {
            DataFormat::Csv
        }
    }
}

impl DataFeed {
    /// Reads a feed from `r`; `name` is used in errors (`FILE:LINE: why`). At most
    /// [`limits::DATA_FILE`](crate::limits::DATA_FILE) bytes are read, a line at most
    /// [`limits::DATA_LINE`](crate::limits::DATA_LINE): an endless source or line is
    /// refused while it is read.
    pub fn read(r: impl BufRead, format: DataFormat, name: &str) -> Result<DataFeed, ConfigError> {
        let bad = |line: usize, why: String| ConfigError::DataFile {
            file: name.to_string(),
            line,
            why,
        };
        let mut columns: Vec<String> = Vec::new();
        let mut fields = Vec::new();
        let mut bytes = 0usize;
        let mut r = r.take(crate::limits::DATA_FILE + 1);
        let mut buf = Vec::new();
        for n in 1.. {
            buf.clear();
            let got = (&mut r)
                .take(crate::limits::DATA_LINE + 1)
                .read_until(b'\n', &mut buf)
                .map_err(|e| bad(n, e.to_string()))?;
            if got == 0 {
                if r.limit() == 0 {
                    let cap = crate::limits::size(crate::limits::DATA_FILE);
                    return Err(bad(n, format!("the file is larger than {cap}")));
                }
                break;
            }
            if buf.len() as u64 > crate::limits::DATA_LINE {
                let cap = crate::limits::size(crate::limits::DATA_LINE);
                return Err(bad(n, format!("a line longer than {cap}")));
            }
            let line = std::str::from_utf8(&buf).map_err(|_| bad(n, "not UTF-8 text".into()))?;
            let line = line.trim_end_matches('\n').trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let row: Vec<String> = match format {
                DataFormat::Csv => split_csv(line).map_err(|why| bad(n, why))?,
                DataFormat::JsonLines => {
                    let v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line)
                        .map_err(|e| bad(n, format!("not a JSON object: {e}")))?;
                    if columns.is_empty() {
                        columns = v.keys().cloned().collect();
                        if columns.is_empty() {
                            return Err(bad(n, "an object with no keys".into()));
                        }
                    }
                    columns
                        .iter()
                        .map(|c| match v.get(c) {
                            Some(serde_json::Value::String(s)) => Ok(s.clone()),
                            Some(other) => Ok(other.to_string()),
                            None => Err(bad(n, format!("no key '{c}' (the first line has it)"))),
                        })
                        .collect::<Result<_, _>>()?
                }
            };
            if format == DataFormat::Csv && columns.is_empty() {
                if let Some(dup) = row.iter().enumerate().find(|(k, c)| row[..*k].contains(c)) {
                    return Err(bad(n, format!("column '{}' twice", dup.1)));
                }
                if row.iter().any(|c| c.trim().is_empty()) {
                    return Err(bad(n, "an empty column name".into()));
                }
                columns = row.into_iter().map(|c| c.trim().to_string()).collect();
                continue;
            }
            if row.len() != columns.len() {
                return Err(bad(
                    n,
                    format!("{} fields, the header has {}", row.len(), columns.len()),
                ));
            }
            bytes += row.iter().map(String::len).sum::<usize>();
            if bytes > MAX_DATA_BYTES {
                return Err(bad(
                    n,
                    format!(
                        "more than {} of data",
                        crate::limits::size(MAX_DATA_BYTES as u64)
                    ),
                ));
            }
            fields.extend(row);
        }
        if columns.is_empty() || fields.is_empty() {
            return Err(bad(0, "no rows".into()));
        }
        Ok(DataFeed { columns, fields })
    }

    /// The column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.fields.len() / self.columns.len()
    }

    /// Column `col` of the row for load `index`.
    pub fn field(&self, index: u64, col: usize) -> &str {
        let row = (index % self.rows() as u64) as usize;
        &self.fields[row * self.columns.len() + col]
    }
}

/// One CSV line into fields (RFC 4180 quoting, no line breaks inside quotes).
fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() && !was_quoted => {
                quoted = true;
                was_quoted = true;
            }
            (false, ',') => {
                out.push(std::mem::take(&mut field));
                was_quoted = false;
            }
            (false, '"') => return Err("a quote inside an unquoted field".into()),
            (false, c) if was_quoted => {
                return Err(format!("'{c}' after a closing quote"));
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err("an unclosed quote".into());
    }
    out.push(field);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_cycle_per_load() {
        let text = "user_id,name\n1,\"Smith, J\"\n2,\"say \"\"hi\"\"\"\n\n3,c\n";
        let d = DataFeed::read(text.as_bytes(), DataFormat::Csv, "users.csv").unwrap();
        assert_eq!(d.columns(), ["user_id", "name"]);
        assert_eq!(d.rows(), 3);
        assert_eq!(d.field(0, 1), "Smith, J");
        assert_eq!(d.field(1, 1), "say \"hi\"");
        assert_eq!(d.field(5, 0), "3");
        assert_eq!(d.field(6, 0), "1");
    }

    #[test]
    fn json_lines() {
        let text = "{\"id\":7,\"name\":\"a\"}\n{\"id\":8,\"name\":\"b\"}\n";
        let d = DataFeed::read(text.as_bytes(), DataFormat::JsonLines, "d.jsonl").unwrap();
        assert_eq!(d.columns(), ["id", "name"]);
        assert_eq!((d.field(1, 0), d.field(1, 1)), ("8", "b"));
    }

    #[test]
    fn bad_rows_name_file_and_line() {
        for (text, format, want) in [
            (
                "a,b\n1,2\n3\n",
                DataFormat::Csv,
                "d:3: 1 fields, the header has 2",
            ),
            ("a,b\n1,\"2\n", DataFormat::Csv, "d:2: an unclosed quote"),
            ("a,a\n1,2\n", DataFormat::Csv, "d:1: column 'a' twice"),
            ("a\n", DataFormat::Csv, "no rows"),
            (
                "{\"a\":1}\n[1]\n",
                DataFormat::JsonLines,
                "d:2: not a JSON object",
            ),
            (
                "{\"a\":1}\n{\"b\":1}\n",
                DataFormat::JsonLines,
                "d:2: no key 'a'",
            ),
        ] {
            let e = DataFeed::read(text.as_bytes(), format, "d")
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }
}
