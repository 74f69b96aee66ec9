//! Training: `fit`, `evaluate`, `predict`, the History they record, and early stopping.
//! Checkpoints let a run resume. Full-batch, mini-batch and stochastic gradient descent are just batch sizes.

mod checkpoint;
mod fit;
mod history;
mod metrics;

pub use checkpoint::Checkpointing;
pub use fit::{evaluate, fit, predict, EarlyStopping, EpochCallback, Evaluation, FitOptions};
pub use history::{EpochStats, History};
pub use metrics::Loss;
