//! The Gamma-Gamma model of spend per transaction (Fader & Hardie 2013, "The Gamma-Gamma model
//! of monetary value", brucehardie.com note 025; Fader, Hardie & Lee 2005, "RFM and CLV").
//!
//! Each customer's transaction values are Gamma(p, ν) with ν ~ Gamma(q, γ) across customers (the
//! parameter γ is called `v` here, as in `lifetimes`). The model is fitted on repeat buyers only,
//! from their number of repeat transactions x and mean repeat spend m̄, by maximising the
//! likelihood of equation (1a) of note 025 over log-parameters (BFGS, analytic gradient, identical
//! (x, m̄) rows merged). Money is rescaled internally by the mean spend for conditioning.
//!
//! The model assumes spend is independent of purchase frequency; [`GammaGammaFit`] reports the
//! Pearson correlation between x and m̄ among repeat buyers so a user can check it (|ρ| below
//! about 0.3 is usually taken as acceptable).

use crate::error::{AnalyticsError, Result};
use crate::optimize::{BfgsOptions, bfgs, numerical_hessian, standard_errors};
use crate::special::{digamma, ln_gamma};
use crate::summary::History;
use crate::util::FxMap;
use serde::{Deserialize, Serialize};

const MODEL: &str = "Gamma-Gamma";

/// Gamma-Gamma parameters; `v` (γ in the papers) is in the money unit of the data (minor units).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaParams {
    /// Shape of the per-transaction spend distribution.
    pub p: f64,
    /// Shape of the Gamma distribution of the spend rate ν.
    pub q: f64,
    /// Scale of the Gamma distribution of ν (γ), in money units.
    pub v: f64,
}

/// A fitted Gamma-Gamma model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaFit {
    /// Maximum-likelihood parameters.
    pub params: GammaGammaParams,
    /// Standard errors, when the Hessian could be inverted.
    pub standard_errors: Option<GammaGammaParams>,
    /// Total log-likelihood in the data's money unit.
    pub log_likelihood: f64,
    /// Repeat buyers used.
    pub customers: f64,
    /// Repeat buyers skipped because their mean repeat spend was zero.
    pub skipped_zero_spend: f64,
    /// Pearson correlation between frequency and mean spend among repeat buyers (the model
    /// assumes it is near 0).
    pub frequency_spend_correlation: f64,
    /// BFGS iterations used.
    pub iterations: usize,
}

#[derive(Clone, Copy)]
struct Row {
    ix: u32,
    ln_m: f64,
    m: f64,
    w: f64,
}

struct Prepared {
    rows: Vec<Row>,
    xs: Vec<f64>,
    total_weight: f64,
}

/// Fits the model to the repeat buyers (`frequency > 0`) among `histories`; others are skipped.
/// Repeat buyers whose mean repeat spend is zero (possible only when zero-amount orders are
/// counted as purchases) carry no spend information and are skipped too, and counted in
/// [`GammaGammaFit::skipped_zero_spend`]; negative or non-finite spend is an error.
pub fn fit_gamma_gamma(histories: &[History]) -> Result<GammaGammaFit> {
    fit_gamma_gamma_weighted(
        histories
            .iter()
            .map(|h| (h.frequency, h.monetary_value, 1.0)),
    )
}

/// Like [`fit_gamma_gamma`] over `(frequency, mean repeat spend, weight)` rows.
pub fn fit_gamma_gamma_weighted(
    rows: impl IntoIterator<Item = (u32, f64, f64)>,
) -> Result<GammaGammaFit> {
    let mut groups: FxMap<(u32, u64), f64> = FxMap::default();
    let (mut sw, mut sx, mut sm, mut sxx, mut smm, mut sxm) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let mut skipped = 0.0;
    for (x, m, w) in rows {
        if x == 0 {
            continue;
        }
        if m == 0.0 {
            skipped += w;
            continue;
        }
        if !(m.is_finite() && m > 0.0) {
            return Err(AnalyticsError::invalid(format!(
                "a repeat buyer has mean spend {m}; spend must be positive (exclude refunds \
                 first)"
            )));
        }
        if !(w.is_finite() && w > 0.0) {
            return Err(AnalyticsError::invalid(format!(
                "weight {w} must be positive"
            )));
        }
        *groups.entry((x, m.to_bits())).or_insert(0.0) += w;
        let xf = f64::from(x);
        sw += w;
        sx += w * xf;
        sm += w * m;
        sxx += w * xf * xf;
        smm += w * m * m;
        sxm += w * xf * m;
    }
    if groups.is_empty() {
        return Err(AnalyticsError::NoRepeatBuyers { model: MODEL });
    }
    if groups.len() < 2 {
        return Err(AnalyticsError::Degenerate {
            model: MODEL,
            detail: "all repeat buyers have the same frequency and mean spend, so spend \
                     variation cannot be estimated; more customers are needed"
                .into(),
        });
    }
    let scale = sm / sw;
    let mut keys: Vec<((u32, u64), f64)> = groups.into_iter().collect();
    keys.sort_unstable_by_key(|(k, _)| *k);
    let mut xs: Vec<f64> = Vec::new();
    let mut rows_out = Vec::with_capacity(keys.len());
    for ((x, bits), w) in keys {
        let xf = f64::from(x);
        if xs.last() != Some(&xf) {
            xs.push(xf);
        }
        let m = f64::from_bits(bits) / scale;
        rows_out.push(Row {
            ix: (xs.len() - 1) as u32,
            ln_m: m.ln(),
            m,
            w,
        });
    }
    let prep = Prepared {
        rows: rows_out,
        xs,
        total_weight: sw,
    };

    let mut tab = vec![[0.0_f64; 4]; prep.xs.len()];
    let mut f = |theta: &[f64; 3], g: &mut [f64; 3]| objective(&prep, &mut tab, theta, g);
    let m = bfgs(&mut f, [0.1; 3], BfgsOptions::default());
    if !m.converged {
        return Err(AnalyticsError::NotConverged {
            model: MODEL,
            iterations: m.iterations,
            detail: format!(
                "largest gradient component {:e}",
                m.grad.iter().fold(0.0_f64, |a, v| a.max(v.abs()))
            ),
        });
    }
    if let Some(k) =
        m.x.iter()
            .position(|v| v.abs() > crate::bgnbd::MAX_LOG_PARAM)
    {
        return Err(AnalyticsError::Degenerate {
            model: MODEL,
            detail: format!(
                "parameter {} ran off to {:e}; spend per order varies too little (or too \
                 wildly) between customers for the model — use each customer's mean spend \
                 instead",
                ["p", "q", "v"][k],
                m.x[k].exp()
            ),
        });
    }
    let [p, q, v_s] = m.x.map(f64::exp);
    let params = GammaGammaParams {
        p,
        q,
        v: v_s * scale,
    };
    let log_likelihood = -m.f * sw - sw * scale.ln();
    let standard_errors = numerical_hessian(&mut f, &m.x, &m.grad)
        .map(|h| h.map(|row| row.map(|v| v * sw)))
        .and_then(|h| standard_errors(&h, &[p, q, v_s]))
        .filter(|se| se.iter().all(|v| v.is_finite()))
        .map(|se| GammaGammaParams {
            p: se[0],
            q: se[1],
            v: se[2] * scale,
        });
    let var_x = sxx / sw - (sx / sw).powi(2);
    let var_m = smm / sw - (sm / sw).powi(2);
    let cov = sxm / sw - (sx / sw) * (sm / sw);
    let corr = if var_x > 0.0 && var_m > 0.0 {
        (cov / (var_x * var_m).sqrt()).clamp(-1.0, 1.0)
    } else {
        0.0
    };
    Ok(GammaGammaFit {
        params,
        standard_errors,
        log_likelihood,
        customers: sw,
        skipped_zero_spend: skipped,
        frequency_spend_correlation: corr,
        iterations: m.iterations,
    })
}

/// Mean negative log-likelihood (scaled money) and gradient in log-parameters.
fn objective(prep: &Prepared, tab: &mut [[f64; 4]], theta: &[f64; 3], g: &mut [f64; 3]) -> f64 {
    let [p, q, v] = theta.map(f64::exp);
    if [p, q, v].iter().any(|x| !x.is_finite() || *x <= 0.0) {
        return f64::INFINITY;
    }
    let ln_gamma_q = ln_gamma(q);
    let psi_q = digamma(q);
    for (t, &x) in tab.iter_mut().zip(&prep.xs) {
        let px = p * x;
        let ln_x = x.ln();
        // [constant part of ll, d/dp part / x, psi(px+q), px]
        t[0] = ln_gamma(px + q) - ln_gamma(px) + px * ln_x;
        t[1] = digamma(px + q) - digamma(px) + ln_x;
        t[2] = digamma(px + q);
        t[3] = px;
    }
    let ln_v = v.ln();
    let (mut ll, mut dp, mut dq, mut dv) = (0.0, 0.0, 0.0, 0.0);
    for row in &prep.rows {
        let t = &tab[row.ix as usize];
        let x = prep.xs[row.ix as usize];
        let px = t[3];
        let xmv = x * row.m + v;
        let ln_xmv = xmv.ln();
        ll += row.w * (t[0] - ln_gamma_q + q * ln_v + (px - 1.0) * row.ln_m - (px + q) * ln_xmv);
        dp += row.w * x * (t[1] + row.ln_m - ln_xmv);
        dq += row.w * (t[2] - psi_q + ln_v - ln_xmv);
        dv += row.w * (q / v - (px + q) / xmv);
    }
    let n = prep.total_weight;
    g[0] = -p * dp / n;
    g[1] = -q * dq / n;
    g[2] = -v * dv / n;
    -ll / n
}

impl GammaGammaParams {
    /// Checks all parameters are finite and positive, and q > 1 (otherwise the population mean
    /// spend is infinite and no expected spend exists).
    pub fn validate(&self) -> Result<()> {
        if ![self.p, self.q, self.v]
            .iter()
            .all(|x| x.is_finite() && *x > 0.0)
        {
            return Err(AnalyticsError::invalid(format!(
                "Gamma-Gamma parameters must be positive: {self:?}"
            )));
        }
        if self.q <= 1.0 {
            return Err(AnalyticsError::Degenerate {
                model: MODEL,
                detail: format!(
                    "q = {} is not above 1, so the population mean spend is infinite; spend is too \
                     heavy-tailed for this model (check for outlier orders)",
                    self.q
                ),
            });
        }
        Ok(())
    }

    /// Mean spend per transaction in the population, pγ/(q−1).
    pub fn population_mean_spend(&self) -> Result<f64> {
        self.validate()?;
        Ok(self.p * self.v / (self.q - 1.0))
    }

    /// Expected mean spend per transaction of a customer with `frequency` repeat purchases of
    /// mean value `monetary_value` (equation 5 of note 025): a weighted average of the
    /// customer's own mean and the population mean. Customers with no repeat purchase get the
    /// population mean.
    pub fn expected_average_spend(&self, frequency: u32, monetary_value: f64) -> Result<f64> {
        let pop = self.population_mean_spend()?;
        if frequency == 0 {
            return Ok(pop);
        }
        if !monetary_value.is_finite() {
            return Err(AnalyticsError::invalid(format!(
                "monetary value {monetary_value} is not finite"
            )));
        }
        let px = self.p * f64::from(frequency);
        let w = px / (px + self.q - 1.0);
        Ok((1.0 - w) * pop + w * monetary_value)
    }

    /// Log-likelihood of one repeat buyer (equation 1a of note 025).
    pub fn log_likelihood(&self, frequency: u32, monetary_value: f64) -> f64 {
        let GammaGammaParams { p, q, v } = *self;
        let x = f64::from(frequency);
        let px = p * x;
        ln_gamma(px + q) - ln_gamma(px) - ln_gamma(q)
            + q * v.ln()
            + (px - 1.0) * monetary_value.ln()
            + px * x.ln()
            - (px + q) * (x * monetary_value + v).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_repeaters_is_an_error() {
        let hs = vec![History::new(0, 0.0, 5.0, 0.0); 3];
        assert!(matches!(
            fit_gamma_gamma(&hs),
            Err(AnalyticsError::NoRepeatBuyers { .. })
        ));
        let same = vec![History::new(2, 3.0, 5.0, 10.0); 3];
        assert!(matches!(
            fit_gamma_gamma(&same),
            Err(AnalyticsError::Degenerate { .. })
        ));
    }

    #[test]
    fn expected_spend_is_a_weighted_average() {
        let gg = GammaGammaParams {
            p: 6.25,
            q: 3.74,
            v: 15.44,
        };
        let pop = gg.population_mean_spend().unwrap();
        assert!((gg.expected_average_spend(0, 0.0).unwrap() - pop).abs() < 1e-12);
        let e = gg.expected_average_spend(5, 100.0).unwrap();
        assert!(e > pop && e < 100.0);
        assert!(
            GammaGammaParams {
                p: 1.0,
                q: 0.9,
                v: 1.0
            }
            .expected_average_spend(1, 5.0)
            .is_err()
        );
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let hs: Vec<History> = (1..60)
            .map(|i| History::new((i % 6 + 1) as u32, 1.0, 2.0, 10.0 + (i * 7 % 23) as f64))
            .collect();
        // Build the prepared data through the public path's internals.
        let mut groups = Vec::new();
        for h in &hs {
            groups.push((h.frequency, h.monetary_value));
        }
        let mut xs: Vec<f64> = groups.iter().map(|g| f64::from(g.0)).collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        let rows = groups
            .iter()
            .map(|&(x, m)| Row {
                ix: xs.iter().position(|v| *v == f64::from(x)).unwrap() as u32,
                ln_m: m.ln(),
                m,
                w: 1.0,
            })
            .collect();
        let prep = Prepared {
            rows,
            xs,
            total_weight: hs.len() as f64,
        };
        let mut tab = vec![[0.0; 4]; prep.xs.len()];
        let theta = [0.5, 0.8, 1.5];
        let mut g = [0.0; 3];
        let f0 = objective(&prep, &mut tab, &theta, &mut g);
        for k in 0..3 {
            let h = 1e-6;
            let mut tp = theta;
            let mut tm = theta;
            tp[k] += h;
            tm[k] -= h;
            let mut d = [0.0; 3];
            let fd = (objective(&prep, &mut tab, &tp, &mut d)
                - objective(&prep, &mut tab, &tm, &mut d))
                / (2.0 * h);
            assert!((fd - g[k]).abs() < 1e-7, "{k}: {fd} vs {}", g[k]);
        }
        let params = GammaGammaParams {
            p: theta[0].exp(),
            q: theta[1].exp(),
            v: theta[2].exp(),
        };
        let direct: f64 = hs
            .iter()
            .map(|h| params.log_likelihood(h.frequency, h.monetary_value))
            .sum();
        assert!((direct + f0 * prep.total_weight).abs() < 1e-9 * direct.abs());
    }
}
