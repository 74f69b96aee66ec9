// Optimizer updates: one fused kernel per rule updates a parameter tensor and its state
// in place, elementwise. The codes and hyperparameters match src/optim/rule.rs; its CPU
// twin is the same arithmetic.

struct Params {
    n: u32,
    lr: f32,
    h1: f32, // sgd: momentum; adam: beta1; rmsprop, adadelta: rho
    h2: f32, // sgd: weight decay; adam: beta2; rmsprop, adagrad, adadelta: eps
    h3: f32, // sgd: nesterov (0/1); adam: eps
    h4: f32, // adam: weight decay
    c1: f32, // adam: 1 / (1 - beta1^t)
    c2: f32, // adam: 1 / (1 - beta2^t)
}
//@params

// adam: 1 = decoupled weight decay (AdamW), 0 = L2 added to the gradient
override DECOUPLED: u32 = 0u;

@group(0) @binding(0) var<storage, read> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read_write> s1: array<f32>;
@group(0) @binding(3) var<storage, read_write> s2: array<f32>;

@compute @workgroup_size(256)
fn sgd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.n) {
        return;
    }
    let g = grad[i] + P.h2 * param[i];
    param[i] = param[i] - P.lr * g;
}

@compute @workgroup_size(256)
fn sgd_momentum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.n) {
        return;
    }
    let g = grad[i] + P.h2 * param[i];
    let velocity = P.h1 * s1[i] + g;
    s1[i] = velocity;
    let direction = select(velocity, g + P.h1 * velocity, P.h3 > 0.5);
    param[i] = param[i] - P.lr * direction;
}

@compute @workgroup_size(256)
fn adam(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.n) {
        return;
    }
    var p = param[i];
    var g = grad[i];
    if (DECOUPLED == 1u) {
        p = p * (1.0 - P.lr * P.h4);
    } else {
        g = g + P.h4 * p;
    }
    let m = P.h1 * s1[i] + (1.0 - P.h1) * g;
    let v = P.h2 * s2[i] + (1.0 - P.h2) * g * g;
    s1[i] = m;
    s2[i] = v;
    param[i] = p - P.lr * (m * P.c1) / (sqrt(v * P.c2) + P.h3);
}

@compute @workgroup_size(256)
fn rmsprop(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.n) {
        return;
    }
    let g = grad[i];
    let v = P.h1 * s1[i] + (1.0 - P.h1) * g * g;
    s1[i] = v;
    param[i] = param[i] - P.lr * g / (sqrt(v) + P.h2);
}

@compute @workgroup_size(256)
fn adagrad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.n) {
        return;
    }
    let g = grad[i];
    let s = s1[i] + g * g;
    s1[i] = s;
    param[i] = param[i] - P.lr * g / (sqrt(s) + P.h2);
}

@compute @workgroup_size(256)
fn adadelta(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.n) {
        return;
    }
    let g = grad[i];
    let eg = P.h1 * s1[i] + (1.0 - P.h1) * g * g;
    let delta = sqrt(s2[i] + P.h2) / sqrt(eg + P.h2) * g;
    s1[i] = eg;
    s2[i] = P.h1 * s2[i] + (1.0 - P.h1) * delta * delta;
    param[i] = param[i] - P.lr * delta;
}
