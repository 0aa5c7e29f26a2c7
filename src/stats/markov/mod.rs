//! Markov-chain models that explain simulator output analytically.
//!
//! Two tools live here:
//!
//! 1. [`AbsorbingChain`]: a message's lifecycle (queued → in flight →
//!    retry … → acked / dead-lettered / expired) as a discrete-time absorbing
//!    chain estimated from transition counts.  With the transient block `Q`
//!    and the transient→absorbing block `R` of the canonical form
//!    `P = [[Q, R], [0, I]]`, the fundamental matrix `N = (I - Q)^-1` gives
//!    expected visits and `B = N R` the absorption probabilities
//!    (Kemeny & Snell, *Finite Markov Chains*, 1960, Thms. 3.2.4 and 3.3.7;
//!    Grinstead & Snell, *Introduction to Probability*, §11.2).
//!
//! 2. The retry-orbit CTMC ([`solve_orbit`]): the two-dimensional chain
//!    `(q, o)` = (requests in the queue incl. in service, requests waiting to
//!    retry) used to explain *metastable failures* — a server that is fine at
//!    load `rho < 1` can be pushed by a burst into a state where timed-out
//!    requests are retried, the retries add load, more requests time out,
//!    and the system stays overloaded long after the trigger is gone
//!    (Bronson et al., "Metastable Failures in Distributed Systems",
//!    HotOS 2021; Huang et al., "Metastable Failures in the Wild",
//!    OSDI 2022, whose retry-orbit model is the "reference" cited below).
//!    Retrial-queue background: Falin & Templeton, *Retrial Queues* (1997).
//!
//! Numerical methods (all deterministic, no panics on bad input):
//! * dense Gauss–Jordan with partial pivoting for the small absorbing chain;
//! * the GTH algorithm (Grassmann, Taksar & Heyman, *Operations Research*
//!   33(5), 1985) for the stationary vector, run on a *banded* generator:
//!   state reduction is subtraction-free, hence accurate to machine
//!   precision even for nearly decomposable (metastable) chains, where the
//!   uniformisation/power or Gauss–Seidel iterations converge at the very
//!   slow mixing rate we are trying to measure.  Fill-in stays inside the
//!   band, so the cost is `O(n b^2)` with `b` the bandwidth (`b ~
//!   min(queue_bound, orbit_bound) + 2` for the orbit chain);
//! * shift-and-invert subspace iteration for the second eigenvalue
//!   (see [`second_eigenvalue`]).

mod absorbing;
mod dense;
mod orbit;
mod sojourn;
mod sparse;
#[cfg(test)]
mod tests;

pub use absorbing::*;
use dense::*;
pub use orbit::*;
pub use sojourn::*;
pub use sparse::*;
