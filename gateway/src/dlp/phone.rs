//! Phone numbers, as people write them in any country: a loose pattern finds runs of digits with
//! the separators numbers are written with (spaces, dots, dashes, slashes, brackets, `(0)`), and
//! libphonenumber's metadata (the `phonenumber` crate) judges them. A number written with its
//! country code (`+33 1 42 68 53 00`, `0049 30 901820`) must have a country code that exists and
//! a length that country's numbers have. A national number (`(07652) 01626 009`, `8 (727)
//! 562-8252`) must be written the way phone numbers are — a trunk prefix, an area code in
//! brackets, the North American grouping — or stand near a word that names a phone, and it must
//! have a length some country's numbers have. Dates, versions, ISBNs, decimals, year ranges and
//! dotted quads are not phone numbers.

use std::collections::HashMap;
use std::sync::LazyLock;

use phonenumber::metadata::DATABASE;

use super::detectors::{Context, near};

/// A candidate: an optional `+` or opening bracket, then digits and separators, ending in a digit.
pub(super) const PATTERN: &str = r"(\(?\+?\(?[0-9][0-9 ()./\-]{4,26}[0-9])";

/// Words that say a number nearby is a phone's, in the languages AgentWatch's users write.
const CONTEXT: &[&str] = &[
    "phone",
    "tel",
    "mobile",
    "mob.",
    "cell",
    "fax",
    "call",
    "contact",
    "line",
    "whatsapp",
    "sms",
    "dial",
    "telefon",
    "téléphone",
    "portable",
    "teléfono",
    "móvil",
    "telefone",
    "celular",
    "telefono",
    "cellulare",
    "telefoon",
    "puhelin",
    "τηλ",
    "тел",
    "電話",
    "电话",
    "手机",
    "전화",
    "โทร",
];

pub(super) fn check(c: &Context<'_>) -> Option<f32> {
    let value = c.value;
    // Part of a longer token (an id, an amount, a path, a version); an extension (`x123`,
    // `ext. 12`) may follow.
    let glued_before = |ch: char| ch.is_alphanumeric() || "-./_+#$€£".contains(ch);
    let rest = &c.text[c.end..];
    let extension = ["x", "X", " x", " ext", " ext.", " ext ", ";ext="].iter().any(|e| {
        rest.strip_prefix(e)
            .is_some_and(|r| r.trim_start().starts_with(|ch: char| ch.is_ascii_digit()))
    });
    let glued_after = |ch: char| ch.is_alphanumeric() || "-_%".contains(ch);
    if c.before().is_some_and(glued_before) || (c.after().is_some_and(glued_after) && !extension) {
        return None;
    }
    let groups: Vec<&str> =
        value.split(|ch: char| !ch.is_ascii_digit()).filter(|g| !g.is_empty()).collect();
    if not_a_phone(value, &groups) {
        return None;
    }
    // `(+30) 6958 048338`: the country code in brackets.
    let value = value.trim_start_matches('(');
    let international = value.starts_with('+')
        || (value.starts_with("00") && value.as_bytes().get(2).is_some_and(|b| *b != b'0'));
    if !international {
        return national_number(c, &groups);
    }
    // `0049301234567`: a run of digits after `00` is as often an id; written so, it is a phone
    // number only near a word that names one.
    if !value.starts_with('+') && groups.len() == 1 && !near(c, CONTEXT) {
        return None;
    }
    international_number(value)
}

/// Shapes that hold digits and separators but are something else.
fn not_a_phone(value: &str, groups: &[&str]) -> bool {
    let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    let separators: String =
        value.chars().filter(|ch| !ch.is_ascii_digit() && *ch != '+').collect();
    let year = |g: &str| g.len() == 4 && (g.starts_with("19") || g.starts_with("20"));
    // 2024-01-15, 15.01.2024, 01/15/24: a date; 1990-2020: a range of years.
    let date_separators: Vec<char> = separators.chars().take(2).collect();
    let dated = matches!(date_separators.as_slice(), [a, b] if a == b && *a != ' ');
    let date = dated && matches!(lengths.as_slice(), [4, 1 | 2, 1 | 2, ..] | [1 | 2, 1 | 2, 2 | 4]);
    // 078-05-1120: a US social security number.
    let ssn = lengths == [3, 2, 4] && separators == "--";
    let years = lengths == [4, 4] && groups.iter().all(|g| year(g));
    // An ISBN or a list ends in a single digit; no phone number does.
    let single_last = groups.len() > 1 && lengths.last() == Some(&1);
    // 3.14159265 or 1234.5678: a decimal; 10.0.0.1 or 1.2.3.4: an address or a version.
    let decimal = separators == ".";
    let dotted = separators.chars().all(|ch| ch == '.') && lengths.iter().all(|l| *l <= 3);
    date || ssn || years || single_last || decimal || dotted
}

/// `+CC …` or `00CC …`: the country code must exist and the rest must have a length that
/// country's numbers have (libphonenumber's "possible number").
fn international_number(value: &str) -> Option<f32> {
    // `+44 (0)20 …`: the trunk prefix some write after the country code is not dialled.
    let written = value.replace("(0)", "");
    let digits: String = written.chars().filter(char::is_ascii_digit).collect();
    let digits = match written.starts_with('+') {
        true => digits.as_str(),
        false => digits.strip_prefix("00")?,
    };
    if !(7..=15).contains(&digits.len()) {
        return None;
    }
    // Country codes are prefix-free: at most one of the first one, two or three digits is one.
    let (lengths, national) = (1..=3).find_map(|n| {
        let code: u16 = digits.get(..n)?.parse().ok()?;
        PLANS.by_code.get(&code).map(|lengths| (*lengths, &digits[n..]))
    })?;
    let fits = |n: usize| n < 32 && lengths & (1 << n) != 0;
    // `+44 020 …`: a trunk zero written where it is not dialled.
    (fits(national.len()) || (national.starts_with('0') && fits(national.len() - 1)))
        .then_some(0.85)
}

/// A number without its country code: written like a phone number, or named as one nearby, and
/// of a length some country's numbers have when dialled at home.
fn national_number(c: &Context<'_>, groups: &[&str]) -> Option<f32> {
    let digits: String = groups.concat();
    if !(7..=13).contains(&digits.len()) || !PLANS.national(&digits) {
        return None;
    }
    let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    let bracketed = c.value.contains('(');
    // North American: 415-555-0143, 415.555.0143, 1-415-555-0143.
    let nanp = matches!(lengths.as_slice(), [3, 3, 4] | [1, 3, 3, 4]);
    // A trunk prefix before an area code: 0131 496 0149, 06-7/517 8089, 8 927 471 47 51.
    let trunk = groups.len() > 1 && (digits.starts_with('0') || lengths[0] == 1);
    if bracketed || nanp || trunk { Some(0.75) } else { near(c, CONTEXT).then_some(0.65) }
}

/// What the numbering plans say, read once from libphonenumber's metadata. (Lengths, not each
/// country's patterns of numbers: through the crate's shared regex cache those cost about 100 µs
/// a candidate, and a text of nothing but numbers would hold a request for seconds.)
struct Plans {
    /// Country calling code → the lengths of its countries' national numbers (bit n: length n).
    by_code: HashMap<u16, u32>,
    /// National prefix (`""` for none) → the lengths of numbers dialled at home after it.
    by_prefix: HashMap<String, u32>,
}

static PLANS: LazyLock<Plans> = LazyLock::new(|| {
    use phonenumber::Type;
    let kinds = [
        Type::FixedLine,
        Type::Mobile,
        Type::TollFree,
        Type::PremiumRate,
        Type::SharedCost,
        Type::PersonalNumber,
        Type::Voip,
        Type::Pager,
        Type::Uan,
        Type::Voicemail,
    ];
    let mut plans = Plans { by_code: HashMap::new(), by_prefix: HashMap::new() };
    for country in DATABASE.iter() {
        let descriptors = kinds.iter().filter_map(|kind| country.descriptors().get(*kind));
        let (mut international, mut national) = (0u32, 0u32);
        for descriptor in descriptors {
            for length in descriptor.possible_length() {
                international |= 1 << length.min(&31);
            }
            for length in descriptor.possible_local_length() {
                national |= 1 << length.min(&31);
            }
        }
        national |= international;
        *plans.by_code.entry(country.country_code()).or_default() |= international;
        let prefix = country.national_prefix().unwrap_or_default().to_owned();
        *plans.by_prefix.entry(prefix).or_default() |= national;
    }
    plans
});

impl Plans {
    /// Whether some country's numbers, dialled at home, are written with these digits: its
    /// national prefix (if it has one) then a number of one of its lengths.
    fn national(&self, digits: &str) -> bool {
        self.by_prefix.iter().any(|(prefix, lengths)| {
            digits
                .strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.len() < 32 && lengths & (1 << rest.len()) != 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::dlp::{Kind, scanner};

    fn phones(text: &str) -> Vec<&str> {
        let found = scanner().scan(text);
        found.iter().filter(|d| d.kind == Kind::Phone).map(|d| &text[d.start..d.end]).collect()
    }

    #[test]
    fn numbers_are_found_as_each_country_writes_them() {
        for (text, number) in [
            ("Tel. +44 (0)20 7946 0958", "+44 (0)20 7946 0958"),
            ("ruf an: 0049 30 901820", "0049 30 901820"),
            ("(+30) 6958 048338", "(+30) 6958 048338"),
            ("Festnetz (07652) 01626 009", "(07652) 01626 009"),
            ("звоните 8 (727) 562-8252", "8 (727) 562-8252"),
            ("office 415.555.0143 x204", "415.555.0143"),
            ("mobile: 06-7/517 8089", "06-7/517 8089"),
        ] {
            assert_eq!(phones(text), [number], "{text}");
        }
    }

    #[test]
    fn a_plain_run_of_digits_is_a_phone_number_only_when_named_one() {
        assert_eq!(phones("call me on 0232797408"), ["0232797408"]);
        assert!(phones("order 0232797408 shipped").is_empty());
        assert!(phones("id 0049301234567").is_empty());
    }

    #[test]
    fn other_numbers_are_not_phone_numbers() {
        for text in [
            "+999 1234 5678 9", // no such country code, and ends in a single digit
            "+999 123 456 789", // no such country code
            "released 2024-01-15 at noon",
            "valid 1990-2020",
            "ISBN 978-0-12-018941-0",
            "pi is 3.14159265",
            "host 10.20.30.40",
            "SSN 078-05-1120",
            "total 1234.5678 EUR",
        ] {
            assert!(phones(text).is_empty(), "{text}: {:?}", phones(text));
        }
    }
}
