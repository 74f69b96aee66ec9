//! The one error type of wgnn: every mistake a user can make ends here, with what was
//! expected and what was given.

use std::fmt;

/// Everything that can go wrong in wgnn.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// Two shapes that had to agree did not.
    ShapeMismatch {
        /// The operation that checked the shapes.
        op: &'static str,
        /// What the operation needed.
        expected: String,
        /// What it was given.
        got: String,
    },
    /// Tensors on different devices were combined.
    DeviceMismatch {
        /// The operation that was called.
        op: &'static str,
        /// The device of the first operand.
        expected: String,
        /// The device of the offending operand.
        got: String,
    },
    /// An argument outside what the operation accepts.
    InvalidArgument {
        /// The operation that was called.
        op: &'static str,
        /// What was wrong with the argument.
        message: String,
    },
    /// No GPU adapter could be found or opened.
    NoAdapter(String),
    /// A tensor larger than the device allows.
    TooLarge {
        /// What was being allocated.
        what: String,
        /// The size asked for, in bytes.
        bytes: u64,
        /// The device limit, in bytes.
        limit: u64,
    },
    /// The GPU could not allocate a buffer, even after wgnn freed its idle buffers.
    OutOfMemory {
        /// What was being allocated.
        what: String,
        /// The size asked for, in bytes.
        bytes: u64,
        /// Bytes of the buffers wgnn held on the device when it gave up (live tensors and
        /// pending work).
        held: u64,
    },
    /// wgpu reported an error (validation, device lost).
    Gpu(String),
    /// Autograd misuse: backward on a tensor that does not need gradients, and the like.
    Autograd(String),
    /// Training produced a NaN or an infinity.
    NonFinite {
        /// The epoch, from 1.
        epoch: usize,
        /// The step within the epoch, from 1.
        step: usize,
        /// What was found non-finite at that step: `the loss`, or `the loss total` when
        /// finite losses overflowed it.
        tensor: String,
        /// The parameters that were non-finite when the check ran (a check runs every
        /// `check_every` steps, so later steps may have spread the fault).
        parameters: Vec<String>,
    },
    /// A data file that is missing, unreadable or malformed.
    Data {
        /// The file (or directory) concerned.
        file: String,
        /// What is wrong with it, and what was expected.
        message: String,
    },
}

impl Error {
    /// Shorthand for [`Error::ShapeMismatch`].
    pub fn shape(op: &'static str, expected: impl Into<String>, got: impl Into<String>) -> Self {
        Error::ShapeMismatch {
            op,
            expected: expected.into(),
            got: got.into(),
        }
    }

    /// Shorthand for [`Error::Data`].
    pub fn data(file: impl std::fmt::Display, message: impl Into<String>) -> Self {
        Error::Data {
            file: file.to_string(),
            message: message.into(),
        }
    }

    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid(op: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidArgument {
            op,
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ShapeMismatch { op, expected, got } => {
                write!(f, "{op}: shape mismatch: expected {expected}, got {got}")
            }
            Error::DeviceMismatch { op, expected, got } => write!(
                f,
                "{op}: all tensors must be on one device: expected {expected}, got {got}"
            ),
            Error::InvalidArgument { op, message } => write!(f, "{op}: {message}"),
            Error::NoAdapter(why) => write!(f, "no GPU adapter: {why}"),
            Error::TooLarge { what, bytes, limit } => write!(
                f,
                "{what} needs {bytes} bytes, over the device limit of {limit} bytes per buffer"
            ),
            Error::OutOfMemory { what, bytes, held } => write!(
                f,
                "out of GPU memory: {what} needs {bytes} bytes and the device refused it, \
                 with {held} bytes held by wgnn's live tensors (use a smaller batch or model)"
            ),
            Error::Gpu(msg) => write!(f, "GPU error: {msg}"),
            Error::Autograd(msg) => write!(f, "autograd: {msg}"),
            Error::NonFinite {
                epoch,
                step,
                tensor,
                parameters,
            } => {
                write!(
                    f,
                    "training diverged: {tensor} became NaN or infinite at epoch {epoch}, \
                     step {step}"
                )?;
                if !parameters.is_empty() {
                    write!(
                        f,
                        " (non-finite parameters by then: {})",
                        parameters.join(", ")
                    )?;
                }
                write!(
                    f,
                    "; lower the learning rate or clip the gradients (or set \
                     FitOptions::stop_on_non_finite to false to go on regardless)"
                )
            }
            Error::Data { file, message } => write!(f, "{file}: {message}"),
        }
    }
}

impl std::error::Error for Error {}

/// The result type of wgnn.
pub type Result<T> = std::result::Result<T, Error>;
