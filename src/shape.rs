//! Shapes: up to four dimensions, row-major, with broadcasting rules.

use crate::error::{Error, Result};
use std::fmt;

/// The largest rank a tensor may have.
pub const MAX_RANK: usize = 4;

/// The dimensions of a tensor, outermost first. Rank 0 is a scalar.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(Vec<usize>);

impl Shape {
    /// A shape from its dimensions; fails over rank 4.
    pub fn new(dims: &[usize]) -> Result<Self> {
        if dims.len() > MAX_RANK {
            return Err(Error::invalid(
                "shape",
                format!(
                    "rank at most {MAX_RANK} is supported, got rank {} ({dims:?})",
                    dims.len()
                ),
            ));
        }
        Ok(Shape(dims.to_vec()))
    }

    /// The dimensions.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// Number of elements (1 for a scalar).
    pub fn numel(&self) -> usize {
        self.0.iter().product()
    }

    /// Row-major strides, in elements.
    pub fn strides(&self) -> Vec<usize> {
        let mut strides = vec![1; self.rank()];
        for i in (0..self.rank().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * self.0[i + 1];
        }
        strides
    }

    /// Resolves a possibly negative axis against this shape's rank.
    pub fn axis(&self, op: &'static str, axis: isize) -> Result<usize> {
        let rank = self.rank() as isize;
        let resolved = if axis < 0 { axis + rank } else { axis };
        if resolved < 0 || resolved >= rank {
            return Err(Error::invalid(
                op,
                format!("axis {axis} is out of range for a tensor of shape {self}"),
            ));
        }
        Ok(resolved as usize)
    }

    /// The shape both operands broadcast to (numpy rules), or an error naming both.
    pub fn broadcast(op: &'static str, a: &Shape, b: &Shape) -> Result<Shape> {
        let rank = a.rank().max(b.rank());
        let mut dims = vec![0; rank];
        for (i, dim) in dims.iter_mut().enumerate() {
            let da = a.dim_from_end(rank - 1 - i);
            let db = b.dim_from_end(rank - 1 - i);
            *dim = match (da, db) {
                (x, y) if x == y => x,
                (1, y) => y,
                (x, 1) => x,
                _ => {
                    return Err(Error::shape(
                        op,
                        format!("shapes that broadcast together (equal dims or 1), first is {a}"),
                        format!("{b}"),
                    ))
                }
            };
        }
        Ok(Shape(dims))
    }

    /// The dimension `k` places from the end, or 1 past the rank.
    fn dim_from_end(&self, k: usize) -> usize {
        if k < self.rank() {
            self.0[self.rank() - 1 - k]
        } else {
            1
        }
    }

    /// Strides (in elements) to read this shape as if broadcast to `out`: 0 on broadcast
    /// dimensions, padded at the front to `out`'s rank.
    pub fn broadcast_strides(&self, out: &Shape) -> Vec<usize> {
        let own = self.strides();
        let pad = out.rank() - self.rank();
        (0..out.rank())
            .map(|i| {
                if i < pad || self.0[i - pad] == 1 {
                    0
                } else {
                    own[i - pad]
                }
            })
            .collect()
    }

    /// Splits the shape around `axis` into (outer, len, inner) element counts.
    pub fn around_axis(&self, axis: usize) -> (usize, usize, usize) {
        let outer = self.0[..axis].iter().product();
        let inner = self.0[axis + 1..].iter().product();
        (outer, self.0[axis], inner)
    }

    /// This shape with `axis` removed, or set to 1 when `keepdim`.
    pub fn reduced(&self, axis: usize, keepdim: bool) -> Shape {
        let mut dims = self.0.clone();
        if keepdim {
            dims[axis] = 1;
        } else {
            dims.remove(axis);
        }
        Shape(dims)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_follows_numpy() {
        let a = Shape::new(&[3, 1, 5]).unwrap();
        let b = Shape::new(&[4, 5]).unwrap();
        assert_eq!(Shape::broadcast("t", &a, &b).unwrap().dims(), &[3, 4, 5]);
        assert_eq!(
            b.broadcast_strides(&Shape::new(&[3, 4, 5]).unwrap()),
            vec![0, 5, 1]
        );
        let c = Shape::new(&[2, 5]).unwrap();
        assert!(Shape::broadcast("t", &b, &c).is_err());
    }

    #[test]
    fn rank_over_four_is_an_error() {
        assert!(Shape::new(&[1, 1, 1, 1, 1]).is_err());
    }
}
