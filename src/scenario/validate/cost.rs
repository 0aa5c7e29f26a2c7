//! `[cost]`: prices are amounts of money, sizes are bytes.

use super::*;

/// The largest price accepted, in US dollars: far above any list price,
/// low enough that a run's total stays a finite number.
pub const MAX_PRICE_USD: f64 = 1e9;
/// The largest message accepted, in bytes (1 TiB: above any broker's limit).
pub const MAX_MESSAGE_BYTES: u64 = 1 << 40;

pub(super) fn check_cost(s: &Scenario) -> Result<(), Invalid> {
    let Some(c) = &s.cost else {
        return Ok(());
    };
    let p = P::root("cost");
    for (key, price) in [
        ("per_million_requests", c.per_million_requests),
        ("per_instance_hour", c.per_instance_hour),
        ("per_gb_transferred", c.per_gb_transferred),
    ] {
        if let Some(x) = price {
            if !(0.0..=MAX_PRICE_USD).contains(&x) {
                return p.key(key).err(format!(
                    "{} is not a price: give US dollars from 0 to {}",
                    short_number(x),
                    short_number(MAX_PRICE_USD)
                ));
            }
        }
    }
    match c.message_bytes {
        Some(b) if b == 0 || b > MAX_MESSAGE_BYTES => {
            return p.key("message_bytes").err(format!(
                "a message has 1 to {MAX_MESSAGE_BYTES} bytes (this one {b})"
            ));
        }
        None if c.per_gb_transferred.is_some_and(|x| x > 0.0) => {
            return p.key("per_gb_transferred").err(
                "a price per GB transferred needs the size of a message: give `message_bytes` too",
            );
        }
        _ => {}
    }
    Ok(())
}
