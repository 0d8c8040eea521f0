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
    pub(super) fn before(&self) -> Option<char> {
        self.text[..self.start].chars().next_back()
    }

    pub(super) fn after(&self) -> Option<char> {
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
    // A value starting with `:` after a `:` separator is the rest of a path:
    // `use lance_tokenizer::TokenStream` reads as `tokenizer` `:` `:TokenStream`.
    let syntax = value.contains("::")
        || value.starts_with(':')
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

/// The issuer ranges of the card networks and the lengths each issues: (lowest and highest
/// prefix, of as many digits; lengths). From the networks' published ranges; `0604`
/// and `6390` are Maestro prefixes of older tables that cards still carry.
const ISSUERS: &[(&str, &str, &[usize])] = &[
    ("4", "4", &[13, 16, 19]),                           // Visa
    ("51", "55", &[16]),                                 // Mastercard
    ("2221", "2720", &[16]),                             // Mastercard
    ("34", "34", &[15]),                                 // American Express
    ("37", "37", &[15]),                                 // American Express
    ("6011", "6011", &[16, 17, 18, 19]),                 // Discover
    ("644", "649", &[16, 17, 18, 19]),                   // Discover
    ("65", "65", &[16, 17, 18, 19]),                     // Discover, RuPay
    ("62", "62", &[16, 17, 18, 19]),                     // UnionPay
    ("300", "305", &[14, 16, 17, 18, 19]),               // Diners Club
    ("36", "36", &[14, 15, 16, 17, 18, 19]),             // Diners Club
    ("38", "39", &[14, 16, 17, 18, 19]),                 // Diners Club
    ("3095", "3095", &[14, 16, 17, 18, 19]),             // Diners Club
    ("35", "35", &[16, 17, 18, 19]),                     // JCB
    ("3088", "3094", &[16]),                             // JCB
    ("3096", "3102", &[16]),                             // JCB
    ("3112", "3120", &[16]),                             // JCB
    ("3158", "3159", &[16]),                             // JCB
    ("3337", "3349", &[16]),                             // JCB
    ("2131", "2131", &[15]),                             // JCB
    ("1800", "1800", &[15]),                             // JCB
    ("5018", "5018", &[12, 13, 14, 15, 16, 17, 18, 19]), // Maestro
    ("5020", "5020", &[12, 13, 14, 15, 16, 17, 18, 19]), // Maestro
    ("5038", "5038", &[12, 13, 14, 15, 16, 17, 18, 19]), // Maestro
    ("5893", "5893", &[12, 13, 14, 15, 16, 17, 18, 19]), // Maestro
    ("56", "58", &[12, 13, 14, 15, 16, 17, 18, 19]),     // Maestro
    ("6304", "6304", &[12, 13, 14, 15, 16, 17, 18, 19]), // Maestro
    ("6759", "6759", &[12, 13, 14, 15, 16, 17, 18, 19]), // Maestro
    ("6761", "6763", &[12, 13, 14, 15, 16, 17, 18, 19]), // Maestro
    ("0604", "0604", &[12, 13, 14, 15, 16, 17, 18, 19]), // Maestro
    ("6390", "6390", &[12, 13, 14, 15, 16, 17, 18, 19]), // Maestro
    ("2200", "2204", &[16, 17, 18, 19]),                 // Mir
    ("60", "60", &[16]),                                 // RuPay
    ("81", "82", &[16]),                                 // RuPay
    ("508", "508", &[16]),                               // RuPay
    ("9792", "9792", &[16]),                             // Troy
    ("506099", "506198", &[16, 18, 19]),                 // Verve
    ("650002", "650027", &[16, 18, 19]),                 // Verve
    ("1", "1", &[15]),                                   // UATP
];

/// Words that say a number nearby is a card's.
const CARD_WORDS: &[&str] = &[
    "card",
    "cc",
    "pan",
    "visa",
    "mastercard",
    "maestro",
    "amex",
    "diners",
    "jcb",
    "discover",
    "payment",
    "credit",
    "debit",
    "karte",
    "tarjeta",
    "carte",
    "cartão",
    "carta",
    "kaart",
];

/// Whether a network issues cards of this number's prefix and length.
fn issued(number: &str) -> bool {
    ISSUERS.iter().any(|(low, high, lengths)| {
        let prefix = number.get(..low.len()).unwrap_or_default();
        (*low..=*high).contains(&prefix) && lengths.contains(&number.len())
    })
}

fn credit_card(c: &Context<'_>) -> Option<f32> {
    let number: String = c.value.chars().filter(char::is_ascii_digit).collect();
    let digits: Vec<u8> = number.bytes().map(|b| b - b'0').collect();
    if !luhn(&digits) || TEST_CARDS.contains(&number.as_str()) || !issued(&number) {
        return None;
    }
    if digits.iter().all(|d| *d == digits[0]) {
        return None;
    }
    // Grouped as cards are printed: one kind of separator, groups of three to six digits.
    let separators: Vec<char> = c.value.chars().filter(|ch| !ch.is_ascii_digit()).collect();
    let groups: Vec<usize> = c.value.split([' ', '-']).map(str::len).collect();
    let grouped = !separators.is_empty()
        && separators.iter().all(|s| *s == separators[0])
        && groups.iter().all(|g| (3..=6).contains(g));
    if !separators.is_empty() && !grouped {
        return None;
    }
    // Twelve or thirteen digits in a row are as often an EAN or an id: only near a card's name.
    if number.len() <= 13 && !grouped && !near(c, CARD_WORDS) {
        return None;
    }
    Some(0.9)
}

/// Whether one of `words` stands within 48 bytes of the match, either side.
pub(super) fn near(c: &Context<'_>, words: &[&str]) -> bool {
    const WINDOW: usize = 48;
    let mut from = c.start.saturating_sub(WINDOW);
    while !c.text.is_char_boundary(from) {
        from += 1;
    }
    let mut to = (c.end + WINDOW).min(c.text.len());
    while !c.text.is_char_boundary(to) {
        to -= 1;
    }
    let around = format!("{} {}", &c.text[from..c.start], &c.text[c.end..to]).to_lowercase();
    // At the start of a word: `tel`, not the `tel` of `hotel`.
    words.iter().any(|word| {
        around
            .match_indices(word)
            .any(|(at, _)| !around[..at].chars().next_back().is_some_and(|ch| ch.is_alphabetic()))
    })
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
        pattern: super::phone::PATTERN,
        group: 1,
        check: super::phone::check,
    },
    Detector {
        kind: Kind::CreditCard,
        pattern: r"(?-u:\b)([0-9](?:[ \-]?[0-9]){11,18})(?-u:\b)",
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
    fn every_network_s_lengths_are_cards_and_other_lengths_are_not() {
        let cards = |text: &str| {
            let found = super::super::scanner().scan(text);
            found
                .iter()
                .filter(|d| d.kind == Kind::CreditCard)
                .map(|d| text[d.start..d.end].to_owned())
                .collect::<Vec<_>>()
        };
        for number in [
            "6759 5260 1812",          // Maestro, 12 digits
            "3056 526018 1595",        // Diners Club, 14
            "2131 526018 15907",       // JCB, 15
            "3782 526018 15906",       // American Express, 15
            "6011 5260 1815 9083 011", // Discover, 19
            "2200 5260 1815 9085",     // Mir, 16
        ] {
            assert_eq!(cards(&format!("paid with {number}")), [number]);
        }
        // Twelve or thirteen digits in a row are a card number only when named one.
        assert_eq!(cards("card: 675952601812"), ["675952601812"]);
        assert!(cards("EAN 4526018159087").is_empty());
        // A Luhn-valid number no network issues at that length.
        assert!(cards("paid with 3782 5260 1815 9063").is_empty());
    }

    #[test]
    fn entropy_tells_random_from_repetitive() {
        assert!(entropy("aaaaaaaaaaaa") < 0.1);
        assert!(entropy("q8Zr2LmX9vTb4KpW") > 3.5);
    }
}
