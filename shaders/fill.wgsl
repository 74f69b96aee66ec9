// Tensors made on the GPU: constant fill and arange.

struct Params {
    n: u32,
    value: f32, // fill value, or arange start
    step: f32,  // arange step
}
//@params

@group(0) @binding(0) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn fill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i < P.n) {
        out[i] = P.value;
    }
}

@compute @workgroup_size(256)
fn arange(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i < P.n) {
        out[i] = P.value + f32(i) * P.step;
    }
}
