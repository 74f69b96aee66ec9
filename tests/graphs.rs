//! Property test: random small graphs of ops (elementwise, broadcasting, matmul,
//! reductions, softmax, shared subexpressions) give the same loss and the same gradient
//! for every leaf on the GPU as on the CPU. Only smooth ops are drawn: at a kink (ReLU at
//! 0) the two devices' rounding could legitimately pick different sides.
//!
//! Runs 256 graphs by default; `PROPTEST_CASES=1000 cargo test --test graphs` runs more.

mod common;

use proptest::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};
use wgnn::{Device, Result, Tensor};

/// A smooth elementwise op.
#[derive(Clone, Copy, Debug)]
enum Unary {
    Tanh,
    Sigmoid,
    Softplus,
    Silu,
    Gelu,
    Square,
    ExpOfTanh,
    Scale,
}

/// A broadcasting binary op.
#[derive(Clone, Copy, Debug)]
enum Binary {
    Add,
    Sub,
    Mul,
    /// a / (sigmoid(b) + 0.5): a division whose divisor stays away from 0.
    Div,
}

/// One instruction; node indices are taken modulo the number of nodes so far.
#[derive(Clone, Debug)]
enum Step {
    Unary(Unary, usize),
    Binary(Binary, usize, usize),
    /// node @ a new leaf of shape (columns of node, k).
    MatmulLeaf(usize, usize),
    Transpose(usize),
    SumRows(usize),
    MeanColumns(usize),
    Softmax(usize),
}

fn unary() -> impl Strategy<Value = Unary> {
    prop_oneof![
        Just(Unary::Tanh),
        Just(Unary::Sigmoid),
        Just(Unary::Softplus),
        Just(Unary::Silu),
        Just(Unary::Gelu),
        Just(Unary::Square),
        Just(Unary::ExpOfTanh),
        Just(Unary::Scale),
    ]
}

fn binary() -> impl Strategy<Value = Binary> {
    prop_oneof![
        Just(Binary::Add),
        Just(Binary::Sub),
        Just(Binary::Mul),
        Just(Binary::Div)
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let node = 0..16usize;
    prop_oneof![
        3 => (unary(), node.clone()).prop_map(|(u, a)| Step::Unary(u, a)),
        3 => (binary(), node.clone(), node.clone()).prop_map(|(b, x, y)| Step::Binary(b, x, y)),
        2 => (node.clone(), 1..6usize).prop_map(|(a, k)| Step::MatmulLeaf(a, k)),
        1 => node.clone().prop_map(Step::Transpose),
        1 => node.clone().prop_map(Step::SumRows),
        1 => node.clone().prop_map(Step::MeanColumns),
        1 => node.prop_map(Step::Softmax),
    ]
}

/// A graph: the first leaf's shape, the seed of every leaf's values, the instructions.
#[derive(Clone, Debug)]
struct Graph {
    rows: usize,
    columns: usize,
    seed: u64,
    steps: Vec<Step>,
}

fn graph() -> impl Strategy<Value = Graph> {
    (
        1..6usize,
        1..6usize,
        any::<u64>(),
        prop::collection::vec(step(), 1..10),
    )
        .prop_map(|(rows, columns, seed, steps)| Graph {
            rows,
            columns,
            seed,
            steps,
        })
}

fn broadcastable(a: &[usize], b: &[usize]) -> bool {
    a.iter().zip(b).all(|(x, y)| x == y || *x == 1 || *y == 1)
}

/// What one device computed: the loss and each leaf's gradient.
struct Outcome {
    loss: f32,
    gradients: Vec<Option<Vec<f32>>>,
}

/// Builds the graph on `device`, sums the means of all its nodes into the loss (so every
/// node is used, most of them more than once) and backpropagates.
fn run(graph: &Graph, device: &Device) -> Result<Outcome> {
    let mut rng = StdRng::seed_from_u64(graph.seed);
    let mut leaf = |rows: usize, columns: usize| -> Result<Tensor> {
        let scale = 1.5 / (rows as f32).sqrt();
        let values = (0..rows * columns)
            .map(|_| rng.random_range(-scale..scale))
            .collect();
        Ok(Tensor::from_vec(values, &[rows, columns], device)?.requires_grad_())
    };
    let mut leaves = vec![leaf(graph.rows, graph.columns)?];
    let mut nodes = vec![leaves[0].clone()];
    for step in &graph.steps {
        let pick = |i: usize| nodes[i % nodes.len()].clone();
        let next = match *step {
            Step::Unary(op, a) => {
                let x = pick(a);
                match op {
                    Unary::Tanh => x.tanh()?,
                    Unary::Sigmoid => x.sigmoid()?,
                    Unary::Softplus => x.softplus()?,
                    Unary::Silu => x.silu()?,
                    Unary::Gelu => x.gelu()?,
                    Unary::Square => x.mul(&x)?,
                    Unary::ExpOfTanh => x.tanh()?.exp()?,
                    Unary::Scale => x.mul_scalar(-0.7)?.add_scalar(0.3)?,
                }
            }
            Step::Binary(op, a, b) => {
                let x = pick(a);
                let y = pick(b);
                let y = if broadcastable(x.dims(), y.dims()) {
                    y
                } else {
                    x.clone()
                };
                match op {
                    Binary::Add => x.add(&y)?,
                    Binary::Sub => x.sub(&y)?,
                    Binary::Mul => x.mul(&y)?,
                    Binary::Div => x.div(&y.sigmoid()?.add_scalar(0.5)?)?,
                }
            }
            Step::MatmulLeaf(a, k) => {
                let x = pick(a);
                let w = leaf(x.dims()[1], k)?;
                leaves.push(w.clone());
                x.matmul(&w)?
            }
            Step::Transpose(a) => pick(a).transpose()?,
            Step::SumRows(a) => pick(a).sum_axis(0, true)?,
            Step::MeanColumns(a) => pick(a).mean_axis(1, true)?,
            Step::Softmax(a) => pick(a).softmax()?,
        };
        nodes.push(next);
    }
    let mut loss = nodes[0].mean()?;
    for node in &nodes[1..] {
        loss = loss.add(&node.mean()?)?;
    }
    loss.backward()?;
    let gradients = leaves
        .iter()
        .map(|l| l.grad().map(|g| g.to_vec()).transpose())
        .collect::<Result<_>>()?;
    Ok(Outcome {
        loss: loss.item()?,
        gradients,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_graphs_agree_between_gpu_and_cpu_in_value_and_gradient(graph in graph()) {
        let Some(gpu) = common::gpu() else { return Ok(()) };
        let cpu = run(&graph, &Device::Cpu).unwrap();
        let on_gpu = run(&graph, &gpu).unwrap();
        let loss_gap = (on_gpu.loss - cpu.loss).abs();
        prop_assert!(
            loss_gap <= 1e-4 + 1e-4 * cpu.loss.abs(),
            "loss: gpu {} cpu {}", on_gpu.loss, cpu.loss
        );
        prop_assert_eq!(cpu.gradients.len(), on_gpu.gradients.len());
        for (i, (want, got)) in cpu.gradients.iter().zip(&on_gpu.gradients).enumerate() {
            match (want, got) {
                (Some(want), Some(got)) => {
                    let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
                    if let Err(e) = common::check_close(
                        &format!("leaf {i} gradient"), got, want, 2e-4 * scale, 1e-3,
                    ) {
                        prop_assert!(false, "{}", e);
                    }
                }
                (None, None) => {}
                _ => prop_assert!(false, "leaf {} has a gradient on one device only", i),
            }
        }
    }
}
