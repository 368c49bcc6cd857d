//! Where each key and sequence item of a scenario file sits, by key path (`script[3].at`,
//! `parties.caller.knobs.trickle`), so that errors found after deserialization (validation, the
//! matrix plan, knob checks) point at a line and column as YAML errors do.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Key paths of a YAML document with their 1-based (line, column), in document order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Spans(Vec<(String, usize, usize)>);

/// One open container while walking the events.
enum Frame {
    /// A mapping at `path`; `key` is the key whose value comes next.
    Map { path: String, key: Option<String> },
    /// A sequence at `path`; `next` is the index of its next item.
    Seq { path: String, next: usize },
}

#[derive(Default)]
struct Walk {
    stack: Vec<Frame>,
    out: Vec<(String, usize, usize)>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl Walk {
    /// The path of the node that starts now, recording it (a key is recorded where the key is);
    /// `None` when the node is a mapping key.
    fn node(&mut self, scalar: Option<&str>, mark: Marker) -> Option<String> {
        let at = (mark.line(), mark.col() + 1);
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Map { path, key }) => match key.take() {
                Some(k) => Some(join(path, &k)),
                None => {
                    let k = scalar.unwrap_or("?").to_string();
                    self.out.push((join(path, &k), at.0, at.1));
                    *key = Some(k);
                    None
                }
            },
            Some(Frame::Seq { path, next }) => {
                let p = format!("{path}[{next}]");
                *next += 1;
                self.out.push((p.clone(), at.0, at.1));
                Some(p)
            }
        }
    }
}

impl MarkedEventReceiver for Walk {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(v, ..) => {
                self.node(Some(&v), mark);
            }
            Event::Alias(_) => {
                self.node(None, mark);
            }
            Event::MappingStart(..) => {
                if let Some(path) = self.node(None, mark) {
                    self.stack.push(Frame::Map { path, key: None });
                }
            }
            Event::SequenceStart(..) => {
                if let Some(path) = self.node(None, mark) {
                    self.stack.push(Frame::Seq { path, next: 0 });
                }
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

impl Spans {
    /// The spans of `text`; as many as could be read before a syntax error (the YAML parser reports
    /// those with their own position).
    pub fn of(text: &str) -> Spans {
        let mut walk = Walk::default();
        let _ = Parser::new_from_str(text).load(&mut walk, false);
        Spans(walk.out)
    }

    /// Where `path` is, or the deepest enclosing key or item that is there (a key path names
    /// fields the file may leave out, such as a default).
    pub fn find(&self, path: &str) -> Option<(usize, usize)> {
        let mut p = path;
        loop {
            if let Some((_, l, c)) = self.0.iter().find(|(k, ..)| k == p) {
                return Some((*l, *c));
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_items_of_block_and_flow_styles_have_their_positions() {
        let text = "id: a/b\nparties:\n  caller: {impl: x, nat: open, knobs: {trickle: nope}}\nscript:\n  - {at: 0s, caller: call}\n  - {at: 3s, callee: answer}\nsettle: -5s\n";
        let s = Spans::of(text);
        assert_eq!(s.find("id"), Some((1, 1)));
        assert_eq!(s.find("parties.caller"), Some((3, 3)));
        assert_eq!(s.find("parties.caller.knobs.trickle"), Some((3, 40)));
        assert_eq!(s.find("script[1]"), Some((6, 5)));
        assert_eq!(s.find("script[1].callee"), Some((6, 14)));
        assert_eq!(s.find("settle"), Some((7, 1)));
        // A field the file leaves out points at its parent.
        assert_eq!(s.find("parties.caller.lan"), Some((3, 3)));
        assert_eq!(s.find("nothing.here"), None);
    }
}
