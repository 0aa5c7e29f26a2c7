use crate::cli::{CheckArgs, Failure};
pub fn command(_a: &CheckArgs) -> Result<i32, Failure> {
    Err(Failure::input("check is not built yet"))
}
