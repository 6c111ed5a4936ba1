//! The BG/NBD model of repeat buying (Fader, Hardie & Lee 2005, "Counting your customers the
//! easy way", Marketing Science 24(2)): fitting by maximum likelihood, P(alive), and the
//! conditional expected number of purchases.
//!
//! Model: while alive, a customer buys as a Poisson process with rate λ ~ Gamma(r, α); after each
//! purchase they drop out with probability p ~ Beta(a, b). A customer is described by the number
//! of repeat purchases x, the time of the last one t_x, and the time since the first purchase T
//! (see [`crate::summary::History`]).
//!
//! Fitting maximises the log-likelihood of section 7 of the paper (the same function as
//! `lifetimes.BetaGeoFitter`) over log-parameters with BFGS and an analytic gradient. Identical
//! (x, t_x, T) rows are merged into one weighted row; ln(α+T) and ln(α+t_x) are tabulated per
//! distinct value and the Γ-ratios per distinct x, so one likelihood evaluation costs about one
//! `exp` and one `ln_1p` per distinct row and allocates nothing. Large inputs are split across
//! threads in fixed chunks and summed in a fixed order, so results are deterministic.
//! Like `lifetimes`, time is rescaled internally so the largest T is 10, which conditions the
//! problem; reported parameters and log-likelihood are in the caller's unit.

use crate::error::{AnalyticsError, Result};
use crate::optimize::{BfgsOptions, Minimum, bfgs, bfgs_from, numerical_hessian, standard_errors};
use crate::special::hyp2f1_minus_one;
use crate::special::invert;
use crate::summary::History;
use crate::util::Interner;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

const MODEL: &str = "BG/NBD";
/// A fitted (time-scaled) parameter beyond e^±15 (3e6 or 3e-7) means the likelihood is flat in
/// that direction: the fit is reported as degenerate rather than returning meaningless numbers.
pub(crate) const MAX_LOG_PARAM: f64 = 15.0;
/// Rows per parallel chunk (also the threshold below which evaluation stays single-threaded).
const CHUNK: usize = 32_768;

/// BG/NBD parameters, time in the unit of the data they were fitted on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbdParams {
    /// Shape of the Gamma distribution of purchase rates.
    pub r: f64,
    /// Scale (in time units) of the Gamma distribution of purchase rates.
    pub alpha: f64,
    /// First shape of the Beta distribution of dropout probabilities.
    pub a: f64,
    /// Second shape of the Beta distribution of dropout probabilities.
    pub b: f64,
}

/// A history with a weight: how many customers share it (or any positive importance weight).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WeightedHistory {
    /// Repeat purchases (x).
    pub frequency: u32,
    /// t_x, in the time unit.
    pub recency: f64,
    /// T, in the time unit.
    pub age: f64,
    /// Number of customers with this history.
    pub weight: f64,
}

/// Options for [`fit_bgnbd`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FitOptions {
    /// L2 penalty on the (internally time-scaled) parameters, as `penalizer_coef` in
    /// `lifetimes`. 0 (the default) is plain maximum likelihood; a small value (0.001–0.1)
    /// helps small or degenerate data converge, at the cost of bias.
    pub penalizer: f64,
    /// Maximum BFGS iterations.
    pub max_iterations: usize,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            penalizer: 0.0,
            max_iterations: 1000,
        }
    }
}

/// A fitted BG/NBD model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbdFit {
    /// Maximum-likelihood parameters.
    pub params: BgNbdParams,
    /// Standard errors of the parameters (delta method on the observed information), if the
    /// Hessian could be inverted.
    pub standard_errors: Option<BgNbdParams>,
    /// Total log-likelihood over all customers, in the data's time unit (without penalty).
    pub log_likelihood: f64,
    /// Number of customers (sum of weights).
    pub customers: f64,
    /// Customers with at least one repeat purchase.
    pub repeat_customers: f64,
    /// Distinct (x, t_x, T) rows the likelihood was evaluated over.
    pub distinct_rows: usize,
    /// BFGS iterations used.
    pub iterations: usize,
}

#[derive(Clone, Copy)]
struct Row {
    x: u32,
    t: u32,
    tx: u32,
    w: f64,
}

/// Grouped, validated and time-scaled data.
struct Prepared {
    rows: Vec<Row>,
    t_vals: Vec<f64>,
    tx_vals: Vec<f64>,
    max_x: usize,
    scale: f64,
    total_weight: f64,
    sum_wx: f64,
    repeat_weight: f64,
}

pub(crate) fn validate_row(x: u32, t_x: f64, t: f64, w: f64) -> Result<()> {
    if !(t_x.is_finite() && t.is_finite() && w.is_finite()) {
        return Err(AnalyticsError::invalid(format!(
            "history (x={x}, t_x={t_x}, T={t}, weight={w}) has a non-finite number"
        )));
    }
    if t_x < 0.0 || t < 0.0 || t_x > t * (1.0 + 1e-12) + 1e-12 {
        return Err(AnalyticsError::invalid(format!(
            "history (x={x}, t_x={t_x}, T={t}) needs 0 <= t_x <= T: the last purchase cannot be \
             after the observation end"
        )));
    }
    if x == 0 && t_x != 0.0 {
        return Err(AnalyticsError::invalid(format!(
            "history with no repeat purchase has recency {t_x}; it must be 0"
        )));
    }
    if w <= 0.0 {
        return Err(AnalyticsError::invalid(format!(
            "weight {w} must be positive"
        )));
    }
    Ok(())
}

impl Prepared {
    fn new(input: impl ExactSizeIterator<Item = (u32, f64, f64, f64)>) -> Result<Self> {
        let n = input.len();
        let mut t_int = Interner::with_capacity(1024.min(n));
        let mut tx_int = Interner::with_capacity(1024.min(n));
        let mut rows = Vec::with_capacity(n);
        let mut max_t = 0.0_f64;
        for (x, t_x, t, w) in input {
            validate_row(x, t_x, t, w)?;
            let t_x = t_x.min(t);
            max_t = max_t.max(t);
            rows.push(Row {
                x,
                t: t_int.intern(t),
                tx: tx_int.intern(t_x),
                w,
            });
        }
        if rows.is_empty() {
            return Err(AnalyticsError::NoCustomers {
                what: "the BG/NBD fit",
            });
        }
        if max_t <= 0.0 {
            return Err(AnalyticsError::invalid(
                "every customer made their first purchase on the observation end day (T = 0); \
                 choose a later observation end",
            ));
        }
        rows.par_sort_unstable_by_key(|r| (r.x, r.t, r.tx));
        let mut merged: Vec<Row> = Vec::with_capacity(rows.len() / 2 + 1);
        for r in rows {
            match merged.last_mut() {
                Some(last) if last.x == r.x && last.t == r.t && last.tx == r.tx => last.w += r.w,
                _ => merged.push(r),
            }
        }
        let scale = 10.0 / max_t;
        let total_weight: f64 = merged.iter().map(|r| r.w).sum();
        let sum_wx: f64 = merged.iter().map(|r| r.w * f64::from(r.x)).sum();
        let repeat_weight: f64 = merged.iter().filter(|r| r.x > 0).map(|r| r.w).sum();
        let max_x = merged.iter().map(|r| r.x).max().unwrap_or(0) as usize;
        Ok(Self {
            rows: merged,
            t_vals: t_int.values.iter().map(|v| v * scale).collect(),
            tx_vals: tx_int.values.iter().map(|v| v * scale).collect(),
            max_x,
            scale,
            total_weight,
            sum_wx,
            repeat_weight,
        })
    }
}

/// Reusable tables for one likelihood evaluation (allocated once per fit).
struct Work {
    s_r: Vec<f64>,
    d_r: Vec<f64>,
    s_b: Vec<f64>,
    d_b: Vec<f64>,
    s_ab: Vec<f64>,
    d_ab: Vec<f64>,
    ln_bx1: Vec<f64>,
    inv_bx1: Vec<f64>,
    ln_at: Vec<f64>,
    inv_at: Vec<f64>,
    ln_atx: Vec<f64>,
    inv_atx: Vec<f64>,
    partials: Vec<[f64; 5]>,
}

impl Work {
    fn new(p: &Prepared) -> Self {
        let nx = p.max_x + 1;
        Self {
            s_r: vec![0.0; nx],
            d_r: vec![0.0; nx],
            s_b: vec![0.0; nx],
            d_b: vec![0.0; nx],
            s_ab: vec![0.0; nx],
            d_ab: vec![0.0; nx],
            ln_bx1: vec![0.0; nx],
            inv_bx1: vec![0.0; nx],
            ln_at: vec![0.0; p.t_vals.len()],
            inv_at: vec![0.0; p.t_vals.len()],
            ln_atx: vec![0.0; p.tx_vals.len()],
            inv_atx: vec![0.0; p.tx_vals.len()],
            partials: vec![[0.0; 5]; p.rows.len().div_ceil(CHUNK)],
        }
    }
}

fn fill_time_table(vals: &[f64], alpha: f64, ln_out: &mut [f64], inv_out: &mut [f64]) {
    let f = |(v, (l, i)): (&f64, (&mut f64, &mut f64))| {
        let s = alpha + v;
        *l = s.ln();
        *i = 1.0 / s;
    };
    if vals.len() >= CHUNK {
        vals.par_iter()
            .zip(ln_out.par_iter_mut().zip(inv_out.par_iter_mut()))
            .for_each(f);
    } else {
        vals.iter()
            .zip(ln_out.iter_mut().zip(inv_out.iter_mut()))
            .for_each(f);
    }
}

/// Weighted sums over `rows` of [ll, ∂ll/∂r, ∂ll/∂α, ∂ll/∂a, ∂ll/∂b] (natural parameters).
#[inline]
fn accumulate(rows: &[Row], w: &Work, r: f64, alpha: f64, a: f64, ln_alpha: f64) -> [f64; 5] {
    let ln_a = a.ln();
    let inv_a = 1.0 / a;
    let r_over_alpha = r / alpha;
    let mut acc = [0.0; 5];
    for row in rows {
        let t = row.t as usize;
        let ln_at = w.ln_at[t];
        let inv_at = w.inv_at[t];
        if row.x == 0 {
            acc[0] += row.w * r * (ln_alpha - ln_at);
            acc[1] += row.w * (ln_alpha - ln_at);
            acc[2] += row.w * (r_over_alpha - r * inv_at);
            continue;
        }
        let x = row.x as usize;
        let xf = f64::from(row.x);
        let tx = row.tx as usize;
        let ln_atx = w.ln_atx[tx];
        let inv_atx = w.inv_atx[tx];
        let rx = r + xf;
        let a12 = w.s_r[x] + r * ln_alpha + w.s_b[x] - w.s_ab[x];
        let a3 = -rx * ln_at;
        let a4 = ln_a - w.ln_bx1[x] - rx * ln_atx;
        let d = a4 - a3;
        let (lse, w3, w4) = if d > 0.0 {
            let e = (-d).exp();
            let w4 = 1.0 / (1.0 + e);
            (a4 + e.ln_1p(), e * w4, w4)
        } else {
            let e = d.exp();
            let w3 = 1.0 / (1.0 + e);
            (a3 + e.ln_1p(), w3, e * w3)
        };
        acc[0] += row.w * (a12 + lse);
        acc[1] += row.w * (w.d_r[x] + ln_alpha - w3 * ln_at - w4 * ln_atx);
        acc[2] += row.w * (r_over_alpha - rx * (w3 * inv_at + w4 * inv_atx));
        acc[3] += row.w * (w4 * inv_a - w.d_ab[x]);
        acc[4] += row.w * (w.d_b[x] - w.d_ab[x] - w4 * w.inv_bx1[x]);
    }
    acc
}

/// Mean negative log-likelihood (+ penalty) at log-parameters `theta`, with its gradient.
fn objective(
    p: &Prepared,
    w: &mut Work,
    theta: &[f64; 4],
    penalizer: f64,
    grad: &mut [f64; 4],
) -> f64 {
    let params = theta.map(f64::exp);
    let [r, alpha, a, b] = params;
    if params.iter().any(|v| !v.is_finite() || *v <= 0.0) {
        return f64::INFINITY;
    }
    for k in 0..p.max_x {
        let kf = k as f64;
        w.s_r[k + 1] = w.s_r[k] + (r + kf).ln();
        w.d_r[k + 1] = w.d_r[k] + 1.0 / (r + kf);
        w.s_b[k + 1] = w.s_b[k] + (b + kf).ln();
        w.d_b[k + 1] = w.d_b[k] + 1.0 / (b + kf);
        w.s_ab[k + 1] = w.s_ab[k] + (a + b + kf).ln();
        w.d_ab[k + 1] = w.d_ab[k] + 1.0 / (a + b + kf);
        w.ln_bx1[k + 1] = (b + kf).ln();
        w.inv_bx1[k + 1] = 1.0 / (b + kf);
    }
    fill_time_table(&p.t_vals, alpha, &mut w.ln_at, &mut w.inv_at);
    fill_time_table(&p.tx_vals, alpha, &mut w.ln_atx, &mut w.inv_atx);
    let ln_alpha = alpha.ln();
    let mut partials = std::mem::take(&mut w.partials);
    let work: &Work = w;
    if p.rows.len() > CHUNK {
        partials
            .par_iter_mut()
            .zip(p.rows.par_chunks(CHUNK))
            .for_each(|(out, chunk)| *out = accumulate(chunk, work, r, alpha, a, ln_alpha));
    } else if let Some(first) = partials.first_mut() {
        *first = accumulate(&p.rows, work, r, alpha, a, ln_alpha);
    }
    let mut sum = [0.0; 5];
    for part in &partials {
        for k in 0..5 {
            sum[k] += part[k];
        }
    }
    w.partials = partials;
    let n = p.total_weight;
    let mut penalty = 0.0;
    for k in 0..4 {
        penalty += penalizer * params[k] * params[k];
        grad[k] = -params[k] * sum[k + 1] / n + 2.0 * penalizer * params[k] * params[k];
    }
    -sum[0] / n + penalty
}

/// Above this many distinct rows, the fit first runs on a subsample to find a starting point and
/// an inverse-Hessian estimate, so the full data need only a few BFGS iterations.
const WARM_START_ROWS: usize = 100_000;

/// Fits a subsample of `p` (every row of weight >= 8, and an evenly spaced sample of the rest
/// with weights scaled up to stand for the rows left out) and returns the optimum, translated to
/// `p`'s time scale, with the inverse Hessian there.
fn warm_start(
    p: &Prepared,
    options: &FitOptions,
    bfgs_opts: BfgsOptions,
) -> Option<([f64; 4], [[f64; 4]; 4])> {
    const HEAVY: f64 = 8.0;
    let light = p.rows.iter().filter(|r| r.w < HEAVY).count();
    let stride = (light / 30_000).max(1);
    let mut seen = 0usize;
    let mut sub = Vec::new();
    for r in &p.rows {
        if r.w >= HEAVY {
            sub.push(*r);
        } else {
            if seen.is_multiple_of(stride) {
                sub.push(Row {
                    w: r.w * stride as f64,
                    ..*r
                });
            }
            seen += 1;
        }
    }
    let sub = Prepared::new(sub.iter().map(|r| {
        (
            r.x,
            p.tx_vals[r.tx as usize] / p.scale,
            p.t_vals[r.t as usize] / p.scale,
            r.w,
        )
    }))
    .ok()?;
    if sub.repeat_weight <= 0.0 {
        return None;
    }
    let mut work = Work::new(&sub);
    let mut f = |theta: &[f64; 4], g: &mut [f64; 4]| {
        objective(&sub, &mut work, theta, options.penalizer, g)
    };
    let m = bfgs(&mut f, [0.1; 4], bfgs_opts);
    if !m.converged || m.x.iter().any(|v| v.abs() > MAX_LOG_PARAM) {
        return None;
    }
    let h = invert(&numerical_hessian(&mut f, &m.x, &m.grad)?)?;
    let mut x = m.x;
    x[1] += (p.scale / sub.scale).ln();
    Some((x, h))
}

/// Fits BG/NBD to one history per customer (monetary values are ignored).
pub fn fit_bgnbd(histories: &[History], options: &FitOptions) -> Result<BgNbdFit> {
    let prepared = Prepared::new(
        histories
            .iter()
            .map(|h| (h.frequency, h.recency, h.age, 1.0)),
    )?;
    fit_prepared(&prepared, options)
}

/// Fits BG/NBD to weighted histories (each row stands for `weight` identical customers), like
/// `lifetimes.BetaGeoFitter.fit(..., weights=...)`.
pub fn fit_bgnbd_weighted(rows: &[WeightedHistory], options: &FitOptions) -> Result<BgNbdFit> {
    let prepared = Prepared::new(
        rows.iter()
            .map(|h| (h.frequency, h.recency, h.age, h.weight)),
    )?;
    fit_prepared(&prepared, options)
}

fn fit_prepared(p: &Prepared, options: &FitOptions) -> Result<BgNbdFit> {
    if p.repeat_weight <= 0.0 {
        return Err(AnalyticsError::NoRepeatBuyers { model: MODEL });
    }
    if !(options.penalizer >= 0.0 && options.penalizer.is_finite()) {
        return Err(AnalyticsError::invalid(
            "penalizer must be a finite number >= 0",
        ));
    }
    let bfgs_opts = BfgsOptions {
        max_iterations: options.max_iterations,
        ..Default::default()
    };
    let warm = if p.rows.len() > WARM_START_ROWS {
        warm_start(p, options, bfgs_opts)
    } else {
        None
    };
    let mut work = Work::new(p);
    let mut f =
        |theta: &[f64; 4], g: &mut [f64; 4]| objective(p, &mut work, theta, options.penalizer, g);
    let mut best: Option<Minimum<4>> = None;
    let mut total_iterations = 0;
    if let Some((x0, h0)) = warm {
        let m = bfgs_from(&mut f, x0, Some(h0), bfgs_opts);
        total_iterations += m.iterations;
        best = m.converged.then_some(m);
    }
    // lifetimes starts every parameter at exp(0.1); a second start guards against a bad basin.
    for start in [[0.1; 4], [0.0, 0.0, 0.0, 1.0]] {
        if best.is_some() {
            break;
        }
        let m = bfgs(&mut f, start, bfgs_opts);
        total_iterations += m.iterations;
        best = m.converged.then_some(m);
    }
    let Some(min) = best else {
        return Err(AnalyticsError::NotConverged {
            model: MODEL,
            iterations: total_iterations,
            detail: "the likelihood kept improving without settling".into(),
        });
    };
    if let Some(k) = min.x.iter().position(|v| v.abs() > MAX_LOG_PARAM) {
        let name = ["r", "alpha", "a", "b"][k];
        return Err(AnalyticsError::Degenerate {
            model: MODEL,
            detail: format!(
                "parameter {name} ran off to {:e}; the purchase pattern carries no information \
                 about it (for example every customer buys at the same pace, or no customer ever \
                 appears to drop out). Add more customers or history, or fit with a small \
                 penalizer",
                min.x[k].exp()
            ),
        });
    }
    let [r, alpha_s, a, b] = min.x.map(f64::exp);
    let params = BgNbdParams {
        r,
        alpha: alpha_s / p.scale,
        a,
        b,
    };
    let penalty: f64 = min
        .x
        .iter()
        .map(|v| options.penalizer * (2.0 * v).exp())
        .sum();
    let ll_scaled = -(min.f - penalty) * p.total_weight;
    let log_likelihood = ll_scaled + p.scale.ln() * p.sum_wx;
    let hess = numerical_hessian(&mut f, &min.x, &min.grad);
    let standard_errors = hess
        .map(|h| h.map(|row| row.map(|v| v * p.total_weight)))
        .and_then(|h| standard_errors(&h, &[r, alpha_s, a, b]))
        .filter(|se| se.iter().all(|v| v.is_finite()))
        .map(|se| BgNbdParams {
            r: se[0],
            alpha: se[1] / p.scale,
            a: se[2],
            b: se[3],
        });
    Ok(BgNbdFit {
        params,
        standard_errors,
        log_likelihood,
        customers: p.total_weight,
        repeat_customers: p.repeat_weight,
        distinct_rows: p.rows.len(),
        iterations: total_iterations,
    })
}

impl BgNbdParams {
    /// Checks all parameters are finite and positive.
    pub fn validate(&self) -> Result<()> {
        let ok = [self.r, self.alpha, self.a, self.b]
            .iter()
            .all(|v| v.is_finite() && *v > 0.0);
        if ok {
            Ok(())
        } else {
            Err(AnalyticsError::invalid(format!(
                "BG/NBD parameters must be positive: {self:?}"
            )))
        }
    }

    /// Log-likelihood of one customer's (x, t_x, T) under these parameters (eq. 6 of the paper).
    pub fn log_likelihood(&self, frequency: u32, recency: f64, age: f64) -> f64 {
        let BgNbdParams { r, alpha, a, b } = *self;
        let x = f64::from(frequency);
        let (lg_r, lg_b, lg_ab) = (
            crate::special::ln_gamma(r + x) - crate::special::ln_gamma(r),
            crate::special::ln_gamma(b + x) - crate::special::ln_gamma(b),
            crate::special::ln_gamma(a + b + x) - crate::special::ln_gamma(a + b),
        );
        let a12 = lg_r + r * alpha.ln() + lg_b - lg_ab;
        let a3 = -(r + x) * (alpha + age).ln();
        if frequency == 0 {
            return a12 + a3;
        }
        let a4 = a.ln() - (b + x - 1.0).ln() - (r + x) * (alpha + recency).ln();
        let m = a3.max(a4);
        a12 + m + ((a3 - m).exp() + (a4 - m).exp()).ln()
    }

    /// Log of the odds that a customer is *dead*: ln[a/(b+x-1)] + (r+x) ln[(α+T)/(α+t_x)].
    fn log_dead_odds(&self, frequency: u32, recency: f64, age: f64) -> Option<f64> {
        if frequency == 0 {
            return None;
        }
        let x = f64::from(frequency);
        Some(
            (self.a / (self.b + x - 1.0)).ln()
                + (self.r + x) * ((self.alpha + age).ln() - (self.alpha + recency).ln()),
        )
    }

    /// Probability the customer is still alive at the end of observation (Fader, Hardie & Lee,
    /// "Computing P(alive) using the BG/NBD model", note 021). 1 for customers with no repeat
    /// purchase, as in the model (and in `lifetimes`).
    pub fn prob_alive(&self, frequency: u32, recency: f64, age: f64) -> f64 {
        match self.log_dead_odds(frequency, recency, age) {
            None => 1.0,
            Some(l) if l > 0.0 => {
                let e = (-l).exp();
                e / (1.0 + e)
            }
            Some(l) => 1.0 / (1.0 + l.exp()),
        }
    }

    /// The part of the conditional expectation that does not depend on t_x:
    /// (a+b+x-1)/(a-1) · [1 − ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x-1; z)],
    /// z = t/(α+T+t). Computed through Euler's transformation, which turns the factor into
    /// (1-z)^(a-1) · 2F1(a+b-1-r, a-1; a+b+x-1; z): that series' terms shrink fast even for
    /// large x, and `expm1`/`ln_1p` keep full accuracy for short horizons.
    pub(crate) fn numerator(&self, t: f64, frequency: u32, age: f64) -> Result<f64> {
        if t <= 0.0 {
            return Ok(0.0);
        }
        let eval = |a: f64| -> Result<f64> {
            let BgNbdParams { r, alpha, b, .. } = *self;
            let x = f64::from(frequency);
            let z = t / (alpha + age + t);
            let f_minus_1 = hyp2f1_minus_one(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)?;
            let log_term = (a - 1.0) * (-z).ln_1p() + f_minus_1.ln_1p();
            Ok((a + b + x - 1.0) / (a - 1.0) * -log_term.exp_m1())
        };
        // The formula has a removable singularity at a = 1: average either side of it.
        const NEAR_ONE: f64 = 1e-6;
        let value = if (self.a - 1.0).abs() < NEAR_ONE {
            0.5 * (eval(1.0 + NEAR_ONE)? + eval(1.0 - NEAR_ONE)?)
        } else {
            eval(self.a)?
        };
        if value.is_finite() {
            Ok(value.max(0.0))
        } else {
            Err(AnalyticsError::Numerical {
                what: "BG/NBD expected purchases",
                detail: format!("non-finite result for t={t}, x={frequency}, T={age}"),
            })
        }
    }

    /// Expected number of purchases in the next `t` time units for a customer with history
    /// (x, t_x, T): equation (10) of the paper, as
    /// `lifetimes.BetaGeoFitter.conditional_expected_number_of_purchases_up_to_time`.
    pub fn expected_purchases(
        &self,
        t: f64,
        frequency: u32,
        recency: f64,
        age: f64,
    ) -> Result<f64> {
        if !(t.is_finite() && t >= 0.0) {
            return Err(AnalyticsError::invalid(format!(
                "horizon {t} must be a number >= 0"
            )));
        }
        Ok(self.numerator(t, frequency, age)? * self.prob_alive(frequency, recency, age))
    }

    /// Expected number of purchases in `t` time units for a newly acquired customer
    /// (equation 9 of the paper).
    pub fn expected_purchases_new_customer(&self, t: f64) -> Result<f64> {
        self.expected_purchases(t, 0, 0.0, 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CDNOW: BgNbdParams = BgNbdParams {
        r: 0.242_594,
        alpha: 4.413_603,
        a: 0.792_922,
        b: 2.425_906,
    };

    #[test]
    fn conditional_expectation_matches_lifetimes() {
        // lifetimes 0.11.3 with the CDNOW parameters gives 1.2259068 for this customer.
        let e = CDNOW.expected_purchases(39.0, 2, 30.43, 38.86).unwrap();
        assert!((e - 1.225_906_8).abs() < 1e-5, "{e}");
        assert_eq!(CDNOW.expected_purchases(0.0, 2, 30.43, 38.86).unwrap(), 0.0);
    }

    #[test]
    fn prob_alive_bounds() {
        assert_eq!(CDNOW.prob_alive(0, 0.0, 30.0), 1.0);
        let fresh = CDNOW.prob_alive(5, 30.0, 30.0);
        let stale = CDNOW.prob_alive(5, 1.0, 30.0);
        assert!(fresh > stale && stale > 0.0 && fresh < 1.0);
        let extreme = CDNOW.prob_alive(500, 0.0, 1e6);
        assert!(extreme >= 0.0 && extreme.is_finite());
    }

    #[test]
    fn degenerate_inputs_error() {
        assert!(matches!(
            fit_bgnbd(&[], &FitOptions::default()),
            Err(AnalyticsError::NoCustomers { .. })
        ));
        let one_timers = vec![History::new(0, 0.0, 10.0, 0.0); 50];
        assert!(matches!(
            fit_bgnbd(&one_timers, &FitOptions::default()),
            Err(AnalyticsError::NoRepeatBuyers { .. })
        ));
        let bad = [History::new(1, 12.0, 10.0, 5.0)];
        assert!(matches!(
            fit_bgnbd(&bad, &FitOptions::default()),
            Err(AnalyticsError::InvalidInput(_))
        ));
    }

    #[test]
    fn warm_start_reaches_the_same_optimum_as_a_cold_start() {
        use crate::simulate::{HistorySimulation, simulate_histories};
        let spec = HistorySimulation {
            customers: 110_000,
            bgnbd: BgNbdParams {
                r: 0.4,
                alpha: 5.0,
                a: 0.9,
                b: 3.0,
            },
            gamma_gamma: None,
            min_age: 10.0,
            max_age: 60.0,
        };
        let hs = simulate_histories(&spec, 11);
        let p = Prepared::new(hs.iter().map(|h| (h.frequency, h.recency, h.age, 1.0))).unwrap();
        assert!(p.rows.len() > WARM_START_ROWS);
        let warm = fit_prepared(&p, &FitOptions::default()).unwrap();
        let mut work = Work::new(&p);
        let cold = bfgs(
            |t: &[f64; 4], g: &mut [f64; 4]| objective(&p, &mut work, t, 0.0, g),
            [0.1; 4],
            BfgsOptions::default(),
        );
        assert!(cold.converged);
        let cold_params = cold.x.map(f64::exp);
        let warm_params = [
            warm.params.r,
            warm.params.alpha * p.scale,
            warm.params.a,
            warm.params.b,
        ];
        for k in 0..4 {
            assert!(
                (cold_params[k] - warm_params[k]).abs() < 1e-5 * cold_params[k],
                "{k}: {cold_params:?} vs {warm_params:?}"
            );
        }
        assert!(
            warm.iterations < cold.iterations,
            "{} vs {}",
            warm.iterations,
            cold.iterations
        );
    }

    #[test]
    fn analytic_gradient_matches_finite_differences() {
        let hs: Vec<History> = (0..200)
            .map(|i| {
                let x = (i % 7) as u32;
                let t = 5.0 + (i % 13) as f64;
                let tx = if x == 0 {
                    0.0
                } else {
                    t * ((i % 5) as f64 + 1.0) / 6.0
                };
                History::new(x, tx, t, 0.0)
            })
            .collect();
        let p = Prepared::new(hs.iter().map(|h| (h.frequency, h.recency, h.age, 1.0))).unwrap();
        let mut w = Work::new(&p);
        let theta = [-0.3, 0.4, -0.2, 0.7];
        let mut g = [0.0; 4];
        objective(&p, &mut w, &theta, 0.01, &mut g);
        for k in 0..4 {
            let h = 1e-6;
            let mut tp = theta;
            let mut tm = theta;
            tp[k] += h;
            tm[k] -= h;
            let mut dummy = [0.0; 4];
            let fd = (objective(&p, &mut w, &tp, 0.01, &mut dummy)
                - objective(&p, &mut w, &tm, 0.01, &mut dummy))
                / (2.0 * h);
            assert!((fd - g[k]).abs() < 1e-7, "component {k}: {fd} vs {}", g[k]);
        }
        // And the per-customer log-likelihood agrees with the fast path.
        let params = theta.map(f64::exp);
        let direct: f64 = hs
            .iter()
            .map(|h| {
                BgNbdParams {
                    r: params[0],
                    alpha: params[1],
                    a: params[2],
                    b: params[3],
                }
                .log_likelihood(h.frequency, h.recency * p.scale, h.age * p.scale)
            })
            .sum();
        let fast = -objective(&p, &mut w, &theta, 0.0, &mut g) * p.total_weight;
        assert!(
            (direct - fast).abs() < 1e-8 * direct.abs(),
            "{direct} vs {fast}"
        );
    }
}
