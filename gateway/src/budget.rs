//! Budgets: daily (UTC day) and monthly (calendar month) USD limits per tenant and per team,
//! enforced by reservation. Before a request is forwarded, its largest possible cost is reserved
//! against every budget it falls under, atomically: if any would go over, the request gets 402
//! and nothing is reserved. When its usage record is made, the reservation is settled to the
//! actual cost. So no number of concurrent requests can spend more than a budget.
//!
//! Spending so far is summed from the usage table at start, so the counters survive a restart.
//! Crossing 80% and 100% of a budget is written to the audit log, once per period.
//!
//! The state is one in-process map behind a mutex. Several gateway replicas would keep it in
//! Redis instead (ARCHITECTURE.md): the reserve step is one check-and-add over a handful of keys,
//! which a Lua script does atomically there.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sqlx::Row;

use crate::error::ApiError;
use crate::store::{Store, StoreError};

/// The fractions of a budget whose crossing is recorded.
const THRESHOLDS: [f64; 2] = [0.8, 1.0];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Tenant(i64),
    Team(i64),
}

impl Scope {
    fn describe(self) -> String {
        match self {
            Scope::Tenant(id) => format!("tenant {id}"),
            Scope::Team(id) => format!("team {id}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Period {
    Daily,
    Monthly,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Daily => "daily",
            Period::Monthly => "monthly",
        }
    }
}

/// The budgets a request falls under: its tenant's and its team's, daily and monthly.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    pub limits: Vec<(Scope, Period, f64)>,
}

impl Limits {
    /// The budgets of `tenant` and of its team.
    pub fn of(tenant: &crate::store::Tenant) -> Limits {
        let mut limits = Vec::new();
        let mut add = |scope, (daily, monthly): (Option<f64>, Option<f64>)| {
            limits.extend(daily.map(|b| (scope, Period::Daily, b)));
            limits.extend(monthly.map(|b| (scope, Period::Monthly, b)));
        };
        add(Scope::Tenant(tenant.id), (tenant.daily_budget, tenant.monthly_budget));
        if let Some(team) = tenant.team_id {
            add(Scope::Team(team), tenant.team_budgets);
        }
        Limits { limits }
    }

    pub fn is_empty(&self) -> bool {
        self.limits.is_empty()
    }
}

#[derive(Debug, Default)]
struct Account {
    /// The period it counts, spent (settled) and reserved (in flight).
    day: (NaiveDate, f64, f64),
    month: ((i32, u32), f64, f64),
    alerted: BTreeSet<(Period, u64, u8)>,
}

impl Account {
    /// Starts a new day or month when the clock has moved on; reservations carry over.
    fn roll(&mut self, now: DateTime<Utc>) {
        let today = now.date_naive();
        if self.day.0 != today {
            self.day = (today, 0.0, self.day.2);
            self.alerted.retain(|(period, _, _)| *period != Period::Daily);
        }
        let month = (today.year(), today.month());
        if self.month.0 != month {
            self.month = (month, 0.0, self.month.2);
            self.alerted.retain(|(period, _, _)| *period != Period::Monthly);
        }
    }

    fn period(&mut self, period: Period) -> (&mut f64, &mut f64) {
        match period {
            Period::Daily => (&mut self.day.1, &mut self.day.2),
            Period::Monthly => (&mut self.month.1, &mut self.month.2),
        }
    }
}

/// A threshold crossed, to record.
#[derive(Debug, Clone, PartialEq)]
pub struct Crossing {
    pub scope: Scope,
    pub period: Period,
    pub threshold: f64,
    pub spent: f64,
    pub budget: f64,
}

/// What a request holds until it is settled.
#[derive(Debug)]
struct Held {
    scopes: Vec<(Scope, Period, f64)>,
    amount: f64,
}

#[derive(Debug, Default)]
pub struct Budgets {
    accounts: Mutex<HashMap<Scope, Account>>,
    held: Mutex<HashMap<u64, Held>>,
    next: AtomicU64,
}

impl Budgets {
    /// Budgets with this day's and month's spending read from the usage table.
    pub async fn load(store: &Store) -> Result<Budgets, StoreError> {
        let today = Utc::now().date_naive();
        let (day_start, month_start) = period_starts();
        let mut spending = Vec::new();
        for (column, scope) in [
            ("tenant_id", Scope::Tenant as fn(i64) -> Scope),
            ("team_id", Scope::Team as fn(i64) -> Scope),
        ] {
            let sql = format!(
                "SELECT {column} AS id, \
                 COALESCE(SUM(CASE WHEN created_at >= ?1 THEN cost_usd ELSE 0.0 END), 0.0) AS day, \
                 COALESCE(SUM(cost_usd), 0.0) AS month \
                 FROM usage WHERE created_at >= ?2 AND {column} IS NOT NULL GROUP BY {column}"
            );
            // Audited: the column names are the constants above.
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(day_start)
                .bind(month_start)
                .fetch_all(store.pool())
                .await?;
            spending
                .extend(rows.iter().map(|r| (scope(r.get("id")), r.get("day"), r.get("month"))));
        }
        let accounts = spending
            .into_iter()
            .map(|(scope, day, month): (Scope, f64, f64)| {
                let account = Account {
                    day: (today, day, 0.0),
                    month: ((today.year(), today.month()), month, 0.0),
                    alerted: BTreeSet::new(),
                };
                (scope, account)
            })
            .collect();
        Ok(Budgets { accounts: Mutex::new(accounts), ..Budgets::default() })
    }

    /// Reserves `amount` USD under every limit, or none of them: `Err` names the first budget it
    /// would overrun. Returns the reservation's id, to settle with the actual cost.
    pub fn reserve(&self, limits: &Limits, amount: f64) -> Result<Option<u64>, ApiError> {
        if limits.limits.is_empty() {
            return Ok(None);
        }
        let now = Utc::now();
        let mut accounts = self.accounts.lock().expect("budget lock");
        for &(scope, period, budget) in &limits.limits {
            let account = accounts.entry(scope).or_default();
            account.roll(now);
            let (spent, reserved) = account.period(period);
            if *spent + *reserved + amount > budget + 1e-9 {
                return Err(ApiError::budget_exceeded(
                    &scope.describe(),
                    period.as_str(),
                    budget,
                    *spent,
                    *reserved,
                    amount,
                    &resets_at(now, period),
                ));
            }
        }
        for &(scope, period, _) in &limits.limits {
            let account = accounts.get_mut(&scope).expect("entered above");
            *account.period(period).1 += amount;
        }
        drop(accounts);
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let held = Held { scopes: limits.limits.clone(), amount };
        self.held.lock().expect("budget lock").insert(id, held);
        Ok(Some(id))
    }

    /// Settles reservation `id` to `cost`: its amount is released and the cost is spent.
    /// Returns the thresholds this crossed. Settling twice does nothing.
    pub fn settle(&self, id: u64, cost: f64) -> Vec<Crossing> {
        let Some(held) = self.held.lock().expect("budget lock").remove(&id) else {
            return Vec::new();
        };
        let now = Utc::now();
        let mut crossings = Vec::new();
        let mut accounts = self.accounts.lock().expect("budget lock");
        for (scope, period, budget) in held.scopes {
            let account = accounts.entry(scope).or_default();
            account.roll(now);
            let (spent, reserved) = account.period(period);
            *reserved = (*reserved - held.amount).max(0.0);
            *spent += cost;
            let spent = *spent;
            for (i, threshold) in THRESHOLDS.iter().enumerate() {
                let key = (period, budget.to_bits(), i as u8);
                if spent >= budget * threshold && !account.alerted.contains(&key) {
                    account.alerted.insert(key);
                    crossings.push(Crossing {
                        scope,
                        period,
                        threshold: *threshold,
                        spent,
                        budget,
                    });
                }
            }
        }
        crossings
    }

    /// Spent and reserved for `scope` in `period`, now.
    pub fn position(&self, scope: Scope, period: Period) -> (f64, f64) {
        let mut accounts = self.accounts.lock().expect("budget lock");
        let account = accounts.entry(scope).or_default();
        account.roll(Utc::now());
        let (spent, reserved) = account.period(period);
        (*spent, *reserved)
    }
}

/// The start of the current UTC day and calendar month, in Unix ms: the periods of daily and
/// monthly budgets.
pub(crate) fn period_starts() -> (i64, i64) {
    let today = Utc::now().date_naive();
    let first = today.with_day(1).unwrap_or(today);
    let midnight =
        |d: NaiveDate| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_millis();
    (midnight(today), midnight(first))
}

/// When the period that holds `now` ends.
fn resets_at(now: DateTime<Utc>, period: Period) -> String {
    let today = now.date_naive();
    let next = match period {
        Period::Daily => today.succ_opt().unwrap_or(today),
        Period::Monthly => {
            let first = today.with_day(1).unwrap_or(today);
            first.checked_add_months(chrono::Months::new(1)).unwrap_or(first)
        }
    };
    next.and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(budget: f64) -> Limits {
        Limits {
            limits: vec![
                (Scope::Tenant(1), Period::Daily, budget),
                (Scope::Tenant(1), Period::Monthly, budget * 10.0),
                (Scope::Team(9), Period::Monthly, budget * 2.0),
            ],
        }
    }

    #[test]
    fn reservations_never_let_spending_pass_a_budget() {
        let budgets = Budgets::default();
        let limits = limits(1.0);
        let held: Vec<u64> =
            (0..10).filter_map(|_| budgets.reserve(&limits, 0.3).ok().flatten()).collect();
        assert_eq!(held.len(), 3, "three of 0.3 fit in 1.0, a fourth would not");
        let (spent, reserved) = budgets.position(Scope::Tenant(1), Period::Daily);
        assert!(spent == 0.0 && (reserved - 0.9).abs() < 1e-9, "{reserved}");
        // Settled to less than reserved: room comes back.
        for id in &held {
            budgets.settle(*id, 0.1);
        }
        let (spent, reserved) = budgets.position(Scope::Tenant(1), Period::Daily);
        assert!((spent - 0.3).abs() < 1e-9 && reserved.abs() < 1e-9);
        assert!(budgets.reserve(&limits, 0.7).unwrap().is_some());
        assert!(budgets.reserve(&limits, 0.01).is_err());
    }

    #[test]
    fn crossing_80_and_100_percent_is_reported_once_per_budget() {
        let budgets = Budgets::default();
        let limits = Limits { limits: vec![(Scope::Tenant(1), Period::Daily, 1.0)] };
        let a = budgets.reserve(&limits, 0.5).unwrap().unwrap();
        assert!(budgets.settle(a, 0.5).is_empty());
        let b = budgets.reserve(&limits, 0.4).unwrap().unwrap();
        let crossed = budgets.settle(b, 0.4);
        assert_eq!(crossed.len(), 1);
        assert_eq!(crossed[0].threshold, 0.8);
        assert!(budgets.settle(b, 0.4).is_empty(), "settled once");
        let c = budgets.reserve(&limits, 0.1).unwrap().unwrap();
        assert_eq!(budgets.settle(c, 0.1)[0].threshold, 1.0);
    }

    #[test]
    fn a_new_day_starts_from_nothing_and_alerts_again() {
        let mut account = Account::default();
        let day1 =
            DateTime::parse_from_rfc3339("2026-11-30T23:00:00Z").unwrap().with_timezone(&Utc);
        account.roll(day1);
        *account.period(Period::Daily).0 = 5.0;
        *account.period(Period::Monthly).0 = 5.0;
        account.alerted.insert((Period::Daily, 1.0f64.to_bits(), 0));
        account.roll(day1 + chrono::Duration::hours(2));
        assert_eq!(account.day.1, 0.0);
        assert_eq!(account.month.1, 0.0, "December is a new month too");
        assert!(account.alerted.is_empty());
    }

    #[test]
    fn a_refusal_says_which_budget_and_when_it_resets() {
        let budgets = Budgets::default();
        let error = budgets.reserve(&limits(0.05), 0.06).unwrap_err();
        assert_eq!(error.status.as_u16(), 402);
        assert!(
            error.message.contains("tenant 1") && error.message.contains("daily"),
            "{}",
            error.message
        );
    }
}
