//! What training records: per-epoch loss and accuracy, training and validation.

/// Figures of one epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochStats {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean training loss over the epoch's samples (without regularization penalties).
    pub loss: f32,
    /// Training accuracy, for classification losses.
    pub accuracy: Option<f32>,
    /// Validation loss, when there is validation data.
    pub val_loss: Option<f32>,
    /// Validation accuracy.
    pub val_accuracy: Option<f32>,
    /// Learning rate at the epoch's last step.
    pub lr: f32,
    /// Wall time of the epoch's training pass (validation excluded).
    pub seconds: f64,
    /// Training samples per second.
    pub samples_per_second: f64,
}

/// Everything `fit` measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// One entry per epoch run.
    pub epochs: Vec<EpochStats>,
    /// Whether early stopping ended training before the last epoch.
    pub stopped_early: bool,
    /// The epoch whose weights the model holds after early stopping restored them.
    pub restored_epoch: Option<usize>,
}

impl History {
    /// The last epoch's figures.
    pub fn last(&self) -> Option<&EpochStats> {
        self.epochs.last()
    }
}

/// Formats an epoch the way Keras prints it.
pub(crate) fn epoch_line(s: &EpochStats, epochs: usize) -> String {
    let mut line = format!(
        "epoch {}/{}: {:.2}s, {:.0} samples/s - loss {:.4}",
        s.epoch, epochs, s.seconds, s.samples_per_second, s.loss
    );
    if let Some(a) = s.accuracy {
        line += &format!(" - accuracy {:.4}", a);
    }
    if let Some(v) = s.val_loss {
        line += &format!(" - val_loss {v:.4}");
    }
    if let Some(a) = s.val_accuracy {
        line += &format!(" - val_accuracy {a:.4}");
    }
    line
}
