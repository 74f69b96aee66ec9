//! Training: `fit`, `evaluate`, `predict`, the History they record, early stopping,
//! checkpoints to resume from, and classification reports. Full-batch, mini-batch and
//! stochastic gradient descent are just batch sizes.

mod checkpoint;
mod fit;
mod history;
mod metrics;
mod report;

pub use checkpoint::Checkpointing;
pub use fit::{evaluate, fit, predict, EarlyStopping, EpochCallback, Evaluation, FitOptions};
pub use history::{EpochStats, History};
pub use metrics::Loss;
pub use report::{ClassScores, ClassificationReport, ConfusionMatrix};
