//! Winograd F(2x2, 3x3) for the CPU twin of conv2d (Lavin and Gray, 2016). A 3x3, stride-1,
//! undilated convolution gives each 2x2 output tile as Aᵀ·[(G·g·Gᵀ) ⊙ (Bᵀ·d·B)]·A, where d
//! is the tile's 4x4 input patch and g a 3x3 kernel: 16 multiplications per tile and
//! channel pair instead of 36. Summed over input channels, the elementwise products become
//! 16 GEMMs, one per position ξ of the 4x4 transformed tile:
//! M[ξ] (O x tiles) = U[ξ] (O x C) · V[ξ] (C x tiles).
//!
//! The gradients run the same linear maps backwards (their adjoints): with Ŷ = A·dY·Aᵀ for
//! each output-gradient tile dY, dx gathers B·(U[ξ]ᵀ·Ŷ[ξ])·Bᵀ back onto the input patches,
//! and dW = Gᵀ·(Σ over tiles of Ŷ[ξ]·V[ξ]ᵀ)·G.
//!
//! Each core takes a range of images. An image is first copied into a zero-padded buffer
//! whose size is a whole number of tiles, so no tile needs a bounds check; the tiles are
//! then processed a block of tile rows at a time, small enough for the transformed values
//! to stay in the core's L2 cache between the transform and the GEMMs.

use super::conv::Geometry;
use super::cpu::{lane_sum, simd};
use super::matmul::{cpu_gemm_strided, MatrixView};
use super::unary::Epilogue;
use crate::tensor::host_pool;
use rayon::prelude::*;
use std::ops::{Add, Neg, Range, Sub};

/// Positions ξ of a transformed 4x4 tile.
const POSITIONS: usize = 16;

/// Fewest input and output channels for which the transforms pay for themselves; below,
/// the GEMMs are too thin.
const MIN_CHANNELS: usize = 8;

/// Most f32 values of one block's transformed tiles (input side and output side together,
/// 512 KiB), so that they stay in a core's L2 cache.
const BLOCK_VALUES: usize = 1 << 18;

/// Tiles transformed at once, one per SIMD lane.
const LANES: usize = 8;

/// One value for each of LANES neighbouring tiles.
#[derive(Clone, Copy)]
struct Lanes([f32; LANES]);

impl Lanes {
    const ZERO: Lanes = Lanes([0.0; LANES]);

    /// The `live` lanes, and zero in the others.
    #[inline(always)]
    fn keep(self, live: &LiveLanes) -> Lanes {
        let mut bits = [0u32; LANES];
        // Indexed on purpose: this form compiles to one vector AND, the zipped
        // iterators did not.
        #[allow(clippy::needless_range_loop)]
        for l in 0..LANES {
            bits[l] = self.0[l].to_bits() & live.0[l];
        }
        Lanes(bits.map(f32::from_bits))
    }

    #[inline(always)]
    fn map2(mut self, other: Lanes, f: impl Fn(f32, f32) -> f32) -> Lanes {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a = f(*a, b);
        }
        self
    }
}

impl Add for Lanes {
    type Output = Lanes;
    #[inline(always)]
    fn add(self, other: Lanes) -> Lanes {
        self.map2(other, |a, b| a + b)
    }
}

impl Sub for Lanes {
    type Output = Lanes;
    #[inline(always)]
    fn sub(self, other: Lanes) -> Lanes {
        self.map2(other, |a, b| a - b)
    }
}

impl Neg for Lanes {
    type Output = Lanes;
    #[inline(always)]
    fn neg(self) -> Lanes {
        self.map2(self, |a, _| -a)
    }
}

/// What the transforms compute with: one f32, or a lane per tile.
trait Value: Copy + Add<Output = Self> + Sub<Output = Self> + Neg<Output = Self> {}

impl Value for f32 {}
impl Value for Lanes {}

/// Bᵀ·d for one column d of an input patch.
#[inline(always)]
fn input_transform<T: Value>([d0, d1, d2, d3]: [T; 4]) -> [T; 4] {
    [d0 - d2, d1 + d2, d2 - d1, d1 - d3]
}

/// B·v, the adjoint of `input_transform`.
#[inline(always)]
fn input_adjoint<T: Value>([v0, v1, v2, v3]: [T; 4]) -> [T; 4] {
    [v0, v1 - v2 + v3, v1 + v2 - v0, -v3]
}

/// Aᵀ·m: two outputs from four transformed values.
#[inline(always)]
fn output_transform<T: Value>([m0, m1, m2, m3]: [T; 4]) -> [T; 2] {
    [m0 + m1 + m2, m1 - m2 - m3]
}

/// A·y, the adjoint of `output_transform`.
#[inline(always)]
fn output_adjoint<T: Value>([y0, y1]: [T; 2]) -> [T; 4] {
    [y0, y0 + y1, y0 - y1, -y1]
}

/// G·g for one column g of a 3x3 kernel.
fn kernel_transform([g0, g1, g2]: [f32; 3]) -> [f32; 4] {
    [g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2]
}

/// Gᵀ·u, the adjoint of `kernel_transform`.
fn kernel_adjoint([u0, u1, u2, u3]: [f32; 4]) -> [f32; 3] {
    [u0 + 0.5 * (u1 + u2), 0.5 * (u1 - u2), 0.5 * (u1 + u2) + u3]
}

/// F·X·Fᵀ for a square tile X, where `f` computes F·x for one column x. (Plain loops:
/// `std::array::from_fn` is not always inlined, and then the tiles go through memory.)
#[inline(always)]
fn sandwich<T: Copy, const I: usize, const O: usize>(
    x: &[[T; I]; I],
    f: impl Fn([T; I]) -> [T; O],
) -> [[T; O]; O] {
    // columns[j] = F·(column j of X), so columns[j][r] = (F·X)[r][j]
    let mut columns = [[x[0][0]; O]; I];
    for (j, column) in columns.iter_mut().enumerate() {
        let mut values = [x[0][j]; I];
        for (i, v) in values.iter_mut().enumerate() {
            *v = x[i][j];
        }
        *column = f(values);
    }
    // row r of F·X·Fᵀ is F·(row r of F·X)
    let mut out = [[columns[0][0]; O]; O];
    for (r, row) in out.iter_mut().enumerate() {
        let mut values = [columns[0][r]; I];
        for (j, v) in values.iter_mut().enumerate() {
            *v = columns[j][r];
        }
        *row = f(values);
    }
    out
}

/// What one task of the backward pass sums over its images: S[ξ] (the weight gradient
/// before its transform) and the bias gradient; empty where not wanted.
struct Partials {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

/// The element-wise sum of `parts`, each of `len` values.
fn add_up<'a>(parts: impl Iterator<Item = &'a [f32]>, len: usize) -> Vec<f32> {
    let mut total = vec![0.0f32; len];
    for part in parts {
        total.iter_mut().zip(part).for_each(|(a, b)| *a += b);
    }
    total
}

/// A convolution that Winograd F(2x2, 3x3) computes, and its tiling into 2x2 output tiles.
pub(super) struct Winograd<'g> {
    g: &'g Geometry,
    /// Tile rows and tile columns.
    tiles: [usize; 2],
    /// Tile columns rounded up to whole LANES.
    lane_columns: usize,
    /// Tile rows per block.
    block_rows: usize,
}

/// One image's planes, zero-padded to whole tiles, with each row's columns split by
/// parity (the even ones, then the odd ones): the values that one tile position takes in
/// LANES neighbouring tiles then lie side by side.
struct Padded {
    values: Vec<f32>,
    rows: usize,
    /// Column pairs per row.
    pairs: usize,
}

impl Padded {
    fn new(planes: usize, rows: usize, pairs: usize) -> Self {
        Padded {
            values: vec![0.0; planes * rows * 2 * pairs],
            rows,
            pairs,
        }
    }

    /// Where column x of row y of plane p lies.
    #[inline(always)]
    fn index(&self, p: usize, y: usize, x: usize) -> usize {
        ((p * self.rows + y) * 2 + x % 2) * self.pairs + x / 2
    }

    /// The two halves (even columns, odd columns) of row y of plane p.
    #[inline(always)]
    fn halves_mut(&mut self, p: usize, y: usize) -> [&mut [f32]; 2] {
        let at = self.index(p, y, 0);
        let (even, odd) = self.values[at..at + 2 * self.pairs].split_at_mut(self.pairs);
        [even, odd]
    }

    /// Copies `image` (planes of `size` rows and columns) in at row and column `offset`;
    /// everything else stays as it is.
    #[inline(always)]
    fn fill(&mut self, image: &[f32], size: [usize; 2], offset: [usize; 2]) {
        for (p, plane) in image.chunks_exact(size[0] * size[1]).enumerate() {
            for (y, row) in plane.chunks_exact(size[1]).enumerate() {
                let halves = self.halves_mut(p, y + offset[0]);
                for_each_parity(halves, offset[1], |half, first| {
                    let count = (row.len() - first.min(row.len()))
                        .div_ceil(2)
                        .min(half.len());
                    for (i, d) in half[..count].iter_mut().enumerate() {
                        *d = row[first + 2 * i];
                    }
                });
            }
        }
    }

    /// Copies the window of `size` at `offset` out into `image`.
    #[inline(always)]
    fn crop(&mut self, image: &mut [f32], size: [usize; 2], offset: [usize; 2]) {
        for (p, plane) in image.chunks_exact_mut(size[0] * size[1]).enumerate() {
            for (y, row) in plane.chunks_exact_mut(size[1]).enumerate() {
                let halves = self.halves_mut(p, y + offset[0]);
                for_each_parity(halves, offset[1], |half, first| {
                    let count = (row.len() - first.min(row.len()))
                        .div_ceil(2)
                        .min(half.len());
                    for (i, s) in half[..count].iter().enumerate() {
                        row[first + 2 * i] = *s;
                    }
                });
            }
        }
    }

    /// Row y of plane p at columns 2·(tx + l) + b, for each lane l.
    #[inline(always)]
    fn lanes(&self, p: usize, y: usize, tx: usize, b: usize) -> &[f32; LANES] {
        let at = self.index(p, y, 2 * tx + b);
        self.values[at..at + LANES]
            .try_into()
            .expect("LANES values")
    }

    #[inline(always)]
    fn lanes_mut(&mut self, p: usize, y: usize, tx: usize, b: usize) -> &mut [f32; LANES] {
        let at = self.index(p, y, 2 * tx + b);
        (&mut self.values[at..at + LANES])
            .try_into()
            .expect("LANES values")
    }

    /// The `N`x`N` patches of plane p whose top-left corners are at row y, columns
    /// 2·(tx + l).
    #[inline(always)]
    fn patch<const N: usize>(&self, p: usize, y: usize, tx: usize) -> [[Lanes; N]; N] {
        let mut patch = [[Lanes::ZERO; N]; N];
        for (r, row) in patch.iter_mut().enumerate() {
            for (b, lanes) in row.iter_mut().enumerate() {
                *lanes = Lanes(*self.lanes(p, y + r, tx, b));
            }
        }
        patch
    }
}

/// Which lanes of a run hold real tiles: all bits set, or none.
struct LiveLanes([u32; LANES]);

impl LiveLanes {
    /// The first `count` lanes.
    fn first(count: usize) -> Self {
        LiveLanes(std::array::from_fn(
            |l| if l < count { u32::MAX } else { 0 },
        ))
    }
}

/// Calls `f(half, first)` for the two parities of an image row placed at column `offset`
/// of a padded row: `half` is the padded half-row from the first column it receives, and
/// `first` the image column that lands there (then every second one).
#[inline(always)]
fn for_each_parity(halves: [&mut [f32]; 2], offset: usize, mut f: impl FnMut(&mut [f32], usize)) {
    for (parity, half) in halves.into_iter().enumerate() {
        // image column x lands at padded column x + offset, in half (x + offset) % 2
        let first = (parity + 2 - offset % 2) % 2;
        f(&mut half[(first + offset) / 2..], first);
    }
}

/// The transformed tiles of one block: a (planes x tiles) matrix for each position ξ,
/// stored plane by plane, with the POSITIONS rows of one plane side by side so that a run
/// of tiles is stored and loaded within a few pages. Each row has LANES spare values at its
/// end, so that a run of tiles is always stored whole: the lanes past a short run's end land
/// on tiles that are stored later (`for_each_tile_run` goes through a row's tiles in order)
/// or in the spare values.
struct Transformed {
    values: Vec<f32>,
    tiles: usize,
}

impl Transformed {
    fn new(planes: usize, max_tiles: usize) -> Self {
        Transformed {
            values: vec![0.0; planes * POSITIONS * (max_tiles + LANES)],
            tiles: 0,
        }
    }

    /// Values from one row to the next: from one position ξ to the next.
    fn row(&self) -> usize {
        self.tiles + LANES
    }

    /// Values from one plane's row of a position ξ to the next plane's.
    fn plane_stride(&self) -> usize {
        POSITIONS * self.row()
    }

    /// The (planes x tiles) matrix of position ξ.
    fn matrix(&self, xi: usize) -> MatrixView<'_> {
        MatrixView::new(&self.values[xi * self.row()..], self.plane_stride(), 1)
    }

    /// The transpose of `matrix(xi)`: (tiles x planes).
    fn matrix_t(&self, xi: usize) -> MatrixView<'_> {
        MatrixView::new(&self.values[xi * self.row()..], 1, self.plane_stride())
    }

    /// Where `matrix(xi)` starts, to be written, and the stride of its rows.
    fn matrix_mut(&mut self, xi: usize) -> (&mut [f32], usize) {
        let (at, stride) = (xi * self.row(), self.plane_stride());
        (&mut self.values[at..], stride)
    }

    /// Stores a 4x4 tile of lanes at tiles `first..first + LANES` of `plane`.
    #[inline(always)]
    fn store(&mut self, plane: usize, first: usize, tile: [[Lanes; 4]; 4]) {
        let (stride, at) = (self.row(), plane * self.plane_stride() + first);
        for (xi, lanes) in tile.iter().flatten().enumerate() {
            let out: &mut [f32; LANES] = (&mut self.values[xi * stride + at..][..LANES])
                .try_into()
                .expect("LANES values");
            *out = lanes.0;
        }
    }

    /// Loads the tiles of `plane` from `first` on into the lanes of a 4x4 tile, keeping
    /// the `live` lanes and zeroing the others (they may hold any value, even NaN).
    #[inline(always)]
    fn load(&self, plane: usize, first: usize, live: &LiveLanes) -> [[Lanes; 4]; 4] {
        let (stride, at) = (self.row(), plane * self.plane_stride() + first);
        let mut tile = [[Lanes::ZERO; 4]; 4];
        for (xi, lanes) in tile.iter_mut().flatten().enumerate() {
            let values: &[f32; LANES] = self.values[xi * stride + at..][..LANES]
                .try_into()
                .expect("LANES values");
            *lanes = Lanes(*values).keep(live);
        }
        tile
    }
}

/// The kernel transformed: U[ξ] (O x C) for each position ξ.
struct Kernels(Vec<f32>);

impl<'g> Winograd<'g> {
    /// The Winograd plan for `g`, or None where it does not apply (another kernel size, a
    /// stride or dilation, or too few channels).
    pub(super) fn plan(g: &'g Geometry) -> Option<Self> {
        let applies = [g.kh, g.kw] == [3, 3]
            && g.opts.stride == [1, 1]
            && g.opts.dilation == [1, 1]
            && g.c >= MIN_CHANNELS
            && g.o >= MIN_CHANNELS
            && g.h > 0
            && g.w > 0
            && g.oh > 0
            && g.ow > 0;
        applies.then(|| {
            let tiles = [g.oh.div_ceil(2), g.ow.div_ceil(2)];
            let per_row = POSITIONS * (g.c + g.o) * tiles[1];
            Winograd {
                g,
                tiles,
                lane_columns: tiles[1].next_multiple_of(LANES),
                block_rows: (BLOCK_VALUES / per_row).clamp(1, tiles[0]),
            }
        })
    }

    /// The blocks of tile rows.
    fn blocks(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        (0..self.tiles[0])
            .step_by(self.block_rows)
            .map(|r| r..(r + self.block_rows).min(self.tiles[0]))
    }

    fn max_block_tiles(&self) -> usize {
        self.block_rows * self.tiles[1]
    }

    /// The padded input: every tile's 4x4 patch lies inside it.
    fn padded_input(&self) -> Padded {
        Padded::new(self.g.c, 2 * self.tiles[0] + 2, self.lane_columns + 1)
    }

    /// The padded output: whole 2x2 tiles.
    fn padded_output(&self) -> Padded {
        Padded::new(self.g.o, 2 * self.tiles[0], self.lane_columns)
    }

    fn input_size(&self) -> [usize; 2] {
        [self.g.h, self.g.w]
    }

    fn output_size(&self) -> [usize; 2] {
        [self.g.oh, self.g.ow]
    }

    fn padding(&self) -> [usize; 2] {
        self.g.opts.padding
    }

    /// Calls `f(plane, tile row, first tile column, first tile index in the block, lanes)`
    /// for every run of up to LANES tiles of the block of tile `rows`, in each of `planes`
    /// planes.
    #[inline(always)]
    fn for_each_tile_run(
        &self,
        planes: usize,
        rows: Range<usize>,
        mut f: impl FnMut(usize, usize, usize, usize, &LiveLanes),
    ) {
        let first = rows.start;
        let runs: Vec<(usize, LiveLanes)> = (0..self.tiles[1])
            .step_by(LANES)
            .map(|tx| (tx, LiveLanes::first(self.tiles[1] - tx)))
            .collect();
        for p in 0..planes {
            for ty in rows.clone() {
                for (tx, live) in &runs {
                    f(p, ty, *tx, (ty - first) * self.tiles[1] + tx, live);
                }
            }
        }
    }

    /// U = G·g·Gᵀ for every (output, input) channel pair.
    fn transform_kernels(&self, w: &[f32]) -> Kernels {
        let (o, c) = (self.g.o, self.g.c);
        let mut u = vec![0.0; POSITIONS * o * c];
        for (pair, g) in w.chunks_exact(9).enumerate() {
            let g: [[f32; 3]; 3] = std::array::from_fn(|r| std::array::from_fn(|s| g[r * 3 + s]));
            for (xi, v) in sandwich(&g, kernel_transform).iter().flatten().enumerate() {
                u[xi * o * c + pair] = *v;
            }
        }
        Kernels(u)
    }

    /// F·P·Fᵀ for the `N`x`N` patch P of every tile of `rows` of `source` (`planes`
    /// planes), where `f` computes F·p for one column p; into `out`.
    #[inline(always)]
    fn transform_patches<const N: usize>(
        &self,
        planes: usize,
        source: &Padded,
        rows: Range<usize>,
        out: &mut Transformed,
        f: impl Fn([Lanes; N]) -> [Lanes; 4] + Copy,
    ) {
        out.tiles = rows.len() * self.tiles[1];
        self.for_each_tile_run(
            planes,
            rows,
            #[inline(always)]
            |p, ty, tx, t, _| out.store(p, t, sandwich(&source.patch::<N>(p, 2 * ty, tx), f)),
        );
    }

    /// V = Bᵀ·d·B for the tiles of `rows` of the padded input.
    #[inline(always)]
    fn transform_input(&self, x: &Padded, rows: Range<usize>, v: &mut Transformed) {
        self.transform_patches::<4>(self.g.c, x, rows, v, input_transform);
    }

    /// Ŷ = A·dY·Aᵀ for the tiles of `rows` of the padded output gradient.
    #[inline(always)]
    fn transform_output_grad(&self, dy: &Padded, rows: Range<usize>, y_hat: &mut Transformed) {
        self.transform_patches::<2>(self.g.o, dy, rows, y_hat, output_adjoint);
    }

    /// y = Aᵀ·M·A + bias for the tiles of `rows`, into the padded output.
    #[inline(always)]
    fn finish_output(&self, m: &Transformed, rows: Range<usize>, bias: &[f32], y: &mut Padded) {
        self.for_each_tile_run(
            self.g.o,
            rows,
            #[inline(always)]
            |o, ty, tx, t, live| {
                let tile = sandwich(&m.load(o, t, live), output_transform);
                for (r, row) in tile.iter().enumerate() {
                    for (b, lanes) in row.iter().enumerate() {
                        let out = y.lanes_mut(o, 2 * ty + r, tx, b);
                        out.iter_mut()
                            .zip(&lanes.0)
                            .for_each(|(d, s)| *d = s + bias[o]);
                    }
                }
            },
        );
    }

    /// Adds B·dV·Bᵀ for the tiles of `rows` onto the padded input gradient.
    #[inline(always)]
    fn finish_input_grad(&self, dv: &Transformed, rows: Range<usize>, dx: &mut Padded) {
        self.for_each_tile_run(
            self.g.c,
            rows,
            #[inline(always)]
            |c, ty, tx, t, live| {
                let tile = sandwich(&dv.load(c, t, live), input_adjoint);
                for (r, row) in tile.iter().enumerate() {
                    for (b, lanes) in row.iter().enumerate() {
                        let out = dx.lanes_mut(c, 2 * ty + r, tx, b);
                        out.iter_mut().zip(&lanes.0).for_each(|(d, s)| *d += s);
                    }
                }
            },
        );
    }

    /// y (N, O, OH, OW) = epilogue(conv(x, w) + bias).
    pub(super) fn forward(
        &self,
        x: &[f32],
        w: &[f32],
        bias: &[f32],
        epilogue: Option<Epilogue>,
    ) -> Vec<f32> {
        let g = self.g;
        let (x_image, y_image) = g.image_sizes();
        let u = self.transform_kernels(w);
        let mut y = host_pool::uninit(g.n * y_image); // every value is written
        let per_task = g.images_per_task();
        y.par_chunks_mut(per_task * y_image)
            .enumerate()
            .for_each(|(task, ys)| {
                simd(
                    #[inline(always)]
                    || {
                        let (mut xp, mut yp) = (self.padded_input(), self.padded_output());
                        let mut v = Transformed::new(g.c, self.max_block_tiles());
                        let mut m = Transformed::new(g.o, self.max_block_tiles());
                        for (i, y) in ys.chunks_exact_mut(y_image).enumerate() {
                            let image = task * per_task + i;
                            xp.fill(
                                &x[image * x_image..][..x_image],
                                self.input_size(),
                                self.padding(),
                            );
                            for rows in self.blocks() {
                                self.transform_input(&xp, rows.clone(), &mut v);
                                self.output_block(&u, &v, &mut m);
                                self.finish_output(&m, rows, bias, &mut yp);
                            }
                            yp.crop(y, self.output_size(), [0, 0]);
                            if let Some(e) = epilogue {
                                e.apply_in_place(y);
                            }
                        }
                    },
                )
            });
        y
    }

    /// The input gradient dx and the weight gradient dW from dy, each where `wanted`, in
    /// one pass over the images: both start from the same transformed output gradient Ŷ.
    /// Each core sums its images' share of dW in the transformed domain; the shares are
    /// added before the one inverse transform.
    pub(super) fn backward(
        &self,
        x: &[f32],
        w: &[f32],
        dy: &[f32],
        gate: Option<(Epilogue, &[f32])>,
        [want_dx, want_dw, want_db]: [bool; 3],
    ) -> [Option<Vec<f32>>; 3] {
        let g = self.g;
        let (x_image, y_image) = g.image_sizes();
        let per_task = g.images_per_task();
        let matrix = g.o * g.c;
        let u = want_dx.then(|| self.transform_kernels(w));
        let mut dx = if want_dx {
            host_pool::uninit(g.n * x_image) // every value is written
        } else {
            Vec::new()
        };
        // One dx range per task (empty ones when dx is not wanted).
        let mut dx_ranges: Vec<&mut [f32]> = dx.chunks_mut(per_task * x_image).collect();
        dx_ranges.resize_with(g.n.div_ceil(per_task), Default::default);
        let partials: Vec<Partials> = dx_ranges
            .into_par_iter()
            .enumerate()
            .map(|(task, dxs)| {
                simd(
                    #[inline(always)]
                    || {
                        let mut sums = Partials {
                            weight: vec![0.0; if want_dw { POSITIONS * matrix } else { 0 }],
                            bias: vec![0.0; if want_db { g.o } else { 0 }],
                        };
                        let (mut xp, mut dyp) = (self.padded_input(), self.padded_output());
                        let mut dxp = self.padded_input();
                        let mut y_hat = Transformed::new(g.o, self.max_block_tiles());
                        // the input side: V for dW, then dV for dx
                        let mut v = Transformed::new(g.c, self.max_block_tiles());
                        let mut gated = vec![0.0; if gate.is_some() { y_image } else { 0 }];
                        for image in task * per_task..((task + 1) * per_task).min(g.n) {
                            let mut dz = &dy[image * y_image..][..y_image];
                            if let Some((epilogue, y)) = gate {
                                epilogue.gate_into(
                                    dz,
                                    &y[image * y_image..][..y_image],
                                    &mut gated,
                                );
                                dz = &gated;
                            }
                            for (b, plane) in
                                sums.bias.iter_mut().zip(dz.chunks_exact(g.positions()))
                            {
                                *b += lane_sum(plane);
                            }
                            dyp.fill(dz, self.output_size(), [0, 0]);
                            if want_dw {
                                let x = &x[image * x_image..][..x_image];
                                xp.fill(x, self.input_size(), self.padding());
                            }
                            if want_dx {
                                dxp.values.fill(0.0);
                            }
                            for rows in self.blocks() {
                                self.transform_output_grad(&dyp, rows.clone(), &mut y_hat);
                                if want_dw {
                                    self.transform_input(&xp, rows.clone(), &mut v);
                                    self.accumulate_weight_grad(&y_hat, &v, &mut sums.weight);
                                }
                                if let Some(u) = &u {
                                    self.input_grad_block(u, &y_hat, &mut v);
                                    self.finish_input_grad(&v, rows, &mut dxp);
                                }
                            }
                            if want_dx {
                                let dx = &mut dxs[(image - task * per_task) * x_image..][..x_image];
                                dxp.crop(dx, self.input_size(), self.padding());
                            }
                        }
                        sums
                    },
                )
            })
            .collect();
        let bias = want_db.then(|| add_up(partials.iter().map(|p| &p.bias[..]), g.o));
        let weight = want_dw.then(|| {
            let s = add_up(partials.iter().map(|p| &p.weight[..]), POSITIONS * matrix);
            self.finish_weight_grad(&s)
        });
        [want_dx.then_some(dx), weight, bias]
    }

    /// M[ξ] (O x tiles) = U[ξ] (O x C) · V[ξ] (C x tiles), for every ξ.
    fn output_block(&self, u: &Kernels, v: &Transformed, m: &mut Transformed) {
        let g = self.g;
        m.tiles = v.tiles;
        for xi in 0..POSITIONS {
            let u = MatrixView::new(&u.0[xi * g.o * g.c..], g.c, 1);
            let dims = [g.o, g.c, v.tiles];
            let (out, stride) = m.matrix_mut(xi);
            cpu_gemm_strided(dims, u, v.matrix(xi), 0.0, out, stride, false);
        }
    }

    /// S[ξ] (O x C) += Ŷ[ξ] (O x tiles) · V[ξ]ᵀ (tiles x C), for every ξ.
    fn accumulate_weight_grad(&self, y_hat: &Transformed, v: &Transformed, s: &mut [f32]) {
        let (g, matrix) = (self.g, self.g.o * self.g.c);
        for (xi, s) in s.chunks_exact_mut(matrix).enumerate() {
            let dims = [g.o, v.tiles, g.c];
            cpu_gemm_strided(dims, y_hat.matrix(xi), v.matrix_t(xi), 1.0, s, g.c, false);
        }
    }

    /// dV[ξ] (C x tiles) = U[ξ]ᵀ (C x O) · Ŷ[ξ] (O x tiles), for every ξ.
    fn input_grad_block(&self, u: &Kernels, y_hat: &Transformed, dv: &mut Transformed) {
        let g = self.g;
        dv.tiles = y_hat.tiles;
        for xi in 0..POSITIONS {
            let u_t = MatrixView::new(&u.0[xi * g.o * g.c..], 1, g.c);
            let dims = [g.c, g.o, y_hat.tiles];
            let (out, stride) = dv.matrix_mut(xi);
            cpu_gemm_strided(dims, u_t, y_hat.matrix(xi), 0.0, out, stride, false);
        }
    }

    /// dW[o, c] = Gᵀ·S[·, o, c]·G, with S the sum of the cores' partial sums.
    fn finish_weight_grad(&self, s: &[f32]) -> Vec<f32> {
        let matrix = self.g.o * self.g.c;
        let mut dw = vec![0.0f32; matrix * 9];
        for (pair, out) in dw.chunks_exact_mut(9).enumerate() {
            let tile: [[f32; 4]; 4] =
                std::array::from_fn(|r| std::array::from_fn(|q| s[(r * 4 + q) * matrix + pair]));
            for (d, v) in out
                .iter_mut()
                .zip(sandwich(&tile, kernel_adjoint).iter().flatten())
            {
                *d = *v;
            }
        }
        dw
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{Conv2dOptions, UnaryOp};
    use crate::{Device, Tensor};

    fn close(what: &str, got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (a, b)) in got.iter().zip(want).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                "{what}[{i}]: {a} vs {b}"
            );
        }
    }

    /// Winograd gives what im2col gives, forward and for each set of wanted gradients, on
    /// odd sizes (partial tiles, a tail of lanes), with and without padding.
    #[test]
    fn winograd_matches_im2col_for_every_wanted_gradient() {
        let cases = [
            ([3, 9, 7, 10], 11, [0, 0]),
            ([2, 8, 5, 4], 8, [1, 2]),
            ([5, 12, 3, 21], 9, [2, 0]),
        ];
        for (seed, (x_dims, o, padding)) in cases.into_iter().enumerate() {
            let seed = 10 * seed as u64;
            let uniform = |dims: &[usize], seed| {
                Tensor::uniform(dims, -1.0, 1.0, seed, &Device::Cpu).unwrap()
            };
            let (x, w, bias) = (
                uniform(&x_dims, seed),
                uniform(&[o, x_dims[1], 3, 3], seed + 1),
                uniform(&[o], seed + 2),
            );
            let opts = Conv2dOptions {
                padding,
                ..Conv2dOptions::default()
            };
            let g = Geometry::new(&x, &w, Some(&bias), opts).unwrap();
            let plan = Winograd::plan(&g).expect("Winograd applies");
            let (x, w, bias) = (
                x.to_vec().unwrap(),
                w.to_vec().unwrap(),
                bias.to_vec().unwrap(),
            );
            close(
                "y",
                &plan.forward(&x, &w, &bias, None),
                &g.im2col_forward(&x, &w, &bias, None),
            );
            let dy = uniform(&[g.n, g.o, g.oh, g.ow], seed + 3).to_vec().unwrap();
            // The output an activation gives, so that about half of dy is gated away.
            let y = uniform(&[g.n, g.o, g.oh, g.ow], seed + 4).to_vec().unwrap();
            let relu = Epilogue::new(UnaryOp::Relu, 0.0).unwrap();
            for gate in [None, Some((relu, &y[..]))] {
                let dz = gate.map_or(dy.clone(), |(e, y)| e.cpu_gate(&dy, y));
                let expected = [
                    g.cpu_input_grad(&w, &dz),
                    g.cpu_weight_grad(&x, &dz),
                    g.cpu_bias_grad(&dz),
                ];
                for wanted in [
                    [true, true, true],
                    [true, false, false],
                    [false, true, true],
                ] {
                    let got = plan.backward(&x, &w, &dy, gate, wanted);
                    let names = ["dx", "dW", "db"];
                    for (((name, got), expected), wanted) in
                        names.iter().zip(got).zip(&expected).zip(wanted)
                    {
                        assert_eq!(got.is_some(), wanted, "{name}");
                        got.inspect(|got| close(name, got, expected));
                    }
                }
            }
        }
    }
}
