//! The [`Generator`]: built once from a [`GenSpec`] (catalogue, agents, calibration), then
//! asked for any record by index or for lazy streams over ranges of them.

use std::ops::Range;
use std::sync::Arc;

use crate::catalog::Catalog;
use crate::model::{GenAgent, GenCase, GenCustomer, GenHousehold, GenOrder, GenProduct, Locale};
use crate::people::TEAMS;
use crate::rng::{self, Kind};
use crate::spec::{GenError, GenSpec, Households, PurchaseModel};

/// BG/NBD shape r of the purchase-rate distribution.
const BASE_R: f64 = 0.75;
/// BG/NBD rate α per day before calibration (mean rate r/α ≈ one trip per 53 days).
pub(crate) const BASE_ALPHA: f64 = 40.0;
/// BG/NBD dropout Beta(a, b): mean p ≈ 0.12.
const BASE_A: f64 = 0.8;
const BASE_B: f64 = 6.0;
/// Gamma-Gamma spend: p, q, γ (US dollars); mean spend per order p·γ/(q − 1) ≈ $45.
const GG_P: f64 = 6.0;
const GG_Q: f64 = 3.8;
const GG_GAMMA: f64 = 21.0;
/// Customers simulated to calibrate the trip rate.
const CALIBRATION_SAMPLE: u64 = 2_000;

/// BG/NBD parameters (Fader, Hardie & Lee 2005) with time in days: λ ~ Gamma(r, rate α),
/// p ~ Beta(a, b). With weeks as the unit, α is 7 times smaller.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BgNbdTruth {
    /// Shape of the purchase-rate distribution.
    pub r: f64,
    /// Rate (per day) of the purchase-rate distribution, after calibration.
    pub alpha: f64,
    /// First dropout Beta parameter.
    pub a: f64,
    /// Second dropout Beta parameter.
    pub b: f64,
}

/// Gamma-Gamma spend parameters (Fader & Hardie 2013): an order's spend is Gamma(p, rate ν),
/// ν ~ Gamma(q, rate γ). Amounts are in US dollars; in another currency multiply γ by
/// [`crate::Currency::per_usd`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GammaGammaTruth {
    /// Shape of one order's spend.
    pub p: f64,
    /// Shape of ν.
    pub q: f64,
    /// Rate of ν, in US dollars.
    pub gamma_usd: f64,
}

/// The population parameters the data was drawn from, for tests of the analytics.
///
/// With [`PurchaseModel::BgNbdOnly`] every order is one BG/NBD transaction whose value is the
/// Gamma-Gamma draw (same-day transactions merged into one order), so a fit must recover these
/// numbers. With [`PurchaseModel::Mixed`] they describe the trip process only; staple
/// purchases come on top.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelTruth {
    /// BG/NBD parameters (per day).
    pub bgnbd: BgNbdTruth,
    /// Gamma-Gamma parameters (US dollars).
    pub gamma_gamma: GammaGammaTruth,
    /// Share of households that buy staples on a rhythm.
    pub regular_buyer_share: f64,
    /// Mean orders per customer on the calibration sample at the chosen trip rate.
    pub mean_orders_per_customer: f64,
}

pub(crate) struct Inner {
    pub(crate) spec: GenSpec,
    pub(crate) customers: u64,
    pub(crate) households_enabled: bool,
    pub(crate) household_count: u64,
    /// Households customers are spread over: the real count, or one per customer when
    /// households are not generated.
    pub(crate) h_eff: u64,
    pub(crate) catalog: Catalog,
    pub(crate) agents: Vec<GenAgent>,
    pub(crate) agents_by_team_locale: Vec<Vec<u32>>,
    pub(crate) agents_by_locale: [Vec<u32>; 4],
    pub(crate) locale_weights: [f64; 4],
    pub(crate) regular_share: f64,
    pub(crate) lambda_scale: f64,
    pub(crate) frequent_residue: u64,
    pub(crate) phone_salt: u64,
    pub(crate) no_orders: bool,
    pub(crate) truth: ModelTruth,
}

impl Inner {
    fn new(spec: GenSpec) -> Result<Inner, GenError> {
        spec.validate()?;
        let customers = spec.customers;
        let household_count = spec.household_count();
        let households_enabled = !matches!(spec.households, Households::None);
        let h_eff = if households_enabled {
            household_count.max(1)
        } else {
            customers.max(1)
        };
        let catalog = Catalog::build(spec.seed, spec.products);
        let locale_weights = spec.locale_mix.weights();
        let active: Vec<Locale> = Locale::ALL
            .into_iter()
            .filter(|l| locale_weights[l.idx()] > 0.0)
            .collect();
        let mut agents: Vec<GenAgent> = (0..spec.agents)
            .map(|j| Inner::build_agent(spec.seed, j, &active))
            .collect();
        let mut agents_by_team_locale = vec![Vec::new(); TEAMS.len() * 4];
        let mut agents_by_locale: [Vec<u32>; 4] = Default::default();
        for a in &mut agents {
            let team = TEAMS.iter().position(|t| *t == a.team).unwrap_or(0);
            // The first agent of each team manages it.
            a.manager = agents_by_team_locale[team * 4..team * 4 + 4]
                .iter()
                .all(Vec::is_empty);
            agents_by_team_locale[team * 4 + a.locale.idx()].push(a.index);
            agents_by_locale[a.locale.idx()].push(a.index);
        }
        let mut global = rng::Rand::new(spec.seed, Kind::Global, 0, 0);
        let frequent_residue = global.below(20);
        let phone_salt = global.below(100_000_000);
        let no_orders = spec.orders_per_customer <= 0.0;
        let regular_share = (0.025 * spec.orders_per_customer).min(0.3);
        let mut inner = Inner {
            customers,
            households_enabled,
            household_count: if households_enabled {
                household_count
            } else {
                0
            },
            h_eff,
            catalog,
            agents,
            agents_by_team_locale,
            agents_by_locale,
            locale_weights,
            regular_share,
            lambda_scale: 1.0,
            frequent_residue,
            phone_salt,
            no_orders,
            truth: ModelTruth {
                bgnbd: BgNbdTruth {
                    r: BASE_R,
                    alpha: BASE_ALPHA,
                    a: BASE_A,
                    b: BASE_B,
                },
                gamma_gamma: GammaGammaTruth {
                    p: GG_P,
                    q: GG_Q,
                    gamma_usd: GG_GAMMA,
                },
                regular_buyer_share: if spec.purchase_model == PurchaseModel::Mixed {
                    regular_share
                } else {
                    0.0
                },
                mean_orders_per_customer: 0.0,
            },
            spec,
        };
        inner.calibrate();
        Ok(inner)
    }

    /// Finds the trip-rate scale that gives the requested mean number of orders, by bisection
    /// in log space on a fixed sample of customers (common random numbers make the mean
    /// monotone in the scale).
    fn calibrate(&mut self) {
        if self.no_orders || self.customers == 0 {
            self.lambda_scale = 0.0;
            return;
        }
        let n = self.customers;
        let m = n.min(CALIBRATION_SAMPLE);
        let cores: Vec<_> = (0..m).map(|j| self.customer_core(j * n / m)).collect();
        let mean_at = |inner: &Inner, scale: f64| -> f64 {
            let total: usize = cores.iter().map(|c| inner.order_count(c, scale)).sum();
            total as f64 / m as f64
        };
        let target = self.spec.orders_per_customer;
        let (mut lo, mut hi) = (libm::log(1e-4), libm::log(1e3));
        for _ in 0..22 {
            let mid = 0.5 * (lo + hi);
            if mean_at(self, libm::exp(mid)) < target {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        self.lambda_scale = libm::exp(0.5 * (lo + hi));
        self.truth.bgnbd.alpha = BASE_ALPHA / self.lambda_scale;
        self.truth.mean_orders_per_customer = mean_at(self, self.lambda_scale);
    }
}

/// Generates any record of a data set by index, or streams of them.
///
/// Cheap to clone (the state is shared); `Send` and `Sync`, so chunks can be generated on
/// several threads. Every record depends only on the spec and its own index: `customer(i)`
/// gives the same customer whether or not any other record was generated.
#[derive(Clone)]
pub struct Generator {
    inner: Arc<Inner>,
}

impl Generator {
    /// Validates the spec, builds the catalogue and agents, and calibrates the purchase rate
    /// (tens of milliseconds).
    pub fn new(spec: GenSpec) -> Result<Generator, GenError> {
        Ok(Generator {
            inner: Arc::new(Inner::new(spec)?),
        })
    }

    /// The spec.
    pub fn spec(&self) -> &GenSpec {
        &self.inner.spec
    }

    /// The population parameters the data was drawn from.
    pub fn truth(&self) -> &ModelTruth {
        &self.inner.truth
    }

    /// The product catalogue (small; held in memory).
    pub fn products(&self) -> &[GenProduct] {
        &self.inner.catalog.products
    }

    /// The agents (small; held in memory). Each team's first agent is its manager.
    pub fn agents(&self) -> &[GenAgent] {
        &self.inner.agents
    }

    /// Number of customers.
    pub fn customer_count(&self) -> u64 {
        self.inner.customers
    }

    /// Number of households (0 when households are not generated).
    pub fn household_count(&self) -> u64 {
        self.inner.household_count
    }

    /// Number of cases.
    pub fn case_count(&self) -> u64 {
        self.inner.spec.cases
    }

    /// Expected number of orders (customers × calibrated mean), for progress bars.
    pub fn estimated_orders(&self) -> u64 {
        libm::round(self.inner.customers as f64 * self.inner.truth.mean_orders_per_customer) as u64
    }

    /// Household `index`, or `None` past the end.
    pub fn household(&self, index: u64) -> Option<GenHousehold> {
        (index < self.inner.household_count).then(|| self.inner.household(index))
    }

    /// Customer `index`, or `None` past the end.
    pub fn customer(&self, index: u64) -> Option<GenCustomer> {
        (index < self.inner.customers).then(|| self.inner.customer(index))
    }

    /// The orders of customer `index` in time order (empty past the end).
    pub fn orders_of_customer(&self, index: u64) -> Vec<GenOrder> {
        if index >= self.inner.customers {
            return Vec::new();
        }
        self.inner.orders_of(&self.inner.customer_core(index))
    }

    /// Case `index`, or `None` past the end.
    pub fn case(&self, index: u64) -> Option<GenCase> {
        (index < self.inner.spec.cases).then(|| self.inner.case(index))
    }

    /// All households, lazily.
    pub fn households(&self) -> impl Iterator<Item = GenHousehold> + Send + 'static {
        self.households_range(0..u64::MAX)
    }

    /// Households in a range of indices (clamped to the count), lazily.
    pub fn households_range(
        &self,
        range: Range<u64>,
    ) -> impl Iterator<Item = GenHousehold> + Send + 'static {
        let inner = Arc::clone(&self.inner);
        clamp(range, inner.household_count).map(move |i| inner.household(i))
    }

    /// All customers, lazily.
    pub fn customers(&self) -> impl Iterator<Item = GenCustomer> + Send + 'static {
        self.customers_range(0..u64::MAX)
    }

    /// Customers in a range of indices (clamped to the count), lazily.
    pub fn customers_range(
        &self,
        range: Range<u64>,
    ) -> impl Iterator<Item = GenCustomer> + Send + 'static {
        let inner = Arc::clone(&self.inner);
        clamp(range, inner.customers).map(move |i| inner.customer(i))
    }

    /// All orders, customer by customer, lazily.
    pub fn orders(&self) -> impl Iterator<Item = GenOrder> + Send + 'static {
        self.orders_range(0..u64::MAX)
    }

    /// The orders of the customers in a range of customer indices, lazily.
    pub fn orders_range(
        &self,
        customers: Range<u64>,
    ) -> impl Iterator<Item = GenOrder> + Send + 'static {
        let inner = Arc::clone(&self.inner);
        clamp(customers, inner.customers)
            .flat_map(move |i| inner.orders_of(&inner.customer_core(i)))
    }

    /// All cases, lazily.
    pub fn cases(&self) -> impl Iterator<Item = GenCase> + Send + 'static {
        self.cases_range(0..u64::MAX)
    }

    /// Cases in a range of indices (clamped to the count), lazily.
    pub fn cases_range(&self, range: Range<u64>) -> impl Iterator<Item = GenCase> + Send + 'static {
        let inner = Arc::clone(&self.inner);
        clamp(range, inner.spec.cases).map(move |i| inner.case(i))
    }
}

fn clamp(range: Range<u64>, count: u64) -> Range<u64> {
    range.start.min(count)..range.end.min(count)
}
