//! DLP quality on a labelled set (`tests/dlp/labelled.jsonl`): for each line, the spans that must
//! be found, by kind; every other detection is a false positive. The set mixes real-format
//! secrets and personal data with tricky negatives — UUIDs, git SHAs, hashes, processors' test
//! card numbers, documentation placeholders, versions, dates, MAC addresses.

use std::collections::BTreeMap;

use gateway::dlp::{Kind, scanner};
use serde_json::Value;

#[derive(Default)]
struct Score {
    true_positives: u32,
    false_positives: u32,
    false_negatives: u32,
}

impl Score {
    fn precision(&self) -> f64 {
        let found = self.true_positives + self.false_positives;
        if found == 0 { 1.0 } else { f64::from(self.true_positives) / f64::from(found) }
    }

    fn recall(&self) -> f64 {
        let expected = self.true_positives + self.false_negatives;
        if expected == 0 { 1.0 } else { f64::from(self.true_positives) / f64::from(expected) }
    }
}

/// How a detection must sit on a labelled value to count as finding it.
#[derive(Clone, Copy)]
enum Match {
    /// Exactly the labelled span.
    Exact,
    /// Anything covering the labelled span (a phone number with its extension, say): what a mask
    /// over the detection hides.
    Covering,
}

/// The detectors' scores on a set, per kind and overall, and each miss spelled out.
struct Evaluation {
    scores: BTreeMap<Kind, Score>,
    total: Score,
    misses: Vec<String>,
}

fn evaluate(set: &str, rule: Match) -> Evaluation {
    let mut scores: BTreeMap<Kind, Score> = BTreeMap::new();
    let mut total = Score::default();
    let mut misses = Vec::new();
    for line in set.lines() {
        let case: Value = serde_json::from_str(line).unwrap();
        let text = case["text"].as_str().unwrap();
        // Each labelled value, with where it stands in the text.
        let mut expected: Vec<(Kind, &str, usize)> = case["expect"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let value = e[1].as_str().unwrap();
                let start = text.find(value).unwrap_or_else(|| panic!("{value:?} not in {text:?}"));
                (Kind::parse(e[0].as_str().unwrap()).unwrap(), value, start)
            })
            .collect();
        for d in scanner().scan(text) {
            let score = scores.entry(d.kind).or_default();
            let found = |(kind, value, start): &(Kind, &str, usize)| {
                *kind == d.kind
                    && match rule {
                        Match::Exact => &text[d.start..d.end] == *value,
                        Match::Covering => d.start <= *start && start + value.len() <= d.end,
                    }
            };
            match expected.iter().position(found) {
                Some(i) => {
                    expected.remove(i);
                    score.true_positives += 1;
                    total.true_positives += 1;
                }
                None => {
                    score.false_positives += 1;
                    total.false_positives += 1;
                    let value = &text[d.start..d.end];
                    misses.push(format!("false positive {} {value:?} in {text:?}", d.kind));
                }
            }
        }
        for (kind, value, _) in expected {
            scores.entry(kind).or_default().false_negatives += 1;
            total.false_negatives += 1;
            misses.push(format!("missed {kind} {value:?} in {text:?}"));
        }
    }
    Evaluation { scores, total, misses }
}

impl Evaluation {
    /// The table BENCHMARKS.md shows, then every miss.
    fn print(&self) {
        println!("| detector | tp | fp | fn | precision | recall |\n|---|---|---|---|---|---|");
        let rows = self.scores.iter().map(|(kind, s)| (kind.to_string(), s));
        for (name, s) in rows.chain([("all".to_owned(), &self.total)]) {
            println!(
                "| {name} | {} | {} | {} | {:.3} | {:.3} |",
                s.true_positives,
                s.false_positives,
                s.false_negatives,
                s.precision(),
                s.recall()
            );
        }
        for miss in &self.misses {
            println!("{miss}");
        }
    }
}

#[test]
fn every_detector_keeps_its_precision_and_recall_on_the_labelled_set() {
    let eval = evaluate(include_str!("dlp/labelled.jsonl"), Match::Exact);
    eval.print();
    let misses = eval.misses.join("\n");
    // Every kind is in the set, with positives to find.
    for kind in Kind::ALL {
        assert!(
            eval.scores.get(&kind).is_some_and(|s| s.true_positives + s.false_negatives >= 3),
            "{kind} has too few labelled examples"
        );
    }
    for (kind, s) in &eval.scores {
        assert!(
            s.precision() >= 0.75 && s.recall() >= 0.75,
            "{kind}: precision {:.2}, recall {:.2}\n{misses}",
            s.precision(),
            s.recall(),
        );
    }
    let total = &eval.total;
    assert!(
        total.precision() >= 0.95 && total.recall() >= 0.95,
        "overall precision {:.3}, recall {:.3}\n{misses}",
        total.precision(),
        total.recall(),
    );
}

/// Personal data nobody here wrote: `tests/dlp/faker.jsonl`, made by `scripts/dlp_eval_set.py`
/// with the `faker` library — phone numbers of 40 locales in their own formats, card numbers of
/// every brand faker knows (12 to 19 digits), IBANs of 26 countries, e-mail, SSN, IP addresses —
/// in prose, config lines, JSON, CSV and logs, beside faker's look-alikes (dates, ISBNs, EANs,
/// hashes, postcodes, prices, order numbers, MAC addresses). Each type keeps precision ≥ 0.95 and
/// recall ≥ 0.90.
#[test]
fn personal_data_nobody_here_wrote_is_found_per_type() {
    let eval = evaluate(include_str!("dlp/faker.jsonl"), Match::Covering);
    eval.print();
    let misses = eval.misses.join("\n");
    for kind in [
        Kind::Phone,
        Kind::CreditCard,
        Kind::Iban,
        Kind::Email,
        Kind::UsSsn,
        Kind::Ipv4,
        Kind::Ipv6,
    ] {
        let s = &eval.scores[&kind];
        assert!(s.true_positives >= 90, "{kind}: only {} found", s.true_positives);
        assert!(
            s.precision() >= 0.95 && s.recall() >= 0.90,
            "{kind}: precision {:.3}, recall {:.3}\n{misses}",
            s.precision(),
            s.recall(),
        );
    }
    // Look-alikes raise nothing of any other kind either.
    for (kind, s) in &eval.scores {
        assert!(s.precision() >= 0.95, "{kind}: precision {:.3}\n{misses}", s.precision());
    }
}

/// Every prompt goes through the detectors, and prompts are often code: on this repository's own
/// source (its DLP module, its test data, and `net.rs`, whose subject is IP addresses, aside), no
/// secret, IPv6 address, phone or card number is found among its many numbers.
#[test]
fn ordinary_code_raises_no_secret_detection() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in ["indexer/src", "scanner/src", "mcp-server/src", "gateway/src", "grammars/src"] {
        let mut stack = vec![root.join(dir)];
        while let Some(path) = stack.pop() {
            for entry in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() && !path.ends_with("dlp") {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && !path.ends_with("screen.rs")
                    && !path.ends_with("net.rs")
                {
                    files.push(path);
                }
            }
        }
    }
    assert!(files.len() > 50, "{} files", files.len());
    let mut bytes = 0;
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        bytes += text.len();
        for d in scanner().scan(&text) {
            if d.kind.is_secret() || matches!(d.kind, Kind::Ipv6 | Kind::Phone | Kind::CreditCard) {
                found.push(format!("{}: {} {:?}", file.display(), d.kind, &text[d.start..d.end]));
            }
        }
    }
    println!("{} files, {bytes} bytes, {} detections", files.len(), found.len());
    assert!(found.is_empty(), "{}", found.join("\n"));
}
