//! A route's budgets for one request: what to reserve before the upstream call, and whether
//! the request may go at all. Pure; the store makes the reservation atomically.
//!
//! The estimate is deliberately high: the prompt counts as a quarter token per byte of the
//! request body (keys and punctuation included), the completion as its limit (the request's
//! `max_completion_tokens`/`max_tokens`, else the route's default, which is then sent). A
//! request is refused when its estimate alone passes the per-request cap, or when the day's
//! counter plus the estimate would pass the daily one; after the answer the reservation is
//! settled to the usage the upstream reported.

use std::fmt;

use heddle_agents::config::{Budget, RouteBudgets};
use heddle_providers::{ModelPrice, Usage};

/// Tokens one request is estimated to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Estimate {
    /// A prompt of `body_bytes` of JSON and a completion of at most `max_tokens`.
    pub fn new(body_bytes: usize, max_tokens: u64) -> Self {
        Self {
            prompt_tokens: (body_bytes as u64).div_ceil(4),
            completion_tokens: max_tokens,
        }
    }

    pub fn total(&self) -> u64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }
}

/// What to reserve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub tokens: i64,
    pub cost_micros: i64,
}

/// Why a request may not go.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// Its estimate alone passes the per-request cap.
    PerRequest {
        measure: Measure,
        limit: f64,
        estimate: f64,
    },
    /// The day's spending plus its estimate would pass the daily cap.
    PerDay {
        measure: Measure,
        limit: f64,
        spent: f64,
        estimate: f64,
    },
    /// A cost cap is set but the model's price is unknown, so it cannot be enforced.
    PriceUnknown { model: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    Tokens,
    CostUsd,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let amount = |measure: &Measure, value: f64| match measure {
            Measure::Tokens => format!("{value:.0} tokens"),
            Measure::CostUsd => format!("${value:.4}"),
        };
        match self {
            Refusal::PerRequest {
                measure,
                limit,
                estimate,
            } => write!(
                f,
                "this request is estimated at {} (prompt plus max tokens), over the route's \
                 per-request budget of {}; lower max_tokens or shorten the prompt",
                amount(measure, *estimate),
                amount(measure, *limit)
            ),
            Refusal::PerDay {
                measure,
                limit,
                spent,
                estimate,
            } => write!(
                f,
                "the route's daily budget of {} would be passed: {} counted today (used and \
                 reserved) plus this request's estimate of {}; it resets at 00:00 UTC",
                amount(measure, *limit),
                amount(measure, *spent),
                amount(measure, *estimate)
            ),
            Refusal::PriceUnknown { model } => write!(
                f,
                "the route has a cost budget but no price is known for model `{model}`; set \
                 `price` on its model binding"
            ),
        }
    }
}

/// Micro-dollars, rounded up: an estimate never under-counts.
pub fn usd_to_micros(usd: f64) -> i64 {
    if usd.is_finite() && usd > 0.0 {
        (usd * 1_000_000.0).ceil() as i64
    } else {
        0
    }
}

fn capped(budget: &Budget) -> bool {
    budget.tokens.is_some() || budget.cost_usd.is_some()
}

/// Whether the route caps spending per day (a reservation is needed then).
pub fn has_daily_cap(budgets: &RouteBudgets) -> bool {
    capped(&budgets.per_day)
}

/// The reservation for `estimate`, or why the request may not go on its own.
pub fn plan(
    budgets: &RouteBudgets,
    model: &str,
    price: Option<ModelPrice>,
    estimate: Estimate,
) -> Result<Plan, Refusal> {
    let cost = price.map(|price| {
        price.cost_usd(Usage {
            input_tokens: estimate.prompt_tokens,
            output_tokens: estimate.completion_tokens,
        })
    });
    let cost_capped = budgets.per_request.cost_usd.is_some() || budgets.per_day.cost_usd.is_some();
    if cost_capped && cost.is_none() {
        return Err(Refusal::PriceUnknown {
            model: model.to_owned(),
        });
    }
    let tokens = estimate.total();
    if let Some(limit) = budgets.per_request.tokens
        && tokens > limit
    {
        return Err(Refusal::PerRequest {
            measure: Measure::Tokens,
            limit: limit as f64,
            estimate: tokens as f64,
        });
    }
    if let (Some(limit), Some(cost)) = (budgets.per_request.cost_usd, cost)
        && cost > limit
    {
        return Err(Refusal::PerRequest {
            measure: Measure::CostUsd,
            limit,
            estimate: cost,
        });
    }
    Ok(Plan {
        tokens: i64::try_from(tokens).unwrap_or(i64::MAX),
        cost_micros: cost.map_or(0, usd_to_micros),
    })
}

/// The daily caps as the store compares them.
pub fn daily_limits(budgets: &RouteBudgets) -> (Option<i64>, Option<i64>) {
    (
        budgets
            .per_day
            .tokens
            .map(|tokens| i64::try_from(tokens).unwrap_or(i64::MAX)),
        budgets.per_day.cost_usd.map(usd_to_micros),
    )
}

/// The refusal for a daily cap the store would not reserve under.
pub fn daily_refusal(
    budgets: &RouteBudgets,
    plan: Plan,
    spent_tokens: i64,
    spent_cost_micros: i64,
) -> Refusal {
    let (tokens, cost) = daily_limits(budgets);
    match tokens {
        Some(limit) if spent_tokens.saturating_add(plan.tokens) > limit => Refusal::PerDay {
            measure: Measure::Tokens,
            limit: limit as f64,
            spent: spent_tokens as f64,
            estimate: plan.tokens as f64,
        },
        _ => Refusal::PerDay {
            measure: Measure::CostUsd,
            limit: cost.unwrap_or(0) as f64 / 1e6,
            spent: spent_cost_micros as f64 / 1e6,
            estimate: plan.cost_micros as f64 / 1e6,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budgets(request_tokens: Option<u64>, day_cost: Option<f64>) -> RouteBudgets {
        RouteBudgets {
            per_request: Budget {
                tokens: request_tokens,
                cost_usd: None,
            },
            per_day: Budget {
                tokens: None,
                cost_usd: day_cost,
            },
        }
    }

    #[test]
    fn the_estimate_is_a_quarter_token_per_byte_plus_the_completion_limit() {
        let estimate = Estimate::new(401, 100);
        assert_eq!(estimate.prompt_tokens, 101);
        assert_eq!(estimate.total(), 201);
    }

    #[test]
    fn a_request_over_its_own_cap_is_refused_with_the_numbers() {
        let refusal = plan(
            &budgets(Some(150), None),
            "m",
            None,
            Estimate::new(400, 100),
        )
        .unwrap_err();
        assert_eq!(
            refusal,
            Refusal::PerRequest {
                measure: Measure::Tokens,
                limit: 150.0,
                estimate: 200.0
            }
        );
        assert!(refusal.to_string().contains("200 tokens"), "{refusal}");
        assert!(refusal.to_string().contains("150 tokens"), "{refusal}");
        assert!(
            plan(
                &budgets(Some(200), None),
                "m",
                None,
                Estimate::new(400, 100)
            )
            .is_ok()
        );
    }

    #[test]
    fn a_cost_cap_without_a_price_fails_closed() {
        let refusal = plan(
            &budgets(None, Some(1.0)),
            "mystery",
            None,
            Estimate::new(4, 1),
        )
        .unwrap_err();
        assert_eq!(
            refusal,
            Refusal::PriceUnknown {
                model: "mystery".into()
            }
        );
        let priced = plan(
            &budgets(None, Some(1.0)),
            "m",
            Some(ModelPrice::new(1.0, 2.0)),
            Estimate::new(4_000_000, 1_000_000),
        )
        .unwrap();
        // 1M prompt tokens at $1 plus 1M completion tokens at $2.
        assert_eq!(priced.cost_micros, 3_000_000);
        assert_eq!(
            daily_limits(&budgets(None, Some(1.0))),
            (None, Some(1_000_000))
        );
        let day = daily_refusal(&budgets(None, Some(1.0)), priced, 0, 200_000);
        assert!(day.to_string().contains("$1.0000"), "{day}");
        assert!(day.to_string().contains("$0.2000"), "{day}");
    }
}
