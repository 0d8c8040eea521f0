//! A long text's words, each weighted by where it stands. A report is not one bag of equal
//! terms: its title and what it writes as code (backticks, code blocks, `snake_case`,
//! `CamelCase`, `dotted.names`) say more about where to look than its prose, and a word it
//! repeats says more than one it uses once. BM25 still weighs each word by how rare it is in
//! the repository; these weights multiply that.
//!
//! A short query — a question in a few words — stays one bag of words: [`weigh`] leaves it
//! alone, so search on questions is what it was.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::LazyLock;

use lancedb::index::scalar::{BooleanQuery, FtsQuery, MatchQuery, Occur};
use regex::Regex;

use crate::file_index::Terms;
use crate::mentions::{BACKTICKS, FENCE, reads_as_code};

/// How much a word's place in the text counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WordWeights {
    /// A word of the title: the first line of a text of several.
    pub title: f32,
    /// A word written as code.
    pub code: f32,
    /// How much each repeat adds: a word's weight grows by `repeats · ln(count)`.
    pub repeats: f32,
    /// BM25's weight in a hybrid search's fusion for a long text (the meaning's is 1). A question
    /// is judged better by its meaning (`search.rs`, `LEXICAL_WEIGHT`); a long report's pieces
    /// are judged better by its words.
    pub lexical: f32,
}

impl Default for WordWeights {
    fn default() -> WordWeights {
        WordWeights { title: 2.0, code: 1.0, repeats: 0.0, lexical: 2.0 }
    }
}

/// A text with fewer distinct words than this is a question, searched as written.
pub const LONG: usize = 12;

/// The most words a long text is searched by: its strongest. A query of hundreds of clauses
/// costs more than the words past the first few dozen add.
pub const MAX_WORDS: usize = 48;

/// A word of the text as written (its first spelling), with its weight.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    pub written: String,
    pub weight: f32,
}

static WORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z_][A-Za-z0-9_]*").expect("valid"));

/// The words of a long text, strongest first, at most [`MAX_WORDS`]; `None` for a short text
/// (fewer than [`LONG`] distinct words that the index keeps).
pub fn weigh(text: &str, weights: &WordWeights, terms: &mut Terms) -> Option<Vec<Word>> {
    let code = code_spans(text);
    let in_code = |at: usize| code.iter().any(|span| span.contains(&at));
    let title_end = title_end(text);

    struct Seen {
        written: String,
        place: f32,
        count: u32,
        first: usize,
    }
    let mut seen: HashMap<String, Seen> = HashMap::new();
    for found in WORD.find_iter(text) {
        let word = found.as_str();
        if word.len() < 3 {
            continue;
        }
        let mut place = 1.0;
        if title_end.is_some_and(|end| found.start() < end) {
            place *= weights.title;
        }
        if in_code(found.start()) || reads_as_code(word) {
            place *= weights.code;
        }
        let next = seen.len();
        let entry = seen.entry(word.to_lowercase()).or_insert_with(|| Seen {
            written: word.to_owned(),
            place,
            count: 0,
            first: next,
        });
        entry.place = entry.place.max(place);
        entry.count += 1;
    }
    let mut words: Vec<(Word, usize)> = seen
        .into_values()
        // A stop word, or a scrap the index does not keep, would be an empty clause.
        .filter(|s| !terms.of(&s.written).is_empty())
        .map(|s| {
            let weight = s.place * (1.0 + weights.repeats * (s.count as f32).ln());
            (Word { written: s.written, weight }, s.first)
        })
        .collect();
    if words.len() < LONG {
        return None;
    }
    words.sort_by(|(a, a_first), (b, b_first)| {
        b.weight.total_cmp(&a.weight).then(a_first.cmp(b_first))
    });
    words.truncate(MAX_WORDS);
    Some(words.into_iter().map(|(word, _)| word).collect())
}

/// The full-text query for `words` over `columns` (each with its own weight): every word may
/// match in every column, scored by BM25 times the word's and the column's weights.
pub fn query(words: &[Word], columns: &[(&str, f32)]) -> FtsQuery {
    let clauses = words.iter().flat_map(|word| {
        columns.iter().map(move |(column, boost)| {
            let clause = MatchQuery::new(word.written.clone())
                .with_column(Some((*column).to_owned()))
                .with_boost(word.weight * boost);
            (Occur::Should, FtsQuery::Match(clause))
        })
    });
    FtsQuery::Boolean(BooleanQuery::new(clauses))
}

/// Where the text writes code: code blocks and backtick spans.
fn code_spans(text: &str) -> Vec<Range<usize>> {
    FENCE
        .captures_iter(text)
        .chain(BACKTICKS.captures_iter(text))
        .filter_map(|caps| caps.get(1).map(|m| m.range()))
        .collect()
}

/// Where the title ends, if the text has one: the first non-empty line of several.
fn title_end(text: &str) -> Option<usize> {
    let start = text.len() - text.trim_start().len();
    let end = start + text[start..].find('\n')?;
    (!text[end..].trim().is_empty()).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every place weighted, to see each at work.
    const ALL: WordWeights = WordWeights { title: 2.0, code: 2.0, repeats: 0.5, lexical: 1.0 };

    fn weights_of(text: &str) -> HashMap<String, f32> {
        weigh(text, &ALL, &mut Terms::new())
            .expect("a long text")
            .into_iter()
            .map(|w| (w.written, w.weight))
            .collect()
    }

    const REPORT: &str = "Session drops cookies after a redirect\n\n\
        When the server answers with a redirect the cookies set on the first response are \
        lost, and the next request goes out without them. Calling `resolve_redirects` by hand \
        shows the jar is rebuilt from scratch each time; the redirect keeps nothing.";

    #[test]
    fn a_question_is_searched_as_written() {
        let question = "where are failed uploads retried";
        assert_eq!(weigh(question, &WordWeights::default(), &mut Terms::new()), None);
    }

    #[test]
    fn the_title_and_code_outweigh_the_prose() {
        let weights = weights_of(REPORT);
        assert_eq!(weights["Session"], 2.0, "a title word");
        assert_eq!(weights["resolve_redirects"], 2.0, "code in backticks");
        assert_eq!(weights["server"], 1.0, "a prose word said once");
        assert!(!weights.contains_key("the"), "stop words are not searched");
    }

    #[test]
    fn a_word_said_again_counts_more_but_not_in_proportion() {
        let weights = weights_of(REPORT);
        // "redirect" is in the title and twice more in the prose.
        let redirect = weights["redirect"];
        assert!(redirect > 2.0 && redirect < 2.0 * 3.0, "{redirect}");
        assert!(weights["cookies"] > weights["jar"]);
    }

    #[test]
    fn a_very_long_text_is_searched_by_its_strongest_words() {
        let prose: String = (0..200).map(|i| format!("word{i} ")).collect();
        let text = format!("Crash in `parse_header`\n\n{prose}");
        let words = weigh(&text, &ALL, &mut Terms::new()).unwrap();
        assert_eq!(words.len(), MAX_WORDS);
        assert_eq!(words[0].written, "parse_header", "in the title and in backticks");
        assert!(words.iter().any(|w| w.written == "Crash"));
    }

    #[test]
    fn one_line_has_no_title() {
        let line = "the cookies set on the first response are lost after a redirect when the \
            server answers and the next request goes out without them";
        let words = weigh(line, &ALL, &mut Terms::new()).unwrap();
        assert!(words.iter().all(|w| w.weight == 1.0), "{words:?}");
    }
}
