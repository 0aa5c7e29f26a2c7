use crate::cli::{CompareArgs, Failure};
pub fn command(_a: &CompareArgs) -> Result<i32, Failure> {
    Err(Failure::input("compare is not built yet"))
}
