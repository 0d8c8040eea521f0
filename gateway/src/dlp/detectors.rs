//! The detectors: one pattern each, with a check that turns a pattern match into a detection (or
//! refuses it). Patterns are written here, for this gateway: formats as their issuers document
//! them, with checksums (Luhn, IBAN mod-97) and entropy where a format alone would be too loose.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::Kind;

/// A pattern, the capture group holding the sensitive value (0: the whole match), and a check
/// that returns the detection's confidence, or `None` when the match is not one after all.
pub(super) struct Detector {
    pub kind: Kind,
    pub pattern: &'static str,
    pub group: usize,
    pub check: fn(&Context<'_>) -> Option<f32>,
}

/// A match and what surrounds it.
pub(super) struct Context<'t> {
    pub text: &'t str,
    pub value: &'t str,
    pub start: usize,
    pub end: usize,
}

impl Context<'_> {
    fn before(&self) -> Option<char> {
        self.text[..self.start].chars().next_back()
    }

    fn after(&self) -> Option<char> {
        self.text[self.end..].chars().next()
    }
}

fn sure(_: &Context<'_>) -> Option<f32> {
    Some(0.95)
}

/// Documentation's example values (AWS's own `…EXAMPLE` keys, placeholders, a counted-out
/// `0123456789abcdef`) are not secrets: a random key almost never holds such a run.
fn not_an_example(value: &str) -> bool {
    let upper = value.to_ascii_uppercase();
    !["EXAMPLE", "XXXXXXXX", "YOUR", "1234567890", "0123456789", "ABCDEFGH"]
        .iter()
        .any(|fake| upper.contains(fake))
}

/// Shannon entropy in bits per character.
pub(super) fn entropy(value: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in value.bytes() {
        counts[usize::from(b)] += 1;
    }
    let n = value.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / n;
            -p * p.log2()
        })
        .sum()
}

fn placeholder(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    value.starts_with(['$', '<', '{', '%', '*'])
        || value.ends_with(['>', '}'])
        || [
            "password",
            "passwd",
            "changeme",
            "secret",
            "example",
            "placeholder",
            "redacted",
            "xxx",
            "none",
            "null",
            "undefined",
            "true",
            "false",
            "your",
        ]
        .iter()
        .any(|p| lower.contains(p))
}

/// An expression rather than a value: a call, a path, an index, a closure, or an identifier or
/// dotted name without a digit (`password = String::new()`, `token: config.git_token`).
fn code(value: &str) -> bool {
    let syntax = value.contains("::")
        || value.contains(['(', ')', '[', ']', '{', '}', '<', '>', '|'])
        // A URL (one with a password is a `database_url`) or a file path.
        || value.contains("://")
        || (value.contains('/') && !value.bytes().any(|b| b.is_ascii_digit()));
    let name = !value.bytes().any(|b| b.is_ascii_digit())
        && value.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'.');
    syntax || name
}

/// The Luhn checksum of a card number's digits.
pub(super) fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(*d);
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Card numbers that payment processors publish for testing: in docs, not in wallets.
const TEST_CARDS: &[&str] = &[
    "4242424242424242",
    "4000056655665556",
    "4111111111111111",
    "4012888888881881",
    "4222222222222",
    "5555555555554444",
    "5200828282828210",
    "5105105105105100",
    "2223003122003222",
    "378282246310005",
    "371449635398431",
    "6011111111111117",
    "6011000990139424",
    "3056930009020004",
    "36227206271667",
    "3566002020360505",
    "6200000000000005",
];

fn credit_card(c: &Context<'_>) -> Option<f32> {
    let digits: Vec<u8> = c.value.bytes().filter(u8::is_ascii_digit).map(|b| b - b'0').collect();
    if !(13..=19).contains(&digits.len()) || !luhn(&digits) {
        return None;
    }
    let number: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
    if TEST_CARDS.contains(&number.as_str()) || digits.iter().all(|d| *d == digits[0]) {
        return None;
    }
    // The issuer prefixes of the major networks.
    let prefix = |p: &str| number.starts_with(p);
    let known = prefix("4")
        || ("51".."56").contains(&&number[..2])
        || ("2221".."2721").contains(&&number[..4])
        || prefix("34")
        || prefix("37")
        || prefix("6011")
        || prefix("65")
        || prefix("35")
        || prefix("36")
        || prefix("38")
        || prefix("300")
        || prefix("62");
    known.then_some(0.9)
}

fn iban(c: &Context<'_>) -> Option<f32> {
    let compact: String = c.value.chars().filter(|ch| !ch.is_whitespace()).collect();
    if !compact.is_ascii() || !(15..=34).contains(&compact.len()) {
        return None;
    }
    // Move the country code and check digits to the end; letters count as 10..35; mod 97 = 1.
    let rearranged = compact[4..].chars().chain(compact[..4].chars());
    let mut remainder: u32 = 0;
    for ch in rearranged {
        let value = ch.to_digit(36)?;
        let digits = if value >= 10 { 100 } else { 10 };
        remainder = (remainder * digits + value) % 97;
    }
    (remainder == 1).then_some(0.95)
}

fn us_ssn(c: &Context<'_>) -> Option<f32> {
    let digits: String = c.value.chars().filter(char::is_ascii_digit).collect();
    if digits.len() != 9 {
        return None;
    }
    let (area, group, serial) = (&digits[..3], &digits[3..5], &digits[5..]);
    let invalid = area == "000" || area == "666" || area.starts_with('9') || group == "00";
    // The SSA's famous sample and the most common placeholder.
    let sample = ["078051120", "123456789", "219099999"].contains(&digits.as_str());
    if invalid || serial == "0000" || sample {
        return None;
    }
    Some(0.8)
}

fn email(c: &Context<'_>) -> Option<f32> {
    let (local, domain) = c.value.rsplit_once('@')?;
    let tld = domain.rsplit('.').next()?.to_ascii_lowercase();
    // `icon@2x.png` names a file; `git@github.com` is an SSH remote.
    let file = ["png", "jpg", "jpeg", "gif", "svg", "webp", "js", "css", "ts", "py", "rs"];
    if file.contains(&tld.as_str()) || local == "git" {
        return None;
    }
    Some(0.9)
}

fn phone(c: &Context<'_>) -> Option<f32> {
    let digits = c.value.bytes().filter(u8::is_ascii_digit).count();
    if c.after().is_some_and(|ch| ch.is_ascii_digit() || ch == '-')
        || c.before().is_some_and(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '.')
    {
        return None;
    }
    if c.value.starts_with('+') {
        (8..=15).contains(&digits).then_some(0.8)
    } else {
        (digits == 10).then_some(0.7)
    }
}

fn ipv4(c: &Context<'_>) -> Option<f32> {
    let address: Ipv4Addr = c.value.parse().ok()?;
    // A longer dotted run is a version or an OID; `v1.2.3.4` is a version.
    let rest = &c.text[c.end..];
    let continues = rest.starts_with('.') && rest[1..].starts_with(|ch: char| ch.is_ascii_digit());
    let version = c.before().is_some_and(|ch| ch == '.' || ch == 'v' || ch == 'V');
    if continues || version {
        return None;
    }
    // Loopback and the like identify nobody.
    if address.is_unspecified() || address.is_broadcast() || address.is_loopback() {
        return None;
    }
    Some(if address.is_private() { 0.6 } else { 0.85 })
}

fn ipv6(c: &Context<'_>) -> Option<f32> {
    let address: Ipv6Addr = c.value.parse().ok()?;
    let hex_digits = c.value.chars().filter(char::is_ascii_hexdigit).count();
    // In code, `lancedb::arrow`, `Type::Default` and `Dec::add` have hex letters around a `::`;
    // an address nearly always has a digit.
    let word =
        |ch: Option<char>| ch.is_some_and(|ch| ch.is_alphanumeric() || ch == '_' || ch == ':');
    if hex_digits < 4
        || !c.value.bytes().any(|b| b.is_ascii_digit())
        || address.is_unspecified()
        || address.is_loopback()
        || word(c.before())
        || word(c.after())
    {
        return None;
    }
    Some(0.85)
}

fn openai_key(c: &Context<'_>) -> Option<f32> {
    let body = c.value.trim_start_matches("sk-");
    if !not_an_example(c.value) || !body.bytes().any(|b| b.is_ascii_digit()) || entropy(body) < 3.5
    {
        return None;
    }
    // Every OpenAI key carries base64 of "OpenAI" in its middle.
    Some(if c.value.contains("T3BlbkFJ") { 0.98 } else { 0.85 })
}

fn high_entropy(c: &Context<'_>) -> Option<f32> {
    (not_an_example(c.value) && entropy(c.value) >= 3.0).then_some(0.9)
}

fn database_url(c: &Context<'_>) -> Option<f32> {
    let password = c.value.split_once("://")?.1.rsplit_once('@')?.0.split_once(':')?.1;
    if placeholder(password) || password.len() < 3 {
        return None;
    }
    Some(0.9)
}

fn generic_secret(c: &Context<'_>) -> Option<f32> {
    let value = c.value;
    let uuid = value.len() == 36 && value.matches('-').count() == 4;
    if placeholder(value) || uuid || !not_an_example(value) || code(value) {
        return None;
    }
    let classes = [
        value.bytes().any(|b| b.is_ascii_lowercase()),
        value.bytes().any(|b| b.is_ascii_uppercase()),
        value.bytes().any(|b| b.is_ascii_digit()),
        value.bytes().any(|b| !b.is_ascii_alphanumeric()),
    ];
    let classes = classes.iter().filter(|c| **c).count();
    let bits = entropy(value);
    if value.len() < 10 || bits < 3.3 || classes < 2 {
        return None;
    }
    Some(if bits >= 4.0 { 0.8 } else { 0.6 })
}

/// Every detector, in the order of [`Kind`]: specific token formats first, then the generic
/// assignment, then personal data.
pub(super) const DETECTORS: &[Detector] = &[
    Detector {
        kind: Kind::AwsAccessKey,
        pattern: r"(?-u:\b)((?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})(?-u:\b)",
        group: 1,
        check: |c| not_an_example(c.value).then_some(0.95),
    },
    Detector {
        kind: Kind::AwsSecretKey,
        pattern: r#"(?i)aws_?(?:secret)?_?(?:access)?_?key["']?\s*(?::|=|:=|=>)\s*["']?([A-Za-z0-9/+=]{40})(?:[^A-Za-z0-9/+=]|$)"#,
        group: 1,
        check: high_entropy,
    },
    Detector {
        kind: Kind::GithubToken,
        pattern: r"(?-u:\b)((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{82})(?-u:\b)",
        group: 1,
        check: sure,
    },
    Detector {
        kind: Kind::GitlabToken,
        pattern: r"(?-u:\b)(glpat-[A-Za-z0-9_\-]{20,})",
        group: 1,
        check: sure,
    },
    Detector {
        kind: Kind::AnthropicKey,
        pattern: r"(?-u:\b)(sk-ant-[a-z]+[0-9]{2}-[A-Za-z0-9_\-]{32,})",
        group: 1,
        check: |c| not_an_example(c.value).then_some(0.97),
    },
    Detector {
        kind: Kind::OpenaiKey,
        pattern: r"(?-u:\b)(sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,})",
        group: 1,
        check: openai_key,
    },
    Detector {
        kind: Kind::HuggingfaceToken,
        pattern: r"(?-u:\b)(hf_[A-Za-z]{34})(?-u:\b)",
        group: 1,
        check: |c| high_entropy(c).map(|_| 0.9),
    },
    Detector {
        kind: Kind::SlackToken,
        pattern: r"(?-u:\b)(xox[abposr]-[0-9A-Za-z]{8,}-[0-9A-Za-z-]{8,}|https://hooks\.slack\.com/services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{20,})",
        group: 1,
        check: sure,
    },
    Detector {
        kind: Kind::StripeKey,
        pattern: r"(?-u:\b)((?:sk|rk)_(?:live|test)_[0-9A-Za-z]{24,})(?-u:\b)",
        group: 1,
        check: |c| Some(if c.value.contains("_live_") { 0.97 } else { 0.7 }),
    },
    Detector {
        kind: Kind::TwilioKey,
        pattern: r"(?-u:\b)(SK[0-9a-f]{32})(?-u:\b)",
        group: 1,
        check: |c| high_entropy(c).map(|_| 0.85),
    },
    Detector {
        kind: Kind::SendgridKey,
        pattern: r"(?-u:\b)(SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43})",
        group: 1,
        check: sure,
    },
    Detector {
        kind: Kind::PrivateKey,
        // The whole block, or, cut short (truncated tool output), the key material that follows.
        pattern: r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s\\]*)",
        group: 0,
        check: |_| Some(0.99),
    },
    Detector {
        kind: Kind::Jwt,
        pattern: r"(?-u:\b)(eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{16,})",
        group: 1,
        check: |_| Some(0.9),
    },
    Detector {
        kind: Kind::DatabaseUrl,
        pattern: r"(?-u:\b)((?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver|clickhouse)://[^\s:/@]+:[^\s@/]+@[^\s'\x22<>]*[^\s'\x22<>.,;:)])",
        group: 1,
        check: database_url,
    },
    Detector {
        kind: Kind::GenericSecret,
        pattern: r#"(?i)(?:secret|passwd|password|pwd|token|api[_-]?key|apikey|access[_-]?key|auth[_-]?key|private[_-]?key|client[_-]?secret|credentials?)[a-z0-9_.\-]*["']?\s*(?::|=|:=|=>)\s*["']?([^\s"'`,;]{10,})"#,
        group: 1,
        check: generic_secret,
    },
    Detector {
        kind: Kind::Email,
        pattern: r"(?-u:\b)([A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,})(?-u:\b)",
        group: 1,
        check: email,
    },
    Detector {
        kind: Kind::Phone,
        pattern: r"(\+[1-9][0-9]{0,2}[\s.\-]?(?:\([0-9]{1,4}\)[\s.\-]?)?[0-9]{1,4}(?:[\s.\-]?[0-9]{2,4}){1,4}|\([0-9]{3}\)\s?[0-9]{3}[\s.\-][0-9]{4}|(?-u:\b)[0-9]{3}[.\-][0-9]{3}[.\-][0-9]{4})(?-u:\b)",
        group: 1,
        check: phone,
    },
    Detector {
        kind: Kind::CreditCard,
        pattern: r"(?-u:\b)([0-9]{4}(?:[ \-]?[0-9]{4}){2}[ \-]?[0-9]{1,7}|[0-9]{4}[ \-]?[0-9]{6}[ \-]?[0-9]{4,5})(?-u:\b)",
        group: 1,
        check: credit_card,
    },
    Detector {
        kind: Kind::Iban,
        pattern: r"(?-u:\b)([A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?)(?-u:\b)",
        group: 1,
        check: iban,
    },
    Detector {
        kind: Kind::UsSsn,
        pattern: r"(?-u:\b)([0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4})(?-u:\b)",
        group: 1,
        check: us_ssn,
    },
    Detector {
        kind: Kind::Ipv4,
        pattern: r"(?-u:\b)((?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3})(?-u:\b)",
        group: 1,
        check: ipv4,
    },
    Detector {
        kind: Kind::Ipv6,
        pattern: r"(?i)(?:^|[^0-9a-f:])((?:[0-9a-f]{1,4}:){1,7}(?:(?::[0-9a-f]{1,4}){1,6}|[0-9a-f]{1,4}|:)|::(?:[0-9a-f]{1,4}:){0,6}[0-9a-f]{1,4})",
        group: 1,
        check: ipv6,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_and_mod97_accept_valid_numbers_only() {
        let digits = |s: &str| s.bytes().map(|b| b - b'0').collect::<Vec<_>>();
        assert!(luhn(&digits("4539578763621486")));
        assert!(!luhn(&digits("4539578763621487")));
        let ctx = |v: &'static str| Context { text: v, value: v, start: 0, end: v.len() };
        assert!(iban(&ctx("GB82 WEST 1234 5698 7654 32")).is_some());
        assert!(iban(&ctx("GB82 WEST 1234 5698 7654 33")).is_none());
        assert!(iban(&ctx("DE89370400440532013000")).is_some());
    }

    #[test]
    fn entropy_tells_random_from_repetitive() {
        assert!(entropy("aaaaaaaaaaaa") < 0.1);
        assert!(entropy("q8Zr2LmX9vTb4KpW") > 3.5);
    }
}
