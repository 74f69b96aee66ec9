//! Classification reports: the confusion matrix of a model over a dataset and the
//! per-class precision, recall, F1 and support, printed like scikit-learn's
//! `classification_report`.

use super::fit::predict;
use crate::autograd::no_grad;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::nn::Module;
use std::fmt;

/// Counts of (true class, predicted class) pairs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix {
    classes: usize,
    /// Row-major: `counts[actual * classes + predicted]`.
    counts: Vec<u64>,
}

/// Precision, recall, F1 and support of one class (or an average).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClassScores {
    /// Of the samples predicted as this class, the fraction that are (0 when none are).
    pub precision: f64,
    /// Of the samples of this class, the fraction predicted as it (0 when there are none).
    pub recall: f64,
    /// The harmonic mean of precision and recall (0 when both are 0).
    pub f1: f64,
    /// The number of samples of this class.
    pub support: u64,
}

impl ConfusionMatrix {
    /// The matrix of `actual` against `predicted` class indices, all below `classes`.
    pub fn from_labels(actual: &[usize], predicted: &[usize], classes: usize) -> Result<Self> {
        if actual.len() != predicted.len() {
            return Err(Error::shape(
                "ConfusionMatrix",
                format!("{} predictions, one per label", actual.len()),
                format!("{}", predicted.len()),
            ));
        }
        if classes == 0 {
            return Err(Error::invalid(
                "ConfusionMatrix",
                "there must be at least one class",
            ));
        }
        let mut counts = vec![0u64; classes * classes];
        for (&a, &p) in actual.iter().zip(predicted) {
            if a >= classes || p >= classes {
                return Err(Error::invalid(
                    "ConfusionMatrix",
                    format!("class indices must be below {classes}, got {}", a.max(p)),
                ));
            }
            counts[a * classes + p] += 1;
        }
        Ok(ConfusionMatrix { classes, counts })
    }

    /// The matrix of a classifier's argmax predictions over `data`, whose targets are class
    /// indices below `classes`; the model runs in evaluation mode, `batch_size` at a time
    /// (or in halves of it, where a batch's activations outgrow the device's buffers).
    pub fn of_model(
        model: &dyn Module,
        data: &Dataset,
        classes: usize,
        batch_size: usize,
    ) -> Result<Self> {
        if batch_size == 0 {
            return Err(Error::invalid(
                "ConfusionMatrix",
                "the batch size must be at least 1, got 0",
            ));
        }
        super::fit::in_fitting_batches(batch_size, |batch_size| {
            let mut actual = Vec::with_capacity(data.len());
            let mut predicted = Vec::with_capacity(data.len());
            for batch in data.batches(batch_size, None, false)? {
                let (x, y) = batch?;
                let out = predict(model, &x)?;
                let labels = no_grad(|| out.argmax(-1, false))?;
                predicted.extend(labels.to_vec()?.into_iter().map(|v| v as usize));
                actual.extend(y.to_vec()?.into_iter().map(|v| v.max(0.0) as usize));
            }
            ConfusionMatrix::from_labels(&actual, &predicted, classes)
        })
    }

    /// The number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// How many samples of class `actual` were predicted as `predicted`.
    pub fn count(&self, actual: usize, predicted: usize) -> u64 {
        self.counts
            .get(actual * self.classes + predicted)
            .copied()
            .unwrap_or(0)
    }

    /// All samples counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The fraction on the diagonal.
    pub fn accuracy(&self) -> f64 {
        let right: u64 = (0..self.classes).map(|c| self.count(c, c)).sum();
        ratio(right, self.total())
    }

    /// The scores of class `c`.
    pub fn scores(&self, c: usize) -> ClassScores {
        let right = self.count(c, c);
        let support: u64 = (0..self.classes).map(|p| self.count(c, p)).sum();
        let predicted: u64 = (0..self.classes).map(|a| self.count(a, c)).sum();
        let precision = ratio(right, predicted);
        let recall = ratio(right, support);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        ClassScores {
            precision,
            recall,
            f1,
            support,
        }
    }

    /// The unweighted mean of the classes' scores (`weighted` = false) or the mean
    /// weighted by support, as scikit-learn's macro and weighted averages.
    pub fn average(&self, weighted: bool) -> ClassScores {
        let all: Vec<ClassScores> = (0..self.classes).map(|c| self.scores(c)).collect();
        let total = self.total();
        let weight = |s: &ClassScores| {
            if weighted {
                ratio(s.support, total)
            } else {
                1.0 / self.classes as f64
            }
        };
        let mean = |f: fn(&ClassScores) -> f64| all.iter().map(|s| f(s) * weight(s)).sum();
        ClassScores {
            precision: mean(|s| s.precision),
            recall: mean(|s| s.recall),
            f1: mean(|s| s.f1),
            support: total,
        }
    }

    /// The per-class report, printed like scikit-learn's `classification_report`.
    pub fn report(&self) -> ClassificationReport<'_> {
        ClassificationReport(self)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

impl fmt::Display for ConfusionMatrix {
    /// Rows are true classes, columns predicted ones.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .counts
            .iter()
            .map(|c| c.to_string().len())
            .max()
            .unwrap_or(1)
            .max(self.classes.to_string().len())
            + 1;
        write!(f, "{:>8}", "true\\pred")?;
        for c in 0..self.classes {
            write!(f, "{c:>width$}")?;
        }
        writeln!(f)?;
        for a in 0..self.classes {
            write!(f, "{a:>9}")?;
            for p in 0..self.classes {
                write!(f, "{:>width$}", self.count(a, p))?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// A [`ConfusionMatrix`] shown as scikit-learn's classification report, column for column.
pub struct ClassificationReport<'a>(&'a ConfusionMatrix);

impl fmt::Display for ClassificationReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        let row = |f: &mut fmt::Formatter<'_>, name: &str, s: ClassScores| {
            writeln!(
                f,
                "{name:>12}  {:>9.2} {:>9.2} {:>9.2} {:>9}",
                s.precision, s.recall, s.f1, s.support
            )
        };
        writeln!(
            f,
            "{:>12}  {:>9} {:>9} {:>9} {:>9}\n",
            "", "precision", "recall", "f1-score", "support"
        )?;
        for c in 0..m.classes() {
            row(f, &c.to_string(), m.scores(c))?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "{:>12}  {:>9} {:>9} {:>9.2} {:>9}",
            "accuracy",
            "",
            "",
            m.accuracy(),
            m.total()
        )?;
        row(f, "macro avg", m.average(false))?;
        row(f, "weighted avg", m.average(true))
    }
}
