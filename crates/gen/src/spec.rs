//! What to generate: sizes, the seed, the time range and the mix of locales, with presets for
//! the demo and for benchmarks, and validation of all of it.

use core::fmt;

use crate::calendar::ms_of_date;

/// How many households to generate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Households {
    /// No households: customers stand alone (they still have a hidden household size).
    None,
    /// Households per customer, in `(0, 1]`; `0.75` means 750 households for 1,000 customers,
    /// so a third of them have two customer members.
    Fraction(f64),
    /// An exact number, between `ceil(customers / 6)` and `customers`.
    Count(u64),
}

/// How customers' purchases are generated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PurchaseModel {
    /// Realistic: a BG/NBD trip process with baskets of irregular products, plus staples
    /// bought on a consumption rhythm, a few returns, and a few customers who never buy.
    Mixed,
    /// Only the BG/NBD process with Gamma-Gamma spend, one gift-card line per order with the
    /// drawn amount: the data on which a BG/NBD and Gamma-Gamma fit must recover
    /// [`crate::ModelTruth`]. Spend is drawn in US dollars and converted at a fixed rate, so
    /// fit spend on one currency (e.g. an English-only [`LocaleMix`]) or convert back.
    BgNbdOnly,
}

/// Shares of customers per locale (normalised, so any positive weights work).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LocaleMix {
    /// Chinese.
    pub zh: f64,
    /// Korean.
    pub ko: f64,
    /// Japanese.
    pub ja: f64,
    /// English.
    pub en: f64,
}

impl LocaleMix {
    pub(crate) fn weights(&self) -> [f64; 4] {
        [self.zh, self.ko, self.ja, self.en]
    }
}

impl Default for LocaleMix {
    /// 35% Chinese, 25% Korean, 15% Japanese, 25% English.
    fn default() -> Self {
        Self {
            zh: 0.35,
            ko: 0.25,
            ja: 0.15,
            en: 0.25,
        }
    }
}

/// The size and shape of a generated data set. The same spec always gives the same data.
#[derive(Clone, Debug, PartialEq)]
pub struct GenSpec {
    /// The seed every value derives from.
    pub seed: u64,
    /// Number of customers.
    pub customers: u64,
    /// Number of households.
    pub households: Households,
    /// Mean number of orders per customer over the range (calibrated, see
    /// [`crate::ModelTruth::mean_orders_per_customer`]).
    pub orders_per_customer: f64,
    /// Mean number of lines per order (at least 1).
    pub lines_per_order: f64,
    /// Number of cases.
    pub cases: u64,
    /// Mean number of messages per case, including internal notes (at least 1).
    pub messages_per_case: f64,
    /// Number of products in the catalogue (at least [`crate::MIN_PRODUCTS`]).
    pub products: u32,
    /// Number of agents (at least 1).
    pub agents: u32,
    /// Start of the time range, epoch milliseconds (inclusive).
    pub start_ms: i64,
    /// End of the time range, epoch milliseconds (inclusive); nothing happens after it.
    pub end_ms: i64,
    /// Locale shares.
    pub locale_mix: LocaleMix,
    /// Purchase model.
    pub purchase_model: PurchaseModel,
}

impl Default for GenSpec {
    /// 10,000 customers, 7,500 households, 5 orders of 2 lines each per customer, 2,000 cases of
    /// 5 messages, 120 products, 24 agents, 2023-01-01 to 2025-01-01 UTC, seed 42.
    fn default() -> Self {
        Self {
            seed: 42,
            customers: 10_000,
            households: Households::Fraction(0.75),
            orders_per_customer: 5.0,
            lines_per_order: 2.0,
            cases: 2_000,
            messages_per_case: 5.0,
            products: 120,
            agents: 24,
            start_ms: ms_of_date(2023, 1, 1),
            end_ms: ms_of_date(2025, 1, 1),
            locale_mix: LocaleMix::default(),
            purchase_model: PurchaseModel::Mixed,
        }
    }
}

impl GenSpec {
    /// The small demo: 200 customers, 150 households, 6 orders each, 60 cases, the base
    /// catalogue and 8 agents. Generates in a few milliseconds.
    pub fn small_demo() -> Self {
        Self {
            seed: 7,
            customers: 200,
            households: Households::Fraction(0.75),
            orders_per_customer: 6.0,
            lines_per_order: 2.0,
            cases: 60,
            messages_per_case: 5.0,
            products: crate::catalog::MIN_PRODUCTS,
            agents: 8,
            ..Self::default()
        }
    }

    /// The benchmark size of the customer-memory and cases issues: 1,000,000 customers with
    /// about 10,000,000 order lines, 1,000,000 cases with about 5,000,000 messages.
    pub fn benchmark() -> Self {
        Self {
            customers: 1_000_000,
            cases: 1_000_000,
            products: 400,
            agents: 200,
            ..Self::default()
        }
    }

    /// The same spec with another seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Number of households generated (0 for [`Households::None`]).
    pub fn household_count(&self) -> u64 {
        match self.households {
            Households::None => 0,
            Households::Count(n) => n,
            Households::Fraction(f) => {
                let n = libm::round(self.customers as f64 * f) as u64;
                n.clamp(u64::from(self.customers > 0), self.customers)
            }
        }
    }

    /// Checks that the spec can be generated.
    pub fn validate(&self) -> Result<(), GenError> {
        let bad = |what: &str| Err(GenError::InvalidSpec(what.to_string()));
        if self.end_ms <= self.start_ms {
            return bad("end_ms must be after start_ms");
        }
        if self.end_ms - self.start_ms < crate::calendar::DAY_MS {
            return bad("the time range must cover at least one day");
        }
        if let Households::Fraction(f) = self.households
            && !(f > 0.0 && f <= 1.0)
        {
            return bad("households fraction must be in (0, 1]");
        }
        let h = self.household_count();
        if !matches!(self.households, Households::None) && self.customers > 0 {
            if h == 0 || h > self.customers {
                return bad("households must be between 1 and the number of customers");
            }
            if self.customers.div_ceil(h) > 6 {
                return bad("households must be at least customers / 6 (at most 6 per household)");
            }
        }
        if !(self.orders_per_customer.is_finite() && self.orders_per_customer >= 0.0) {
            return bad("orders_per_customer must be a finite number >= 0");
        }
        if self.orders_per_customer > 1000.0 {
            return bad("orders_per_customer must be at most 1000");
        }
        if !(self.lines_per_order.is_finite() && (1.0..=50.0).contains(&self.lines_per_order)) {
            return bad("lines_per_order must be between 1 and 50");
        }
        if !(self.messages_per_case.is_finite() && (1.0..=40.0).contains(&self.messages_per_case)) {
            return bad("messages_per_case must be between 1 and 40");
        }
        if self.products < crate::catalog::MIN_PRODUCTS {
            return Err(GenError::InvalidSpec(format!(
                "products must be at least {} (the base catalogue)",
                crate::catalog::MIN_PRODUCTS
            )));
        }
        if self.agents == 0 {
            return bad("agents must be at least 1");
        }
        if self.cases > 0 && self.customers == 0 {
            return bad("cases need customers");
        }
        let w = self.locale_mix.weights();
        if w.iter().any(|x| !(x.is_finite() && *x >= 0.0)) || w.iter().sum::<f64>() <= 0.0 {
            return bad("locale_mix needs non-negative weights with a positive sum");
        }
        Ok(())
    }
}

/// Why a spec cannot be generated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GenError {
    /// The spec is inconsistent; the message says which field.
    InvalidSpec(String),
}

impl fmt::Display for GenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GenError::InvalidSpec(msg) => write!(f, "invalid generator spec: {msg}"),
        }
    }
}

impl std::error::Error for GenError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid() {
        GenSpec::default().validate().unwrap();
        GenSpec::small_demo().validate().unwrap();
        GenSpec::benchmark().validate().unwrap();
        assert_eq!(GenSpec::default().household_count(), 7_500);
    }

    #[test]
    fn bad_specs_are_refused() {
        let base = GenSpec::small_demo();
        let cases = [
            GenSpec {
                end_ms: base.start_ms,
                ..base.clone()
            },
            GenSpec {
                households: Households::Fraction(0.0),
                ..base.clone()
            },
            GenSpec {
                households: Households::Count(10),
                ..base.clone()
            },
            GenSpec {
                households: Households::Count(201),
                ..base.clone()
            },
            GenSpec {
                orders_per_customer: f64::NAN,
                ..base.clone()
            },
            GenSpec {
                lines_per_order: 0.5,
                ..base.clone()
            },
            GenSpec {
                messages_per_case: 0.0,
                ..base.clone()
            },
            GenSpec {
                products: 3,
                ..base.clone()
            },
            GenSpec {
                agents: 0,
                ..base.clone()
            },
            GenSpec {
                locale_mix: LocaleMix {
                    zh: 0.0,
                    ko: 0.0,
                    ja: 0.0,
                    en: 0.0,
                },
                ..base.clone()
            },
            GenSpec {
                customers: 0,
                ..base.clone()
            },
        ];
        for spec in cases {
            let err = spec.validate().unwrap_err();
            assert!(
                err.to_string().starts_with("invalid generator spec"),
                "{err}"
            );
        }
    }
}
