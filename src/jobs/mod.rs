//! The bot's own clockwork: each grant's deadlines at their exact time, and the cron-scheduled
//! reconcile pass and digest.

pub mod cron;
pub mod deadlines;
pub mod digest;
pub mod reconcile;
