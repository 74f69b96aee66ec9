//! The reverse-mode tape. Every op on a tensor that requires grad records a node: its
//! inputs and a backward rule that captured what it needs. `backward()` walks the nodes
//! in reverse recording order, runs each rule (whose ops append GPU dispatches to the same
//! command stream) and accumulates gradients; leaves keep theirs until `zero_grad`. Each
//! rule runs once and is then freed with its saved values, so the next step records
//! afresh.

mod deferred;
mod grad_mode;

pub(crate) use deferred::DeferredPenalty;
pub(crate) use grad_mode::with_grad_mode;
pub use grad_mode::{is_grad_enabled, no_grad, NoGradGuard};

use crate::error::{Error, Result};
use crate::tensor::{Tensor, TensorInner};
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A backward rule: from the gradient of the output, the gradients of the inputs (None
/// where an input gets none).
pub(crate) type BackwardFn = Box<dyn FnOnce(&Tensor) -> Result<Vec<Option<Tensor>>> + Send + Sync>;

/// A backward rule that can take a penalty's gradient on its output as well (see
/// [`DeferredPenalty`]): it computes that gradient inside its own kernels.
pub(crate) type AbsorbingFn =
    Box<dyn FnOnce(&Tensor, Option<&DeferredPenalty>) -> Result<Vec<Option<Tensor>>> + Send + Sync>;

/// A node's backward rule.
enum Rule {
    Plain(BackwardFn),
    Absorbing(AbsorbingFn),
}

/// How a tensor takes part in autograd.
pub(crate) enum GradLink {
    /// A leaf the user asked gradients for; they accumulate here.
    Leaf(Mutex<Option<Tensor>>),
    /// The output of a recorded op.
    Node(Arc<Node>),
}

/// One recorded op.
pub(crate) struct Node {
    seq: u64,
    op: &'static str,
    inputs: Mutex<Vec<Tensor>>,
    backward: Mutex<Option<Rule>>,
    /// The input whose gradient is an L1/L2 penalty's, left to the tape to defer:
    /// (input index, l1, l2).
    defers: Option<(usize, f32, f32)>,
}

static NEXT_SEQ: AtomicU64 = AtomicU64::new(1);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Attaches a node for `op` to `out` when grad mode is on and an input requires grad;
/// otherwise returns `out` unchanged. `backward` must not capture a tensor that holds this
/// node (capture `out` before this call: it has no link yet).
pub(crate) fn record(
    op: &'static str,
    out: Tensor,
    inputs: &[&Tensor],
    backward: impl FnOnce(&Tensor) -> Result<Vec<Option<Tensor>>> + Send + Sync + 'static,
) -> Tensor {
    attach(op, out, inputs, Rule::Plain(Box::new(backward)), None)
}

/// [`record`] for an op whose rule can also take a penalty's gradient on its output.
pub(crate) fn record_absorbing(
    op: &'static str,
    out: Tensor,
    inputs: &[&Tensor],
    backward: impl FnOnce(&Tensor, Option<&DeferredPenalty>) -> Result<Vec<Option<Tensor>>>
        + Send
        + Sync
        + 'static,
) -> Tensor {
    attach(op, out, inputs, Rule::Absorbing(Box::new(backward)), None)
}

/// [`record`] for an op that adds the L1/L2 penalty (`l1`, `l2`) of input `penalized`:
/// `backward` gives the other inputs' gradients (None for that one), and the tape
/// defers the penalty's gradient to where it meets the penalized tensor's others.
pub(crate) fn record_penalty(
    op: &'static str,
    out: Tensor,
    inputs: &[&Tensor],
    (penalized, l1, l2): (usize, f32, f32),
    backward: impl FnOnce(&Tensor) -> Result<Vec<Option<Tensor>>> + Send + Sync + 'static,
) -> Tensor {
    let rule = Rule::Plain(Box::new(backward));
    attach(op, out, inputs, rule, Some((penalized, l1, l2)))
}

/// Whether an op over `inputs` run now is recorded: grad mode is on and an input requires
/// grad. An op that saves extra values only for its backward (a SiLU epilogue's
/// pre-activation) skips them when not.
pub(crate) fn will_record(inputs: &[&Tensor]) -> bool {
    is_grad_enabled() && inputs.iter().any(|t| t.requires_grad())
}

fn attach(
    op: &'static str,
    out: Tensor,
    inputs: &[&Tensor],
    rule: Rule,
    defers: Option<(usize, f32, f32)>,
) -> Tensor {
    crate::profile::op_finished(op, out.device().label());
    if !will_record(inputs) {
        return out;
    }
    let node = Node {
        seq: NEXT_SEQ.fetch_add(1, Ordering::Relaxed),
        op,
        inputs: Mutex::new(inputs.iter().map(|t| (*t).clone()).collect()),
        backward: Mutex::new(Some(rule)),
        defers,
    };
    out.with_grad_link(Some(GradLink::Node(Arc::new(node))))
}

impl Tensor {
    /// Whether gradients flow to this tensor.
    pub fn requires_grad(&self) -> bool {
        self.0.grad.is_some()
    }

    /// This tensor as a leaf that collects gradients (sharing the storage).
    pub fn requires_grad_(self) -> Tensor {
        match &self.0.grad {
            Some(GradLink::Leaf(_)) => self,
            _ => self.with_grad_link(Some(GradLink::Leaf(Mutex::new(None)))),
        }
    }

    /// The same values cut off from the tape.
    pub fn detach(&self) -> Tensor {
        self.with_grad_link(None)
    }

    /// The accumulated gradient of a leaf, if any.
    pub fn grad(&self) -> Option<Tensor> {
        match &self.0.grad {
            Some(GradLink::Leaf(g)) => lock(g).clone(),
            _ => None,
        }
    }

    /// Forgets the accumulated gradient of a leaf.
    pub fn zero_grad(&self) {
        if let Some(GradLink::Leaf(g)) = &self.0.grad {
            *lock(g) = None;
        }
    }

    /// Back-propagates from this one-element tensor (its gradient is 1). Leaves that
    /// require grad accumulate their gradient; the graph's saved values are then freed.
    ///
    /// ```
    /// # use wgnn::{Device, Tensor};
    /// let x = Tensor::from_vec(vec![1.0, -2.0], &[2], &Device::cpu())?.requires_grad_();
    /// x.mul(&x)?.sum()?.backward()?; // d(Σx²)/dx = 2x
    /// assert_eq!(x.grad().unwrap().to_vec()?, vec![2.0, -4.0]);
    /// # Ok::<(), wgnn::Error>(())
    /// ```
    pub fn backward(&self) -> Result<()> {
        if self.numel() != 1 {
            return Err(Error::shape(
                "backward",
                "a one-element tensor (use backward_with for others)",
                format!("{}", self.shape()),
            ));
        }
        let seed = Tensor::unit_seed(self.dims(), self.device())?;
        self.backward_with(&seed)
    }

    /// Back-propagates from this tensor with the given output gradient.
    pub fn backward_with(&self, grad: &Tensor) -> Result<()> {
        if !self.requires_grad() {
            return Err(Error::Autograd(
                "backward on a tensor that does not require grad: no input of the ops that \
                 made it was marked with requires_grad_()"
                    .into(),
            ));
        }
        if grad.shape() != self.shape() {
            return Err(Error::shape(
                "backward_with",
                format!("a gradient of shape {}", self.shape()),
                format!("{}", grad.shape()),
            ));
        }
        Tensor::common_device("backward_with", &[self, grad])?;
        let _guard = NoGradGuard::new();
        run_backward(self, grad.detach())
    }
}

/// A tensor queued for backward, ordered by its node's recording sequence (leaves last).
struct Pending {
    seq: u64,
    tensor: Tensor,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.seq.cmp(&other.seq)
    }
}

fn key(t: &Tensor) -> *const TensorInner {
    Arc::as_ptr(&t.0)
}

fn seq_of(t: &Tensor) -> u64 {
    match &t.0.grad {
        Some(GradLink::Node(node)) => node.seq,
        _ => 0,
    }
}

fn accumulate(slot: &mut Option<Tensor>, grad: Tensor) -> Result<()> {
    // A leaf's gradient is the user's to keep (and to overwrite): never the shared seed.
    let grad = if grad.is_unit_seed() {
        Tensor::ones(grad.dims(), grad.device())?
    } else {
        grad
    };
    *slot = Some(match slot.take() {
        Some(existing) => existing.add(&grad)?,
        None => grad,
    });
    Ok(())
}

/// Gradients waiting for their tensor's turn: the sum of those computed, and penalty
/// gradients not yet computed.
#[derive(Default)]
struct Incoming {
    grad: Option<Tensor>,
    penalties: Vec<DeferredPenalty>,
}

/// A gradient handed to an input.
enum Delivery {
    Grad(Tensor),
    Penalty(DeferredPenalty),
}

type IncomingMap = HashMap<*const TensorInner, Incoming>;

/// Adds `what` to `input`'s incoming gradients, queueing the input on its first one.
fn deliver(
    incoming: &mut IncomingMap,
    queue: &mut BinaryHeap<Pending>,
    input: Tensor,
    what: Delivery,
) -> Result<()> {
    let entry = incoming.entry(key(&input)).or_default();
    let first = entry.grad.is_none() && entry.penalties.is_empty();
    match what {
        Delivery::Grad(g) => {
            entry.grad = Some(match entry.grad.take() {
                Some(existing) => existing.add(&g)?,
                None => g,
            });
        }
        Delivery::Penalty(p) => entry.penalties.push(p),
    }
    if first {
        queue.push(Pending {
            seq: seq_of(&input),
            tensor: input,
        });
    }
    Ok(())
}

fn run_backward(root: &Tensor, seed: Tensor) -> Result<()> {
    let mut incoming = IncomingMap::new();
    let mut queue = BinaryHeap::new();
    deliver(
        &mut incoming,
        &mut queue,
        root.clone(),
        Delivery::Grad(seed),
    )?;
    while let Some(Pending { tensor, .. }) = queue.pop() {
        let Some(Incoming { grad, penalties }) = incoming.remove(&key(&tensor)) else {
            continue; // already processed through another path
        };
        match &tensor.0.grad {
            Some(GradLink::Leaf(slot)) => {
                if let Some(grad) = deferred::fold(&tensor, grad, &penalties)? {
                    accumulate(&mut lock(slot), grad)?;
                }
            }
            Some(GradLink::Node(node)) => {
                let arrived = Incoming { grad, penalties };
                backward_node(node, &tensor, arrived, &mut incoming, &mut queue)?;
            }
            None => {}
        }
    }
    Ok(())
}

/// Runs `node`'s rule for the gradients that arrived at its output `out`, and delivers
/// its inputs' gradients. A rule that absorbs a penalty gets the first one; the others
/// are folded into the gradient first, one dispatch each.
fn backward_node(
    node: &Node,
    out: &Tensor,
    arrived: Incoming,
    incoming: &mut IncomingMap,
    queue: &mut BinaryHeap<Pending>,
) -> Result<()> {
    let rule = lock(&node.backward).take().ok_or_else(|| {
        Error::Autograd(format!(
            "backward through the {} op a second time: its saved values were freed by \
             the first backward",
            node.op
        ))
    })?;
    let inputs = std::mem::take(&mut *lock(&node.inputs));
    let (absorbed, folded) = match (&rule, arrived.penalties.split_first()) {
        (Rule::Absorbing(_), Some((first, rest))) if arrived.grad.is_some() => (Some(first), rest),
        _ => (None, arrived.penalties.as_slice()),
    };
    let Some(grad) = deferred::fold(out, arrived.grad, folded)? else {
        return Ok(());
    };
    let device = out.device().label();
    let input_grads = crate::profile::timed([node.op, " backward"], device, || match rule {
        Rule::Plain(f) => f(&grad),
        Rule::Absorbing(f) => f(&grad, absorbed),
    })?;
    for (i, (input, input_grad)) in inputs.into_iter().zip(input_grads).enumerate() {
        if !input.requires_grad() {
            continue;
        }
        if let Some((_, l1, l2)) = node.defers.filter(|&(at, ..)| at == i) {
            let penalty = DeferredPenalty {
                l1,
                l2,
                upstream: grad.clone(),
            };
            deliver(incoming, queue, input.clone(), Delivery::Penalty(penalty))?;
        }
        if let Some(g) = input_grad {
            deliver(incoming, queue, input, Delivery::Grad(g))?;
        }
    }
    Ok(())
}
