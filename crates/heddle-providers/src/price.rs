//! Estimated cost from a price table: per model, US dollars per million input and output
//! tokens. The built-in entries are public list prices (standard tier, no batch or cache
//! discounts) as published by OpenAI and Anthropic; operators override or extend them in
//! config, and a model the table lacks has no estimate rather than a guessed one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Usage;

/// List price of one model, in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    pub input_per_million_usd: f64,
    pub output_per_million_usd: f64,
}

impl ModelPrice {
    pub const fn new(input_per_million_usd: f64, output_per_million_usd: f64) -> Self {
        Self {
            input_per_million_usd,
            output_per_million_usd,
        }
    }

    /// The cost of `usage` at this price, in US dollars.
    pub fn cost_usd(&self, usage: Usage) -> f64 {
        (usage.input_tokens as f64 * self.input_per_million_usd
            + usage.output_tokens as f64 * self.output_per_million_usd)
            / 1_000_000.0
    }
}

/// Public list prices (USD per 1M tokens, input / output) at the time of writing:
/// OpenAI's pricing page and Anthropic's pricing page. Update them here, or override them in
/// config; they only feed estimates and budgets.
const LIST_PRICES: &[(&str, ModelPrice)] = &[
    ("gpt-4o", ModelPrice::new(2.50, 10.00)),
    ("gpt-4o-mini", ModelPrice::new(0.15, 0.60)),
    ("gpt-4.1", ModelPrice::new(2.00, 8.00)),
    ("gpt-4.1-mini", ModelPrice::new(0.40, 1.60)),
    ("gpt-4.1-nano", ModelPrice::new(0.10, 0.40)),
    ("claude-3-5-haiku", ModelPrice::new(0.80, 4.00)),
    ("claude-3-7-sonnet", ModelPrice::new(3.00, 15.00)),
    ("claude-sonnet-4", ModelPrice::new(3.00, 15.00)),
    ("claude-opus-4", ModelPrice::new(15.00, 75.00)),
];

/// Prices by model name. A name matches exactly, or after dropping a date or `-latest`
/// suffix (`gpt-4o-2024-08-06`, `claude-sonnet-4-20250514`, `claude-3-5-haiku-latest`).
/// Prefix matching is deliberately not done: `gpt-4.1` is not `gpt-4.1-nano`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PriceTable {
    prices: BTreeMap<String, ModelPrice>,
}

impl Default for PriceTable {
    /// The built-in list prices.
    fn default() -> Self {
        Self {
            prices: LIST_PRICES
                .iter()
                .map(|(model, price)| ((*model).to_owned(), *price))
                .collect(),
        }
    }
}

impl PriceTable {
    /// A table with no prices at all.
    pub fn empty() -> Self {
        Self {
            prices: BTreeMap::new(),
        }
    }

    /// Adds or replaces a model's price (a local model can be priced at zero).
    pub fn with_price(mut self, model: impl Into<String>, price: ModelPrice) -> Self {
        self.prices.insert(model.into(), price);
        self
    }

    /// Entries of `overrides` replace or extend this table's.
    pub fn merged_with(mut self, overrides: &PriceTable) -> Self {
        for (model, price) in &overrides.prices {
            self.prices.insert(model.clone(), *price);
        }
        self
    }

    pub fn price(&self, model: &str) -> Option<ModelPrice> {
        if let Some(price) = self.prices.get(model) {
            return Some(*price);
        }
        self.prices.get(strip_version_suffix(model)?).copied()
    }

    /// Estimated cost in US dollars, `None` when the model has no price.
    pub fn estimate_usd(&self, model: &str, usage: Usage) -> Option<f64> {
        self.price(model).map(|price| price.cost_usd(usage))
    }
}

/// `name-2024-08-06`, `name-20250514` or `name-latest` → `name`.
fn strip_version_suffix(model: &str) -> Option<&str> {
    if let Some(base) = model.strip_suffix("-latest") {
        return Some(base);
    }
    let all_digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    // Compact date: -YYYYMMDD.
    if let Some((base, tail)) = model.rsplit_once('-')
        && tail.len() == 8
        && all_digits(tail)
    {
        return Some(base);
    }
    // Dashed date: -YYYY-MM-DD.
    let mut parts = model.rsplitn(4, '-');
    let (day, month, year, base) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    (day.len() == 2 && month.len() == 2 && year.len() == 4)
        .then_some(())
        .filter(|()| all_digits(day) && all_digits(month) && all_digits(year))
        .map(|()| base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_exactly_or_without_a_date_suffix() {
        let table = PriceTable::default();
        assert_eq!(table.price("gpt-4o"), Some(ModelPrice::new(2.50, 10.00)));
        assert_eq!(
            table.price("gpt-4o-2024-08-06"),
            Some(ModelPrice::new(2.50, 10.00))
        );
        assert_eq!(
            table.price("gpt-4o-mini-2024-07-18"),
            Some(ModelPrice::new(0.15, 0.60))
        );
        assert_eq!(
            table.price("claude-sonnet-4-20250514"),
            Some(ModelPrice::new(3.00, 15.00))
        );
        assert_eq!(
            table.price("claude-3-5-haiku-latest"),
            Some(ModelPrice::new(0.80, 4.00))
        );
        assert_eq!(table.price("gpt-4o-extra"), None);
        assert_eq!(table.price("llama3.1"), None);
    }

    #[test]
    fn overrides_replace_and_extend() {
        let table = PriceTable::default().merged_with(
            &PriceTable::empty()
                .with_price("gpt-4o", ModelPrice::new(1.0, 2.0))
                .with_price("llama3.1", ModelPrice::new(0.0, 0.0)),
        );
        assert_eq!(table.price("gpt-4o"), Some(ModelPrice::new(1.0, 2.0)));
        assert_eq!(
            table.estimate_usd(
                "llama3.1",
                Usage {
                    input_tokens: 5,
                    output_tokens: 5
                }
            ),
            Some(0.0)
        );
    }

    #[test]
    fn cost_is_tokens_times_price_per_million() {
        let cost = ModelPrice::new(2.50, 10.00).cost_usd(Usage {
            input_tokens: 1_000_000,
            output_tokens: 500_000,
        });
        assert!((cost - 7.50).abs() < 1e-9);
    }
}
