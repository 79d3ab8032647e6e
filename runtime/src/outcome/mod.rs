//! What a call through the layers ends with: the function's own error or a layer's
//! rejection, and how errors are classified.

mod classify;
mod failure;
mod rejected;

pub use self::classify::Classify;
pub use self::failure::{AsRejected, Attempt, Failure, ReturnsResult, finish, lift, widen};
pub use self::rejected::Rejected;
