//! Error-handling strategies: one retry policy with its backoff and jitter,
//! retry budgets, and the circuit breaker. Pure state machines over
//! simulated time; the simulator decides where they apply.

pub mod backoff;
pub mod breaker;
pub mod budget;
pub mod idempotency;
