//! Data loss prevention: finds secrets (cloud and API keys, tokens, private keys, JWTs, database
//! URLs with passwords, high-entropy assignments) and personal data (email, phone, card numbers,
//! IBANs, US SSNs, IP addresses) in text. A library: the gateway scans prompts with it, and the
//! knowledge server will scan the code it returns.
//!
//! One pass decides which detectors fire: every pattern is compiled into one `RegexSet`, so the
//! text is read once however many detectors there are; only the detectors that matched then look
//! for their spans, and each candidate passes its detector's check (checksum, entropy, known test
//! values) before it counts. Overlapping detections keep the most specific one.

mod detectors;
pub mod guard;
mod phone;
pub mod policy;

use std::sync::LazyLock;

use regex::{Regex, RegexSet};
use serde::{Deserialize, Serialize};

use detectors::{Context, DETECTORS};

/// What was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    AwsAccessKey,
    AwsSecretKey,
    GithubToken,
    GitlabToken,
    AnthropicKey,
    OpenaiKey,
    HuggingfaceToken,
    SlackToken,
    StripeKey,
    TwilioKey,
    SendgridKey,
    PrivateKey,
    Jwt,
    DatabaseUrl,
    GenericSecret,
    Email,
    Phone,
    CreditCard,
    Iban,
    UsSsn,
    Ipv4,
    Ipv6,
}

impl Kind {
    /// Every kind, in detector order.
    pub const ALL: [Kind; 22] = [
        Kind::AwsAccessKey,
        Kind::AwsSecretKey,
        Kind::GithubToken,
        Kind::GitlabToken,
        Kind::AnthropicKey,
        Kind::OpenaiKey,
        Kind::HuggingfaceToken,
        Kind::SlackToken,
        Kind::StripeKey,
        Kind::TwilioKey,
        Kind::SendgridKey,
        Kind::PrivateKey,
        Kind::Jwt,
        Kind::DatabaseUrl,
        Kind::GenericSecret,
        Kind::Email,
        Kind::Phone,
        Kind::CreditCard,
        Kind::Iban,
        Kind::UsSsn,
        Kind::Ipv4,
        Kind::Ipv6,
    ];

    /// The name in configs, JSON and the CLI: `aws_access_key`, `email`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::AwsAccessKey => "aws_access_key",
            Kind::AwsSecretKey => "aws_secret_key",
            Kind::GithubToken => "github_token",
            Kind::GitlabToken => "gitlab_token",
            Kind::AnthropicKey => "anthropic_key",
            Kind::OpenaiKey => "openai_key",
            Kind::HuggingfaceToken => "huggingface_token",
            Kind::SlackToken => "slack_token",
            Kind::StripeKey => "stripe_key",
            Kind::TwilioKey => "twilio_key",
            Kind::SendgridKey => "sendgrid_key",
            Kind::PrivateKey => "private_key",
            Kind::Jwt => "jwt",
            Kind::DatabaseUrl => "database_url",
            Kind::GenericSecret => "generic_secret",
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::CreditCard => "credit_card",
            Kind::Iban => "iban",
            Kind::UsSsn => "us_ssn",
            Kind::Ipv4 => "ipv4",
            Kind::Ipv6 => "ipv6",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// A secret (as opposed to personal data).
    pub fn is_secret(self) -> bool {
        self <= Kind::GenericSecret
    }

    /// How redacted text names it: `[REDACTED:EMAIL]`.
    pub fn label(self) -> String {
        self.as_str().to_ascii_uppercase()
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding: its kind, its byte span in the text, and how sure the detector is (0 to 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Detection {
    #[serde(rename = "type")]
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
    pub confidence: f32,
}

/// The compiled detectors. Build once ([`scanner`]) and share.
#[derive(Debug)]
pub struct Scanner {
    set: RegexSet,
    patterns: Vec<Regex>,
}

/// The process's scanner, compiled on first use.
pub fn scanner() -> &'static Scanner {
    static SCANNER: LazyLock<Scanner> = LazyLock::new(Scanner::new);
    &SCANNER
}

impl Scanner {
    fn new() -> Scanner {
        let patterns: Vec<&str> = DETECTORS.iter().map(|d| d.pattern).collect();
        Scanner {
            set: RegexSet::new(&patterns).expect("the detector patterns compile"),
            patterns: patterns.iter().map(|p| Regex::new(p).expect("compiles")).collect(),
        }
    }

    /// Every detection in `text`, in order, none overlapping.
    pub fn scan(&self, text: &str) -> Vec<Detection> {
        self.scan_keeping(text, |_, _| true)
    }

    /// The detections that `keep` (given each one and its value) accepts, in order, none
    /// overlapping: a detection a policy ignores cannot hide a broader one it would act on.
    pub fn scan_keeping(
        &self,
        text: &str,
        keep: impl Fn(&Detection, &str) -> bool,
    ) -> Vec<Detection> {
        let mut found = Vec::new();
        for index in self.set.matches(text).iter() {
            let detector = &DETECTORS[index];
            for captures in self.patterns[index].captures_iter(text) {
                let Some(value) = captures.get(detector.group) else { continue };
                let context =
                    Context { text, value: value.as_str(), start: value.start(), end: value.end() };
                if let Some(confidence) = (detector.check)(&context) {
                    let detection = Detection {
                        kind: detector.kind,
                        start: value.start(),
                        end: value.end(),
                        confidence,
                    };
                    if keep(&detection, value.as_str()) {
                        found.push(detection);
                    }
                }
            }
        }
        resolve_overlaps(found)
    }
}

/// Keeps, of overlapping detections, the most specific (earlier in [`Kind`]), then the longest.
fn resolve_overlaps(mut found: Vec<Detection>) -> Vec<Detection> {
    // Secrets first, in the order of `Kind`; then personal data, the longest first (an IBAN over
    // the card number its digits happen to hold), then the surest.
    found.sort_by(|a, b| {
        let longer = (b.end - b.start).cmp(&(a.end - a.start));
        let surer = b.confidence.total_cmp(&a.confidence);
        match (a.kind.is_secret(), b.kind.is_secret()) {
            (true, true) => a.kind.cmp(&b.kind).then(longer),
            (true, false) => std::cmp::Ordering::Less,
            (false, true) => std::cmp::Ordering::Greater,
            (false, false) => longer.then(surer).then(a.kind.cmp(&b.kind)),
        }
    });
    // The kept spans never overlap, so a new one overlaps some kept span only if it overlaps the
    // one starting last before it or the one starting first at or after it: a lookup each, so a
    // text of many detections is not quadratic.
    let mut kept: std::collections::BTreeMap<usize, Detection> = Default::default();
    for d in found {
        let before = kept.range(..d.start).next_back().is_some_and(|(_, k)| k.end > d.start);
        let after = kept.range(d.start..).next().is_some_and(|(start, _)| *start < d.end);
        if !before && !after {
            kept.insert(d.start, d);
        }
    }
    kept.into_values().collect()
}

/// `text` with each detection replaced by `replacement(detection)`.
pub fn replace(
    text: &str,
    detections: &[Detection],
    mut replacement: impl FnMut(&Detection) -> String,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for d in detections {
        out.push_str(&text[at..d.start]);
        out.push_str(&replacement(d));
        at = d.end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(Kind, &str)> {
        scanner().scan(text).iter().map(|d| (d.kind, &text[d.start..d.end])).collect()
    }

    #[test]
    fn every_kind_has_its_detector_in_order() {
        let order: Vec<Kind> = DETECTORS.iter().map(|d| d.kind).collect();
        assert_eq!(order, Kind::ALL);
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
    }

    #[test]
    fn finds_secrets_and_personal_data_with_their_spans() {
        let text = "mail ada@lovelace.dev, key AKIAZ7QW3ERT5YUI2OPL and ssn 536-22-1234";
        assert_eq!(
            kinds(text),
            [
                (Kind::Email, "ada@lovelace.dev"),
                (Kind::AwsAccessKey, "AKIAZ7QW3ERT5YUI2OPL"),
                (Kind::UsSsn, "536-22-1234")
            ]
        );
    }

    #[test]
    fn the_most_specific_detection_wins_an_overlap() {
        let text = "OPENAI_API_KEY=sk-proj-Zq81XbT3BlbkFJc7Yw2mN4pL0aRv9sKd";
        assert_eq!(kinds(text), [(Kind::OpenaiKey, "sk-proj-Zq81XbT3BlbkFJc7Yw2mN4pL0aRv9sKd")]);
    }

    #[test]
    fn a_rust_path_through_a_word_like_token_is_not_a_secret() {
        assert_eq!(kinds("use lance_tokenizer::TokenStream;"), []);
        assert_eq!(
            kinds("token: Zq81XbT3BlbkFJc7Yw2"),
            [(Kind::GenericSecret, "Zq81XbT3BlbkFJc7Yw2")]
        );
    }

    #[test]
    fn redaction_replaces_each_span() {
        let text = "write to ada@lovelace.dev today";
        let found = scanner().scan(text);
        let redacted = replace(text, &found, |d| format!("[REDACTED:{}]", d.kind.label()));
        assert_eq!(redacted, "write to [REDACTED:EMAIL] today");
    }
}
