//! report.json's layout: pretty-printed down to each run's fields and each matrix cell, each check
//! (and any deeper value) on one line. A diff of two reports then shows one line per changed check,
//! and the file is a third smaller than pretty-printing every field on its own line.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::Formatter;

/// Containers opened at this depth or deeper (the top-level object is depth 1, a run 3, a run's check
/// 5) are written on one line.
const ONE_LINE_FROM: usize = 5;

/// serde_json's pretty layout (two spaces per level) down to [`ONE_LINE_FROM`], compact below it.
struct Layout {
    depth: usize,
    has_value: bool,
}

impl Layout {
    fn one_line(&self) -> bool {
        self.depth >= ONE_LINE_FROM
    }

    fn indent<W: ?Sized + Write>(&self, w: &mut W, depth: usize) -> io::Result<()> {
        for _ in 0..depth {
            w.write_all(b"  ")?;
        }
        Ok(())
    }

    fn open<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(bracket)
    }

    fn close<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        let one_line = self.one_line();
        self.depth -= 1;
        if self.has_value && !one_line {
            w.write_all(b"\n")?;
            self.indent(w, self.depth)?;
        }
        w.write_all(bracket)
    }

    fn item<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if self.one_line() {
            return if first { Ok(()) } else { w.write_all(b",") };
        }
        w.write_all(if first { b"\n" } else { b",\n" })?;
        self.indent(w, self.depth)
    }
}

impl Formatter for Layout {
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"[")
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"]")
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.item(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"{")
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"}")
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.item(w, first)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(if self.one_line() { b":" } else { b": " })
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// `value` in report.json's layout, as it appears nested `depth` levels deep (0 for the whole
/// report, 2 for a run inside `runs`, 1 for a top-level member's value): no leading indentation, and
/// no trailing line break.
pub(super) fn to_json<T: Serialize + ?Sized>(value: &T, depth: usize) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut out,
        Layout {
            depth,
            has_value: false,
        },
    );
    value.serialize(&mut ser).expect("report values serialize");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

#[cfg(test)]
mod tests {
    use super::to_json;

    #[test]
    fn pretty_above_one_line_below_and_parses_back() {
        let v = serde_json::json!({"runs": [{"id": "r", "checks": [{"id": "c", "evidence": [1, 2]}, {"id": "d", "evidence": []}], "empty": []}]});
        let text = to_json(&v, 0);
        assert_eq!(
            text,
            "{\n  \"runs\": [\n    {\n      \"checks\": [\n        {\"evidence\":[1,2],\"id\":\"c\"},\n        \
             {\"evidence\":[],\"id\":\"d\"}\n      ],\n      \"empty\": [],\n      \"id\": \"r\"\n    }\n  ]\n}"
        );
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
        // Nested at depth 2 (a run inside `runs`), the same run is laid out as inside the whole report.
        let run = to_json(&v["runs"][0], 2);
        assert!(text.contains(&run), "{run}");
    }
}
