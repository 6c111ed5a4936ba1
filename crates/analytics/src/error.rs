//! Error type shared by every analytics function.
//!
//! Every message says what was wrong with the data and what to do about it; no function in this
//! crate returns NaN or infinity in place of an error.

use thiserror::Error;

/// Result alias used throughout the crate.
pub type Result<T, E = AnalyticsError> = std::result::Result<T, E>;

/// Why an analytics computation could not produce a trustworthy answer.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum AnalyticsError {
    /// There was nothing to analyse (for example a tenant with no orders).
    #[error(
        "no customers to analyse for {what}: record some orders first (or widen the date range)"
    )]
    NoCustomers {
        /// Which computation found no customers.
        what: &'static str,
    },

    /// Every customer bought only once, so repeat behaviour cannot be estimated.
    #[error(
        "the {model} model needs repeat buyers, but no customer purchased on two different days \
         before the observation end; wait for more history or use a longer observation period"
    )]
    NoRepeatBuyers {
        /// Model that needed repeat buyers.
        model: &'static str,
    },

    /// The maximum-likelihood search did not settle.
    #[error(
        "the {model} fit did not converge after {iterations} iterations ({detail}); the data are \
         probably too few or too uniform for this model — add more customers or history"
    )]
    NotConverged {
        /// Model being fitted.
        model: &'static str,
        /// Iterations used.
        iterations: usize,
        /// Technical detail (gradient size, last step).
        detail: String,
    },

    /// The fit converged to parameters at the edge of the space, where the model says nothing useful.
    #[error("the {model} fit is degenerate: {detail}")]
    Degenerate {
        /// Model being fitted.
        model: &'static str,
        /// What is degenerate and what to do.
        detail: String,
    },

    /// An input value is outside what the computation accepts.
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// A numerical routine could not reach the required accuracy.
    #[error("numerical failure in {what}: {detail}")]
    Numerical {
        /// The routine.
        what: &'static str,
        /// What went wrong.
        detail: String,
    },
}

impl AnalyticsError {
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Self::InvalidInput(msg.into())
    }
}
