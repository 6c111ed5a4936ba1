//! A small BFGS minimiser with a strong-Wolfe line search, for the few-parameter likelihoods
//! fitted here (4 parameters for BG/NBD, 3 for Gamma-Gamma), plus a finite-difference Hessian
//! of an analytic gradient for standard errors.
//!
//! The objective is evaluated through a closure that fills the gradient and returns the value;
//! a non-finite value is treated as "too far" and makes the line search step back.

use crate::special::invert;

/// Outcome of a minimisation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Minimum<const N: usize> {
    pub x: [f64; N],
    pub f: f64,
    pub grad: [f64; N],
    pub iterations: usize,
    pub converged: bool,
}

/// Settings for [`bfgs`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct BfgsOptions {
    pub max_iterations: usize,
    /// Converged when the largest gradient component is below this.
    pub gradient_tolerance: f64,
    /// Accept convergence at this looser gradient size if the line search can no longer
    /// improve the objective (floating-point limit reached).
    pub stall_gradient_tolerance: f64,
}

impl Default for BfgsOptions {
    fn default() -> Self {
        Self {
            max_iterations: 1000,
            gradient_tolerance: 1e-8,
            stall_gradient_tolerance: 1e-5,
        }
    }
}

fn dot<const N: usize>(a: &[f64; N], b: &[f64; N]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_abs<const N: usize>(a: &[f64; N]) -> f64 {
    a.iter().fold(0.0_f64, |m, v| m.max(v.abs()))
}

/// Minimises `f` from `x0`. `f(x, grad)` returns the value and writes the gradient.
pub(crate) fn bfgs<const N: usize, F>(f: F, x0: [f64; N], opts: BfgsOptions) -> Minimum<N>
where
    F: FnMut(&[f64; N], &mut [f64; N]) -> f64,
{
    bfgs_from(f, x0, None, opts)
}

/// [`bfgs`] with an optional initial inverse-Hessian estimate (from a warm start).
pub(crate) fn bfgs_from<const N: usize, F>(
    mut f: F,
    x0: [f64; N],
    inverse_hessian: Option<[[f64; N]; N]>,
    opts: BfgsOptions,
) -> Minimum<N>
where
    F: FnMut(&[f64; N], &mut [f64; N]) -> f64,
{
    let mut x = x0;
    let mut g = [0.0; N];
    let mut fx = f(&x, &mut g);
    let mut h = inverse_hessian.unwrap_or_else(identity::<N>);
    let mut first = inverse_hessian.is_none();
    let mut iterations = 0;
    if !fx.is_finite() || g.iter().any(|v| !v.is_finite()) {
        return Minimum {
            x,
            f: fx,
            grad: g,
            iterations,
            converged: false,
        };
    }
    while iterations < opts.max_iterations {
        if max_abs(&g) < opts.gradient_tolerance {
            return Minimum {
                x,
                f: fx,
                grad: g,
                iterations,
                converged: true,
            };
        }
        iterations += 1;
        let mut p = mat_vec(&h, &g).map(|v| -v);
        let mut slope = dot(&p, &g);
        if slope >= 0.0 || !slope.is_finite() {
            h = identity::<N>();
            p = g.map(|v| -v);
            slope = dot(&p, &g);
        }
        let step0 = if first {
            (1.0 / max_abs(&g)).min(1.0)
        } else {
            1.0
        };
        let Some((step, x_new, f_new, g_new)) = wolfe_search(&mut f, &x, fx, slope, &p, step0)
        else {
            // No acceptable step: either we are at the floating-point floor of a minimum, or the
            // problem is ill-posed here.
            if !first {
                // Retry once along steepest descent with a fresh Hessian estimate.
                h = identity::<N>();
                first = true;
                continue;
            }
            let converged = max_abs(&g) < opts.stall_gradient_tolerance;
            return Minimum {
                x,
                f: fx,
                grad: g,
                iterations,
                converged,
            };
        };
        let s: [f64; N] = std::array::from_fn(|i| step * p[i]);
        let y: [f64; N] = std::array::from_fn(|i| g_new[i] - g[i]);
        let sy = dot(&s, &y);
        if first && sy > 0.0 {
            let yy = dot(&y, &y);
            if yy > 0.0 {
                h = identity::<N>();
                for (i, row) in h.iter_mut().enumerate() {
                    row[i] = sy / yy;
                }
            }
        }
        first = false;
        if sy > 1e-300 {
            // H+ = (I - rho s y^T) H (I - rho y s^T) + rho s s^T
            let rho = 1.0 / sy;
            let hy = mat_vec(&h, &y);
            let yhy = dot(&y, &hy);
            for i in 0..N {
                for j in 0..N {
                    h[i][j] += -rho * (hy[i] * s[j] + s[i] * hy[j])
                        + (rho * rho * yhy + rho) * s[i] * s[j];
                }
            }
        }
        let improvement = fx - f_new;
        x = x_new;
        fx = f_new;
        g = g_new;
        if improvement.abs() <= 1e-14 * fx.abs().max(1e-300)
            && max_abs(&g) < opts.stall_gradient_tolerance
        {
            return Minimum {
                x,
                f: fx,
                grad: g,
                iterations,
                converged: true,
            };
        }
    }
    let converged = max_abs(&g) < opts.gradient_tolerance;
    Minimum {
        x,
        f: fx,
        grad: g,
        iterations,
        converged,
    }
}

type Step<const N: usize> = (f64, [f64; N], f64, [f64; N]);

/// Strong-Wolfe line search (Nocedal & Wright, algorithms 3.5 and 3.6) with safeguarded
/// quadratic interpolation in the zoom phase. Returns `None` if no step decreases the objective.
fn wolfe_search<const N: usize, F>(
    f: &mut F,
    x: &[f64; N],
    f0: f64,
    slope0: f64,
    p: &[f64; N],
    step0: f64,
) -> Option<Step<N>>
where
    F: FnMut(&[f64; N], &mut [f64; N]) -> f64,
{
    const C1: f64 = 1e-4;
    const C2: f64 = 0.9;
    const MAX_EVALS: usize = 60;
    let mut evals = 0;
    let mut eval = |step: f64| {
        let xn: [f64; N] = std::array::from_fn(|i| x[i] + step * p[i]);
        let mut gn = [0.0; N];
        let fv = f(&xn, &mut gn);
        let ok = fv.is_finite() && gn.iter().all(|v| v.is_finite());
        let fv = if ok { fv } else { f64::INFINITY };
        (xn, fv, gn, dot(&gn, p))
    };
    let armijo = |step: f64, fv: f64| fv.is_finite() && fv <= f0 + C1 * step * slope0;

    // Bracketing phase: find an interval [lo, hi] containing acceptable steps.
    let mut lo: Step<N> = (0.0, *x, f0, [0.0; N]);
    let mut slope_lo = slope0;
    let mut hi_step;
    let mut f_hi;
    let mut step = step0;
    loop {
        evals += 1;
        let (xn, fv, gn, slope) = eval(step);
        if !armijo(step, fv) || (lo.0 > 0.0 && fv >= lo.2) {
            hi_step = step;
            f_hi = fv;
            break;
        }
        if slope.abs() <= -C2 * slope0 {
            return Some((step, xn, fv, gn));
        }
        if slope >= 0.0 {
            hi_step = lo.0;
            f_hi = lo.2;
            lo = (step, xn, fv, gn);
            slope_lo = slope;
            break;
        }
        lo = (step, xn, fv, gn);
        slope_lo = slope;
        step *= 2.0;
        if evals >= MAX_EVALS || step > 1e10 {
            return (lo.0 > 0.0).then_some(lo);
        }
    }

    // Zoom phase.
    while evals < MAX_EVALS {
        let d = hi_step - lo.0;
        if d.abs() <= 1e-14 * lo.0.abs().max(hi_step.abs()).max(1e-300) {
            break;
        }
        let mut trial = if f_hi.is_finite() {
            let denom = 2.0 * (f_hi - lo.2 - slope_lo * d);
            if denom > 0.0 {
                lo.0 - slope_lo * d * d / denom
            } else {
                lo.0 + 0.5 * d
            }
        } else {
            lo.0 + 0.5 * d
        };
        let (a, b) = if d > 0.0 {
            (lo.0, hi_step)
        } else {
            (hi_step, lo.0)
        };
        let margin = 0.1 * d.abs();
        if !(trial > a + margin && trial < b - margin) {
            trial = lo.0 + 0.5 * d;
        }
        evals += 1;
        let (xn, fv, gn, slope) = eval(trial);
        if (fv - f0).abs() <= 1e-14 * f0.abs().max(1e-300) {
            // The objective no longer changes measurably along this direction: we are at the
            // floating-point floor of the minimum.
            break;
        }
        if !armijo(trial, fv) || fv >= lo.2 {
            hi_step = trial;
            f_hi = fv;
        } else {
            if slope.abs() <= -C2 * slope0 {
                return Some((trial, xn, fv, gn));
            }
            if slope * (hi_step - lo.0) >= 0.0 {
                hi_step = lo.0;
                f_hi = lo.2;
            }
            lo = (trial, xn, fv, gn);
            slope_lo = slope;
        }
    }
    // Accept the best sufficient-decrease point found, if any.
    (lo.0 > 0.0 && lo.2 < f0).then_some(lo)
}

fn identity<const N: usize>() -> [[f64; N]; N] {
    let mut m = [[0.0; N]; N];
    for (i, row) in m.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    m
}

fn mat_vec<const N: usize>(m: &[[f64; N]; N], v: &[f64; N]) -> [f64; N] {
    std::array::from_fn(|i| dot(&m[i], v))
}

/// Hessian by forward differences of the analytic gradient (`grad` is the gradient at `x`),
/// symmetrised: N gradient evaluations, accurate to about 1e-5 relative, plenty for standard
/// errors and for seeding BFGS. `None` if a gradient evaluation fails.
pub(crate) fn numerical_hessian<const N: usize, F>(
    mut f: F,
    x: &[f64; N],
    grad: &[f64; N],
) -> Option<[[f64; N]; N]>
where
    F: FnMut(&[f64; N], &mut [f64; N]) -> f64,
{
    let mut hess = [[0.0; N]; N];
    for j in 0..N {
        let h = 1e-6 * x[j].abs().max(1.0);
        let mut xp = *x;
        xp[j] += h;
        let mut gp = [0.0; N];
        let fp = f(&xp, &mut gp);
        if !fp.is_finite() {
            return None;
        }
        for (row, (gpi, gi)) in hess.iter_mut().zip(gp.iter().zip(grad)) {
            row[j] = (gpi - gi) / h;
        }
    }
    let mut sym = hess;
    for (i, row) in sym.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = 0.5 * (hess[i][j] + hess[j][i]);
        }
    }
    let hess = sym;
    hess.iter().flatten().all(|v| v.is_finite()).then_some(hess)
}

/// Standard errors of the parameters whose log the optimiser worked on: given the Hessian of the
/// *total* negative log-likelihood in log-parameters, returns se(param) by the delta method.
pub(crate) fn standard_errors<const N: usize>(
    hess_total: &[[f64; N]; N],
    params: &[f64; N],
) -> Option<[f64; N]> {
    let cov = invert(hess_total)?;
    Some(std::array::from_fn(|i| params[i] * cov[i][i].sqrt()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimises_rosenbrock() {
        let rosen = |x: &[f64; 2], g: &mut [f64; 2]| {
            let (a, b) = (x[0], x[1]);
            g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
            g[1] = 200.0 * (b - a * a);
            (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
        };
        let m = bfgs(rosen, [-1.2, 1.0], BfgsOptions::default());
        assert!(m.converged, "{m:?}");
        assert!(
            (m.x[0] - 1.0).abs() < 1e-7 && (m.x[1] - 1.0).abs() < 1e-7,
            "{m:?}"
        );
    }

    #[test]
    fn hessian_of_quadratic() {
        let q = |x: &[f64; 2], g: &mut [f64; 2]| {
            g[0] = 2.0 * x[0] + x[1];
            g[1] = x[0] + 4.0 * x[1];
            x[0] * x[0] + x[0] * x[1] + 2.0 * x[1] * x[1]
        };
        let x = [0.3, -0.2];
        let g = [2.0 * x[0] + x[1], x[0] + 4.0 * x[1]];
        let h = numerical_hessian(q, &x, &g).unwrap();
        assert!((h[0][0] - 2.0).abs() < 1e-8 && (h[0][1] - 1.0).abs() < 1e-8);
        assert!((h[1][1] - 4.0).abs() < 1e-8);
    }
}
