//! Orders: a BG/NBD trip process per customer, staples bought on a consumption rhythm, and the
//! baskets, prices, statuses and returns that turn both into orders with lines.
//!
//! **Trips** (Fader, Hardie & Lee 2005): the first purchase comes shortly after sign-up; while
//! alive a customer buys at Poisson rate λ ~ Gamma(r, α) (scaled by the calibration below);
//! after each repeat purchase they drop out with probability p ~ Beta(a, b). Each trip's
//! spend target is Gamma(p_gg, ν) with ν ~ Gamma(q, γ) per customer (Fader & Hardie 2013).
//!
//! **Staples**: a household that buys a staple regularly holds a stock; at each purchase the
//! stock grows by quantity × pack size, is consumed at the household's true rate (times a
//! per-cycle factor around 1), and the next purchase comes when a few days of stock are left.
//! Buying two bags makes the next gap twice as long, which is what a run-out predictor must
//! learn. Now and then a purchase is made elsewhere (no order, stock still refilled). Staples
//! stop when the customer drops out.
//!
//! Purchases on the same UTC day are one order, as the BG/NBD literature counts them.
//!
//! **Calibration**: the trip rate is multiplied by a scale found by bisection so that the mean
//! number of orders per customer over a fixed sample of the actual customers equals the spec's
//! `orders_per_customer`.

use crate::calendar::DAY_MS;
use crate::catalog::TEMPLATES;
use crate::generator::Inner;
use crate::model::{Category, GenOrder, GenOrderLine, OrderStatus};
use crate::people::CustomerCore;
use crate::rng::{Kind, Rand};
use crate::spec::PurchaseModel;

/// Upper bound on simulated events per customer and process, so a pathological spec cannot
/// make one customer take unbounded time.
const MAX_EVENTS: usize = 20_000;

#[derive(Clone, Copy, Debug)]
pub(crate) enum Event {
    Trip,
    Staple { product: u32, qty: u32 },
}

impl Inner {
    /// Trip times and the dropout time (when the customer died within the range).
    pub(crate) fn trips(&self, core: &CustomerCore, scale: f64) -> (Vec<i64>, Option<i64>) {
        let Some(first) = core.first_purchase_at else {
            return (Vec::new(), None);
        };
        let mut rng = Rand::new(self.spec.seed, Kind::Trips, 0, core.index);
        let mut times = vec![first];
        let lambda = core.lambda0 * scale;
        if lambda.is_nan() || lambda <= 1e-12 {
            return (times, None);
        }
        let mean_gap_ms = DAY_MS as f64 / lambda;
        let end = self.spec.end_ms;
        let mut t = first as f64;
        let mut dropout = None;
        while times.len() < MAX_EVENTS {
            t += rng.exponential(mean_gap_ms);
            let died = rng.chance(core.dropout_p);
            if t > end as f64 {
                break;
            }
            let ti = t as i64;
            times.push(ti);
            if died {
                dropout = Some(ti);
                break;
            }
        }
        (times, dropout)
    }

    /// Staple purchases (time, product, packs) until the end of the range or the dropout.
    fn staple_events(
        &self,
        core: &CustomerCore,
        dropout: Option<i64>,
        out: &mut Vec<(i64, Event)>,
    ) {
        let Some(first) = core.first_purchase_at else {
            return;
        };
        let stop = dropout.unwrap_or(self.spec.end_ms).min(self.spec.end_ms) as f64;
        for s in core.staples() {
            let mut rng = Rand::new(self.spec.seed, Kind::Staple, s.template as u64, core.index);
            let pack = TEMPLATES[s.template].pack;
            let day = DAY_MS as f64;
            let mut t =
                first as f64 + rng.f64() * 0.5 * (f64::from(s.base_qty) * pack / s.rate) * day;
            let mut stock = 0.0;
            let mut n = 0;
            while t <= stop && n < MAX_EVENTS {
                n += 1;
                let extra = *rng.pick_weighted(&[(0u32, 0.67), (1, 0.25), (2, 0.08)]);
                let qty = s.base_qty + extra;
                let elsewhere = rng.chance(0.03);
                if !elsewhere {
                    out.push((
                        t as i64,
                        Event::Staple {
                            product: s.product,
                            qty,
                        },
                    ));
                }
                stock += f64::from(qty) * pack;
                let cycle_rate = s.rate * rng.log_normal(0.0, 0.12);
                let lead_days = rng.normal(2.5, 1.5).max(0.0);
                let days = ((stock - lead_days * cycle_rate) / cycle_rate).max(1.0);
                stock = (stock - days * cycle_rate).max(0.0);
                t += days * day;
            }
        }
    }

    /// The customer's purchases grouped into orders (one per UTC day), in time order, and
    /// the dropout time.
    pub(crate) fn order_groups(
        &self,
        core: &CustomerCore,
        scale: f64,
    ) -> (Vec<Vec<(i64, Event)>>, Option<i64>) {
        let (trips, dropout) = self.trips(core, scale);
        let mut events: Vec<(i64, Event)> = trips.into_iter().map(|t| (t, Event::Trip)).collect();
        if self.spec.purchase_model == PurchaseModel::Mixed {
            self.staple_events(core, dropout, &mut events);
        }
        events.sort_by_key(|e| e.0);
        let mut groups: Vec<Vec<(i64, Event)>> = Vec::new();
        let mut current_day = i64::MIN;
        for e in events {
            let day = e.0.div_euclid(DAY_MS);
            match groups.last_mut() {
                Some(g) if day == current_day => g.push(e),
                _ => {
                    current_day = day;
                    groups.push(vec![e]);
                }
            }
        }
        (groups, dropout)
    }

    /// Number of orders the customer would have at a trip-rate scale (for calibration).
    pub(crate) fn order_count(&self, core: &CustomerCore, scale: f64) -> usize {
        self.order_groups(core, scale).0.len()
    }

    /// All orders of a customer, in time order.
    pub(crate) fn orders_of(&self, core: &CustomerCore) -> Vec<GenOrder> {
        let (groups, _) = self.order_groups(core, self.lambda_scale);
        let mut rng = Rand::new(self.spec.seed, Kind::Basket, 0, core.index);
        let currency = core.hh.locale.currency();
        let locale_idx = core.hh.locale.idx();
        let end = self.spec.end_ms;
        let mut orders = Vec::with_capacity(groups.len());
        for group in groups {
            let ordered_at = group[0].0;
            let mut lines: Vec<GenOrderLine> = Vec::new();
            let push = |lines: &mut Vec<GenOrderLine>,
                        product: u32,
                        qty: u32,
                        price: i64,
                        regular: bool| {
                if let Some(l) = lines
                    .iter_mut()
                    .find(|l| l.product_index == product && l.unit_price_minor == price)
                {
                    l.quantity += qty;
                    l.replenishment |= regular;
                } else {
                    lines.push(GenOrderLine {
                        line_no: lines.len() as u32 + 1,
                        product_index: product,
                        quantity: qty,
                        unit_price_minor: price,
                        replenishment: regular,
                    });
                }
            };
            let trips = group.iter().filter(|e| matches!(e.1, Event::Trip)).count();
            let gg = &self.truth.gamma_gamma;
            match self.spec.purchase_model {
                PurchaseModel::BgNbdOnly => {
                    for _ in 0..trips {
                        let spend_usd = rng.gamma(gg.p, 1.0 / core.nu);
                        let price =
                            (libm::round(spend_usd * currency.minor_per_usd()) as i64).max(1);
                        push(&mut lines, self.catalog.gift_card, 1, price, false);
                    }
                }
                PurchaseModel::Mixed => {
                    let mut staple_lines = 0u64;
                    for (_, e) in &group {
                        if let Event::Staple { product, qty } = *e {
                            let price =
                                self.catalog.products[product as usize].price_minor(currency);
                            push(&mut lines, product, qty, price, true);
                            staple_lines += 1;
                        }
                    }
                    let wanted = 1 + rng.poisson(self.spec.lines_per_order - 1.0);
                    let irregular = if trips > 0 {
                        wanted.saturating_sub(staple_lines).max(1)
                    } else {
                        wanted.saturating_sub(staple_lines)
                    };
                    if irregular > 0 {
                        let spend_usd = rng.gamma(gg.p, 1.0 / core.nu);
                        let per_line = spend_usd / irregular as f64;
                        for _ in 0..irregular {
                            let (product, qty) =
                                self.pick_irregular(&mut rng, locale_idx, per_line);
                            let price =
                                self.catalog.products[product as usize].price_minor(currency);
                            push(&mut lines, product, qty, price, false);
                        }
                    }
                }
            }
            if lines.is_empty() {
                continue;
            }
            let total_minor: i64 = lines
                .iter()
                .map(|l| i64::from(l.quantity) * l.unit_price_minor)
                .sum();
            let mut status = OrderStatus::Paid;
            let mut returned_at = None;
            if self.spec.purchase_model == PurchaseModel::Mixed {
                let returnable = lines.iter().any(|l| {
                    matches!(
                        self.catalog.products[l.product_index as usize].category,
                        Category::Electronics | Category::Clothing | Category::Kitchen
                    )
                });
                let return_rate = if returnable { 0.05 } else { 0.008 };
                if end - ordered_at < DAY_MS && rng.chance(0.6) {
                    status = OrderStatus::Placed;
                } else if rng.chance(return_rate) {
                    let at = ordered_at + (rng.uniform(3.0, 20.0) * DAY_MS as f64) as i64;
                    if at <= end {
                        status = OrderStatus::Returned;
                        returned_at = Some(at);
                    }
                }
            }
            let paid_at = match status {
                OrderStatus::Placed => None,
                _ => Some((ordered_at + rng.int(20_000, 1_800_000)).min(end)),
            };
            let seq = orders.len() as u32;
            orders.push(GenOrder {
                customer_index: core.index,
                seq,
                order_no: format!("O{:07}-{:03}", core.index + 1, seq + 1),
                ordered_at,
                status,
                paid_at,
                returned_at,
                currency,
                lines,
                total_minor,
            });
        }
        orders
    }

    /// An irregular product near the target price (best of three candidates drawn by the
    /// locale's popularity) and a quantity that brings the line near the target.
    fn pick_irregular(&self, rng: &mut Rand, locale_idx: usize, target_usd: f64) -> (u32, u32) {
        let table = &self.catalog.irregular[locale_idx];
        let mut best = (0u32, f64::INFINITY);
        let target = target_usd.max(0.5);
        for _ in 0..3 {
            let t = table.sample(rng);
            let variants = &self.catalog.variants[t];
            let product = variants[rng.index(variants.len())];
            let price = self.catalog.usd[product as usize];
            let distance = (libm::log(price) - libm::log(target)).abs();
            if distance < best.1 {
                best = (product, distance);
            }
        }
        let price = self.catalog.usd[best.0 as usize];
        let qty = libm::round(target / price).clamp(1.0, 3.0) as u32;
        (best.0, qty)
    }
}
