//! Statistics: what a run's counts (`sim::collect`) mean
//! ([`summary`]), and what theory says it should be ([`theory`], [`markov`]),
//! with confidence intervals ([`ci`]).

pub mod autocorrelation;
pub mod ci;
pub mod cost;
pub mod fit;
pub mod markov;
pub mod outcomes;
pub mod quantile;
pub mod rates;
pub mod recovery;
pub mod sagas;
pub mod summary;
pub mod theory;
pub mod transactions;
