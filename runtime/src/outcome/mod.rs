//! What a call through the layers ends with: the function's own error or a layer's
//! rejection, and how errors are classified.

mod classify;
mod failure;
mod rejected;

pub use self::classify::Classify;
pub use self::failure::{
    AsRejected, Attempt, Crossing, Failure, ReturnsResult, clear_crossing, finish, finish_crossing,
    lift, widen,
};
pub use self::rejected::Rejected;
