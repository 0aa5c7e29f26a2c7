use crate::cli::{Failure, MergeArgs};
pub fn merge_command(_a: &MergeArgs) -> Result<i32, Failure> {
    Err(Failure::input("merge is not built yet"))
}
