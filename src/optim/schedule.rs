//! Learning-rate schedules, as functions of the step count.

use crate::error::{Error, Result};

/// How the learning rate moves during training. `base` is the optimizer's starting rate;
/// steps count optimizer updates from 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// Multiply by `gamma` every `every` steps.
    Step {
        /// Steps between decays.
        every: u64,
        /// Factor per decay.
        gamma: f32,
    },
    /// base · gamma^(step / every), decaying smoothly.
    Exponential {
        /// Steps over which the rate is multiplied by gamma once.
        every: u64,
        /// Factor per `every` steps.
        gamma: f32,
    },
    /// Cosine from base to `min_lr` over `total` steps, then `min_lr`.
    Cosine {
        /// Length of the decay in steps.
        total: u64,
        /// Final rate.
        min_lr: f32,
    },
    /// One-cycle (Smith): warm up from max_lr/25 to `max_lr` over the first `warmup`
    /// fraction of `total` steps, then cosine down to max_lr/25e4.
    OneCycle {
        /// Peak rate.
        max_lr: f32,
        /// Length of the cycle in steps.
        total: u64,
        /// Fraction of the cycle spent warming up (0.3 in PyTorch).
        warmup: f32,
    },
}

fn cosine(from: f32, to: f32, fraction: f32) -> f32 {
    to + (from - to) * 0.5 * (1.0 + (std::f32::consts::PI * fraction.clamp(0.0, 1.0)).cos())
}

impl Schedule {
    /// Checks the schedule's numbers.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::invalid("schedule", m));
        match *self {
            Schedule::Constant => Ok(()),
            Schedule::Step { every, gamma } | Schedule::Exponential { every, gamma } => {
                if every == 0 || !(gamma.is_finite() && gamma > 0.0) {
                    return bad(format!("every must be > 0 and gamma finite and > 0, got every {every}, gamma {gamma}"));
                }
                Ok(())
            }
            Schedule::Cosine { total, min_lr } => {
                if total == 0 || !(min_lr.is_finite() && min_lr >= 0.0) {
                    return bad(format!(
                        "total must be > 0 and min_lr >= 0, got total {total}, min_lr {min_lr}"
                    ));
                }
                Ok(())
            }
            Schedule::OneCycle {
                max_lr,
                total,
                warmup,
            } => {
                if total == 0
                    || !(max_lr.is_finite() && max_lr > 0.0)
                    || !(warmup > 0.0 && warmup < 1.0)
                {
                    return bad(format!(
                        "total > 0, max_lr > 0 and warmup in (0, 1), got total {total}, max_lr {max_lr}, warmup {warmup}"
                    ));
                }
                Ok(())
            }
        }
    }

    /// The rate at `step` for a starting rate `base`.
    pub fn lr(&self, base: f32, step: u64) -> f32 {
        match *self {
            Schedule::Constant => base,
            Schedule::Step { every, gamma } => base * gamma.powi((step / every) as i32),
            Schedule::Exponential { every, gamma } => base * gamma.powf(step as f32 / every as f32),
            Schedule::Cosine { total, min_lr } => cosine(base, min_lr, step as f32 / total as f32),
            Schedule::OneCycle {
                max_lr,
                total,
                warmup,
            } => {
                let start = max_lr / 25.0;
                let end = start / 1e4;
                let peak = (warmup * total as f32).max(1.0);
                let s = step as f32;
                if s < peak {
                    cosine(max_lr, start, 1.0 - s / peak)
                } else {
                    cosine(max_lr, end, (s - peak) / (total as f32 - peak).max(1.0))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Schedule;

    #[test]
    fn schedules_follow_their_formulas() {
        let step = Schedule::Step {
            every: 10,
            gamma: 0.5,
        };
        assert_eq!(step.lr(1.0, 9), 1.0);
        assert_eq!(step.lr(1.0, 10), 0.5);
        assert_eq!(step.lr(1.0, 25), 0.25);
        let exp = Schedule::Exponential {
            every: 10,
            gamma: 0.5,
        };
        assert!((exp.lr(1.0, 5) - 0.5f32.sqrt()).abs() < 1e-6);
        let cos = Schedule::Cosine {
            total: 100,
            min_lr: 0.1,
        };
        assert_eq!(cos.lr(1.0, 0), 1.0);
        assert!((cos.lr(1.0, 50) - 0.55).abs() < 1e-6);
        assert!((cos.lr(1.0, 100) - 0.1).abs() < 1e-6);
        assert!((cos.lr(1.0, 500) - 0.1).abs() < 1e-6);
        let one = Schedule::OneCycle {
            max_lr: 1.0,
            total: 100,
            warmup: 0.3,
        };
        assert!((one.lr(0.0, 0) - 0.04).abs() < 1e-6);
        assert!((one.lr(0.0, 30) - 1.0).abs() < 1e-6);
        assert!(one.lr(0.0, 100) < 1e-5);
        assert!(Schedule::Step {
            every: 0,
            gamma: 0.5
        }
        .validate()
        .is_err());
        assert!(Schedule::OneCycle {
            max_lr: 1.0,
            total: 10,
            warmup: 1.5
        }
        .validate()
        .is_err());
    }
}
