use crate::cli::{Failure, SweepArgs};
pub fn command(_a: &SweepArgs) -> Result<i32, Failure> {
    Err(Failure::input("sweep is not built yet"))
}
