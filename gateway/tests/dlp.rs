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

#[test]
fn every_detector_keeps_its_precision_and_recall_on_the_labelled_set() {
    let set = include_str!("dlp/labelled.jsonl");
    let mut scores: BTreeMap<Kind, Score> = BTreeMap::new();
    let mut total = Score::default();
    let mut misses = Vec::new();
    for line in set.lines() {
        let case: Value = serde_json::from_str(line).unwrap();
        let text = case["text"].as_str().unwrap();
        let mut expected: Vec<(Kind, &str)> = case["expect"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (Kind::parse(e[0].as_str().unwrap()).unwrap(), e[1].as_str().unwrap()))
            .collect();
        for d in scanner().scan(text) {
            let found = (d.kind, &text[d.start..d.end]);
            let score = scores.entry(d.kind).or_default();
            match expected.iter().position(|e| *e == found) {
                Some(i) => {
                    expected.remove(i);
                    score.true_positives += 1;
                    total.true_positives += 1;
                }
                None => {
                    score.false_positives += 1;
                    total.false_positives += 1;
                    misses.push(format!("false positive {found:?} in {text:?}"));
                }
            }
        }
        for (kind, value) in expected {
            scores.entry(kind).or_default().false_negatives += 1;
            total.false_negatives += 1;
            misses.push(format!("missed {kind} {value:?} in {text:?}"));
        }
    }

    println!("| detector | tp | fp | fn | precision | recall |\n|---|---|---|---|---|---|");
    for (kind, s) in &scores {
        println!(
            "| {kind} | {} | {} | {} | {:.2} | {:.2} |",
            s.true_positives,
            s.false_positives,
            s.false_negatives,
            s.precision(),
            s.recall()
        );
    }
    println!(
        "| all | {} | {} | {} | {:.3} | {:.3} |",
        total.true_positives,
        total.false_positives,
        total.false_negatives,
        total.precision(),
        total.recall()
    );
    for miss in &misses {
        println!("{miss}");
    }

    // Every kind is in the set, with positives to find.
    for kind in Kind::ALL {
        assert!(
            scores.get(&kind).is_some_and(|s| s.true_positives + s.false_negatives >= 3),
            "{kind} has too few labelled examples"
        );
    }
    for (kind, s) in &scores {
        assert!(
            s.precision() >= 0.75 && s.recall() >= 0.75,
            "{kind}: precision {:.2}, recall {:.2}\n{}",
            s.precision(),
            s.recall(),
            misses.join("\n")
        );
    }
    assert!(
        total.precision() >= 0.95 && total.recall() >= 0.95,
        "overall precision {:.3}, recall {:.3}\n{}",
        total.precision(),
        total.recall(),
        misses.join("\n")
    );
}

/// Every prompt goes through the detectors, and prompts are often code: on this repository's own
/// source (its DLP module, its test data, and `net.rs`, whose subject is IP addresses, aside), no
/// secret and no IP address is found.
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
            if d.kind.is_secret() || matches!(d.kind, Kind::Ipv6) {
                found.push(format!("{}: {} {:?}", file.display(), d.kind, &text[d.start..d.end]));
            }
        }
    }
    println!("{} files, {bytes} bytes, {} detections", files.len(), found.len());
    assert!(found.is_empty(), "{}", found.join("\n"));
}
