//! The reverse-mode tape. Every op on a tensor that requires grad records a node: its
//! inputs and a backward rule that captured what it needs. `backward()` walks the nodes
//! in reverse recording order, runs each rule (whose ops append GPU dispatches to the same
//! command stream) and accumulates gradients; leaves keep theirs until `zero_grad`. Each
//! rule runs once and is then freed with its saved values, so the next step records
//! afresh.

mod grad_mode;

pub use grad_mode::{is_grad_enabled, no_grad, NoGradGuard};

use crate::error::{Error, Result};
use crate::tensor::{Tensor, TensorInner};
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A backward rule: from the gradient of the output, the gradients of the inputs (None
/// where an input gets none).
pub(crate) type BackwardFn = Box<dyn FnOnce(&Tensor) -> Result<Vec<Option<Tensor>>> + Send + Sync>;

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
    backward: Mutex<Option<BackwardFn>>,
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
    crate::profile::op_finished(op, out.device().label());
    if !is_grad_enabled() || !inputs.iter().any(|t| t.requires_grad()) {
        return out;
    }
    let node = Node {
        seq: NEXT_SEQ.fetch_add(1, Ordering::Relaxed),
        op,
        inputs: Mutex::new(inputs.iter().map(|t| (*t).clone()).collect()),
        backward: Mutex::new(Some(Box::new(backward))),
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

fn run_backward(root: &Tensor, seed: Tensor) -> Result<()> {
    let mut grads: HashMap<*const TensorInner, Tensor> = HashMap::new();
    let mut queue = BinaryHeap::new();
    grads.insert(key(root), seed);
    queue.push(Pending {
        seq: seq_of(root),
        tensor: root.clone(),
    });
    while let Some(Pending { tensor, .. }) = queue.pop() {
        let Some(grad) = grads.remove(&key(&tensor)) else {
            continue; // already processed through another path
        };
        match &tensor.0.grad {
            Some(GradLink::Leaf(slot)) => accumulate(&mut lock(slot), grad)?,
            Some(GradLink::Node(node)) => {
                let rule = lock(&node.backward).take().ok_or_else(|| {
                    Error::Autograd(format!(
                        "backward through the {} op a second time: its saved values were \
                         freed by the first backward",
                        node.op
                    ))
                })?;
                let inputs = std::mem::take(&mut *lock(&node.inputs));
                let device = grad.device().label();
                let input_grads =
                    crate::profile::timed([node.op, " backward"], device, || rule(&grad))?;
                for (input, input_grad) in inputs.into_iter().zip(input_grads) {
                    let Some(input_grad) = input_grad else {
                        continue;
                    };
                    if !input.requires_grad() {
                        continue;
                    }
                    let k = key(&input);
                    match grads.get_mut(&k) {
                        Some(existing) => *existing = existing.add(&input_grad)?,
                        None => {
                            grads.insert(k, input_grad);
                            queue.push(Pending {
                                seq: seq_of(&input),
                                tensor: input,
                            });
                        }
                    }
                }
            }
            None => {}
        }
    }
    Ok(())
}
