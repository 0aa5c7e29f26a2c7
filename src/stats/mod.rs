//! Statistics: what a run collects ([`collect`]), what it means
//! ([`summary`]), and what theory says it should be ([`theory`], [`markov`]),
//! with confidence intervals ([`ci`]).

pub mod ci;
pub mod collect;
pub mod fit;
pub mod markov;
pub mod quantile;
pub mod rates;
pub mod summary;
pub mod theory;
pub mod theory_report;
