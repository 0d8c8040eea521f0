//! Applying a policy to text: each detection is blocked, redacted, masked or logged, and what was
//! done is counted by type — never the values. Masked values become placeholders
//! (`[EMAIL_1]`) that a [`Restorer`] puts back in the answer, also when the answer arrives in
//! pieces that split a placeholder.

use std::collections::{BTreeMap, BTreeSet};

use super::policy::{Action, Policy};
use super::{Kind, replace, scanner};

/// What DLP did to one request.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Detections acted on, by type and action.
    pub events: BTreeMap<(Kind, Action), u32>,
    /// Types whose action is `block`.
    pub blocked: BTreeSet<Kind>,
    pub masks: Masks,
}

impl Outcome {
    /// How many detections were acted on.
    pub fn count(&self) -> u32 {
        self.events.values().sum()
    }

    /// What was done, for a usage record: `{"email": {"redact": 2}}`; `None` when nothing was.
    pub fn detail(&self) -> Option<String> {
        if self.events.is_empty() {
            return None;
        }
        let mut detail: BTreeMap<&str, BTreeMap<&str, u32>> = BTreeMap::new();
        for ((kind, action), n) in &self.events {
            detail.entry(kind.as_str()).or_default().insert(action.as_str(), *n);
        }
        Some(serde_json::json!(detail).to_string())
    }

    /// Scans `text` and applies `policy`; returns the text to send on, if it changed.
    pub fn guard(&mut self, policy: &Policy, text: &str) -> Option<String> {
        let detections = scanner().scan_keeping(text, |d, value| policy.action(d, value).is_some());
        let mut acted = Vec::new();
        for d in detections {
            let value = &text[d.start..d.end];
            let Some(action) = policy.action(&d, value) else { continue };
            *self.events.entry((d.kind, action)).or_default() += 1;
            match action {
                Action::Block => {
                    self.blocked.insert(d.kind);
                }
                Action::Redact | Action::MaskAndRestore => acted.push((d, action)),
                Action::Log => {}
            }
        }
        if acted.is_empty() {
            return None;
        }
        let spans: Vec<_> = acted.iter().map(|(d, _)| *d).collect();
        let mut actions = acted.iter().map(|(_, a)| *a);
        Some(replace(text, &spans, |d| match actions.next() {
            Some(Action::MaskAndRestore) => self.masks.mask(d.kind, &text[d.start..d.end]),
            _ => format!("[REDACTED:{}]", d.kind.label()),
        }))
    }
}

/// Placeholders sent upstream, and the values they stand for.
#[derive(Debug, Default, Clone)]
pub struct Masks {
    pairs: Vec<(String, String)>,
    /// Text placeholders must not already appear in (the request's).
    taken: String,
}

impl Masks {
    /// The placeholder for `original` (the same one each time it recurs).
    fn mask(&mut self, kind: Kind, original: &str) -> String {
        if let Some((placeholder, _)) = self.pairs.iter().find(|(_, o)| o == original) {
            return placeholder.clone();
        }
        let label = kind.label();
        let mut n = self.pairs.iter().filter(|(p, _)| p.starts_with(&format!("[{label}_"))).count();
        let placeholder = loop {
            n += 1;
            let candidate = format!("[{label}_{n}]");
            if !self.taken.contains(&candidate) {
                break candidate;
            }
        };
        self.pairs.push((placeholder.clone(), original.to_owned()));
        placeholder
    }

    /// Keeps placeholders out of `text` (a user who writes `[EMAIL_1]` gets it back as written).
    pub fn avoid(&mut self, text: &str) {
        self.taken = text.to_owned();
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// `text` with every placeholder replaced by its original.
    pub fn restore(&self, text: &str) -> String {
        self.restore_as(text, false)
    }

    /// The same, for text inside a JSON string (tool-call arguments): originals JSON-escaped.
    pub fn restore_json(&self, text: &str) -> String {
        self.restore_as(text, true)
    }

    fn restore_as(&self, text: &str, json: bool) -> String {
        let mut out = text.to_owned();
        for (placeholder, original) in &self.pairs {
            if out.contains(placeholder.as_str()) {
                let original = if json { escape_json(original) } else { original.clone() };
                out = out.replace(placeholder.as_str(), &original);
            }
        }
        out
    }

    /// A restorer for an answer that arrives in pieces.
    pub fn restorer(&self) -> Restorer {
        Restorer { masks: self.without_taken(), held: String::new(), json: false }
    }

    /// A restorer for JSON text that arrives in pieces (streamed tool-call arguments).
    pub fn json_restorer(&self) -> Restorer {
        Restorer { masks: self.without_taken(), held: String::new(), json: true }
    }

    fn without_taken(&self) -> Masks {
        Masks { pairs: self.pairs.clone(), taken: String::new() }
    }
}

/// `text` as the inside of a JSON string.
fn escape_json(text: &str) -> String {
    let quoted = serde_json::to_string(text).expect("a string serializes");
    quoted[1..quoted.len() - 1].to_owned()
}

/// Restores placeholders in a text that arrives in pieces: the end of a piece that could be the
/// start of a placeholder is held back until the next piece says whether it is one.
#[derive(Debug, Clone)]
pub struct Restorer {
    masks: Masks,
    held: String,
    json: bool,
}

impl Restorer {
    /// The text that can be sent on after `piece`.
    pub fn push(&mut self, piece: &str) -> String {
        self.held.push_str(piece);
        let restored = self.masks.restore_as(&self.held, self.json);
        let keep = self.partial_suffix(&restored);
        let (ready, rest) = restored.split_at(restored.len() - keep);
        self.held = rest.to_owned();
        ready.to_owned()
    }

    /// What is still held back, at the end of the answer.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// The length of the longest end of `text` that begins some placeholder (but is not one).
    fn partial_suffix(&self, text: &str) -> usize {
        let longest = self.masks.pairs.iter().map(|(p, _)| p.len()).max().unwrap_or(0);
        let start = text.len().saturating_sub(longest.saturating_sub(1));
        (start..text.len())
            .filter(|i| text.is_char_boundary(*i))
            .find(|i| self.masks.pairs.iter().any(|(p, _)| p.starts_with(&text[*i..])))
            .map_or(0, |i| text.len() - i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(actions: &[(Kind, Action)]) -> Policy {
        Policy { actions: actions.iter().copied().collect(), ..Policy::default() }
    }

    #[test]
    fn each_action_does_what_it_says_and_is_counted_by_type() {
        let policy = policy(&[
            (Kind::Email, Action::MaskAndRestore),
            (Kind::AwsAccessKey, Action::Redact),
            (Kind::UsSsn, Action::Log),
        ]);
        let mut outcome = Outcome::default();
        let text = "ada@lovelace.dev has AKIAZ7QW3ERT5YUI2OPL and 536-22-1234; ada@lovelace.dev";
        let sent = outcome.guard(&policy, text).unwrap();
        assert_eq!(sent, "[EMAIL_1] has [REDACTED:AWS_ACCESS_KEY] and 536-22-1234; [EMAIL_1]");
        assert_eq!(outcome.events[&(Kind::Email, Action::MaskAndRestore)], 2);
        assert_eq!(outcome.count(), 4);
        assert!(outcome.blocked.is_empty());
        assert_eq!(outcome.masks.restore("Dear [EMAIL_1],"), "Dear ada@lovelace.dev,");
    }

    #[test]
    fn blocking_names_the_type_and_allowlisted_values_pass() {
        let mut p = policy(&[(Kind::Email, Action::Block)]);
        p.allowlist = vec!["support@acme.io".to_owned()];
        let mut outcome = Outcome::default();
        assert_eq!(outcome.guard(&p, "write to support@acme.io"), None);
        assert_eq!(outcome.count(), 0);
        outcome.guard(&p, "or to ada@lovelace.dev");
        assert_eq!(outcome.blocked, BTreeSet::from([Kind::Email]));
    }

    #[test]
    fn a_placeholder_split_across_pieces_is_restored_whole() {
        let mut outcome = Outcome::default();
        let p = policy(&[(Kind::Email, Action::MaskAndRestore)]);
        outcome.guard(&p, "mail ada@lovelace.dev").unwrap();
        let mut restorer = outcome.masks.restorer();
        let pieces = ["Hello [", "EMA", "IL_1", "], and [other] text [EM"];
        let out: String =
            pieces.iter().map(|p| restorer.push(p)).collect::<String>() + &restorer.finish();
        assert_eq!(out, "Hello ada@lovelace.dev, and [other] text [EM");
        // Nothing is held back longer than needed.
        let mut restorer = outcome.masks.restorer();
        assert_eq!(restorer.push("plain [x] text"), "plain [x] text");
    }
}
