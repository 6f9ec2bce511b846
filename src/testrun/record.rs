//! Recorded feedback: `xmacro feedback CODEC ... --record FILE.jsonl`
//! writes one line per feedback document, `{"ms": N, "feedback": {...}}`
//! (milliseconds since the recording started), and `room.replay(FILE)`
//! plays such a file into a simulated room in a test.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use serde_json::{Value, json};

/// One recorded feedback document.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Its line in the file (from 1), for messages.
    pub line: usize,
    /// Milliseconds since the recording started.
    pub ms: u64,
    /// The document as the codec sent it (`{"Status": {...}}`, `{"Event": {...}}`).
    pub feedback: Value,
}

/// Writes feedback lines as they arrive (each flushed, so a stopped
/// recording keeps every line it wrote).
pub struct Recorder {
    file: std::fs::File,
    started: Instant,
}

impl Recorder {
    /// Creates (or truncates) `path`.
    pub fn create(path: &Path) -> std::io::Result<Recorder> {
        Ok(Recorder {
            file: std::fs::File::create(path)?,
            started: Instant::now(),
        })
    }

    /// Appends one document with its time.
    pub fn write(&mut self, feedback: &Value) -> std::io::Result<()> {
        let ms = self.started.elapsed().as_millis() as u64;
        let line = json!({ "ms": ms, "feedback": feedback });
        writeln!(self.file, "{line}")?;
        self.file.flush()
    }
}

/// Reads a recording; a bad line is an error naming the file and line.
pub fn read(path: &Path) -> Result<Vec<Entry>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read the recording: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: &str| format!("{}:{}: {why}", path.display(), i + 1);
        let v: Value = serde_json::from_str(line).map_err(|e| bad(&format!("not JSON: {e}")))?;
        let ms = match v.get("ms") {
            None => return Err(bad("no \"ms\" (milliseconds since the start)")),
            Some(ms) => ms.as_u64().ok_or_else(|| {
                bad(&format!(
                    "\"ms\": {ms} is not a whole number of milliseconds since the start"
                ))
            })?,
        };
        let feedback = v
            .get("feedback")
            .filter(|f| f.is_object())
            .cloned()
            .ok_or_else(|| bad("no \"feedback\" document"))?;
        if out.last().is_some_and(|e: &Entry| e.ms > ms) {
            return Err(bad("times go backwards"));
        }
        out.push(Entry {
            line: i + 1,
            ms,
            feedback,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recording_reads_back_in_order() {
        let path = std::env::temp_dir().join(format!("xmacro-rec-{}.jsonl", std::process::id()));
        let mut r = Recorder::create(&path).unwrap();
        r.write(&json!({"Status": {"Audio": {"Volume": 50}}}))
            .unwrap();
        r.write(&json!({"Event": {"CallDisconnect": {"CallId": 1}}}))
            .unwrap();
        let back = read(&path).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[1].feedback["Event"]["CallDisconnect"]["CallId"], 1);
        assert!(back[0].ms <= back[1].ms);
        std::fs::write(&path, "{\"ms\": 1}\n").unwrap();
        let e = read(&path).unwrap_err();
        assert!(e.ends_with(":1: no \"feedback\" document"), "{e}");
        let _ = std::fs::remove_file(path);
    }
}
