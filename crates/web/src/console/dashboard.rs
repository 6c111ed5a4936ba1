//! The manager dashboard (`/dashboard`, issue 6): the Pareto curve, tier and segment
//! distributions, the RFM grid as a heat map, the CLV histogram, the churn at-risk list and
//! replenishment due soon — from the latest `concierge analytics run`.
//!
//! Charts are SVG drawn on the server: no script, and no `style` attributes (the CSP forbids
//! them); colours come from SVG presentation attributes (`fill`, `stroke`, `fill-opacity`).
//! Every text placed in an SVG is escaped here, since the SVG is inserted unescaped.

use super::{Shell, render};
use crate::auth::ConsoleStaff;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use concierge_app::analytics::{self as uc, Bin, CurvePoint, DAY_MS, GridCellView};
use concierge_domain::Permission;
use std::fmt::Write;

const ACCENT: &str = "#2553c7";
const MUTED: &str = "#5b6475";
const LINE: &str = "#dfe3ea";

/// Escapes text for SVG/HTML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A finite number with one decimal (0 for anything else): nothing non-finite reaches the page.
fn f1(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.1}")
    } else {
        "0".into()
    }
}

/// Money in minor units shown as major units with two decimals.
pub fn money(minor: f64) -> String {
    if minor.is_finite() {
        format!("{:.2}", minor / 100.0)
    } else {
        "–".into()
    }
}

fn pct(share: f64) -> String {
    if share.is_finite() {
        format!("{:.1}%", share * 100.0)
    } else {
        "–".into()
    }
}

fn date(ms: i64) -> String {
    uc::format_day(ms.div_euclid(DAY_MS))
}

/// The Pareto (Lorenz) curve: share of revenue against share of customers, best first.
fn pareto_svg(points: &[CurvePoint], customers_label: &str, revenue_label: &str) -> String {
    let (w, h, l, b, t, r) = (420.0, 280.0, 48.0, 36.0, 12.0, 12.0);
    let pw = w - l - r;
    let ph = h - t - b;
    let x = |s: f64| l + s.clamp(0.0, 1.0) * pw;
    let y = |s: f64| t + (1.0 - s.clamp(0.0, 1.0)) * ph;
    let mut svg = format!(
        "<svg data-testid=\"pareto-chart\" class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" \
         aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        esc(revenue_label)
    );
    for i in 0..=4 {
        let v = f64::from(i) * 0.25;
        let _ = write!(
            svg,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{LINE}\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\" fill=\"{MUTED}\">{}%</text>\
             <text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\" fill=\"{MUTED}\">{}%</text>",
            f1(l),
            f1(y(v)),
            f1(w - r),
            f1(y(v)),
            f1(l - 4.0),
            f1(y(v) + 3.0),
            i * 25,
            f1(x(v)),
            f1(h - b + 14.0),
            i * 25
        );
    }
    // Equality line: every customer brings the same.
    let _ = write!(
        svg,
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{MUTED}\" stroke-dasharray=\"4 3\"/>",
        f1(x(0.0)),
        f1(y(0.0)),
        f1(x(1.0)),
        f1(y(1.0))
    );
    if !points.is_empty() {
        let mut d = String::new();
        for (i, p) in points.iter().enumerate() {
            let _ = write!(
                d,
                "{}{} {}",
                if i == 0 { "M" } else { " L" },
                f1(x(p.customers)),
                f1(y(p.revenue))
            );
        }
        let _ = write!(
            svg,
            "<path data-testid=\"pareto-curve\" data-points=\"{}\" d=\"{d}\" fill=\"none\" \
             stroke=\"{ACCENT}\" stroke-width=\"2.5\"/>",
            points.len()
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\" fill=\"{MUTED}\">{}</text>\
         <text x=\"12\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\" fill=\"{MUTED}\" \
         transform=\"rotate(-90 12 {})\">{}</text></svg>",
        f1(l + pw / 2.0),
        f1(h - 4.0),
        esc(customers_label),
        f1(t + ph / 2.0),
        f1(t + ph / 2.0),
        esc(revenue_label)
    );
    svg
}

/// Horizontal bars, one per label.
fn bars_svg(testid: &str, items: &[(String, i64)]) -> String {
    let row = 24.0;
    let (w, label_w, num_w) = (420.0, 130.0, 56.0);
    let h = row * items.len().max(1) as f64 + 8.0;
    let max = items.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1) as f64;
    let mut svg = format!(
        "<svg data-testid=\"{testid}\" class=\"chart\" viewBox=\"0 0 {w} {}\" role=\"img\" \
         xmlns=\"http://www.w3.org/2000/svg\">",
        f1(h)
    );
    for (i, (label, n)) in items.iter().enumerate() {
        let y = 4.0 + row * i as f64;
        let bw = (w - label_w - num_w) * (*n as f64 / max);
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"end\" fill=\"#1d2330\">{}</text>\
             <rect class=\"bar\" data-count=\"{n}\" x=\"{label_w}\" y=\"{}\" width=\"{}\" height=\"{}\" \
             fill=\"{ACCENT}\" rx=\"3\"><title>{}: {n}</title></rect>\
             <text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"{MUTED}\">{n}</text>",
            f1(label_w - 6.0),
            f1(y + row * 0.65),
            esc(label),
            f1(y + 3.0),
            f1(bw),
            f1(row - 8.0),
            esc(label),
            f1(label_w + bw + 4.0),
            f1(y + row * 0.65)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The 5×5 RFM grid (recency 5 at the top, FM 1 to 5 left to right) as a heat map.
fn grid_svg(cells: &[GridCellView], r_label: &str, fm_label: &str) -> String {
    let (cell, left, top) = (70.0, 36.0, 8.0);
    let w = left + cell * 5.0 + 8.0;
    let h = top + cell * 5.0 + 32.0;
    let max = cells.iter().map(|c| c.customers).max().unwrap_or(0).max(1) as f64;
    let mut svg = format!(
        "<svg data-testid=\"rfm-grid\" class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" \
         xmlns=\"http://www.w3.org/2000/svg\">"
    );
    for c in cells {
        let col = (c.fm - 1).clamp(0, 4) as f64;
        let row = (5 - c.r).clamp(0, 4) as f64;
        let x = left + col * cell;
        let y = top + row * cell;
        let opacity = 0.08 + 0.92 * (c.customers as f64 / max);
        let text_fill = if opacity > 0.55 { "#ffffff" } else { "#1d2330" };
        let _ = write!(
            svg,
            "<rect class=\"cell\" data-count=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" \
             fill=\"{ACCENT}\" fill-opacity=\"{:.2}\" stroke=\"#ffffff\"><title>R{} FM{} · {}: {}</title></rect>\
             <text x=\"{}\" y=\"{}\" font-size=\"14\" font-weight=\"700\" text-anchor=\"middle\" fill=\"{text_fill}\">{}</text>\
             <text x=\"{}\" y=\"{}\" font-size=\"8\" text-anchor=\"middle\" fill=\"{text_fill}\">{}</text>",
            c.customers,
            f1(x),
            f1(y),
            f1(cell),
            f1(cell),
            opacity,
            c.r,
            c.fm,
            esc(&c.segment),
            c.customers,
            f1(x + cell / 2.0),
            f1(y + cell / 2.0),
            c.customers,
            f1(x + cell / 2.0),
            f1(y + cell / 2.0 + 16.0),
            esc(&c.segment)
        );
    }
    for i in 1..=5 {
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\" fill=\"{MUTED}\">R{}</text>\
             <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\" fill=\"{MUTED}\">FM{}</text>",
            f1(left - 6.0),
            f1(top + (5 - i) as f64 * cell + cell / 2.0 + 4.0),
            i,
            f1(left + (i - 1) as f64 * cell + cell / 2.0),
            f1(top + cell * 5.0 + 14.0),
            i
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\" fill=\"{MUTED}\">{} ↑ · {} →</text></svg>",
        f1(left + cell * 2.5),
        f1(h - 4.0),
        esc(r_label),
        esc(fm_label)
    );
    svg
}

/// The CLV histogram: vertical bars over value ranges.
fn histogram_svg(bins: &[Bin], axis_label: &str) -> String {
    let (w, h, l, b, t) = (420.0, 240.0, 40.0, 40.0, 10.0);
    let pw = w - l - 10.0;
    let ph = h - t - b;
    let max = bins.iter().map(|x| x.customers).max().unwrap_or(0).max(1) as f64;
    let bw = pw / bins.len().max(1) as f64;
    let mut svg = format!(
        "<svg data-testid=\"clv-histogram\" class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" \
         xmlns=\"http://www.w3.org/2000/svg\">\
         <line x1=\"{l}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{MUTED}\"/>",
        f1(t + ph),
        f1(w - 10.0),
        f1(t + ph)
    );
    for (i, bin) in bins.iter().enumerate() {
        let bh = ph * (bin.customers as f64 / max);
        let x = l + bw * i as f64;
        let _ = write!(
            svg,
            "<rect class=\"bar\" data-count=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" \
             fill=\"{ACCENT}\"><title>{} – {}: {}</title></rect>",
            bin.customers,
            f1(x + 1.0),
            f1(t + ph - bh),
            f1((bw - 2.0).max(1.0)),
            f1(bh),
            money(bin.low),
            money(bin.high),
            bin.customers
        );
    }
    if let (Some(first), Some(last)) = (bins.first(), bins.last()) {
        let _ = write!(
            svg,
            "<text x=\"{l}\" y=\"{}\" font-size=\"10\" fill=\"{MUTED}\">{}</text>\
             <text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\" fill=\"{MUTED}\">{}+</text>",
            f1(t + ph + 14.0),
            money(first.low),
            f1(w - 10.0),
            f1(t + ph + 14.0),
            money(last.low)
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\" fill=\"{MUTED}\">{}</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\" fill=\"{MUTED}\">{}</text></svg>",
        f1(l + pw / 2.0),
        f1(h - 6.0),
        esc(axis_label),
        f1(l - 4.0),
        f1(t + 8.0),
        max as i64
    );
    svg
}

struct RiskItem {
    id: i64,
    name: String,
    segment: String,
    value: String,
    churn: String,
    days: i64,
    reasons: String,
}

struct DueItem {
    customer_id: i64,
    customer: String,
    product: String,
    run_out: String,
    window: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage<'a> {
    shell: Shell<'a>,
    has_run: bool,
    as_of: String,
    customers: u64,
    top20: String,
    gini: String,
    total_clv: String,
    notes: Vec<String>,
    pareto: String,
    tiers: String,
    segments: String,
    grid: String,
    clv: String,
    at_risk: Vec<RiskItem>,
    due: Vec<DueItem>,
}

/// `GET /dashboard`: managers and administrators.
pub async fn dashboard(
    State(s): State<AppState>,
    headers: HeaderMap,
    staff: ConsoleStaff,
) -> Response {
    let shell = Shell::new(&s, &headers, &staff);
    if !staff.user.role.can(Permission::ViewReports) {
        return (
            StatusCode::FORBIDDEN,
            axum::response::Html(format!(
                "<!doctype html><title>403</title><p>{}</p><p><a href=\"/\">{}</a></p>",
                esc(shell.t.get("dashboard.forbidden")),
                esc(shell.t.get("nav.home"))
            )),
        )
            .into_response();
    }
    let tenant = staff.user.tenant_id;
    let app = &s.app;
    let loaded = async {
        let report = uc::latest_report(app, tenant).await?;
        let (segs, grid) = uc::segments(app, tenant).await?;
        let tiers = uc::tier_distribution(app, tenant).await?;
        let risk = uc::at_risk(app, tenant, 10).await?;
        let due = uc::due_soon(app, tenant, 14, 10).await?;
        Ok::<_, uc::AnalyticsRunError>((report, segs, grid, tiers, risk, due))
    }
    .await;
    let (report, segs, grid, tiers, risk, due) = match loaded {
        Ok(x) => x,
        Err(e) => {
            tracing::warn!(error = %e, "dashboard failed");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                shell.t.get("error.unavailable").to_string(),
            )
                .into_response();
        }
    };
    let t = shell.t;
    let report = report.unwrap_or_default();
    let has_run = report.customers > 0;
    let page = DashboardPage {
        has_run,
        as_of: report.as_of.clone(),
        customers: report.customers,
        top20: pct(report.pareto.top_20_percent_share),
        gini: format!(
            "{:.3}",
            if report.pareto.gini.is_finite() {
                report.pareto.gini
            } else {
                0.0
            }
        ),
        total_clv: money(report.total_clv),
        notes: report.model_notes.clone(),
        pareto: pareto_svg(
            &report.pareto.points,
            t.get("dashboard.share_customers"),
            t.get("dashboard.share_revenue"),
        ),
        tiers: bars_svg(
            "tier-chart",
            &tiers
                .iter()
                .map(|c| (c.label.clone(), c.customers))
                .collect::<Vec<_>>(),
        ),
        segments: bars_svg(
            "segment-chart",
            &segs
                .iter()
                .map(|c| (c.label.clone(), c.customers))
                .collect::<Vec<_>>(),
        ),
        grid: grid_svg(&grid, t.get("dashboard.recency"), t.get("dashboard.fm")),
        clv: histogram_svg(&report.clv_histogram, t.get("dashboard.clv_axis")),
        at_risk: risk
            .into_iter()
            .map(|r| RiskItem {
                id: r.customer_id,
                name: r.display_name,
                segment: r.segment,
                value: money(r.value),
                churn: r.churn_risk.map(pct).unwrap_or_else(|| "–".into()),
                days: r.days_since_last,
                reasons: r.reasons,
            })
            .collect(),
        due: due
            .into_iter()
            .map(|d| DueItem {
                customer_id: d.customer_id,
                customer: d.display_name,
                product: d.product_name,
                run_out: date(d.run_out_at),
                window: format!("{} – {}", date(d.run_out_low_at), date(d.run_out_high_at)),
            })
            .collect(),
        shell,
    };
    render(&page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_text_is_escaped_and_numbers_are_finite() {
        let svg = bars_svg(
            "x",
            &[("<script>&\"'".into(), 3), ("Can't Lose Them".into(), 0)],
        );
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;&amp;&quot;&#39;"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        let p = pareto_svg(
            &[
                CurvePoint {
                    customers: 0.0,
                    revenue: 0.0,
                },
                CurvePoint {
                    customers: f64::NAN,
                    revenue: 1.0,
                },
            ],
            "a",
            "b",
        );
        assert!(!p.contains("NaN"));
        assert!(p.contains("data-points=\"2\""));
        assert!(!p.contains("style="));
    }
}
