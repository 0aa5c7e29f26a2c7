//! Random streams.
//!
//! Every draw in a run comes from a stream named by the scenario seed and a
//! stable key, never from a generator shared by components. The arrival of
//! message #n depends only on its producer's stream; the fate of message #n
//! (is it poison, does attempt k fail, how long does attempt k take, does
//! the wire drop it) depends only on the message's key and the attempt.
//! So adding a consumer or changing a retry policy changes nothing that
//! happens to message #n except through the policy itself: comparisons of
//! strategies are paired (common random numbers).
//!
//! The generator is PCG (`Mcg128Xsl64`), whose output is fixed by its
//! definition, not by a crate version, seeded through SplitMix64 so that
//! nearby keys give unrelated streams.

use rand::RngCore;
use rand_pcg::Pcg64Mcg;

/// The generator of every stream.
pub type Stream = Pcg64Mcg;

/// What a stream is for. The numbers are part of the output format: changing
/// one changes every result, so new domains take new numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Domain {
    Replication = 1,
    Arrival = 2,
    /// Per message: poison or not, key.
    MessageFate = 3,
    /// Per message and attempt: failure, service time.
    AttemptFate = 4,
    /// Per message copy and hop: network latency, loss, duplication.
    Network = 5,
    /// Per component: crashes and restarts.
    Fault = 6,
    /// Per message and retry: backoff jitter.
    Backoff = 7,
    /// Per component: anything else a component draws.
    Component = 8,
    /// Per message: its key.
    Key = 9,
}

/// SplitMix64 finaliser: a bijective mix of 64 bits.
#[inline]
pub const fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Combines a hash with one more word (order matters).
#[inline]
pub fn combine(h: u64, word: u64) -> u64 {
    // Word 0 (a first attempt, queue 0) is common on the hot path: its
    // mix is a constant, and a predictable branch is cheaper than mixing.
    let w = if word == 0 {
        MIX_OF_WORD_0
    } else {
        mix64(word.wrapping_add(COMBINE_OFFSET))
    };
    mix64(h ^ w)
}

const COMBINE_OFFSET: u64 = 0x632B_E59B_D9B4_E019;
/// `mix64(0 + COMBINE_OFFSET)`, computed at compile time.
const MIX_OF_WORD_0: u64 = mix64(COMBINE_OFFSET);

/// The stream for `(seed, domain, a, b)`.
#[inline]
pub fn stream(seed: u64, domain: Domain, a: u64, b: u64) -> Stream {
    stream_in(domain_key(seed, domain), a, b)
}

/// What the streams of one domain of one run have in common: hot paths
/// compute it once per run and draw with [`stream_in`].
#[inline]
pub fn domain_key(seed: u64, domain: Domain) -> u64 {
    combine(mix64(seed), domain as u64)
}

/// The stream for `(seed, domain, a, b)`, given `domain_key(seed, domain)`.
#[inline]
pub fn stream_in(domain_key: u64, a: u64, b: u64) -> Stream {
    stream_at(prefix(domain_key, a), b)
}

/// [`stream_in`] after `SKIP` draws, without making them: the same stream
/// as drawing `SKIP` times and discarding the outputs.
#[inline]
pub fn stream_in_after<const SKIP: u32>(domain_key: u64, a: u64, b: u64) -> Stream {
    stream_at_after::<SKIP>(prefix(domain_key, a), b)
}

/// What the streams `(domain, a, *)` have in common. A component that draws
/// from `(domain, a, b)` for many `b` (a message's attempts) computes it once,
/// early, and draws with [`stream_at`]: half the hashing, and off the path
/// that waits for the draw.
#[inline]
pub fn prefix(domain_key: u64, a: u64) -> u64 {
    combine(domain_key, a)
}

/// The stream `(domain, a, b)`, given `prefix(domain_key, a)`.
#[inline]
pub fn stream_at(prefix: u64, b: u64) -> Stream {
    Pcg64Mcg::new(initial_state(prefix, b))
}

/// [`stream_at`] after `SKIP` draws, without making them.
#[inline]
pub fn stream_at_after<const SKIP: u32>(prefix: u64, b: u64) -> Stream {
    // `Pcg64Mcg::new` sets the low bit, and each draw multiplies the state
    // by `PCG_MULTIPLIER` (odd, so the low bit stays set).
    let state = (initial_state(prefix, b) | 1).wrapping_mul(pcg_multiplier_pow(SKIP));
    Pcg64Mcg::new(state)
}

#[inline]
fn initial_state(prefix: u64, b: u64) -> u128 {
    let h = combine(prefix, b);
    let lo = mix64(h);
    let hi = mix64(h ^ 0xD1B5_4A32_D192_ED03);
    ((hi as u128) << 64) | lo as u128
}

/// The multiplier of `Pcg64Mcg` (`Mcg128Xsl64`): one draw is
/// `state = state * PCG_MULTIPLIER`. A test checks it against the crate.
const PCG_MULTIPLIER: u128 = 0x2360_ED05_1FC6_5DA4_4385_DF64_9FCC_F645;

const fn pcg_multiplier_pow(n: u32) -> u128 {
    let mut m: u128 = 1;
    let mut i = 0;
    while i < n {
        m = m.wrapping_mul(PCG_MULTIPLIER);
        i += 1;
    }
    m
}

/// The seed of replication `r` of a scenario with seed `seed`.
pub fn replication_seed(seed: u64, r: u64) -> u64 {
    combine(combine(mix64(seed), Domain::Replication as u64), r)
}

/// Steps over one draw whose value cannot matter: the stream advances as
/// if it were drawn (so later draws are unchanged), and nothing is computed
/// from the output.
#[inline]
pub fn skip(rng: &mut Stream) {
    rng.next_u64();
}

/// A uniform draw in [0, 1) with 53 bits.
#[inline]
pub fn unit(rng: &mut Stream) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform draw in (0, 1]: safe to take the log of.
#[inline]
pub fn unit_open0(rng: &mut Stream) -> f64 {
    ((rng.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_stable_and_distinct() {
        let mut a = stream(1, Domain::Arrival, 0, 0);
        let mut b = stream(1, Domain::Arrival, 0, 0);
        let mut c = stream(1, Domain::Arrival, 1, 0);
        let mut d = stream(2, Domain::Arrival, 0, 0);
        let (x, y, z, w) = (a.next_u64(), b.next_u64(), c.next_u64(), d.next_u64());
        assert_eq!(x, y);
        assert_ne!(x, z);
        assert_ne!(x, w);
    }

    #[test]
    fn combining_word_0_is_the_formula() {
        for h in [0, 1, 0xDEAD_BEEF, u64::MAX] {
            assert_eq!(combine(h, 0), mix64(h ^ mix64(COMBINE_OFFSET)));
            assert_ne!(combine(h, 0), combine(h, 1));
        }
    }

    #[test]
    fn skipping_draws_is_drawing_them() {
        for (a, b) in [(0, 0), (1, 2), (u64::MAX, 7), (0x1234_5678, 99)] {
            let dk = domain_key(42, Domain::AttemptFate);
            let mut full = stream(42, Domain::AttemptFate, a, b);
            let mut s1 = stream_in_after::<1>(dk, a, b);
            let mut s3 = stream_in_after::<3>(dk, a, b);
            assert_eq!(stream_in(dk, a, b).next_u64(), full.clone().next_u64());
            full.next_u64();
            assert_eq!(s1.next_u64(), full.clone().next_u64());
            full.next_u64();
            full.next_u64();
            for _ in 0..5 {
                assert_eq!(s3.next_u64(), full.next_u64());
            }
        }
    }

    #[test]
    fn unit_is_in_range_with_the_right_mean() {
        let mut r = stream(7, Domain::Component, 3, 4);
        let n = 100_000;
        let mut sum = 0.0;
        for _ in 0..n {
            let u = unit(&mut r);
            assert!((0.0..1.0).contains(&u));
            sum += u;
        }
        // sd of the mean of n uniforms is sqrt(1/12/n) = 0.0009; allow 5 sd.
        assert!((sum / n as f64 - 0.5).abs() < 0.0046);
    }
}
