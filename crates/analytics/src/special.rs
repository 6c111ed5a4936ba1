//! Special functions the models need: log-gamma, digamma, the Gauss hypergeometric series and
//! the inverse normal CDF. Implemented here (a few dozen lines each) so the crate has no numeric
//! dependencies; accuracy is checked against reference values in the tests below.

use crate::error::{AnalyticsError, Result};

const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;

/// ln Γ(x) for x > 0, accurate to about 1e-15 relative.
///
/// Shifts x up to at least 15 with the recurrence Γ(x+1) = xΓ(x), then uses Stirling's series.
pub(crate) fn ln_gamma(x: f64) -> f64 {
    debug_assert!(x > 0.0);
    let mut x = x;
    let mut prod = 1.0;
    let mut shift_log = 0.0;
    while x < 15.0 {
        prod *= x;
        x += 1.0;
        if prod > 1e280 {
            shift_log += prod.ln();
            prod = 1.0;
        }
    }
    shift_log += prod.ln();
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    let series = inv
        * (1.0 / 12.0
            + inv2
                * (-1.0 / 360.0
                    + inv2 * (1.0 / 1260.0 + inv2 * (-1.0 / 1680.0 + inv2 * (1.0 / 1188.0)))));
    (x - 0.5) * x.ln() - x + HALF_LN_2PI + series - shift_log
}

/// ψ(x) = d/dx ln Γ(x) for x > 0.
pub(crate) fn digamma(x: f64) -> f64 {
    debug_assert!(x > 0.0);
    let mut x = x;
    let mut acc = 0.0;
    while x < 15.0 {
        acc -= 1.0 / x;
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    let series = inv2
        * (1.0 / 12.0
            - inv2 * (1.0 / 120.0 - inv2 * (1.0 / 252.0 - inv2 * (1.0 / 240.0 - inv2 / 132.0))));
    acc + x.ln() - 0.5 * inv - series
}

/// 2F1(a, b; c; z) − 1 by its power series, for 0 ≤ z < 1 and c > 0.
///
/// Returning the series *minus one* lets callers keep full relative accuracy for small z
/// (they combine it with `ln_1p`). The series converges geometrically with ratio → z; it is summed
/// until the terms stop mattering, or fails with an error (never NaN) if that takes more than
/// `MAX_TERMS` terms.
pub(crate) fn hyp2f1_minus_one(a: f64, b: f64, c: f64, z: f64) -> Result<f64> {
    const MAX_TERMS: usize = 2_000_000;
    if !(0.0..1.0).contains(&z) || c <= 0.0 || !a.is_finite() || !b.is_finite() {
        return Err(AnalyticsError::Numerical {
            what: "hypergeometric series 2F1",
            detail: format!("arguments out of range: a={a}, b={b}, c={c}, z={z}"),
        });
    }
    let mut term = 1.0_f64;
    let mut sum = 0.0_f64;
    // After n exceeds `monotone_from`, |term ratio| < 1 and decreases towards z.
    let monotone_from = (a.abs() + b.abs() + c.abs()) as usize + 2;
    for n in 0..MAX_TERMS {
        let nf = n as f64;
        term *= (a + nf) * (b + nf) / ((c + nf) * (nf + 1.0)) * z;
        sum += term;
        if term == 0.0 {
            return Ok(sum);
        }
        if n > monotone_from && term.abs() <= 1e-17 * sum.abs().max(1e-300) {
            // Tail bound: geometric with ratio at most (ratio of this step), which is < 1 here.
            return Ok(sum);
        }
        if !sum.is_finite() {
            break;
        }
    }
    Err(AnalyticsError::Numerical {
        what: "hypergeometric series 2F1",
        detail: format!("series did not converge for a={a}, b={b}, c={c}, z={z}"),
    })
}

/// Inverse of the standard normal CDF (Acklam's rational approximation; relative error below
/// 1.2e-9 on (0, 1), far below what a prediction interval needs).
pub(crate) fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let p_low = 0.024_25;
    if p < p_low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - p_low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    }
}

/// Inverts a small symmetric positive-definite matrix by Gauss-Jordan elimination with partial
/// pivoting. Returns `None` if the matrix is singular or not positive on the diagonal of the
/// inverse.
pub(crate) fn invert<const N: usize>(m: &[[f64; N]; N]) -> Option<[[f64; N]; N]> {
    let mut a = *m;
    let mut inv = [[0.0; N]; N];
    for (i, row) in inv.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for col in 0..N {
        let mut piv = col;
        for r in col + 1..N {
            if a[r][col].abs() > a[piv][col].abs() {
                piv = r;
            }
        }
        if a[piv][col].abs() < 1e-300 || !a[piv][col].is_finite() {
            return None;
        }
        a.swap(col, piv);
        inv.swap(col, piv);
        let d = a[col][col];
        for k in 0..N {
            a[col][k] /= d;
            inv[col][k] /= d;
        }
        for r in 0..N {
            if r != col {
                let f = a[r][col];
                if f != 0.0 {
                    for k in 0..N {
                        a[r][k] -= f * a[col][k];
                        inv[r][k] -= f * inv[col][k];
                    }
                }
            }
        }
    }
    if (0..N).all(|i| inv[i][i] > 0.0 && inv[i][i].is_finite()) {
        Some(inv)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1.0)
    }

    #[test]
    fn ln_gamma_reference_values() {
        assert!(close(ln_gamma(0.5), 0.572_364_942_924_700_1, 1e-14));
        assert!(close(ln_gamma(1.0), 0.0, 1e-14));
        assert!(close(ln_gamma(10.0), 12.801_827_480_081_469, 1e-14));
        assert!(close(ln_gamma(1e-3), 6.907_178_885_383_854, 1e-13));
        assert!(close(ln_gamma(123.456), 469.605_547_129_929_56, 1e-13));
    }

    #[test]
    fn digamma_reference_values() {
        assert!(close(digamma(1.0), -0.577_215_664_901_532_9, 1e-13));
        assert!(close(digamma(0.5), -1.963_510_026_021_423_5, 1e-13));
        assert!(close(digamma(20.0), 2.970_523_992_242_149, 1e-13));
    }

    #[test]
    fn hyp2f1_matches_closed_forms() {
        // 2F1(1,1;2;z) = -ln(1-z)/z
        for &z in &[1e-6, 0.1, 0.5, 0.9, 0.99] {
            let f = 1.0 + hyp2f1_minus_one(1.0, 1.0, 2.0, z).unwrap();
            assert!(close(f, -(-z).ln_1p() / z, 1e-12), "z={z}");
        }
        // 2F1(a,b;b;z) = (1-z)^-a
        let f = 1.0 + hyp2f1_minus_one(0.3, 2.5, 2.5, 0.7).unwrap();
        assert!(close(f, 0.3f64.powf(-0.3), 1e-12));
        assert!(hyp2f1_minus_one(1.0, 1.0, 2.0, 1.0).is_err());
    }

    #[test]
    fn inverse_normal_reference_values() {
        assert!(close(inverse_normal_cdf(0.5), 0.0, 1e-12));
        assert!(close(
            inverse_normal_cdf(0.9),
            1.281_551_565_544_600_8,
            1e-8
        ));
        assert!(close(
            inverse_normal_cdf(0.975),
            1.959_963_984_540_053_6,
            1e-8
        ));
        assert!(close(
            inverse_normal_cdf(0.01),
            -2.326_347_874_040_840_8,
            1e-8
        ));
    }

    #[test]
    fn invert_small_matrix() {
        let m = [[4.0, 1.0], [1.0, 3.0]];
        let inv = invert(&m).unwrap();
        assert!(close(inv[0][0], 3.0 / 11.0, 1e-14));
        assert!(close(inv[0][1], -1.0 / 11.0, 1e-14));
        assert!(invert(&[[1.0, 2.0], [2.0, 4.0]]).is_none());
    }
}
