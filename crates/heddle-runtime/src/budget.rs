//! Budgets: tokens and estimated cost per turn, per session and per agent per day. Pure: the
//! caller brings the spending so far, this decides whether another model call may start.
//!
//! A budget is checked before every model call and after every response, so a turn stops at
//! the first call that crosses it; the crossing call itself has already been paid for and is
//! counted.

use heddle_agents::config::{Budget, Budgets};
use heddle_store::UsageTotals;
use serde::Serialize;

/// The window a budget covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetWindow {
    Turn,
    Session,
    /// The agent in its environment since 00:00 UTC, across all sessions.
    Day,
}

impl BudgetWindow {
    fn as_str(self) -> &'static str {
        match self {
            Self::Turn => "per-turn",
            Self::Session => "per-session",
            Self::Day => "per-day",
        }
    }
}

/// Which cap was reached, with the numbers a person needs to see why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetExceeded {
    pub window: BudgetWindow,
    /// `tokens` or `cost_usd`.
    pub measure: &'static str,
    pub limit: f64,
    pub spent: f64,
}

impl std::fmt::Display for BudgetExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.measure {
            "tokens" => write!(
                f,
                "the agent's {} token budget ({}) is used up ({} tokens spent)",
                self.window.as_str(),
                self.limit,
                self.spent
            ),
            _ => write!(
                f,
                "the agent's {} cost budget (${:.4}) is used up (${:.4} spent)",
                self.window.as_str(),
                self.limit,
                self.spent
            ),
        }
    }
}

/// Micro-dollars, the unit steps store cost in.
pub(crate) fn usd_to_micros(usd: f64) -> i64 {
    if usd.is_finite() && usd > 0.0 {
        // Rounded up: an estimate never under-counts spending.
        (usd * 1_000_000.0).ceil() as i64
    } else {
        0
    }
}

fn micros_to_usd(micros: i64) -> f64 {
    micros as f64 / 1_000_000.0
}

/// The first cap of `budget` that `spent` reaches.
fn check_one(budget: &Budget, window: BudgetWindow, spent: &UsageTotals) -> Option<BudgetExceeded> {
    let tokens = spent.input_tokens.saturating_add(spent.output_tokens);
    if let Some(limit) = budget.tokens
        && u64::try_from(tokens).unwrap_or(0) >= limit
    {
        return Some(BudgetExceeded {
            window,
            measure: "tokens",
            limit: limit as f64,
            spent: tokens as f64,
        });
    }
    if let Some(limit) = budget.cost_usd
        && spent.cost_micros >= usd_to_micros(limit)
    {
        return Some(BudgetExceeded {
            window,
            measure: "cost_usd",
            limit,
            spent: micros_to_usd(spent.cost_micros),
        });
    }
    None
}

/// The spending the three windows have seen so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Spending {
    pub(crate) turn: UsageTotals,
    pub(crate) session: UsageTotals,
    pub(crate) day: UsageTotals,
}

impl Spending {
    /// Adds one model call to every window.
    pub(crate) fn add(&mut self, call: UsageTotals) {
        for window in [&mut self.turn, &mut self.session, &mut self.day] {
            window.input_tokens = window.input_tokens.saturating_add(call.input_tokens);
            window.output_tokens = window.output_tokens.saturating_add(call.output_tokens);
            window.cost_micros = window.cost_micros.saturating_add(call.cost_micros);
        }
    }
}

/// Whether another model call may start: the narrowest window that is used up, if any.
pub(crate) fn check(budgets: &Budgets, spent: &Spending) -> Option<BudgetExceeded> {
    check_one(&budgets.per_turn, BudgetWindow::Turn, &spent.turn)
        .or_else(|| check_one(&budgets.per_session, BudgetWindow::Session, &spent.session))
        .or_else(|| check_one(&budgets.per_day, BudgetWindow::Day, &spent.day))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(tokens: i64, cost_micros: i64) -> UsageTotals {
        UsageTotals {
            input_tokens: tokens,
            output_tokens: 0,
            cost_micros,
        }
    }

    fn budgets() -> Budgets {
        Budgets {
            per_turn: Budget {
                tokens: Some(1000),
                cost_usd: None,
            },
            per_session: Budget {
                tokens: None,
                cost_usd: Some(0.5),
            },
            per_day: Budget {
                tokens: Some(10_000),
                cost_usd: Some(5.0),
            },
        }
    }

    #[test]
    fn nothing_spent_passes_and_absent_caps_are_unlimited() {
        assert_eq!(check(&budgets(), &Spending::default()), None);
        let huge = Spending {
            turn: usage(0, i64::MAX / 2),
            session: usage(i64::MAX / 2, 0),
            day: UsageTotals::default(),
        };
        assert_eq!(check(&Budgets::default(), &huge), None);
    }

    #[test]
    fn each_window_stops_at_its_own_cap_and_the_narrowest_is_named() {
        let mut spent = Spending::default();
        spent.add(usage(999, 100));
        assert_eq!(check(&budgets(), &spent), None);
        spent.add(usage(1, 0));
        let turn = check(&budgets(), &spent).unwrap();
        assert_eq!((turn.window, turn.measure), (BudgetWindow::Turn, "tokens"));
        assert!(
            turn.to_string().contains("per-turn token budget (1000)"),
            "{turn}"
        );

        let session = Spending {
            session: usage(0, 500_000),
            ..Spending::default()
        };
        let hit = check(&budgets(), &session).unwrap();
        assert_eq!(
            (hit.window, hit.measure),
            (BudgetWindow::Session, "cost_usd")
        );
        assert!(hit.to_string().contains("$0.5000"), "{hit}");

        let day = Spending {
            day: usage(10_000, 0),
            ..Spending::default()
        };
        assert_eq!(check(&budgets(), &day).unwrap().window, BudgetWindow::Day);
    }

    #[test]
    fn cost_estimates_round_up_to_the_next_micro_dollar() {
        assert_eq!(usd_to_micros(0.000_000_1), 1);
        assert_eq!(usd_to_micros(0.25), 250_000);
        assert_eq!(usd_to_micros(f64::NAN), 0);
        assert_eq!(usd_to_micros(-1.0), 0);
    }
}
