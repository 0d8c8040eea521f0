//! Budgets: daily (UTC day) and monthly (calendar month) USD limits per tenant and per team,
//! enforced by reservation. Before a request is forwarded, its largest possible cost is reserved
//! against every budget it falls under, atomically: if any would go over, the request gets 402
//! and nothing is reserved. When its usage record is made, the reservation is settled to the
//! actual cost. So no number of concurrent requests can spend more than a budget.
//!
//! Spending so far is summed from the usage table at start, so the counters survive a restart.
//! Crossing 80% and 100% of a budget is written to the audit log, once per period.
//!
//! The state is one in-process map behind a mutex, or, shared by replicas (see
//! [`crate::counters`]), an account per budget and period in Redis or in Postgres: there the
//! reserve step checks and adds over all of a request's budgets atomically (one Lua script, or one
//! transaction holding the accounts' locks), and settling is another. A replica that dies with
//! requests in flight leaves reservations that lapse once the request's deadline has passed, so
//! they cannot hold a budget forever.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sqlx::Row;
use storage::Redis;
use tokio_util::task::TaskTracker;

use crate::counters::{Counters, Database, redis_unavailable, unique_name};
use crate::error::ApiError;
use crate::store::{Store, StoreError, now_ms};

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
    /// Where it is held among the shared counters, when the budgets are kept there.
    shared: Option<Reserved>,
}

/// A reservation among the shared counters: its name, and the account each budget's amount was
/// reserved in (the period of the reservation).
#[derive(Debug)]
struct Reserved {
    name: String,
    keys: Vec<String>,
}

/// The budget a reservation would overrun: its index among the request's, and its spent and
/// reserved amounts.
type Overrun = Option<(usize, f64, f64)>;

/// A threshold a settlement crossed: the budget's index among the request's, the threshold, and
/// the spending.
type Crossed = (usize, f64, f64);

#[derive(Debug, Default)]
pub struct Budgets {
    accounts: Mutex<HashMap<Scope, Account>>,
    held: Mutex<HashMap<u64, Held>>,
    next: AtomicU64,
    counters: Counters,
    /// How long a shared reservation holds if it is never settled: longer than any request may
    /// take.
    hold_for: Duration,
    /// Shared settlements under way, which shutdown waits for.
    settling: TaskTracker,
}

impl Budgets {
    /// Budgets with this day's and month's spending read from the usage table, kept in
    /// `counters`: a budget's spending already there (another replica's) is kept as it is.
    /// A shared reservation never settled lapses after `hold_for`.
    pub async fn load(
        store: &Store,
        counters: &Counters,
        hold_for: Duration,
    ) -> Result<Budgets, StoreError> {
        let accounts = Budgets::spending(store).await?;
        let budgets = Budgets { counters: counters.clone(), hold_for, ..Budgets::default() };
        let now = Utc::now();
        let periods = accounts.iter().flat_map(|(scope, account)| {
            [(Period::Daily, account.day.1), (Period::Monthly, account.month.1)]
                .map(|(period, spent)| (shared_key(*scope, period, now), period, spent))
        });
        match counters {
            Counters::InProcess => *budgets.accounts.lock().expect("budget lock") = accounts,
            Counters::Redis(redis) => {
                let mut seed = redis::pipe();
                for (key, period, spent) in periods {
                    seed.hset_nx(&key, "spent", spent).ignore();
                    seed.expire(&key, ttl(period)).ignore();
                }
                let seeded = match accounts.is_empty() {
                    true => Ok(()),
                    false => seed.query_async(&mut redis.connection()).await,
                };
                seeded.map_err(|e| {
                    StoreError::Invalid(format!(
                        "cannot seed the budgets in Redis at {}: {e}",
                        redis.address()
                    ))
                })?;
            }
            Counters::Database(db) => {
                let mut tx = db.pool().begin().await?;
                for (key, _, spent) in periods {
                    sqlx::query(
                        "INSERT INTO shared_budgets (account, spent, created_at) \
                         VALUES ($1, $2, $3) ON CONFLICT (account) DO NOTHING",
                    )
                    .bind(key)
                    .bind(spent)
                    .bind(now_ms())
                    .execute(&mut *tx)
                    .await?;
                }
                // Past periods' accounts, and what dead replicas held.
                let month_and_more = 40 * 86_400_000;
                sqlx::query("DELETE FROM shared_budgets WHERE created_at < $1")
                    .bind(now_ms() - month_and_more)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM shared_budget_holds WHERE deadline <= $1")
                    .bind(now_ms())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
        }
        Ok(budgets)
    }

    /// This day's and month's spending by tenant and team, from the usage table.
    async fn spending(store: &Store) -> Result<HashMap<Scope, Account>, StoreError> {
        let today = Utc::now().date_naive();
        let (day_start, month_start) = period_starts();
        let mut spending = Vec::new();
        for (column, scope) in [
            ("tenant_id", Scope::Tenant as fn(i64) -> Scope),
            ("team_id", Scope::Team as fn(i64) -> Scope),
        ] {
            let sql = format!(
                "SELECT {column} AS id, \
                 COALESCE(SUM(CASE WHEN created_at >= $1 THEN cost_usd ELSE 0.0 END), 0.0) AS day, \
                 COALESCE(SUM(cost_usd), 0.0) AS month \
                 FROM usage_totals WHERE created_at >= $2 AND {column} IS NOT NULL \
                 GROUP BY {column}"
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
        Ok(accounts)
    }

    /// Reserves `amount` USD under every limit, or none of them: `Err` names the first budget it
    /// would overrun (or, with the shared counters unreachable, says so: refused, never let
    /// through). Returns the reservation's id, to settle with the actual cost.
    pub async fn reserve(&self, limits: &Limits, amount: f64) -> Result<Option<u64>, ApiError> {
        if limits.limits.is_empty() {
            return Ok(None);
        }
        let now = Utc::now();
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let shared = match &self.counters {
            Counters::InProcess => {
                self.reserve_local(limits, amount, now)?;
                None
            }
            Counters::Redis(_) | Counters::Database(_) => {
                Some(self.reserve_shared(limits, amount, now).await?)
            }
        };
        let held = Held { scopes: limits.limits.clone(), amount, shared };
        self.held.lock().expect("budget lock").insert(id, held);
        Ok(Some(id))
    }

    async fn reserve_shared(
        &self,
        limits: &Limits,
        amount: f64,
        now: DateTime<Utc>,
    ) -> Result<Reserved, ApiError> {
        let keys = limits.limits.iter().map(|&(scope, period, _)| shared_key(scope, period, now));
        let reserved = Reserved { name: unique_name(), keys: keys.collect() };
        let hold_ms = self.hold_for.as_millis() as i64;
        let overrun = match &self.counters {
            Counters::Redis(redis) => reserve_in_redis(redis, &reserved, limits, amount, hold_ms)
                .await
                .map_err(|e| redis_unavailable(redis, &e))?,
            Counters::Database(db) => reserve_in_database(db, &reserved, limits, amount, hold_ms)
                .await
                .map_err(|e| db.unavailable(&e))?,
            Counters::InProcess => unreachable!("in-process budgets are reserved in place"),
        };
        let Some((i, spent, reserved_so_far)) = overrun else { return Ok(reserved) };
        let (scope, period, budget) = limits.limits[i];
        Err(ApiError::budget_exceeded(
            &scope.describe(),
            period.as_str(),
            budget,
            spent,
            reserved_so_far,
            amount,
            &resets_at(now, period),
        ))
    }

    fn reserve_local(
        &self,
        limits: &Limits,
        amount: f64,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
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
        Ok(())
    }

    /// Settles reservation `id` to `cost`: its amount is released and the cost is spent; `then`
    /// gets the thresholds this crossed. Settling twice does nothing. In-process budgets are
    /// settled before this returns; shared ones by a task of its own (retried a few times when
    /// their store does not answer), which [`Budgets::finish`] waits for.
    pub fn settle(
        self: &Arc<Self>,
        id: u64,
        cost: f64,
        then: impl FnOnce(Vec<Crossing>) + Send + 'static,
    ) {
        let Some(mut held) = self.held.lock().expect("budget lock").remove(&id) else { return };
        let Some(reserved) = held.shared.take() else {
            then(self.settle_local(held, cost));
            return;
        };
        let now = Utc::now();
        let current = held.scopes.iter().map(|&(scope, period, _)| shared_key(scope, period, now));
        let current: Vec<String> = current.collect();
        let budgets = Arc::clone(self);
        self.settling.spawn(async move {
            let (name, mut delay) = (&reserved.name, Duration::from_millis(100));
            let crossed = loop {
                let attempt = match &budgets.counters {
                    Counters::Redis(redis) => settle_in_redis(redis, &reserved, &current, &held, cost)
                        .await
                        .map_err(|e| e.to_string()),
                    Counters::Database(db) => {
                        settle_in_database(db, &reserved, &current, &held, cost)
                            .await
                            .map_err(|e| e.to_string())
                    }
                    Counters::InProcess => unreachable!("in-process budgets are settled in place"),
                };
                match attempt {
                    Ok(crossed) => break crossed,
                    Err(e) if delay < Duration::from_secs(5) => {
                        tracing::warn!(error = %e, reservation = name, "cannot settle a budget reservation yet");
                        tokio::time::sleep(delay).await;
                        delay *= 2;
                    }
                    Err(e) => {
                        tracing::error!(
                            error = %e, reservation = name, cost,
                            "cannot settle a budget reservation: the shared counters hold it until \
                             it lapses, and this cost is missing from the shared spending (it is \
                             in the usage table)"
                        );
                        break Vec::new();
                    }
                }
            };
            let crossings = crossed.into_iter().filter_map(|(i, threshold, spent)| {
                let (scope, period, budget) = *held.scopes.get(i)?;
                Some(Crossing { scope, period, threshold, spent, budget })
            });
            then(crossings.collect());
        });
    }

    /// Waits for the settlements under way.
    pub async fn finish(&self) {
        self.settling.close();
        self.settling.wait().await;
    }

    fn settle_local(&self, held: Held, cost: f64) -> Vec<Crossing> {
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
    pub async fn position(&self, scope: Scope, period: Period) -> Result<(f64, f64), ApiError> {
        let key = shared_key(scope, period, Utc::now());
        match &self.counters {
            Counters::InProcess => {
                let mut accounts = self.accounts.lock().expect("budget lock");
                let account = accounts.entry(scope).or_default();
                account.roll(Utc::now());
                let (spent, reserved) = account.period(period);
                Ok((*spent, *reserved))
            }
            Counters::Redis(redis) => {
                let (spent, reserved): (Option<f64>, Option<f64>) = redis::cmd("HMGET")
                    .arg(&key)
                    .arg("spent")
                    .arg("reserved")
                    .query_async(&mut redis.connection())
                    .await
                    .map_err(|e| redis_unavailable(redis, &e))?;
                Ok((spent.unwrap_or(0.0), reserved.unwrap_or(0.0).max(0.0)))
            }
            Counters::Database(db) => {
                let standing = standing(db.pool(), &key, now_ms());
                standing.await.map_err(|e| db.unavailable(&e))
            }
        }
    }
}

/// Checks every budget of a request and reserves its amount in all of them, or in none. KEYS: per
/// budget its hash (`spent`, `reserved`, `r:<reservation>` = amount, `alerted:*`) and the sorted
/// set of its reservations by deadline. ARGV: the amount, the reservation's name, how long it
/// holds (ms), then per budget its limit and its hash's time to live (s). Reservations past their
/// deadline (a replica that died before settling) are released first. Answers `{0}`, or the
/// 1-based budget that would overrun with its spent and reserved amounts.
static RESERVE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local time = redis.call('TIME')
        local now = time[1] * 1000 + math.floor(time[2] / 1000)
        local amount = tonumber(ARGV[1])
        local budgets = #KEYS / 2
        for i = 1, budgets do
            local hash, deadlines = KEYS[2 * i - 1], KEYS[2 * i]
            for _, lapsed in ipairs(redis.call('ZRANGEBYSCORE', deadlines, '-inf', now)) do
                local held = redis.call('HGET', hash, 'r:' .. lapsed)
                if held then
                    redis.call('HINCRBYFLOAT', hash, 'reserved', -tonumber(held))
                    redis.call('HDEL', hash, 'r:' .. lapsed)
                end
            end
            redis.call('ZREMRANGEBYSCORE', deadlines, '-inf', now)
            local spent = tonumber(redis.call('HGET', hash, 'spent') or '0')
            local reserved = math.max(0, tonumber(redis.call('HGET', hash, 'reserved') or '0'))
            if spent + reserved + amount > tonumber(ARGV[2 + 2 * i]) + 1e-9 then
                return {tostring(i), tostring(spent), tostring(reserved)}
            end
        end
        for i = 1, budgets do
            local hash, deadlines = KEYS[2 * i - 1], KEYS[2 * i]
            redis.call('HINCRBYFLOAT', hash, 'reserved', amount)
            redis.call('HSET', hash, 'r:' .. ARGV[2], ARGV[1])
            redis.call('ZADD', deadlines, now + tonumber(ARGV[3]), ARGV[2])
            redis.call('EXPIRE', hash, ARGV[3 + 2 * i])
            redis.call('EXPIRE', deadlines, ARGV[3 + 2 * i])
        end
        return {'0'}
        ",
    )
});

/// Releases a reservation and spends its cost. KEYS: per budget the hash and deadline set it was
/// reserved in, then the hash of the period now (the same one unless the day or month turned).
/// ARGV: the reservation's name, its amount, the cost, then per budget its limit and time to
/// live. A reservation that already lapsed is not released twice. Answers each threshold crossed
/// for the first time in its period, across replicas: the 1-based budget, threshold, spent.
static SETTLE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local name, amount, cost = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
        local crossed = {}
        for i = 1, #KEYS / 3 do
            local held, deadlines, current = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
            if redis.call('HDEL', held, 'r:' .. name) == 1 then
                redis.call('HINCRBYFLOAT', held, 'reserved', -amount)
            end
            redis.call('ZREM', deadlines, name)
            local spent = tonumber(redis.call('HINCRBYFLOAT', current, 'spent', cost))
            redis.call('EXPIRE', current, ARGV[3 + 2 * i])
            local budget = ARGV[2 + 2 * i]
            for _, threshold in ipairs({'0.8', '1'}) do
                if spent >= tonumber(budget) * tonumber(threshold)
                    and redis.call('HSETNX', current, 'alerted:' .. threshold .. ':' .. budget, 1) == 1 then
                    table.insert(crossed, tostring(i))
                    table.insert(crossed, threshold)
                    table.insert(crossed, tostring(spent))
                end
            end
        end
        return crossed
        ",
    )
});

/// The Redis hash of `scope`'s budget in the `period` that holds `now`.
fn shared_key(scope: Scope, period: Period, now: DateTime<Utc>) -> String {
    let scope = match scope {
        Scope::Tenant(id) => format!("tenant:{id}"),
        Scope::Team(id) => format!("team:{id}"),
    };
    let when = match period {
        Period::Daily => now.format("day:%Y-%m-%d"),
        Period::Monthly => now.format("month:%Y-%m"),
    };
    format!("agentwatch:budget:{scope}:{when}")
}

/// How long a period's hash outlives the period's start: long enough to be read until it ends.
fn ttl(period: Period) -> i64 {
    match period {
        Period::Daily => 2 * 86_400,
        Period::Monthly => 32 * 86_400,
    }
}

/// Reserves `amount` in every account of `reserved` in Redis, or in none: the one it would
/// overrun.
async fn reserve_in_redis(
    redis: &Redis,
    reserved: &Reserved,
    limits: &Limits,
    amount: f64,
    hold_ms: i64,
) -> Result<Overrun, redis::RedisError> {
    let mut call = RESERVE.prepare_invoke();
    for key in &reserved.keys {
        call.key(key).key(format!("{key}:held"));
    }
    call.arg(amount).arg(&reserved.name).arg(hold_ms);
    for &(_, period, budget) in &limits.limits {
        call.arg(budget).arg(ttl(period));
    }
    let answer: Vec<String> = call.invoke_async(&mut redis.connection()).await?;
    let number = |i: usize| answer.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let overrun = answer.first().and_then(|i| i.parse::<usize>().ok()).unwrap_or(0);
    Ok(overrun.checked_sub(1).map(|i| (i, number(1), number(2))))
}

/// Releases `reserved` from the accounts it was made in and spends `cost` in the `current`
/// ones (the same, unless the day or month turned): the thresholds crossed.
async fn settle_in_redis(
    redis: &Redis,
    reserved: &Reserved,
    current: &[String],
    held: &Held,
    cost: f64,
) -> Result<Vec<Crossed>, redis::RedisError> {
    let mut call = SETTLE.prepare_invoke();
    for (key, current) in reserved.keys.iter().zip(current) {
        call.key(key).key(format!("{key}:held")).key(current);
    }
    call.arg(&reserved.name).arg(held.amount).arg(cost);
    for &(_, period, budget) in &held.scopes {
        call.arg(budget).arg(ttl(period));
    }
    let answer: Vec<String> = call.invoke_async(&mut redis.connection()).await?;
    let crossed = answer.chunks_exact(3).filter_map(|crossing| {
        let i = crossing[0].parse::<usize>().ok()?.checked_sub(1)?;
        Some((i, crossing[1].parse().ok()?, crossing[2].parse().ok()?))
    });
    Ok(crossed.collect())
}

/// An account's spending and what live reservations hold of it, at `now` (Unix ms).
async fn standing<'c>(
    db: impl sqlx::Executor<'c, Database = sqlx::Any>,
    account: &str,
    now: i64,
) -> Result<(f64, f64), sqlx::Error> {
    sqlx::query_as(
        "SELECT COALESCE((SELECT spent FROM shared_budgets WHERE account = $1), \
         CAST(0 AS DOUBLE PRECISION)), \
         COALESCE((SELECT SUM(amount) FROM shared_budget_holds WHERE account = $1 \
         AND deadline > $2), CAST(0 AS DOUBLE PRECISION))",
    )
    .bind(account)
    .bind(now)
    .fetch_one(db)
    .await
}

/// As [`reserve_in_redis`], in one transaction holding the accounts' locks.
async fn reserve_in_database(
    db: &Database,
    reserved: &Reserved,
    limits: &Limits,
    amount: f64,
    hold_ms: i64,
) -> Result<Overrun, sqlx::Error> {
    let names: Vec<&str> = reserved.keys.iter().map(String::as_str).collect();
    let (mut tx, now) = db.locked(&names).await?;
    for (i, (key, &(_, _, budget))) in reserved.keys.iter().zip(&limits.limits).enumerate() {
        let (spent, held) = standing(&mut *tx, key, now).await?;
        if spent + held + amount > budget + 1e-9 {
            return Ok(Some((i, spent, held)));
        }
    }
    for key in &reserved.keys {
        sqlx::query(
            "WITH lapsed AS (DELETE FROM shared_budget_holds WHERE account = $1 AND deadline <= $4) \
             INSERT INTO shared_budget_holds (account, reservation, amount, deadline) \
             VALUES ($1, $2, $3, $4 + $5)",
        )
        .bind(key)
        .bind(&reserved.name)
        .bind(amount)
        .bind(now)
        .bind(hold_ms)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(None)
}

/// As [`settle_in_redis`], in one transaction. Spending needs no advisory lock: each account's
/// row is updated in place (in a fixed order), and a reservation reads spending and holds in one
/// statement, so it sees this settlement whole or not at all.
async fn settle_in_database(
    db: &Database,
    reserved: &Reserved,
    current: &[String],
    held: &Held,
    cost: f64,
) -> Result<Vec<Crossed>, sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    for key in &reserved.keys {
        sqlx::query("DELETE FROM shared_budget_holds WHERE account = $1 AND reservation = $2")
            .bind(key)
            .bind(&reserved.name)
            .execute(&mut *tx)
            .await?;
    }
    let mut order: Vec<usize> = (0..current.len()).collect();
    order.sort_by_key(|&i| &current[i]);
    let mut crossed = Vec::new();
    for i in order {
        let (spent, mut alerted): (f64, String) = sqlx::query_as(
            "INSERT INTO shared_budgets (account, spent, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (account) DO UPDATE SET spent = shared_budgets.spent + excluded.spent \
             RETURNING spent, alerted",
        )
        .bind(&current[i])
        .bind(cost)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        let budget = held.scopes[i].2;
        let before = alerted.len();
        for threshold in THRESHOLDS {
            let mark = format!("{threshold}:{budget}");
            if spent >= budget * threshold && !alerted.split(' ').any(|m| m == mark) {
                alerted = format!("{alerted} {mark}").trim_start().to_owned();
                crossed.push((i, threshold, spent));
            }
        }
        if alerted.len() != before {
            sqlx::query("UPDATE shared_budgets SET alerted = $2 WHERE account = $1")
                .bind(&current[i])
                .bind(&alerted)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(crossed)
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

    /// Settles in-process budgets, which is done before `settle` returns: what it crossed.
    fn settle(budgets: &Arc<Budgets>, id: u64, cost: f64) -> Vec<Crossing> {
        let crossed = Arc::new(Mutex::new(Vec::new()));
        let into = Arc::clone(&crossed);
        budgets.settle(id, cost, move |c| *into.lock().unwrap() = c);
        std::mem::take(&mut *crossed.lock().unwrap())
    }

    #[tokio::test]
    async fn reservations_never_let_spending_pass_a_budget() {
        let budgets = Arc::new(Budgets::default());
        let limits = limits(1.0);
        let mut held = Vec::new();
        for _ in 0..10 {
            held.extend(budgets.reserve(&limits, 0.3).await.ok().flatten());
        }
        assert_eq!(held.len(), 3, "three of 0.3 fit in 1.0, a fourth would not");
        let (spent, reserved) = budgets.position(Scope::Tenant(1), Period::Daily).await.unwrap();
        assert!(spent == 0.0 && (reserved - 0.9).abs() < 1e-9, "{reserved}");
        // Settled to less than reserved: room comes back.
        for id in &held {
            settle(&budgets, *id, 0.1);
        }
        let (spent, reserved) = budgets.position(Scope::Tenant(1), Period::Daily).await.unwrap();
        assert!((spent - 0.3).abs() < 1e-9 && reserved.abs() < 1e-9);
        assert!(budgets.reserve(&limits, 0.7).await.unwrap().is_some());
        assert!(budgets.reserve(&limits, 0.01).await.is_err());
    }

    #[tokio::test]
    async fn crossing_80_and_100_percent_is_reported_once_per_budget() {
        let budgets = Arc::new(Budgets::default());
        let limits = Limits { limits: vec![(Scope::Tenant(1), Period::Daily, 1.0)] };
        let a = budgets.reserve(&limits, 0.5).await.unwrap().unwrap();
        assert!(settle(&budgets, a, 0.5).is_empty());
        let b = budgets.reserve(&limits, 0.4).await.unwrap().unwrap();
        let crossed = settle(&budgets, b, 0.4);
        assert_eq!(crossed.len(), 1);
        assert_eq!(crossed[0].threshold, 0.8);
        assert!(settle(&budgets, b, 0.4).is_empty(), "settled once");
        let c = budgets.reserve(&limits, 0.1).await.unwrap().unwrap();
        assert_eq!(settle(&budgets, c, 0.1)[0].threshold, 1.0);
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

    #[tokio::test]
    async fn a_refusal_says_which_budget_and_when_it_resets() {
        let budgets = Budgets::default();
        let error = budgets.reserve(&limits(0.05), 0.06).await.unwrap_err();
        assert_eq!(error.status.as_u16(), 402);
        assert!(
            error.message.contains("tenant 1") && error.message.contains("daily"),
            "{}",
            error.message
        );
    }
}
