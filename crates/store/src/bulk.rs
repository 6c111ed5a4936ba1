//! Bulk writes: multi-row `INSERT` statements built for either engine, for imports and the
//! synthetic-data generator. Rows are sent in chunks that stay under both engines' limits on
//! bound parameters; the caller decides the transaction.

use crate::{Result, Store};
use sqlx::AnyConnection;
pub use sqlx::Row;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

/// One value of a row to insert.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Int(i64),
    Float(f64),
    Text(String),
    /// A 0/1 flag, stored as SMALLINT.
    Flag(bool),
    /// A NULL of integer type.
    Null,
    NullText,
    NullFloat,
    /// A trusted SQL expression written into the statement in place of the parameter (such
    /// as `(SELECT id FROM h)`, a value another part of the same statement gives): only in
    /// a [`Batch`], which writes it in before anything is bound.
    Expr(String),
    /// Text joined from its parts (`||`): values bound as parameters and trusted
    /// expressions ([`Val::Expr`]), such as a JSON summary with a number the statement
    /// gives spliced in. Only in a [`Batch`], as [`Val::Expr`].
    Joined(Vec<Val>),
}

impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Val::Int(v)
    }
}
impl From<f64> for Val {
    fn from(v: f64) -> Self {
        Val::Float(v)
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::Text(v.to_string())
    }
}
impl From<String> for Val {
    fn from(v: String) -> Self {
        Val::Text(v)
    }
}
impl From<bool> for Val {
    fn from(v: bool) -> Self {
        Val::Flag(v)
    }
}
impl From<Option<i64>> for Val {
    fn from(v: Option<i64>) -> Self {
        v.map(Val::Int).unwrap_or(Val::Null)
    }
}
impl From<Option<f64>> for Val {
    fn from(v: Option<f64>) -> Self {
        v.map(Val::Float).unwrap_or(Val::NullFloat)
    }
}
impl From<Option<String>> for Val {
    fn from(v: Option<String>) -> Self {
        v.map(Val::Text).unwrap_or(Val::NullText)
    }
}
impl From<Option<&str>> for Val {
    fn from(v: Option<&str>) -> Self {
        v.map(|s| Val::Text(s.to_string())).unwrap_or(Val::NullText)
    }
}

/// Most parameters in one statement (SQLite allows 32,766; PostgreSQL 65,535).
pub(crate) const MAX_PARAMS: usize = 30_000;

/// The columns of a customer contact row, in the order bulk loaders give the values.
pub const CUSTOMER_CONTACTS_COLUMNS: &[&str] = &[
    "tenant_id",
    "customer_id",
    "kind",
    "value",
    "normalized",
    "is_primary",
    "verified",
    "created_at",
];

/// The columns of a customer's tier row, in the order the analytics run gives the values.
pub const CUSTOMER_TIERS_COLUMNS: &[&str] = &[
    "tenant_id",
    "customer_id",
    "tier",
    "reason",
    "since",
    "evaluated_at",
];

/// The columns of an order row, in the order bulk loaders give the values.
pub const ORDERS_COLUMNS: &[&str] = &[
    "tenant_id",
    "external_id",
    "customer_id",
    "ordered_at",
    "status",
    "currency",
    "total_minor",
];

/// The columns of an order line row, in the order bulk loaders give the values.
pub const ORDER_LINES_COLUMNS: &[&str] = &[
    "tenant_id",
    "order_id",
    "customer_id",
    "product_id",
    "quantity",
    "unit_price_minor",
    "amount_minor",
    "ordered_at",
];

/// Inserts `rows` into `table` (`columns` in order). With `returning`, returns those columns
/// of every inserted row. `table`, `columns` and `returning` must be trusted identifiers.
pub async fn insert_rows(
    tx: &mut AnyConnection,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Val>],
    returning: Option<&str>,
) -> Result<Vec<AnyRow>> {
    insert_rows_with(tx, table, columns, rows, returning, true).await
}

/// [`insert_rows`], choosing whether the statements are kept prepared (`persistent`). On
/// PostgreSQL a kept statement remembers the parameter types of its first use, and sqlx types
/// a NULL float differently from a float: loaders whose float columns may be NULL in one chunk
/// and not in the next pass `false` there.
pub(crate) async fn insert_rows_with(
    tx: &mut AnyConnection,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Val>],
    returning: Option<&str>,
    persistent: bool,
) -> Result<Vec<AnyRow>> {
    let mut out = Vec::new();
    if rows.is_empty() || columns.is_empty() {
        return Ok(out);
    }
    // SQLite looks every named parameter (`$n`) up by a linear walk, when it parses the
    // statement and again when sqlx binds each value: quadratic in the parameters, which made
    // a 30,000-value insert spend over 90% of its time in `sqlite3_bind_parameter_name`.
    // Anonymous `?` parameters are bound by position without any lookup.
    let anonymous = is_sqlite(tx);
    let per = (MAX_PARAMS / columns.len()).max(1);
    for chunk in rows.chunks(per) {
        let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
        let mut n = 0usize;
        for (i, row) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(',');
            }
            sql.push('(');
            for j in 0..row.len() {
                if j > 0 {
                    sql.push(',');
                }
                if anonymous {
                    sql.push('?');
                } else {
                    n += 1;
                    sql.push('$');
                    sql.push_str(&n.to_string());
                }
            }
            sql.push(')');
        }
        if let Some(r) = returning {
            sql.push_str(" RETURNING ");
            sql.push_str(r);
        }
        let q = chunk.iter().fold(
            sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(persistent),
            |q, row| bind_all(q, row),
        );
        if returning.is_some() {
            out.extend(q.fetch_all(&mut *tx).await?);
        } else {
            q.execute(&mut *tx).await?;
        }
    }
    Ok(out)
}

/// A query of the `Any` driver with its arguments.
pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>;

/// Binds one [`Val`] to `q`.
pub(crate) fn bind_val<'q>(q: AnyQuery<'q>, v: &Val) -> AnyQuery<'q> {
    match v {
        Val::Int(i) => q.bind(*i),
        Val::Float(f) => q.bind(*f),
        Val::Text(s) => q.bind(s.clone()),
        Val::Flag(b) => q.bind(i16::from(*b)),
        Val::Null => q.bind(Option::<i64>::None),
        Val::NullText => q.bind(Option::<String>::None),
        Val::NullFloat => q.bind(Option::<f64>::None),
        // A batch writes these into its statements before binding (see `inlined`); bound
        // anywhere else, they are a NULL, which a NOT NULL column refuses.
        Val::Expr(_) | Val::Joined(_) => q.bind(Option::<String>::None),
    }
}

/// Binds `vals` to `q`, in order.
pub(crate) fn bind_all<'q>(q: AnyQuery<'q>, vals: &[Val]) -> AnyQuery<'q> {
    vals.iter().fold(q, bind_val)
}

/// `sql` (trusted text) with `vals` bound, in order.
pub(crate) fn query_with<'q>(sql: String, vals: &[Val]) -> AnyQuery<'q> {
    bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), vals)
}

/// Whether `tx` runs on SQLite.
pub(crate) fn is_sqlite(tx: &AnyConnection) -> bool {
    tx.backend_name().eq_ignore_ascii_case("sqlite")
}

/// Numbered parameters `$first, ..., $(first + n - 1)`, comma-separated.
pub(crate) fn params(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Statements whose only answer is success or failure, sent together when [`Batch::run`]
/// is called, in the order they were added. On SQLite they go as one multi-statement query:
/// one hand-off to the connection's worker thread instead of one per statement (a
/// transaction's fixed cost in sqlx, paid on every write). PostgreSQL's extended protocol
/// takes one statement with parameters at a time, so there they run one after another.
/// Each statement is written with its own parameters `$1, $2, ...`.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    statements: Vec<(String, Vec<Val>)>,
}

impl Batch {
    pub fn push(&mut self, sql: impl Into<String>, vals: Vec<Val>) {
        self.statements.push((sql.into(), vals));
    }

    /// A multi-row `INSERT` of `rows` into `table` (`columns` in order); nothing when `rows`
    /// is empty. `table` and `columns` must be trusted identifiers.
    pub fn insert_rows(&mut self, table: &str, columns: &[&str], rows: &[Vec<Val>]) {
        if columns.is_empty() {
            return;
        }
        let per = (MAX_PARAMS / columns.len()).max(1);
        for chunk in rows.chunks(per) {
            let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
            let mut n = 0usize;
            for (i, row) in chunk.iter().enumerate() {
                sql.push_str(if i > 0 { ",(" } else { "(" });
                for j in 0..row.len() {
                    n += 1;
                    sql.push_str(&format!("{}${n}", if j > 0 { "," } else { "" }));
                }
                sql.push(')');
            }
            self.push(sql, chunk.concat());
        }
    }

    /// Statements so far: the next one pushed is statement `len()`, named `s{len()}` in
    /// [`Batch::one_statement`].
    pub fn len(&self) -> usize {
        self.statements.len()
    }

    /// The batch as one PostgreSQL statement: `WITH` the `head` parts (name, statement,
    /// values) and then every statement of the batch as `s0`, `s1`, ... (data-modifying
    /// CTEs, each run once, all against the snapshot the statement began with; a value one
    /// of them returns is read by another as an expression such as `(SELECT id FROM s2)`),
    /// then `select`, with its values. Each part is written with its own `$1, $2, ...`.
    pub(crate) fn one_statement(
        self,
        head: Vec<(String, String, Vec<Val>)>,
        select: &str,
        select_vals: Vec<Val>,
    ) -> Result<(String, Vec<Val>)> {
        let parts = head.into_iter().chain(
            self.statements
                .into_iter()
                .enumerate()
                .map(|(i, (s, v))| (format!("s{i}"), s, v)),
        );
        with_parts(parts, (select.to_string(), select_vals))
    }

    pub async fn run(self, tx: &mut AnyConnection) -> Result<()> {
        if !is_sqlite(tx) {
            for (sql, vals) in self.postgres_statements()? {
                query_with(sql, &vals).execute(&mut *tx).await?;
            }
            return Ok(());
        }
        for (sql, vals) in self.sqlite_queries()? {
            query_with(sql, &vals).execute(&mut *tx).await?;
        }
        Ok(())
    }

    /// The batch as PostgreSQL statements, in order: each run of consecutive `INSERT`s (none
    /// reads what another writes: they only add rows, and foreign keys are checked at the end
    /// of the statement) goes as one statement of data-modifying CTEs, its parameters
    /// renumbered; every other statement goes alone.
    pub(crate) fn postgres_statements(self) -> Result<Vec<(String, Vec<Val>)>> {
        let mut out = Vec::new();
        let mut run: Vec<(String, Vec<Val>)> = Vec::new();
        for (sql, vals) in self.statements {
            let insert = sql.trim_start().starts_with("INSERT INTO") && !sql.contains("RETURNING");
            let bound: usize = run.iter().map(|(_, v)| v.len()).sum();
            if !insert || bound + vals.len() > MAX_PARAMS {
                out.extend(joined_inserts(std::mem::take(&mut run))?);
            }
            if insert {
                run.push((sql, vals));
            } else {
                out.push(inlined(&sql, &vals, 0, false)?);
            }
        }
        out.extend(joined_inserts(run)?);
        Ok(out)
    }

    /// The batch as SQLite multi-statement queries (one unless it binds more than
    /// [`MAX_PARAMS`] values), in order.
    pub(crate) fn sqlite_queries(self) -> Result<Vec<(String, Vec<Val>)>> {
        // Anonymous parameters, each statement's values in order of appearance: sqlx binds a
        // multi-statement query's `?` statement by statement, where numbered ones would have
        // to be unique across the whole text.
        let mut out = Vec::new();
        let mut sql = String::new();
        let mut vals: Vec<Val> = Vec::new();
        for (text, own) in &self.statements {
            let (text, own) = inlined(text, own, 0, true)?;
            if !vals.is_empty() && vals.len() + own.len() > MAX_PARAMS {
                out.push((std::mem::take(&mut sql), std::mem::take(&mut vals)));
            }
            if !sql.is_empty() {
                sql.push_str(";\n");
            }
            sql.push_str(&text);
            vals.extend(own);
        }
        if !sql.is_empty() {
            out.push((sql, vals));
        }
        Ok(out)
    }
}

/// `INSERT` statements (each with its own `$1, $2, ...`) as one PostgreSQL statement:
/// `WITH s0 AS (first), s1 AS (second), ... last`, the parameters of each after the first
/// renumbered past those before it. Nothing for none; one as it is.
fn joined_inserts(run: Vec<(String, Vec<Val>)>) -> Result<Option<(String, Vec<Val>)>> {
    if run.len() < 2 {
        return run
            .into_iter()
            .next()
            .map(|(sql, vals)| inlined(&sql, &vals, 0, false))
            .transpose();
    }
    let mut run = run;
    let last = run.pop();
    let parts = run
        .into_iter()
        .enumerate()
        .map(|(i, (s, v))| (format!("s{i}"), s, v));
    last.map(|main| with_parts(parts, main)).transpose()
}

/// `WITH name AS (part), ... main`: each part (name, statement, its own `$1, $2, ...`) and
/// then `main`, their parameters renumbered in turn ([`inlined`]).
fn with_parts(
    parts: impl Iterator<Item = (String, String, Vec<Val>)>,
    main: (String, Vec<Val>),
) -> Result<(String, Vec<Val>)> {
    let mut sql = String::from("WITH ");
    let mut vals: Vec<Val> = Vec::new();
    for (i, (name, text, own)) in parts.enumerate() {
        let (text, own) = inlined(&text, &own, vals.len(), false)?;
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("{name} AS ({text})"));
        vals.extend(own);
    }
    let (text, own) = inlined(&main.0, &main.1, vals.len(), false)?;
    sql.push(' ');
    sql.push_str(&text);
    vals.extend(own);
    Ok((sql, vals))
}

/// `sql` with its values `vals` (for `$1, $2, ...`) made ready to go after `offset` values
/// bound before it: each parameter renumbered `$(k + offset)` in order of first appearance
/// (one value however often it appears), or with `anonymous` written `?` (the value bound
/// again at each appearance); a [`Val::Expr`] written in as it is, a [`Val::Joined`] as its
/// parts joined with `||`. Returns the text and the values to bind, in order.
fn inlined(sql: &str, vals: &[Val], offset: usize, anonymous: bool) -> Result<(String, Vec<Val>)> {
    let mut bound: Vec<Val> = Vec::with_capacity(vals.len());
    let mut numbered: Vec<Option<usize>> = vec![None; vals.len()];
    let text = each_param(sql, |n| {
        let v = n
            .checked_sub(1)
            .and_then(|i| vals.get(i))
            .ok_or_else(|| no_value(n, vals.len()))?;
        let mut param = |v: &Val, own: Option<usize>| -> String {
            if anonymous {
                bound.push(v.clone());
                return "?".to_string();
            }
            if let Some(k) = own.and_then(|i| numbered[i]) {
                return format!("${k}");
            }
            bound.push(v.clone());
            let k = offset + bound.len();
            if let Some(i) = own {
                numbered[i] = Some(k);
            }
            format!("${k}")
        };
        Ok(match v {
            Val::Expr(e) => e.clone(),
            Val::Joined(parts) => {
                let parts: Vec<String> = parts
                    .iter()
                    .map(|p| match p {
                        Val::Expr(e) => e.clone(),
                        other => format!("CAST({} AS TEXT)", param(other, None)),
                    })
                    .collect();
                format!("({})", parts.join(" || "))
            }
            other => param(other, Some(n - 1)),
        })
    })?;
    Ok((text, bound))
}

/// `sql` with each numbered parameter `$n` replaced by `f(n)` (a bare `$` is `n` = 0).
fn each_param(sql: &str, mut f: impl FnMut(usize) -> Result<String>) -> Result<String> {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits = rest[at + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        let n: usize = rest[at + 1..at + 1 + digits].parse().unwrap_or(0);
        out.push_str(&f(n)?);
        rest = &rest[at + 1 + digits..];
    }
    out.push_str(rest);
    Ok(out)
}

fn no_value(n: usize, given: usize) -> crate::StoreError {
    crate::StoreError::Other(format!(
        "internal: statement parameter ${n} has no value ({given} given)"
    ))
}

/// On SQLite (`anonymous`), rewrites the numbered parameters `$1, $2, ...` of `sql` as
/// anonymous `?` when they appear exactly in that order, each once (so binding order is
/// unchanged): SQLite looks numbered ones up by a linear walk, quadratic for long `IN` lists.
/// Anything else is returned as it is.
pub fn positional(sql: String, anonymous: bool) -> String {
    if !anonymous {
        return sql;
    }
    let mut out = String::with_capacity(sql.len());
    let mut expected = 1usize;
    let mut rest = sql.as_str();
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits: String = rest[at + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if digits.parse::<usize>().ok() != Some(expected) {
            return sql;
        }
        out.push('?');
        expected += 1;
        rest = &rest[at + 1 + digits.len()..];
    }
    out.push_str(rest);
    out
}

/// Reads an `(i64, String)` pair from a `RETURNING id, key` row.
pub fn id_and_key(row: &AnyRow) -> Result<(i64, String)> {
    Ok((row.try_get(0)?, row.try_get(1)?))
}

impl Store {
    /// Begins a transaction for bulk work.
    pub async fn begin(&self) -> Result<Transaction<'static, Any>> {
        Ok(self.pool.begin().await?)
    }

    /// Reserves `n` consecutive values of a per-tenant counter; returns the first.
    pub async fn reserve_counter(
        tx: &mut AnyConnection,
        tenant: concierge_domain::TenantId,
        name: &str,
        n: i64,
    ) -> Result<i64> {
        let last: i64 = sqlx::query_scalar(
            "INSERT INTO counters (tenant_id, name, value) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id, name) DO UPDATE SET value = counters.value + $3 \
             RETURNING value",
        )
        .bind(tenant.0)
        .bind(name)
        .bind(n)
        .fetch_one(&mut *tx)
        .await?;
        Ok(last - n + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::{Batch, Val, inlined, positional};

    fn anonymous(sql: &str, vals: &[Val]) -> crate::Result<(String, Vec<Val>)> {
        inlined(sql, vals, 0, true)
    }

    #[test]
    fn a_batched_statement_binds_its_values_in_order_of_appearance() {
        let (sql, vals) = anonymous(
            "UPDATE t SET a = $2 WHERE id = $1 OR parent = $1",
            &[Val::Int(7), Val::Text("x".into())],
        )
        .unwrap();
        assert_eq!(sql, "UPDATE t SET a = ? WHERE id = ? OR parent = ?");
        assert_eq!(vals, vec![Val::Text("x".into()), Val::Int(7), Val::Int(7)]);
        assert!(anonymous("SELECT $3", &[Val::Int(1)]).is_err());
        assert!(anonymous("SELECT $", &[Val::Int(1)]).is_err());
    }

    #[test]
    fn consecutive_inserts_become_one_postgres_statement_and_the_rest_stay_in_order() {
        let mut b = Batch::default();
        b.push(
            "UPDATE cases SET a = $1 WHERE id = $2",
            vec![Val::Int(1), Val::Int(2)],
        );
        b.push(
            "INSERT INTO t (a, b) VALUES ($1, $2)",
            vec![Val::Int(3), Val::Int(4)],
        );
        b.push(
            "INSERT INTO u (a) VALUES ($1) ON CONFLICT (a) DO NOTHING",
            vec![Val::Int(5)],
        );
        b.push(
            "INSERT INTO v (a, b) VALUES ($2, $1)",
            vec![Val::Int(6), Val::Int(7)],
        );
        b.push("UPDATE cases SET n = $1", vec![Val::Int(8)]);
        b.push("INSERT INTO w (a) VALUES ($1)", vec![Val::Int(9)]);
        let out = b.postgres_statements().unwrap();
        let sql: Vec<&str> = out.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(
            sql,
            vec![
                "UPDATE cases SET a = $1 WHERE id = $2",
                "WITH s0 AS (INSERT INTO t (a, b) VALUES ($1, $2)), s1 AS (INSERT INTO u (a) \
                 VALUES ($3) ON CONFLICT (a) DO NOTHING) INSERT INTO v (a, b) VALUES ($4, $5)",
                "UPDATE cases SET n = $1",
                "INSERT INTO w (a) VALUES ($1)",
            ]
        );
        assert_eq!(
            out[1].1,
            vec![
                Val::Int(3),
                Val::Int(4),
                Val::Int(5),
                Val::Int(7),
                Val::Int(6)
            ]
        );
        let mut bad = Batch::default();
        bad.push("INSERT INTO t (a) VALUES ($1)", vec![Val::Int(1)]);
        bad.push("INSERT INTO t (a) VALUES ($2)", vec![Val::Int(1)]);
        assert!(bad.postgres_statements().is_err());
    }

    #[test]
    fn a_batch_as_one_statement_reads_what_its_parts_return() {
        let mut b = Batch::default();
        let case = Val::Expr("(SELECT id FROM h)".into());
        b.push(
            "INSERT INTO messages (tenant_id, case_id, body) VALUES ($1, $2, $3) RETURNING id",
            vec![Val::Int(1), case.clone(), Val::Text("hi".into())],
        );
        let message = Val::Expr(format!("(SELECT id FROM s{})", b.len() - 1));
        b.push(
            "INSERT INTO timeline (tenant_id, ref_id, summary, unused) VALUES ($1, $2, $4, $1)",
            vec![
                Val::Int(1),
                message,
                Val::Null,
                Val::Joined(vec![
                    Val::Text("{\"number\":".into()),
                    Val::Expr("h.number".into()),
                    Val::Text("}".into()),
                ]),
            ],
        );
        let (sql, vals) = b
            .one_statement(
                vec![(
                    "h".into(),
                    "UPDATE cases SET version = version + 1 WHERE id = $1 RETURNING id, number"
                        .into(),
                    vec![Val::Int(9)],
                )],
                "SELECT h.id, (SELECT id FROM s0) AS m0, $1 AS x FROM h",
                vec![Val::Int(5)],
            )
            .unwrap();
        assert_eq!(
            sql,
            "WITH h AS (UPDATE cases SET version = version + 1 WHERE id = $1 RETURNING id, \
             number), s0 AS (INSERT INTO messages (tenant_id, case_id, body) VALUES ($2, \
             (SELECT id FROM h), $3) RETURNING id), s1 AS (INSERT INTO timeline (tenant_id, \
             ref_id, summary, unused) VALUES ($4, (SELECT id FROM s0), (CAST($5 AS TEXT) || \
             h.number || CAST($6 AS TEXT)), $4)) SELECT h.id, (SELECT id FROM s0) AS m0, $7 AS \
             x FROM h"
        );
        assert_eq!(
            vals,
            vec![
                Val::Int(9),
                Val::Int(1),
                Val::Text("hi".into()),
                Val::Int(1),
                Val::Text("{\"number\":".into()),
                Val::Text("}".into()),
                Val::Int(5),
            ]
        );
    }

    #[test]
    fn numbered_parameters_in_order_become_anonymous_on_sqlite_only() {
        let sql = "SELECT id FROM t WHERE a = $1 AND b IN ($2, $3)".to_string();
        assert_eq!(
            positional(sql.clone(), true),
            "SELECT id FROM t WHERE a = ? AND b IN (?, ?)"
        );
        assert_eq!(positional(sql.clone(), false), sql);
        // Reused or out-of-order numbers keep their names (binding by position would be wrong).
        let reused = "SELECT 1 WHERE a = $1 OR b = $1".to_string();
        assert_eq!(positional(reused.clone(), true), reused);
        let swapped = "SELECT 1 WHERE a = $2 AND b = $1".to_string();
        assert_eq!(positional(swapped.clone(), true), swapped);
    }
}
