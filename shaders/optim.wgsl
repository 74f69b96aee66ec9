// Optimizer updates: one dispatch updates up to eight parameter tensors and their state in
// place, elementwise (PyTorch's multi-tensor "foreach" step). `update` is each rule's
// arithmetic, chosen by RULE; the codes and hyperparameters match src/optim/rule.rs, whose
// CPU twin is the same arithmetic. The bindings and `update_slot` (which reads and writes
// tensor t's buffers) are generated per number of tensors and state buffers
// (src/optim/kernel.rs) where the tensor_slots marker stands. Gradients may be clipped on
// the way in (CLIP): by value, or by the global norm whose partial sums of squares the
// `_norm` families' first pass wrote (shaders/optim_norm.wgsl, appended to those families).

struct Params {
    n: u32,  // workgroups that carry tensors
    lr: f32,
    h1: f32, // sgd: momentum; adam: beta1; rmsprop, adadelta: rho
    h2: f32, // sgd: weight decay; adam: beta2; rmsprop, adagrad, adadelta: eps
    h3: f32, // sgd: nesterov (0/1); adam: eps
    h4: f32, // adam: weight decay
    c1: f32, // adam: 1 / (1 - beta1^t)
    c2: f32, // adam: 1 / (1 - beta2^t)
    lens_lo: vec4<u32>, // elements of tensors 0..3
    lens_hi: vec4<u32>, // elements of tensors 4..7
    clip: f32,          // CLIP 1: the bound; CLIP 2: 1 / the largest norm allowed
    partial_count: u32, // CLIP 2: partial sums of squares written by the first pass
    partial_first: u32, // the first pass: where this dispatch's partial sums go
}
//@params

// 0 sgd, 1 sgd with momentum, 2 adam, 3 rmsprop, 4 adagrad, 5 adadelta
override RULE: u32 = 0u;
// adam: 1 = decoupled weight decay (AdamW), 0 = L2 added to the gradient
override DECOUPLED: u32 = 0u;
// 0 no clipping, 1 clamp each gradient element to [-clip, clip], 2 scale every gradient by
// 1 / max(norm * clip, 1), norm the L2 norm of all the step's gradients together
override CLIP: u32 = 0u;

// A gradient element as the rule sees it: clipped, given the workgroup's norm scale.
fn clipped(g: f32, scale: f32) -> f32 {
    switch CLIP {
        case 1u: {
            return clamp(g, -P.clip, P.clip);
        }
        case 2u: {
            return g * scale;
        }
        default: {
            return g;
        }
    }
}

// A parameter element and its two state values after a step.
struct Updated {
    p: f32,
    s1: f32,
    s2: f32,
}

fn update(p0: f32, g0: f32, s1: f32, s2: f32) -> Updated {
    switch RULE {
        case 0u: {
            return Updated(p0 - P.lr * (g0 + P.h2 * p0), s1, s2);
        }
        case 1u: {
            let g = g0 + P.h2 * p0;
            let velocity = P.h1 * s1 + g;
            let direction = select(velocity, g + P.h1 * velocity, P.h3 > 0.5);
            return Updated(p0 - P.lr * direction, velocity, s2);
        }
        case 2u: {
            var p = p0;
            var g = g0;
            if (DECOUPLED == 1u) {
                p = p * (1.0 - P.lr * P.h4);
            } else {
                g = g + P.h4 * p;
            }
            let m = P.h1 * s1 + (1.0 - P.h1) * g;
            let v = P.h2 * s2 + (1.0 - P.h2) * g * g;
            return Updated(p - P.lr * (m * P.c1) / (sqrt(v * P.c2) + P.h3), m, v);
        }
        case 3u: {
            let v = P.h1 * s1 + (1.0 - P.h1) * g0 * g0;
            return Updated(p0 - P.lr * g0 / (sqrt(v) + P.h2), v, s2);
        }
        case 4u: {
            let s = s1 + g0 * g0;
            return Updated(p0 - P.lr * g0 / (sqrt(s) + P.h2), s, s2);
        }
        default: {
            let eg = P.h1 * s1 + (1.0 - P.h1) * g0 * g0;
            let delta = sqrt(s2 + P.h2) / sqrt(eg + P.h2) * g0;
            let ed = P.h1 * s2 + (1.0 - P.h1) * delta * delta;
            return Updated(p0 - P.lr * delta, eg, ed);
        }
    }
}

fn length_of(t: u32) -> u32 {
    if (t < 4u) {
        return P.lens_lo[t];
    }
    return P.lens_hi[t - 4u];
}

//@tensor_slots

// Tensors take whole workgroups, in order, so that each workgroup updates one tensor.
@compute @workgroup_size(256)
fn step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let w = wid.y * nwg.x + wid.x;
    var scale = 1.0;
    if (CLIP == 2u) {
        scale = norm_clip_scale(lid.x);
    }
    if (w >= P.n) {
        return;
    }
    var first = 0u;
    var t = 0u;
    loop {
        if (t + 1u >= TENSORS) {
            break;
        }
        let blocks = (length_of(t) + WG - 1u) / WG;
        if (w < first + blocks) {
            break;
        }
        first = first + blocks;
        t = t + 1u;
    }
    update_slot(t, (w - first) * WG + lid.x, length_of(t), scale);
}
