//! What a request costs: USD per million prompt and completion tokens, by model.
//!
//! The built-in table holds list prices of common models (checked 2026-11); `gateway.prices` in
//! the config adds models or overrides these. A dated model id (`gpt-4o-2024-08-06`) or a routed
//! one (`openai/gpt-4o`) is priced as its base model.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
}

const BUILT_IN: &[(&str, f64, f64)] = &[
    ("gpt-4o", 2.50, 10.00),
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4.1", 2.00, 8.00),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1-nano", 0.10, 0.40),
    ("gpt-4-turbo", 10.00, 30.00),
    ("gpt-3.5-turbo", 0.50, 1.50),
    ("gpt-5", 1.25, 10.00),
    ("gpt-5-mini", 0.25, 2.00),
    ("gpt-5-nano", 0.05, 0.40),
    ("o1", 15.00, 60.00),
    ("o3", 2.00, 8.00),
    ("o3-mini", 1.10, 4.40),
    ("o4-mini", 1.10, 4.40),
    ("text-embedding-3-small", 0.02, 0.0),
    ("text-embedding-3-large", 0.13, 0.0),
    ("text-embedding-ada-002", 0.10, 0.0),
    ("claude-3-5-sonnet", 3.00, 15.00),
    ("claude-3-7-sonnet", 3.00, 15.00),
    ("claude-sonnet-4", 3.00, 15.00),
    ("claude-3-5-haiku", 0.80, 4.00),
    ("claude-3-haiku", 0.25, 1.25),
    ("claude-haiku-4", 1.00, 5.00),
    ("claude-3-opus", 15.00, 75.00),
    ("claude-opus-4", 15.00, 75.00),
    ("gemini-1.5-pro", 1.25, 5.00),
    ("gemini-1.5-flash", 0.075, 0.30),
    ("gemini-2.0-flash", 0.10, 0.40),
    ("gemini-2.5-pro", 1.25, 10.00),
    ("gemini-2.5-flash", 0.30, 2.50),
];

/// The price table: built-in prices under the operator's. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct Prices(Arc<Table>);

#[derive(Debug)]
struct Table {
    exact: BTreeMap<String, Price>,
    prefixes: Vec<(String, Price)>,
}

impl Prices {
    pub fn new(overrides: &BTreeMap<String, Price>) -> Prices {
        let mut exact: BTreeMap<String, Price> = BUILT_IN
            .iter()
            .map(|&(m, input, output)| (m.to_owned(), Price { input, output }))
            .collect();
        let mut prefixes = Vec::new();
        for (model, price) in overrides {
            match model.strip_suffix('*') {
                Some(prefix) => prefixes.push((prefix.to_owned(), *price)),
                None => {
                    exact.insert(model.clone(), *price);
                }
            }
        }
        // Longest prefix first.
        prefixes.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        Prices(Arc::new(Table { exact, prefixes }))
    }

    /// The price of `model`: an exact entry, an operator's prefix, or the longest built-in model
    /// id that `model` extends with a date or version (`-…`), after any `vendor/` routing prefix.
    pub fn get(&self, model: &str) -> Option<Price> {
        let Table { exact, prefixes } = self.0.as_ref();
        if let Some(p) = exact.get(model) {
            return Some(*p);
        }
        if let Some((_, p)) = prefixes.iter().find(|(prefix, _)| model.starts_with(prefix)) {
            return Some(*p);
        }
        let base = model.rsplit('/').next().unwrap_or(model);
        if let Some(p) = exact.get(base) {
            return Some(*p);
        }
        exact
            .iter()
            .filter(|(id, _)| {
                base.strip_prefix(id.as_str()).is_some_and(|rest| rest.starts_with(['-', '@']))
            })
            .max_by_key(|(id, _)| id.len())
            .map(|(_, p)| *p)
    }

    /// The cost in USD of a request; 0 for a model with no price (logged once per model by the
    /// caller's usage record: `cost_usd` 0).
    pub fn cost(&self, model: &str, prompt_tokens: u64, completion_tokens: u64) -> f64 {
        self.get(model).map_or(0.0, |p| {
            (prompt_tokens as f64 * p.input + completion_tokens as f64 * p.output) / 1_000_000.0
        })
    }
}

impl Default for Prices {
    fn default() -> Self {
        Prices::new(&BTreeMap::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dated_and_routed_model_ids_are_priced_as_their_base_model() {
        let prices = Prices::default();
        let gpt4o = prices.get("gpt-4o").unwrap();
        assert_eq!(prices.get("gpt-4o-2024-08-06"), Some(gpt4o));
        assert_eq!(prices.get("openai/gpt-4o"), Some(gpt4o));
        // The longest match wins: gpt-4o-mini is not priced as gpt-4o.
        assert_eq!(prices.get("gpt-4o-mini-2024-07-18").unwrap().input, 0.15);
        assert_eq!(prices.get("claude-3-5-sonnet-20241022").unwrap().output, 15.0);
        assert_eq!(prices.get("mystery-model"), None);
        // A model that only shares leading letters is not a version of another.
        assert_eq!(prices.get("o10"), None);
    }

    #[test]
    fn the_operators_prices_win_and_prefixes_apply() {
        let mut overrides = BTreeMap::new();
        overrides.insert("gpt-4o".to_owned(), Price { input: 1.0, output: 2.0 });
        overrides.insert("llama-*".to_owned(), Price { input: 0.1, output: 0.1 });
        let prices = Prices::new(&overrides);
        assert_eq!(prices.get("gpt-4o").unwrap().input, 1.0);
        assert_eq!(prices.get("llama-3.1-70b").unwrap().input, 0.1);
        let cost = prices.cost("gpt-4o", 1_000_000, 500_000);
        assert!((cost - 2.0).abs() < 1e-9, "{cost}");
        assert_eq!(prices.cost("unknown", 1000, 1000), 0.0);
    }
}
